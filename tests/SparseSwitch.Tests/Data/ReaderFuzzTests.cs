using System.Buffers.Binary;
using System.IO.Compression;
using SparseSwitch.Data;
using SparseSwitch.Tensors;
using Xunit;
using Xunit.Sdk;

namespace SparseSwitch.Tests.Data;

/// <summary>
/// Feeds truncated, bit-flipped, extended, garbage and oversized-header inputs (raw and gzip) to
/// every reader. Each input must either read back with the original shape (a flipped pixel byte is
/// still a valid file) or fail with <see cref="DataFormatException"/> naming the file — never
/// another exception type, an out-of-memory error or a smaller data set.
/// </summary>
public class ReaderFuzzTests
{
    private const string Name = "fuzz-input.bin";

    /// <summary>A reader under test: returns the record count it read.</summary>
    private delegate int Reader(Stream s, long? rawLength);

    private static readonly (string What, Reader Read, Func<byte[]> Valid, int Count)[] Readers =
    [
        ("IDX images", (s, n) => IdxReader.Read(s, Name, n, 3).Dims[0], () => Idx([7, 5, 4], 1), 7),
        ("IDX labels", (s, n) => IdxReader.Labels(IdxReader.Read(s, Name, n, 1), 10).Length, () => Idx([9], 10), 9),
        ("CIFAR-10", (s, n) => CifarReader.ReadCifar10(s, Name, n, 3).Labels.Length, () => Cifar(3, 1), 3),
        ("CIFAR-100", (s, n) => CifarReader.ReadCifar100(s, Name, n, 2).Labels.Length, () => Cifar(2, 2), 2),
    ];

