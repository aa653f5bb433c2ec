using System.CommandLine;
using System.IO.Compression;
using System.Security.Cryptography;
using SparseSwitch.Cli.Commands;
using Xunit;

namespace SparseSwitch.Tests.Data;

/// <summary>The data commands end to end, in process (downloads only from a 127.0.0.1 server).</summary>
public sealed class DataCommandsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ss-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    private static int Run(params string[] args)
    {
        var root = new RootCommand("test");
        foreach (var c in CommandRegistry.All()) root.Subcommands.Add(c);
        return SparseSwitch.Cli.Cli.Run(root, args);
    }

    private static byte[] Gzip(byte[] b)
    {
        var ms = new MemoryStream();
        using (var gz = new GZipStream(ms, CompressionLevel.Fastest, true)) gz.Write(b);
        return ms.ToArray();
    }

    [Fact]
    public void Download_with_a_mirror_refuses_files_with_other_checksums()
    {
        using var server = new LocalHttpServer();
        foreach (var f in new[] { "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz" })
            server.Add(f, new(Gzip([0, 0, 8, 1, 0, 0, 0, 1, 5])));
        var target = Path.Combine(_dir, "mnist");
        Assert.Equal(1, Run("data", "download", "mnist", "--dir", target, "--mirror", server.BaseUrl, "--timeout", "5"));
        Assert.Empty(Directory.GetFiles(target));
        Assert.Equal(4, server.Requests.Count);
        Assert.All(server.Requests, r => Assert.EndsWith(".gz", r.Path));
    }

    [Fact]
    public void Usage_errors_exit_with_2()
    {
        Assert.Equal(2, Run("data", "download", "imagenet", "--dir", _dir));
        Assert.Equal(2, Run("data", "download", "synthetic", "--dir", _dir));
        Assert.Equal(2, Run("data", "download", "mnist", "--dir", _dir, "--mirror", "ftp://127.0.0.1/"));
    }

    [Fact]
    public void Info_describes_a_folder_and_fails_cleanly_on_a_damaged_one()
    {
        // A tiny MNIST-shaped folder: 3 train and 2 test images.
        byte[] Idx(int n, int h, int w, bool labels)
        {
            var dims = labels ? new[] { n } : new[] { n, h, w };
            var body = new byte[dims.Aggregate(1, (a, d) => a * d)];
            for (int i = 0; i < body.Length; i++) body[i] = (byte)(labels ? i % 10 : i % 256);
            var head = new byte[4 + 4 * dims.Length];
            head[2] = 8; head[3] = (byte)dims.Length;
            for (int d = 0; d < dims.Length; d++) System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(head.AsSpan(4 + 4 * d), dims[d]);
            return [.. head, .. body];
        }
        File.WriteAllBytes(Path.Combine(_dir, "train-images-idx3-ubyte.gz"), Gzip(Idx(3, 28, 28, false)));
        File.WriteAllBytes(Path.Combine(_dir, "train-labels-idx1-ubyte"), Idx(3, 0, 0, true));
        File.WriteAllBytes(Path.Combine(_dir, "t10k-images-idx3-ubyte"), Idx(2, 28, 28, false));
        File.WriteAllBytes(Path.Combine(_dir, "t10k-labels-idx1-ubyte"), Idx(2, 0, 0, true));
        var text = SparseSwitch.Data.DatasetInspector.Describe(_dir);
        Assert.Contains("train: 3 images, 1×28×28", text);
        Assert.Contains("per class: 0 1, 1 1, 2 1, 3 0", text);
        Assert.Contains(Convert.ToHexStringLower(MD5.HashData(Idx(2, 0, 0, true))), text);
        Assert.Equal(0, Run("data", "info", _dir));
        File.WriteAllBytes(Path.Combine(_dir, "t10k-labels-idx1-ubyte"), Idx(2, 0, 0, true)[..9]);
        Assert.Equal(1, Run("data", "info", _dir));
        Assert.Equal(1, Run("data", "info", Path.Combine(_dir, "nope")));
    }
}
