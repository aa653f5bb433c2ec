using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using SparseSwitch.Data;
using SparseSwitch.Data.Download;
using SparseSwitch.Tests.Support;
using Xunit;

namespace SparseSwitch.Tests.Data;

/// <summary>Download tests against <see cref="LocalHttpServer"/> on 127.0.0.1 only.</summary>
public sealed class DownloadTests : IDisposable
{
    private readonly LocalHttpServer _server = new();
    private readonly string _dir = Directory.CreateTempSubdirectory("ss-dl-").FullName;
    private readonly List<string> _log = [];

    private DownloadOptions Options(int attempts = 3, double stallSeconds = 5) => new()
    {
        MaxAttempts = attempts,
        RetryDelay = TimeSpan.Zero,
        StallTimeout = TimeSpan.FromSeconds(stallSeconds),
        ConnectTimeout = TimeSpan.FromSeconds(10),
        Log = l => { lock (_log) _log.Add(l); },
    };

    private static byte[] Bytes(int n, int seed)
    {
        var b = new byte[n];
        new Random(seed).NextBytes(b);
        return b;
    }

    private static string Md5(byte[] b) => Convert.ToHexStringLower(MD5.HashData(b));

    private Uri Url(string name) => new(_server.BaseUrl + name);

    public void Dispose()
    {
        _server.Dispose();
        Directory.Delete(_dir, true);
    }

    [Fact]
    public void A_good_file_is_verified_and_renamed_into_place()
    {
        var body = Bytes(300_000, 1);
        _server.Add("a.bin", new(body));
        using var d = new FileDownloader(Options());
        string dest = Path.Combine(_dir, "a.bin");
        Assert.Equal(FileDownloader.Outcome.Downloaded, d.Download(Url("a.bin"), dest, Md5(body).ToUpperInvariant()));
        Assert.Equal(body, File.ReadAllBytes(dest));
        Assert.False(File.Exists(dest + ".part"));
        Assert.Equal(FileDownloader.Outcome.AlreadyPresent, d.Download(Url("a.bin"), dest, Md5(body)));
        Assert.Single(_server.Requests);
    }

    [Fact]
    public void A_truncated_response_is_resumed_with_a_range_request()
    {
        var body = Bytes(500_000, 2);
        _server.Add("t.bin", new(body, LocalHttpServer.Fault.TruncateOnce, 123_457));
        using var d = new FileDownloader(Options());
        string dest = Path.Combine(_dir, "t.bin");
        d.Download(Url("t.bin"), dest, Md5(body));
        Assert.Equal(body, File.ReadAllBytes(dest));
        var requests = _server.Requests.ToArray();
        Assert.Equal(2, requests.Length);
        Assert.Null(requests[0].Range);
        Assert.Equal("bytes=123457-", requests[1].Range);
        Assert.Contains(_log, l => l.Contains("attempt 1 of 3 failed") && l.Contains("123457 bytes kept"));
    }

    [Fact]
    public void A_part_file_from_an_earlier_run_is_resumed()
    {
        var body = Bytes(200_000, 3);
        _server.Add("p.bin", new(body));
        string dest = Path.Combine(_dir, "p.bin");
        File.WriteAllBytes(dest + ".part", body[..77_777]);
        using var d = new FileDownloader(Options());
        d.Download(Url("p.bin"), dest, Md5(body));
        Assert.Equal(body, File.ReadAllBytes(dest));
        Assert.Equal("bytes=77777-", Assert.Single(_server.Requests).Range);

        // A complete .part (server answers 416) is verified and moved into place.
        File.Delete(dest);
        File.WriteAllBytes(dest + ".part", body);
        d.Download(Url("p.bin"), dest, Md5(body));
        Assert.Equal(body, File.ReadAllBytes(dest));
    }

    [Fact]
    public void A_server_ignoring_ranges_restarts_from_zero()
    {
        var body = Bytes(100_000, 4);
        _server.Add("i.bin", new(body, LocalHttpServer.Fault.IgnoreRange));
        string dest = Path.Combine(_dir, "i.bin");
        File.WriteAllBytes(dest + ".part", Bytes(5_000, 99)); // stale junk
        using var d = new FileDownloader(Options());
        d.Download(Url("i.bin"), dest, Md5(body));
        Assert.Equal(body, File.ReadAllBytes(dest));
    }

    [Fact]
    public void A_wrong_checksum_is_refused_and_nothing_is_left_under_the_final_name()
    {
        var body = Bytes(50_000, 5);
        _server.Add("w.bin", new(body));
        string dest = Path.Combine(_dir, "w.bin");
        using var d = new FileDownloader(Options());
        string wrong = new string('0', 32);
        var e = Assert.Throws<DownloadException>(() => d.Download(Url("w.bin"), dest, wrong));
        Assert.Contains("checksum mismatch", e.Message);
        Assert.Contains(Md5(body), e.Message);
        Assert.Contains(wrong, e.Message);
        Assert.False(File.Exists(dest));
        Assert.False(File.Exists(dest + ".part"));
    }

