using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text.Json;
using SparseSwitch.Tensors;

namespace SparseSwitch.Bench;

/// <summary>One request of an open-loop run: when it was due (ms from the run's start), its latency
/// (from when it was due, or from when it was sent if that was earlier), the HTTP status (−1: no
/// answer at all) and the sub-net that served it (−1 unless 200).</summary>
internal readonly record struct Outcome(double DueMs, double LatencyMs, int Status, int Subnet);

/// <summary>
/// Open-loop load on one server: requests are sent at Poisson arrival times of a fixed rate,
/// whatever the answers do (no request waits for another), each a raw float32 image with its
/// X-Shape. A latency counts from the scheduled time, so a late send is charged to the server's
/// side and not hidden. Every run is bounded: at most rate × seconds × 1.5 + 100 requests, and each
/// request gives up after <see cref="RequestTimeout"/> (an unanswered request is "lost").
/// </summary>
internal sealed class OpenLoopLoad : IDisposable
{
    public static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(30);
    private readonly HttpClient _client;
    private readonly byte[] _payload;
    private readonly string _shape;

    public OpenLoopLoad(Uri address, byte[] payload, string shape, int connections)
    {
        var handler = new SocketsHttpHandler { MaxConnectionsPerServer = connections, PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5), UseProxy = false };
        _client = new HttpClient(handler) { BaseAddress = address, Timeout = RequestTimeout };
        _payload = payload;
        _shape = shape;
    }

    /// <summary>Runs <paramref name="seconds"/> of arrivals at <paramref name="ratePerSecond"/>; returns every request's outcome.
    /// <paramref name="onStart"/> is told the run's start (Stopwatch timestamp).</summary>
    public async Task<Outcome[]> RunAsync(double ratePerSecond, double seconds, ulong seed, Action<long>? onStart = null)
    {
        var rng = new Rng(seed);
        int cap = (int)Math.Min(1_000_000, ratePerSecond * seconds * 1.5 + 100);
        var sent = new List<Task<Outcome>>(Math.Min(cap, 100_000));
        long t0 = Stopwatch.GetTimestamp();
        onStart?.Invoke(t0);
        double end = seconds * 1000, next = Exp(rng, ratePerSecond);
        while (next < end && sent.Count < cap)
        {
            double now = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            if (next > now + 1)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(next - now - 0.5)).ConfigureAwait(false);
                continue;
            }
            while (next <= now + 1 && next < end && sent.Count < cap)
            {
                sent.Add(SendAsync(t0, next));
                next += Exp(rng, ratePerSecond);
            }
        }
        return await Task.WhenAll(sent).ConfigureAwait(false);
    }

    /// <summary>Closed-loop capacity: <paramref name="clients"/> loops each sending the next request
    /// as soon as the last is answered, for <paramref name="seconds"/>; 200 answers per second.</summary>
    public async Task<double> CapacityAsync(int clients, double seconds)
    {
        long t0 = Stopwatch.GetTimestamp();
        int ok = 0;
        async Task Loop()
        {
            while (Stopwatch.GetElapsedTime(t0).TotalSeconds < seconds)
                if ((await SendAsync(t0, Stopwatch.GetElapsedTime(t0).TotalMilliseconds).ConfigureAwait(false)).Status == 200) Interlocked.Increment(ref ok);
        }
        await Task.WhenAll(Enumerable.Range(0, clients).Select(_ => Loop())).ConfigureAwait(false);
        return ok / Stopwatch.GetElapsedTime(t0).TotalSeconds;
    }

    private static double Exp(Rng rng, double rate) => -Math.Log(1 - rng.NextDouble()) * 1000 / rate;

    private async Task<Outcome> SendAsync(long t0, double dueMs)
    {
        await Task.Yield();
        double sentMs = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
        double from = Math.Min(dueMs, sentMs); // sent late: from when it was due; sent early: from the send
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "v1/predict?top_k=1") { Content = new ByteArrayContent(_payload) };
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
            request.Content.Headers.Add("X-Shape", _shape);
            using var response = await _client.SendAsync(request).ConfigureAwait(false);
            byte[] body = await response.Content.ReadAsByteArrayAsync().ConfigureAwait(false);
            double done = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            int status = (int)response.StatusCode;
            return new Outcome(dueMs, done - from, status, status == 200 ? SubnetOf(body) : -1);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException)
        {
            return new Outcome(dueMs, Stopwatch.GetElapsedTime(t0).TotalMilliseconds - from, -1, -1);
        }
    }

    private static int SubnetOf(byte[] body)
    {
        var reader = new Utf8JsonReader(body);
        while (reader.Read())
            if (reader.TokenType == JsonTokenType.PropertyName && reader.ValueTextEquals("subnet") && reader.Read()) return reader.GetInt32();
        return -1;
    }

    public void Dispose() => _client.Dispose();
}
