using System.Buffers.Binary;
using System.IO.Compression;
using SparseSwitch.Data;
using Xunit;

namespace SparseSwitch.Tests.Data;

/// <summary>Folder layouts of every file-based data set, with miniature files (small counts
/// through a <see cref="DatasetSpec"/> copy), so the official layouts are exercised without the
/// real files.</summary>
public sealed class DatasetLayoutTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ss-layout-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    private static byte[] Records(int n, int labelBytes, int classes, int seed)
    {
        var rng = new Random(seed);
        var b = new byte[n * (labelBytes + 3072)];
        rng.NextBytes(b);
        for (int r = 0; r < n; r++)
        {
            int off = r * (labelBytes + 3072);
            if (labelBytes == 2) b[off] = (byte)rng.Next(20);
            b[off + labelBytes - 1] = (byte)((r + seed) % classes);
        }
        return b;
    }

    private static byte[] Gzip(byte[] b)
    {
        var ms = new MemoryStream();
        using (var gz = new GZipStream(ms, CompressionLevel.Fastest, true)) gz.Write(b);
        return ms.ToArray();
    }

    [Fact]
    public void Cifar10_with_the_official_test_batch_uses_all_five_training_batches()
    {
        var spec = DatasetCatalog.Cifar10 with { TestCount = 4 };
        var nested = Path.Combine(_dir, "cifar-10-batches-bin");
        Directory.CreateDirectory(nested);
        for (int i = 1; i <= 5; i++) File.WriteAllBytes(Path.Combine(nested, $"data_batch_{i}.bin"), Records(4, 1, 10, i));
        File.WriteAllBytes(Path.Combine(nested, "test_batch.bin.gz"), Gzip(Records(4, 1, 10, 9)));
        File.WriteAllLines(Path.Combine(nested, "batches.meta.txt"), ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", ""]);
        var (train, test) = Datasets.Load(spec, _dir);
        Assert.Equal(20, train.Count);
        Assert.Equal(4, test.Count);
        Assert.Contains("official test split", test.Source);
        Assert.Equal("j", train.ClassNames[9]);
        Assert.Equal(Records(4, 1, 10, 3).AsSpan(1, 3072).ToArray(), train.Image(8).ToArray());

        // Without the test batch, batch 5 is held out.
        File.Delete(Path.Combine(nested, "test_batch.bin.gz"));
        (train, test) = Datasets.Load(spec, _dir);
        Assert.Equal(16, train.Count);
        Assert.Contains("data_batch_5 held out", test.Source);

        // A batch of the wrong size is refused, naming the file and the counts.
        File.WriteAllBytes(Path.Combine(nested, "data_batch_2.bin"), Records(3, 1, 10, 2));
        var e = Assert.Throws<DataFormatException>(() => Datasets.Load(spec, _dir));
        Assert.Contains("data_batch_2.bin", e.Message);
        Assert.Contains("expected 4 records", e.Message);
    }

    [Fact]
    public void Cifar100_reads_fine_labels_and_class_names()
    {
        var spec = DatasetCatalog.Cifar100 with { TrainCount = 6, TestCount = 2 };
        File.WriteAllBytes(Path.Combine(_dir, "train.bin"), Records(6, 2, 100, 1));
        File.WriteAllBytes(Path.Combine(_dir, "test.bin"), Records(2, 2, 100, 50));
        File.WriteAllLines(Path.Combine(_dir, "fine_label_names.txt"), Enumerable.Range(0, 100).Select(i => $"n{i}"));
        var (train, test) = Datasets.Load(spec, _dir);
        Assert.Equal([1, 2, 3, 4, 5, 6], train.Labels);
        Assert.Equal([50, 51], test.Labels);
        Assert.Equal("n99", train.ClassNames[99]);
        Assert.Equal(100, train.NumClasses);
        File.WriteAllLines(Path.Combine(_dir, "fine_label_names.txt"), ["only", "three", "names"]);
        Assert.Contains("expected 100 non-empty lines", Assert.Throws<DataFormatException>(() => Datasets.Load(spec, _dir)).Message);
    }

    [Fact]
    public void Idx_data_sets_check_counts_and_missing_files_say_how_to_fix()
    {
        var spec = DatasetCatalog.FashionMnist with { TrainCount = 3, TestCount = 2 };
        byte[] Idx(params int[] dims)
        {
            var body = new byte[dims.Aggregate(1, (a, d) => a * d)];
            for (int i = 0; i < body.Length; i++) body[i] = (byte)(i % 10);
            var head = new byte[4 + 4 * dims.Length];
            head[2] = 8; head[3] = (byte)dims.Length;
            for (int d = 0; d < dims.Length; d++) BinaryPrimitives.WriteInt32BigEndian(head.AsSpan(4 + 4 * d), dims[d]);
            return [.. head, .. body];
        }
        File.WriteAllBytes(Path.Combine(_dir, "train-images-idx3-ubyte.gz"), Gzip(Idx(3, 28, 28)));
        File.WriteAllBytes(Path.Combine(_dir, "train-labels-idx1-ubyte.gz"), Gzip(Idx(3)));
        File.WriteAllBytes(Path.Combine(_dir, "t10k-images-idx3-ubyte"), Idx(2, 28, 28));
        var missing = Assert.Throws<FileNotFoundException>(() => Datasets.Load(spec, _dir));
        Assert.Contains("t10k-labels-idx1-ubyte", missing.Message);
        Assert.Contains("sparseswitch data download fashion-mnist", missing.Message);
        File.WriteAllBytes(Path.Combine(_dir, "t10k-labels-idx1-ubyte"), Idx(2));
        var (train, test) = Datasets.Load(spec, _dir);
        Assert.Equal((3, 2), (train.Count, test.Count));
        Assert.Equal("Ankle boot", train.ClassNames[9]);
        var wrong = DatasetCatalog.FashionMnist with { TrainCount = 4, TestCount = 2 };
        var e = Assert.Throws<DataFormatException>(() => Datasets.Load(wrong, _dir));
        Assert.Contains("expected 4 images, found 3", e.Message);
        Assert.Throws<ArgumentException>(() => Datasets.Load("imagenet", _dir));
        Assert.Equal("cifar10", DatasetCatalog.Get("CIFAR-10").Name);
    }
}