    [Fact]
    public void A_stalled_server_times_out_with_a_clear_error()
    {
        var body = Bytes(80_000, 6);
        _server.Add("s.bin", new(body, LocalHttpServer.Fault.StallAfter, 10_000));
        string dest = Path.Combine(_dir, "s.bin");
        using var d = new FileDownloader(Options(attempts: 2, stallSeconds: 0.5));
        var e = Assert.Throws<DownloadException>(() => d.Download(Url("s.bin"), dest, Md5(body)));
        Assert.Contains("stalled", e.Message);
        Assert.Contains("failed after 2 attempts", e.Message);
        Assert.False(File.Exists(dest));
        // Each attempt delivers 10 000 more bytes before stalling; they are kept for a later resume.
        Assert.Equal(20_000, new FileInfo(dest + ".part").Length);
        Assert.Equal("bytes=10000-", _server.Requests.ToArray()[1].Range);
    }

    [Fact]
    public void Http_errors_name_the_url_and_status()
    {
        using var d = new FileDownloader(Options(attempts: 2));
        var e = Assert.Throws<DownloadException>(() => d.Download(Url("missing.bin"), Path.Combine(_dir, "m"), new string('0', 32)));
        Assert.Contains("404", e.Message);
        Assert.Contains("missing.bin", e.Message);
        Assert.Single(_server.Requests); // a 404 is not retried

        _server.Add("busy.bin", new([], LocalHttpServer.Fault.Status, StatusCode: 503));
        var e2 = Assert.Throws<DownloadException>(() => d.Download(Url("busy.bin"), Path.Combine(_dir, "b"), new string('0', 32)));
        Assert.Contains("503", e2.Message);
        Assert.Equal(3, _server.Requests.Count); // a 503 is retried
    }

    [Fact]
    public void An_archive_data_set_is_downloaded_and_only_its_members_extracted()
    {
        // A miniature CIFAR-10-shaped archive: 2 records per batch file.
        var tarBytes = new MemoryStream();
        using (var gz = new GZipStream(tarBytes, CompressionLevel.Fastest, leaveOpen: true))
        using (var tar = new TarWriter(gz))
        {
            void Add(string name, byte[] data)
            {
                var entry = new PaxTarEntry(TarEntryType.RegularFile, name) { DataStream = new MemoryStream(data) };
                tar.WriteEntry(entry);
            }
            Add("cifar-10-batches-bin/data_batch_1.bin", Bytes(2 * 3073, 7).Select((b, i) => i % 3073 == 0 ? (byte)(b % 10) : b).ToArray());
            Add("cifar-10-batches-bin/readme.html", [1, 2, 3]);
            Add("../evil.txt", [6, 6, 6]);
        }
        var archive = tarBytes.ToArray();
        _server.Add("mini.tar.gz", new(archive));
        var spec = new DownloadSpec("mini", [_server.BaseUrl], [new RemoteFile("mini.tar.gz", Md5(archive))],
            new ArchiveLayout("mini.tar.gz", new Dictionary<string, string> { ["cifar-10-batches-bin/data_batch_1.bin"] = "data_batch_1.bin" }));
        var files = DatasetDownloader.Download(spec, _dir, options: Options());
        Assert.Equal([Path.Combine(_dir, "data_batch_1.bin")], files);
        Assert.Equal(2, CifarReader.ReadCifar10(files[0]).Labels.Length);
        Assert.False(File.Exists(Path.Combine(_dir, "readme.html")));
        Assert.False(File.Exists(Path.Combine(Path.GetDirectoryName(_dir)!, "evil.txt")));
        // A second run finds everything in place and makes no request.
        int before = _server.Requests.Count;
        DatasetDownloader.Download(spec, _dir, options: Options());
        Assert.Equal(before, _server.Requests.Count);
    }

    [SharedDataFact("mnist")]
    public void Mnist_through_a_local_mirror_verifies_the_published_checksums()
    {
        // The shared folder holds three of the original .gz downloads; its train-images .gz was
        // recompressed, so its bytes differ from the published file and must be refused.
        var src = Path.Combine(Paths.Datasets, "mnist");
        foreach (var f in Directory.GetFiles(src, "*.gz"))
            _server.Add(Path.GetFileName(f), new(File.ReadAllBytes(f)));
        var e = Assert.Throws<DownloadException>(() => DatasetDownloader.Download("mnist", _dir, _server.BaseUrl, Options()));
        Assert.Contains("1 of 4 files", e.Message);
        Assert.Contains("train-images-idx3-ubyte.gz: checksum mismatch", e.Message);
        Assert.Contains("f68b3c2dcbeaaa9fbdd348bbdeb94873", e.Message);
        Assert.False(File.Exists(Path.Combine(_dir, "train-images-idx3-ubyte.gz")));
        foreach (var f in new[] { "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz" })
            Assert.Equal(File.ReadAllBytes(Path.Combine(src, f)), File.ReadAllBytes(Path.Combine(_dir, f)));
        Assert.All(_server.Requests, r => Assert.StartsWith("/", r.Path));
    }
}
