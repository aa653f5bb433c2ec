using SparseSwitch.Data;
using SparseSwitch.Tests.Support;
using Xunit;

namespace SparseSwitch.Tests.Data;

/// <summary>Loads the real shared MNIST and CIFAR-10 files and checks counts, shapes and labels.</summary>
public class RealDatasetTests
{
    private static string Dir(string name) => Path.Combine(Paths.Datasets, name);

    [SharedDataFact("mnist")]
    public void Mnist_has_the_known_split_sizes_and_per_class_counts()
    {
        var (train, test) = Datasets.Load("mnist", Dir("mnist"));
        Assert.Equal(60_000, train.Count);
        Assert.Equal(10_000, test.Count);
        Assert.Equal((1, 28, 28, 10), (train.Channels, train.Height, train.Width, train.NumClasses));
        Assert.Equal(60_000L * 784, train.Pixels.LongLength);
        Assert.Equal([5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949], train.ClassCounts());
        Assert.Equal([980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009], test.ClassCounts());
        // The standard normalisation constants are the training set's statistics.
        var stats = Normalization.Compute(train);
        Assert.InRange(stats.Mean[0], 0.1306f, 0.1308f);
        Assert.InRange(stats.Std[0], 0.3080f, 0.3082f);
    }

    [SharedDataFact("mnist")]
    public void Mnist_content_checksums_match_the_published_values()
    {
        Assert.Equal(4, Datasets.VerifyChecksums(DatasetCatalog.Mnist, Dir("mnist")));
    }

    [SharedDataFact("cifar10")]
    public void Cifar10_content_checksums_match_the_published_values()
    {
        // Batches 1-5; the official test batch is not in the shared folder (and has no published value here).
        Assert.Equal(5, Datasets.VerifyChecksums(DatasetCatalog.Cifar10, Dir("cifar10")));
    }

    [Fact]
    public void Checksum_verification_counts_the_files_it_checked_and_detects_a_mismatch()
    {
        var dir = Directory.CreateTempSubdirectory("ss-md5-").FullName;
        try
        {
            byte[] a = [1, 2, 3, 4, 5], b = [9, 8, 7];
            var spec = DatasetCatalog.Mnist with
            {
                Name = "tiny",
                ContentMd5 = new Dictionary<string, string?>
                {
                    ["a.bin"] = Md5(a),
                    ["b.bin"] = Md5(b),        // stored gzip-compressed: its content is checked
                    ["c.bin"] = Md5([0]),      // absent: not checked
                    ["d.bin"] = null,          // no published value: not checked
                },
            };
            File.WriteAllBytes(Path.Combine(dir, "a.bin"), a);
            using (var gz = new System.IO.Compression.GZipStream(File.Create(Path.Combine(dir, "b.bin.gz")), System.IO.Compression.CompressionLevel.Fastest))
                gz.Write(b);
            File.WriteAllBytes(Path.Combine(dir, "d.bin"), [42]);
            Assert.Equal(2, Datasets.VerifyChecksums(spec, dir));
            Assert.Equal(0, Datasets.VerifyChecksums(spec, Path.Combine(dir, "empty")));

            // One byte changed: the mismatch names the file and both checksums.
            File.WriteAllBytes(Path.Combine(dir, "a.bin"), [1, 2, 3, 4, 6]);
            var e = Assert.Throws<DataFormatException>(() => Datasets.VerifyChecksums(spec, dir));
            Assert.Equal(Path.Combine(dir, "a.bin"), e.FilePath);
            Assert.Contains(Md5([1, 2, 3, 4, 6]), e.Message);
            Assert.Contains(Md5(a), e.Message);
        }
        finally { Directory.Delete(dir, true); }
    }

    private static string Md5(byte[] data) => Convert.ToHexStringLower(System.Security.Cryptography.MD5.HashData(data));

    [SharedDataFact("cifar10")]
    public void Cifar10_without_test_batch_holds_out_batch_5()
    {
        var (train, test) = Datasets.Load("cifar10", Dir("cifar10"));
        Assert.Equal(40_000, train.Count);
        Assert.Equal(10_000, test.Count);
        Assert.Equal((3, 32, 32, 10), (train.Channels, train.Height, train.Width, train.NumClasses));
        Assert.Contains("data_batch_5 held out", test.Source);
        Assert.Equal("airplane", train.ClassNames[0]);
        Assert.Equal("truck", train.ClassNames[9]);
        // Every class is present in roughly equal numbers (CIFAR-10 is balanced: 1000 ± 100 per batch).
        foreach (var c in test.ClassCounts()) Assert.InRange(c, 900, 1100);
        Assert.Equal(50_000, train.ClassCounts().Sum() + test.ClassCounts().Sum());
        // The standard constants are the statistics of all 50 000 images; batches 1-4 agree to 2e-3.
        var stats = Normalization.Compute(train);
        for (int c = 0; c < 3; c++)
        {
            Assert.InRange(stats.Mean[c], Normalization.Cifar10.Mean[c] - 2e-3f, Normalization.Cifar10.Mean[c] + 2e-3f);
            Assert.InRange(stats.Std[c], Normalization.Cifar10.Std[c] - 2e-3f, Normalization.Cifar10.Std[c] + 2e-3f);
        }
    }

    [SharedDataFact("cifar10")]
    public void Cifar10_batch_record_layout_matches_the_raw_bytes()
    {
        var path = Path.Combine(Dir("cifar10"), "data_batch_1.bin.gz");
        var batch = CifarReader.ReadCifar10(path, 10_000);
        using var gz = new System.IO.Compression.GZipStream(File.OpenRead(path), System.IO.Compression.CompressionMode.Decompress);
        var first = new byte[2 * 3073];
        gz.ReadExactly(first);
        Assert.Equal(first[0], batch.Labels[0]);
        Assert.Equal(first[3073], batch.Labels[1]);
        Assert.Equal(first.AsSpan(1, 3072).ToArray(), batch.Pixels.AsSpan(0, 3072).ToArray());
        Assert.Equal(first.AsSpan(3074, 3072).ToArray(), batch.Pixels.AsSpan(3072, 3072).ToArray());
    }
}
