using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;

namespace SparseSwitch.Data.Download;

/// <summary>
/// Downloads one file over HTTP(S) safely: bytes go to "NAME.part"; an interrupted transfer
/// (cut connection, stalled server, crash) is resumed with an HTTP Range request from the bytes
/// already saved; when the file is complete its MD5 is compared with the published value and only
/// then is it renamed to NAME (an atomic rename, so a file under its final name is always complete
/// and verified). A file whose checksum does not match is deleted and refused.
/// </summary>
public sealed class FileDownloader : IDisposable
{
    private readonly HttpClient _http;
    private readonly DownloadOptions _options;

    public FileDownloader(DownloadOptions? options = null)
    {
        _options = options ?? DownloadOptions.Default;
        if (_options.MaxAttempts < 1) throw new ArgumentOutOfRangeException(nameof(options), "MaxAttempts must be ≥ 1.");
        var handler = new SocketsHttpHandler
        {
            ConnectTimeout = _options.ConnectTimeout,
            AutomaticDecompression = DecompressionMethods.None,
            AllowAutoRedirect = true,
        };
        _http = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
        _http.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("SparseSwitch", "1.0"));
    }

    /// <summary>Result of one file: whether it was already present (verified) or fetched.</summary>
    public enum Outcome { AlreadyPresent, Downloaded }

    /// <summary>Fetches <paramref name="url"/> to <paramref name="destination"/> and verifies its
    /// MD5 (case-insensitive hex). Throws <see cref="DownloadException"/> on failure.</summary>
    public Outcome Download(Uri url, string destination, string md5, long? expectedSize = null, CancellationToken cancel = default)
    {
        if (File.Exists(destination))
        {
            if (Md5Of(destination).Equals(md5, StringComparison.OrdinalIgnoreCase))
            {
                Log($"{Path.GetFileName(destination)}: already present, checksum verified");
                return Outcome.AlreadyPresent;
            }
            Log($"{Path.GetFileName(destination)}: existing file does not match the published checksum; downloading again");
        }
        string part = destination + ".part";
        Exception? last = null;
        for (int attempt = 1; attempt <= _options.MaxAttempts; attempt++)
        {
            cancel.ThrowIfCancellationRequested();
            try
            {
                bool complete = Transfer(url, part, expectedSize, cancel);
                if (!complete) continue;
                string got = Md5Of(part);
                if (!got.Equals(md5, StringComparison.OrdinalIgnoreCase))
                {
                    long len = new FileInfo(part).Length;
                    File.Delete(part);
                    throw new DownloadException(
                        $"{url}: checksum mismatch — MD5 of the {len} bytes received is {got}, the published value is {md5.ToLowerInvariant()}. " +
                        "The file was refused and deleted; the mirror may serve a different or damaged file (try another with --mirror).");
                }
                File.Move(part, destination, overwrite: true);
                Log($"{Path.GetFileName(destination)}: downloaded, MD5 {got} verified");
                return Outcome.Downloaded;
            }
            catch (DownloadException) { throw; }
            catch (OperationCanceledException) when (cancel.IsCancellationRequested) { throw; }
            catch (Exception e) when (e is IOException or HttpRequestException or OperationCanceledException or TimeoutException)
            {
                last = e;
                long have = File.Exists(part) ? new FileInfo(part).Length : 0;
                Log($"{url}: attempt {attempt} of {_options.MaxAttempts} failed ({Describe(e)}); {have} bytes kept");
                if (attempt < _options.MaxAttempts && _options.RetryDelay > TimeSpan.Zero) Thread.Sleep(_options.RetryDelay);
            }
        }
        throw new DownloadException($"{url}: failed after {_options.MaxAttempts} attempts: {Describe(last)}. " +
            "Bytes received so far are kept in " + part + " and the next run resumes from them.", last);
    }

    /// <summary>One HTTP request, appending to the .part file. Returns true when the body arrived
    /// in full (or the .part already held the whole file), false to retry from the start.</summary>
    private bool Transfer(Uri url, string part, long? expectedSize, CancellationToken cancel)
    {
        long have = File.Exists(part) ? new FileInfo(part).Length : 0;
        if (expectedSize is long size && have > size) { File.Delete(part); have = 0; }
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        if (have > 0)
        {
            request.Headers.Range = new RangeHeaderValue(have, null);
            Log($"{url}: resuming at byte {have}");
        }
        else Log($"{url}: downloading");

        using var headerCts = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        headerCts.CancelAfter(_options.ConnectTimeout);
        HttpResponseMessage response;
        try
        {
            response = _http.Send(request, HttpCompletionOption.ResponseHeadersRead, headerCts.Token);
        }
        catch (OperationCanceledException) when (!cancel.IsCancellationRequested)
        {
            throw new TimeoutException($"no response within {_options.ConnectTimeout.TotalSeconds:g} s");
        }
        using (response)
        {
            long start;
            if (response.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable && have > 0)
                return true; // the .part already holds the whole file; the checksum decides
            if (response.StatusCode == HttpStatusCode.PartialContent && have > 0)
            {
                start = response.Content.Headers.ContentRange?.From ?? -1;
                if (start != have)
                {
                    Log($"{url}: server resumed at byte {start}, not {have}; starting over");
                    File.Delete(part);
                    return false;
                }
            }
            else if (response.StatusCode == HttpStatusCode.OK)
            {
                if (have > 0) Log($"{url}: server ignored the range request; starting over");
                start = 0;
            }
            else
            {
                int code = (int)response.StatusCode;
                string msg = $"{url}: HTTP {code} {response.ReasonPhrase}";
                if (code >= 500 || code == 408 || code == 429) throw new HttpRequestException(msg);
                throw new DownloadException(msg);
            }

            long? bodyLength = response.Content.Headers.ContentLength;
            using var body = response.Content.ReadAsStream(cancel);
            using var file = new FileStream(part, start == 0 ? FileMode.Create : FileMode.Append, FileAccess.Write, FileShare.None, 1 << 16);
            var buffer = new byte[1 << 16];
            long received = 0;
            using var stall = CancellationTokenSource.CreateLinkedTokenSource(cancel);
            while (true)
            {
                stall.CancelAfter(_options.StallTimeout);
                int n;
                try
                {
                    n = body.ReadAsync(buffer, stall.Token).AsTask().GetAwaiter().GetResult();
                }
                catch (OperationCanceledException) when (!cancel.IsCancellationRequested)
                {
                    file.Flush();
                    throw new TimeoutException($"transfer stalled: no data for {_options.StallTimeout.TotalSeconds:g} s after {start + received} bytes");
                }
                if (n == 0) break;
                file.Write(buffer, 0, n);
                received += n;
            }
            file.Flush(flushToDisk: true);
            if (bodyLength is long expected && received != expected)
                throw new IOException($"connection closed after {received} of {expected} bytes");
            return true;
        }
    }

    private static string Describe(Exception? e) => e switch
    {
        null => "unknown error",
        HttpRequestException { InnerException: { } inner } h => $"{h.Message} ({inner.Message})",
        _ => e.Message,
    };

    /// <summary>Lower-case hex MD5 of a file.</summary>
    public static string Md5Of(string path)
    {
        using var s = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        return Convert.ToHexStringLower(MD5.HashData(s));
    }

    private void Log(string line) => _options.Log?.Invoke(line);

    public void Dispose() => _http.Dispose();
}
