using System.Formats.Tar;
using System.IO.Compression;
using SparseSwitch.Data;
using SparseSwitch.Data.Download;
using SparseSwitch.Tensors;
using Xunit;
using Xunit.Sdk;

namespace SparseSwitch.Tests.Data;

/// <summary>Truncated and bit-flipped CIFAR-style .tar.gz archives: extraction either succeeds
/// with the member intact or fails with <see cref="DataFormatException"/>; nothing else escapes.</summary>
public sealed class ArchiveFuzzTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ss-tar-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    [Fact]
    public void Damaged_archives_fail_with_the_reader_error()
    {
        var member = new byte[2 * 3073];
        new Random(3).NextBytes(member);
        var ms = new MemoryStream();
        using (var gz = new GZipStream(ms, CompressionLevel.Fastest, leaveOpen: true))
        using (var tar = new TarWriter(gz))
            tar.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, "cifar-10-batches-bin/data_batch_1.bin") { DataStream = new MemoryStream(member) });
        var archive = ms.ToArray();
        var layout = new ArchiveLayout("a.tar.gz", new Dictionary<string, string> { ["cifar-10-batches-bin/data_batch_1.bin"] = "data_batch_1.bin" });
        string path = Path.Combine(_dir, "a.tar.gz"), output = Path.Combine(_dir, "data_batch_1.bin");
        var rng = new Rng(5);
        int failed = 0;
        for (int t = 0; t < 400; t++)
        {
            var bytes = (byte[])archive.Clone();
            if (t % 2 == 0) bytes = bytes[..rng.NextInt(bytes.Length)];
            else for (int f = 0; f <= rng.NextInt(3); f++) bytes[rng.NextInt(bytes.Length)] ^= (byte)(1 << rng.NextInt(8));
            File.WriteAllBytes(path, bytes);
            if (File.Exists(output)) File.Delete(output);
            try
            {
                DatasetDownloader.Extract(path, layout, _dir, DownloadOptions.Default);
                Assert.Equal(member, File.ReadAllBytes(output));
            }
            catch (DataFormatException e)
            {
                Assert.Contains(path, e.Message);
                failed++;
            }
            catch (Exception e)
            {
                throw new XunitException($"trial {t}: {e.GetType().Name} instead of DataFormatException: {e.Message}");
            }
        }
        Assert.True(failed >= 200, $"only {failed} of 400 damaged archives were detected");
    }
}