    /// <summary>An IDX unsigned-byte file with the given dimensions; values below <paramref name="mod"/>
    /// when mod &gt; 1 (labels).</summary>
    private static byte[] Idx(int[] dims, int mod)
    {
        long n = dims.Aggregate(1L, (a, d) => a * d);
        var b = new byte[4 + 4 * dims.Length + n];
        b[2] = 0x08; b[3] = (byte)dims.Length;
        for (int i = 0; i < dims.Length; i++) BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(4 + 4 * i), dims[i]);
        var rng = new Rng(7);
        for (long i = 4 + 4 * dims.Length; i < b.Length; i++) b[i] = (byte)(mod > 1 ? rng.NextInt(mod) : rng.NextInt(256));
        return b;
    }

    private static byte[] Cifar(int records, int labelBytes)
    {
        int rec = labelBytes + 3072;
        var b = new byte[records * rec];
        var rng = new Rng(11);
        rng.FillUniform(new float[1], 0, 1);
        for (int r = 0; r < records; r++)
        {
            for (int i = 0; i < rec; i++) b[r * rec + i] = (byte)rng.NextInt(256);
            if (labelBytes == 2) b[r * rec] = (byte)rng.NextInt(20);
            b[r * rec + labelBytes - 1] = (byte)rng.NextInt(labelBytes == 2 ? 100 : 10);
        }
        return b;
    }

    private static byte[] Gzip(byte[] content)
    {
        var ms = new MemoryStream();
        using (var gz = new GZipStream(ms, CompressionLevel.Fastest, leaveOpen: true)) gz.Write(content);
        return ms.ToArray();
    }

    /// <summary>Runs a reader on bytes; returns the count read, or -1 after a proper DataFormatException.</summary>
    private static int Run(Reader read, byte[] bytes, string context)
    {
        var (s, _, raw) = DataSource.Wrap(new MemoryStream(bytes, writable: false));
        try
        {
            using (s) return read(s, raw);
        }
        catch (DataFormatException e)
        {
            if (!e.Message.StartsWith(Name + ": ") || e.Message.Length < Name.Length + 20)
                throw new XunitException($"{context}: unhelpful message '{e.Message}'");
            return -1;
        }
        catch (Exception e)
        {
            throw new XunitException($"{context}: {e.GetType().Name} instead of DataFormatException: {e.Message}");
        }
    }

    [Fact]
    public void Valid_inputs_read_back_raw_and_gzip()
    {
        foreach (var (what, read, valid, count) in Readers)
        {
            Assert.Equal(count, Run(read, valid(), what));
            Assert.Equal(count, Run(read, Gzip(valid()), what + " gz"));
        }
    }

    [Fact]
    public void Every_truncation_fails_raw_and_gzip()
    {
        foreach (var (what, read, valid, _) in Readers)
        {
            var bytes = valid();
            // Every prefix for the short files; a seeded sample of cut points for the long ones.
            var rng = new Rng(1);
            var cuts = bytes.Length <= 400 ? Enumerable.Range(0, bytes.Length)
                : Enumerable.Range(0, 300).Select(_ => rng.NextInt(bytes.Length)).Concat([0, 1, 3, 3072, bytes.Length - 1]);
            foreach (int cut in cuts)
                Assert.Equal(-1, Run(read, bytes[..cut], $"{what} cut at {cut}"));
            var gz = Gzip(bytes);
            for (int cut = 0; cut < gz.Length; cut += Math.Max(1, gz.Length / 300))
                Assert.Equal(-1, Run(read, gz[..cut], $"{what} gz cut at {cut}"));
            // Content truncated before compression (a valid gzip of a short file).
            foreach (int cut in cuts.Take(100))
                Assert.Equal(-1, Run(read, Gzip(bytes[..cut]), $"{what} gz of content cut at {cut}"));
        }
    }

    [Fact]
    public void Bit_flips_fail_or_keep_the_shape()
    {
        var rng = new Rng(2);
        int failures = 0, total = 0;
        foreach (var (what, read, valid, count) in Readers)
        {
            var clean = valid();
            var gzClean = Gzip(clean);
            for (int t = 0; t < 1500; t++)
            {
                bool gz = t % 3 == 2;
                var b = (byte[])(gz ? gzClean : clean).Clone();
                // Flip 1-3 bits, half of the time inside the first 24 bytes (headers, labels).
                int flips = 1 + rng.NextInt(3);
                for (int f = 0; f < flips; f++)
                {
                    int pos = rng.NextInt(2) == 0 ? rng.NextInt(Math.Min(24, b.Length)) : rng.NextInt(b.Length);
                    b[pos] ^= (byte)(1 << rng.NextInt(8));
                }
                int got = Run(read, b, $"{what} {(gz ? "gz " : "")}flip trial {t}");
                Assert.True(got == -1 || got == count, $"{what} flip trial {t}: read {got} records, expected {count} or an error");
                total++;
                if (got == -1) failures++;
            }
        }
        Assert.True(failures > total / 10, $"only {failures} of {total} corruptions were detected");
    }

    [Fact]
    public void Oversized_and_absurd_headers_fail_without_allocating()
    {
        var rng = new Rng(3);
        int[] sizes = [int.MaxValue, 1 << 30, 1 << 20, 65_536, 0, -1, int.MinValue, 100_000];
        for (int t = 0; t < 2000; t++)
        {
            int ndims = t % 50 == 0 ? rng.NextInt(256) : 1 + rng.NextInt(4);
            var head = new byte[4 + 4 * Math.Min(ndims, 8) + rng.NextInt(64)];
            head[2] = t % 40 == 0 ? (byte)rng.NextInt(256) : (byte)0x08;
            head[3] = (byte)ndims;
            for (int d = 0; d < Math.Min(ndims, 8); d++)
                BinaryPrimitives.WriteInt32BigEndian(head.AsSpan(4 + 4 * d),
                    rng.NextInt(2) == 0 ? sizes[rng.NextInt(sizes.Length)] : rng.NextInt(int.MaxValue));
            var data = t % 2 == 0 ? head : Gzip(head);
            // Only a header whose sizes exactly describe the bytes that follow could succeed.
            int got = Run((s, n) => IdxReader.Read(s, Name, n).Dims[0], data, $"header trial {t}");
            if (got != -1)
            {
                var a = IdxReader.Read(new MemoryStream(head), Name, head.Length);
                Assert.Equal(head.Length, 4 + 4 * ndims + a.Data.Length);
            }
        }
    }

    [Fact]
    public void Appended_bytes_and_garbage_fail()
    {
        var rng = new Rng(4);
        foreach (var (what, read, valid, _) in Readers)
        {
            var bytes = valid();
            foreach (int extra in new[] { 1, 2, 3073, 4096 })
            {
                var longer = bytes.Concat(new byte[extra]).ToArray();
                Assert.Equal(-1, Run(read, longer, $"{what} + {extra} bytes"));
                Assert.Equal(-1, Run(read, Gzip(longer), $"{what} gz + {extra} bytes"));
            }
            for (int t = 0; t < 300; t++)
            {
                var g = new byte[rng.NextInt(t < 150 ? 64 : 8000)];
                for (int i = 0; i < g.Length; i++) g[i] = (byte)rng.NextInt(256);
                if (t % 2 == 0 && g.Length >= 2) { g[0] = 0x1F; g[1] = 0x8B; } // fake gzip
                Run(read, g, $"{what} garbage {t}");
            }
        }
    }

    [Fact]
    public void Labels_out_of_range_name_the_offset()
    {
        var labels = Idx([5], 10);
        labels[8 + 3] = 10;
        var e = Assert.Throws<DataFormatException>(() => IdxReader.Labels(IdxReader.Read(new MemoryStream(labels), Name, labels.Length, 1), 10));
        Assert.Contains("byte 11", e.Message);
        Assert.Contains("[0, 10)", e.Message);

        var cifar = Cifar(3, 1);
        cifar[2 * 3073] = 10;
        var e2 = Assert.Throws<DataFormatException>(() => CifarReader.ReadCifar10(new MemoryStream(cifar), Name, cifar.Length));
        Assert.Contains("record 2", e2.Message);
        Assert.Contains($"byte {2 * 3073}", e2.Message);
    }

    [Fact]
    public void Files_on_disk_name_the_path_and_loader_checks_pairs()
    {
        var dir = Directory.CreateTempSubdirectory("ss-data-").FullName;
        try
        {
            var img = Path.Combine(dir, "imgs.idx");
            var lab = Path.Combine(dir, "labs.idx.gz");
            File.WriteAllBytes(img, Idx([6, 28, 28], 1));
            File.WriteAllBytes(lab, Gzip(Idx([5], 10)));
            var e = Assert.Throws<DataFormatException>(() => Datasets.LoadIdxPair("t", img, lab, 28, 28, 10, null));
            Assert.Contains(lab, e.Message);
            Assert.Contains("expected 6 labels", e.Message);
            File.WriteAllBytes(lab, Gzip(Idx([6], 10)));
            var ds = Datasets.LoadIdxPair("t", img, lab, 28, 28, 10, null);
            Assert.Equal(6, ds.Count);
            var e2 = Assert.Throws<DataFormatException>(() => Datasets.LoadIdxPair("t", img, lab, 32, 32, 10, null));
            Assert.Contains("expected 32×32", e2.Message);
            File.WriteAllBytes(img, Idx([6, 28, 28], 1)[..100]);
            var e3 = Assert.Throws<DataFormatException>(() => IdxReader.ReadImages(img));
            Assert.Contains(img, e3.Message);
            Assert.Contains("truncated", e3.Message);
        }
        finally { Directory.Delete(dir, true); }
    }
}
