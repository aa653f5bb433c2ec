using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace SparseSwitch.Tests.Data;

/// <summary>
/// A minimal HTTP/1.1 file server on 127.0.0.1 (an ephemeral port) for download tests. It serves
/// byte arrays by path, honours "Range: bytes=N-" with 206 responses, and can misbehave on demand:
/// cut a response short, stall mid-body, ignore ranges, or fail with a status code. Every request
/// line and Range header is recorded. It binds only to the loopback address.
/// </summary>
public sealed class LocalHttpServer : IDisposable
{
    public enum Fault { None, TruncateOnce, StallAfter, IgnoreRange, Status }

    public sealed record Resource(byte[] Body, Fault Fault = Fault.None, int FaultBytes = 0, int StatusCode = 0);

    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly ConcurrentDictionary<string, Resource> _files = new();
    private readonly ConcurrentDictionary<string, int> _served = new();
    private readonly CancellationTokenSource _stop = new();
    public ConcurrentQueue<(string Path, string? Range)> Requests { get; } = new();

    public LocalHttpServer()
    {
        _listener.Start();
        _ = Task.Run(AcceptLoop);
    }

    public string BaseUrl => $"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}/";

    public void Add(string path, Resource r) => _files["/" + path.TrimStart('/')] = r;

    private async Task AcceptLoop()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try { client = await _listener.AcceptTcpClientAsync(_stop.Token); }
            catch { return; }
            _ = Task.Run(() => Handle(client));
        }
    }

    private async Task Handle(TcpClient client)
    {
        using (client)
        {
            try
            {
                var stream = client.GetStream();
                var reader = new StreamReader(stream, Encoding.ASCII, false, 1024, leaveOpen: true);
                string? requestLine = await reader.ReadLineAsync(_stop.Token);
                if (requestLine is null) return;
                string? range = null;
                string? line;
                while (!string.IsNullOrEmpty(line = await reader.ReadLineAsync(_stop.Token)))
                    if (line.StartsWith("Range:", StringComparison.OrdinalIgnoreCase)) range = line[6..].Trim();
                string path = requestLine.Split(' ')[1];
                Requests.Enqueue((path, range));
                if (!_files.TryGetValue(path, out var r))
                {
                    await Write(stream, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                    return;
                }
                if (r.Fault == Fault.Status)
                {
                    await Write(stream, $"HTTP/1.1 {r.StatusCode} Failure\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                    return;
                }
                long start = 0;
                if (range is not null && r.Fault != Fault.IgnoreRange && range.StartsWith("bytes=") && range.EndsWith('-'))
                    start = long.Parse(range[6..^1]);
                int count = _served.AddOrUpdate(path, 1, (_, c) => c + 1);
                if (start >= r.Body.Length && start > 0)
                {
                    await Write(stream, $"HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{r.Body.Length}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                    return;
                }
                long length = r.Body.Length - start;
                string head = start > 0
                    ? $"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {start}-{r.Body.Length - 1}/{r.Body.Length}\r\n"
                    : "HTTP/1.1 200 OK\r\n";
                await Write(stream, head + $"Content-Length: {length}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n");
                int send = (int)length;
                if (r.Fault == Fault.TruncateOnce && count == 1) send = Math.Min(send, r.FaultBytes);
                if (r.Fault == Fault.StallAfter) send = Math.Min(send, r.FaultBytes);
                await stream.WriteAsync(r.Body.AsMemory((int)start, send), _stop.Token);
                await stream.FlushAsync(_stop.Token);
                if (r.Fault == Fault.StallAfter)
                    await Task.Delay(Timeout.Infinite, _stop.Token); // hold the connection open, send nothing
            }
            catch (Exception) { /* client went away or server stopped */ }
        }
    }

    private Task Write(NetworkStream s, string text) => s.WriteAsync(Encoding.ASCII.GetBytes(text), _stop.Token).AsTask();

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
    }
}
