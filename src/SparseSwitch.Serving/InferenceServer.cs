using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Encodings.Web;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Net.Http.Headers;
using Prometheus;
using SparseSwitch.Inference;

namespace SparseSwitch.Serving;

/// <summary>
/// Serves a model file over HTTP (Kestrel, minimal API). <see cref="StartAsync"/> listens at once
/// and warms up in the background — compiles every sub-net, profiles their latencies on this machine
/// at the batch sizes the server runs (unless a table is given), starts the workers — after which
/// <c>/readyz</c> answers 200 and predictions are taken. Endpoints:
/// <list type="bullet">
/// <item><c>POST /v1/predict</c>: JSON or raw float32 images (<see cref="PredictRequest"/>); options
/// <c>subnet</c> (pin), <c>budget_ms</c> (the request's own deadline), <c>top_k</c> in the JSON body,
/// the query string or the headers <c>X-Subnet</c>, <c>X-Budget-Ms</c>, <c>X-Top-K</c> (in that
/// order of precedence); answers per image the class, its label and the logits (or the top k),
/// with the sub-net that served the request and its latency. 400 for a malformed request, 413 for a
/// body over the limit, 503 with Retry-After when it cannot be answered in time or the queue is full;</item>
/// <item><c>GET /v1/model</c>: sub-nets, accuracies, densities, the latency table, the controller's state;</item>
/// <item><c>GET /healthz</c> (the process answers), <c>GET /readyz</c> (200 once warm, 503 before and while stopping);</item>
/// <item><c>GET /metrics</c>: Prometheus text (<see cref="ServingMetrics"/>).</item>
/// </list>
/// <see cref="StopAsync"/> (or SIGINT/SIGTERM with <see cref="ServerOptions.HandleSignals"/>) stops
/// taking requests and returns once everything queued has been answered.
/// </summary>
public sealed class InferenceServer : IAsyncDisposable
{
    private sealed record State(IBatchRunner Runner, SubnetController Controller, Batcher Batcher, IReadOnlyList<LatencyEntry> Table, bool Profiled, double WarmupSeconds);

    // Answers are read by programs and people: non-ASCII text (×, …) is written as it is, not escaped.
    private static readonly JavaScriptEncoder Text = JavaScriptEncoder.UnsafeRelaxedJsonEscaping;
    private static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, Encoder = Text };
    private static readonly JsonSerializerOptions JsonIndented = new(Json) { WriteIndented = true };

    private readonly ModelArtifact _artifact;
    private readonly ServerOptions _o;
    private readonly int _imageLength;
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Lock _life = new();
    private WebApplication? _app;
    private volatile State? _state;
    private volatile bool _stopping;
    private Task? _stopped;

    public ServingMetrics Metrics { get; }
    /// <summary>Where the server listens (after <see cref="StartAsync"/>), e.g. http://127.0.0.1:8080/.</summary>
    public Uri Address { get; private set; } = new("http://127.0.0.1/");
    /// <summary>Completes once the server is warm (faults if the warm-up failed).</summary>
    public Task Ready => _ready.Task;
    /// <summary>The sub-net controller (after warm-up).</summary>
    public SubnetController? Controller => _state?.Controller;
    /// <summary>The latency table the controller uses (after warm-up).</summary>
    public IReadOnlyList<LatencyEntry>? LatencyTable => _state?.Table;
    internal Batcher? Batcher => _state?.Batcher;
    /// <summary>Requests answered by the workers so far.</summary>
    public long Answered => _state?.Batcher.Answered ?? 0;

    public InferenceServer(ModelArtifact artifact, ServerOptions options)
    {
        ArgumentNullException.ThrowIfNull(artifact);
        ArgumentNullException.ThrowIfNull(options);
        options.Check(artifact);
        _artifact = artifact;
        _o = options;
        _imageLength = artifact.InChannels * artifact.ImageSize * artifact.ImageSize;
        Metrics = new ServingMetrics(options.MaxBatch, options.ObjectiveMs);
    }

    private static IPAddress ParseHost(string host)
    {
        if (string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase)) return IPAddress.Loopback;
        return IPAddress.TryParse(host, out var ip) ? ip : throw new ArgumentException($"host '{host}' is not an IP address (for example 127.0.0.1, ::1 or 0.0.0.0).", nameof(ServerOptions.Host));
    }

    /// <summary>Binds and starts listening, then warms up in the background (<see cref="Ready"/>).</summary>
    public async Task StartAsync(CancellationToken cancel = default)
    {
        if (_app is not null) throw new InvalidOperationException("The server is already started.");
        var ip = ParseHost(_o.Host);
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ApplicationName = "SparseSwitch.Serving", ContentRootPath = AppContext.BaseDirectory });
        builder.Logging.ClearProviders();
        if (!_o.HandleSignals) builder.Services.AddSingleton<IHostLifetime, EmbeddedLifetime>();
        builder.Services.Configure<HostOptions>(h => h.ShutdownTimeout = _o.ShutdownTimeout);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Limits.MaxRequestBodySize = _o.MaxBodyBytes;
            k.Listen(ip, _o.Port);
        });
        var app = builder.Build();
        app.Use(CountAndGuard);
        app.MapPost("/v1/predict", (RequestDelegate)Predict);
        app.MapGet("/v1/model", (RequestDelegate)DescribeModel);
        app.MapGet("/healthz", (RequestDelegate)(ctx => WriteJson(ctx, 200, new { Status = "ok" })));
        app.MapGet("/readyz", (RequestDelegate)(ctx => _state is not null && !_stopping
            ? WriteJson(ctx, 200, new { Ready = true })
            : WriteJson(ctx, 503, new { Ready = false, Reason = _stopping ? "shutting down" : "warming up" })));
        app.MapMetrics("/metrics", Metrics.Registry);
        app.MapFallback((RequestDelegate)(ctx => Error(ctx, 404, $"no endpoint {ctx.Request.Method} {ctx.Request.Path}; the endpoints are POST /v1/predict, GET /v1/model, /healthz, /readyz, /metrics")));
        app.Lifetime.ApplicationStopping.Register(() => { _stopping = true; Metrics.Ready(false); });
        _app = app;
        await app.StartAsync(cancel).ConfigureAwait(false);
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>();
        Address = new Uri(addresses!.Addresses.First().Replace("[::]", "[::1]", StringComparison.Ordinal) + "/");
        var warm = new Thread(WarmUp) { IsBackground = true, Name = "sparseswitch-warm-up" };
        warm.Start();
    }

    private void WarmUp()
    {
        try
        {
            var sw = Stopwatch.StartNew();
            _o.Log?.Invoke($"compiling {_artifact.SubnetCount} sub-nets ({_o.Inference.Engine.Threads} threads, formats: {_o.Inference.Formats})");
            var model = InferenceModel.Compile(_artifact, _o.Inference);
            IReadOnlyList<LatencyEntry> table;
            bool profiled = _o.Latency is null;
            if (_o.Latency is { } given)
            {
                table = given;
                var x = new float[_o.MaxBatch * _imageLength];
                var y = new float[_o.MaxBatch * model.OutputLength];
                for (int k = 0; k < model.SubnetCount; k++)
                    foreach (int b in new[] { 1, _o.MaxBatch })
                        model.Run(k, x.AsSpan(0, b * _imageLength), y.AsSpan(0, b * model.OutputLength), b);
            }
            else
            {
                var sizes = _o.ProfileSizes();
                _o.Log?.Invoke($"profiling at batch {string.Join(", ", sizes)} ({_o.ProfileRounds} rounds)");
                table = SubnetSelector.Profile(model, sizes, _o.ProfileRounds);
            }
            var latency = new LatencyModel(table, _artifact.SubnetCount);
            int quickest = Enumerable.Range(0, _artifact.SubnetCount).MinBy(k => latency.Ms(k, 1));
            if (latency.Ms(quickest, 1) > _o.ObjectiveMs)
                _o.Log?.Invoke(string.Create(CultureInfo.InvariantCulture,
                    $"warning: even the fastest sub-net ({quickest}) took {latency.Ms(quickest, 1):G4} ms for one image here, over the objective of {_o.ObjectiveMs:G4} ms: requests will be refused (503) unless later runs are faster (an idle server admits one a second to find out)"));
            var controller = new SubnetController(latency, _artifact.Subnets.Select(s => s.TestAccuracy).ToList(), _o.ObjectiveMs, _o.MaxBatch,
                _o.Workers, _o.Pin, _o.Controller) { Switched = Metrics.Switched };
            Metrics.SetSubnets(_artifact.SubnetCount);
            Metrics.Watch(controller);
            IBatchRunner runner = new CompiledRunner(model);
            if (_o.WrapRunner is { } wrap) runner = wrap(runner);
            var batcher = new Batcher(runner, controller, _o.QueueBound, _o.MaxImagesPerRequest);
            lock (_life)
            {
                if (_stopping)
                {
                    batcher.Close();
                    _ready.TrySetException(new OperationCanceledException("The server stopped during its warm-up."));
                    return;
                }
                _state = new State(runner, controller, batcher, table, profiled, sw.Elapsed.TotalSeconds);
            }
            try { WarmHttpPath(); }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException) { _o.Log?.Invoke($"warm-up requests failed ({e.Message}); serving all the same"); }
            batcher.Metrics = Metrics;
            Metrics.Ready(true);
            _ready.TrySetResult();
        }
        catch (Exception e)
        {
            _ready.TrySetException(e);
        }
    }

    /// <summary>A few requests to the server itself (JSON, raw, top-k), so that the first clients do
    /// not pay for compiling the request path; they are left out of the metrics.</summary>
    private void WarmHttpPath()
    {
        using var client = new HttpClient { BaseAddress = Address, Timeout = TimeSpan.FromSeconds(30) };
        var zeros = new float[_imageLength];
        string json = "{\"inputs\": [[" + string.Join(",", zeros.Select(_ => "0")) + "]], \"top_k\": 1}";
        byte[] raw = new byte[4 * _imageLength];
        for (int i = 0; i < 3; i++)
        {
            using var a = new HttpRequestMessage(HttpMethod.Post, "v1/predict") { Content = new StringContent(json, System.Text.Encoding.UTF8, "application/json") };
            a.Headers.Add(WarmUpHeader, _warmUpToken);
            using var ra = client.Send(a);
            using var b = new HttpRequestMessage(HttpMethod.Post, "v1/predict") { Content = new ByteArrayContent(raw) };
            b.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/octet-stream");
            b.Headers.Add("X-Shape", $"1,{_artifact.InChannels},{_artifact.ImageSize},{_artifact.ImageSize}");
            b.Headers.Add(WarmUpHeader, _warmUpToken);
            using var rb = client.Send(b);
            if (!ra.IsSuccessStatusCode || !rb.IsSuccessStatusCode)
                _o.Log?.Invoke($"warm-up requests answered {(int)ra.StatusCode} and {(int)rb.StatusCode}");
        }
    }

    private const string WarmUpHeader = "X-SparseSwitch-Warm-Up";
    private readonly string _warmUpToken = Guid.NewGuid().ToString("N");

    private bool IsWarmUp(HttpContext ctx) => ctx.Request.Headers.TryGetValue(WarmUpHeader, out var v) && v.Count == 1 && v[0] == _warmUpToken;

    /// <summary>Stops taking requests, waits until every admitted one is answered, and stops listening.</summary>
    public Task StopAsync()
    {
        lock (_life)
        {
            _stopping = true;
            return _stopped ??= StopCore();
        }
    }

    private async Task StopCore()
    {
        Metrics.Ready(false);
        // Kestrel waits for the requests in flight, which the workers (still running) answer.
        if (_app is not null) await _app.StopAsync().ConfigureAwait(false);
        _state?.Batcher.Close();
    }

    /// <summary>Waits until the host is stopped (SIGINT/SIGTERM, or <see cref="StopAsync"/>) and every admitted request answered.</summary>
    public async Task WaitForShutdownAsync(CancellationToken cancel = default)
    {
        if (_app is null) throw new InvalidOperationException("The server is not started.");
        await _app.WaitForShutdownAsync(cancel).ConfigureAwait(false);
        await StopAsync().ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        if (_app is not null) await _app.DisposeAsync().ConfigureAwait(false);
    }

    // ---- request handling ----

    private static string EndpointOf(PathString path) => path.Value switch
    {
        "/v1/predict" or "/v1/model" or "/healthz" or "/readyz" or "/metrics" => path.Value,
        _ => "other",
    };

    private async Task CountAndGuard(HttpContext ctx, RequestDelegate next)
    {
        try
        {
            await next(ctx).ConfigureAwait(false);
        }
        catch (Exception e) when (!ctx.Response.HasStarted && e is not OperationCanceledException)
        {
            await Error(ctx, 500, $"internal error: {e.Message}").ConfigureAwait(false);
        }
        finally
        {
            if (!IsWarmUp(ctx)) Metrics.Answered(EndpointOf(ctx.Request.Path), ctx.Response.StatusCode);
        }
    }

    private static async Task<(byte[] Buffer, int Length)> ReadBody(HttpRequest request, long limit)
    {
        int initial = (int)Math.Clamp(request.ContentLength ?? 16384, 1, Math.Min(limit, 1 << 20));
        var buffer = ArrayPool<byte>.Shared.Rent(initial);
        int length = 0;
        try
        {
            while (true)
            {
                if (length == buffer.Length)
                {
                    if (length >= limit) throw new BadHttpRequestException($"the body exceeds the limit of {limit} bytes.", StatusCodes.Status413PayloadTooLarge);
                    var bigger = ArrayPool<byte>.Shared.Rent((int)Math.Min(2L * buffer.Length, limit + 1));
                    buffer.AsSpan(0, length).CopyTo(bigger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = bigger;
                }
                int n = await request.Body.ReadAsync(buffer.AsMemory(length)).ConfigureAwait(false);
                if (n == 0) break;
                length += n;
                if (length > limit) throw new BadHttpRequestException($"the body exceeds the limit of {limit} bytes.", StatusCodes.Status413PayloadTooLarge);
            }
            return (buffer, length);
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(buffer);
            throw;
        }
    }

    private static string? Option(HttpContext ctx, string query, string header)
    {
        if (ctx.Request.Query.TryGetValue(query, out var q) && q.Count > 0) return q[0];
        if (ctx.Request.Headers.TryGetValue(header, out var h) && h.Count > 0) return h[0];
        return null;
    }

    private int ResolveSubnet(string text)
    {
        text = text.Trim();
        if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int k) && k < _artifact.SubnetCount) return k;
        for (int i = 0; i < _artifact.SubnetCount; i++)
            if (string.Equals(_artifact.Subnets[i].Spec, text, StringComparison.OrdinalIgnoreCase)) return i;
        throw new BadRequestException($"subnet '{text}': the model has sub-nets 0 … {_artifact.SubnetCount - 1} ({string.Join(", ", _artifact.Subnets.Select(s => s.Spec))}).");
    }

    private async Task Predict(HttpContext ctx)
    {
        double arrival = Clock.NowMs;
        var state = _state;
        if (_stopping)
        {
            Metrics.Refused("shutting_down");
            await Error(ctx, 503, "the server is shutting down", 1).ConfigureAwait(false);
            return;
        }
        if (state is null)
        {
            Metrics.Refused("warming_up");
            await Error(ctx, 503, "the server is warming up (compiling and profiling the sub-nets); see /readyz", 1).ConfigureAwait(false);
            return;
        }
        PredictRequest? request = null;
        int? pin;
        double? budget;
        int? topK;
        try
        {
            string? contentType = ctx.Request.ContentType;
            bool json = false, raw = false;
            if (MediaTypeHeaderValue.TryParse(contentType, out var media))
            {
                json = media.MediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase);
                raw = media.MediaType.Equals("application/octet-stream", StringComparison.OrdinalIgnoreCase);
            }
            if (!json && !raw)
                throw new BadRequestException($"unsupported content type '{contentType ?? "(none)"}'; send application/json ({{\"inputs\": [[…]]}}) or application/octet-stream (float32 with X-Shape: N,C,H,W).");
            var (body, length) = await ReadBody(ctx.Request, _o.MaxBodyBytes).ConfigureAwait(false);
            try
            {
                request = json
                    ? PredictRequest.ParseJson(body.AsSpan(0, length), _imageLength, _o.MaxImagesPerRequest)
                    : PredictRequest.ParseRaw(body.AsSpan(0, length), ctx.Request.Headers["X-Shape"].FirstOrDefault(), _artifact.InChannels, _artifact.ImageSize, _artifact.ImageSize, _o.MaxImagesPerRequest);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(body);
            }
            string? subnetText = request.Subnet ?? Option(ctx, "subnet", "X-Subnet");
            pin = subnetText is null ? null : ResolveSubnet(subnetText);
            budget = request.BudgetMs;
            if (budget is null && Option(ctx, "budget_ms", "X-Budget-Ms") is { } b)
                budget = double.TryParse(b, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) ? v : throw new BadRequestException($"budget_ms '{b}' is not a number of milliseconds.");
            if (budget is double bm && (!(bm > 0) || double.IsInfinity(bm))) throw new BadRequestException($"budget_ms must be a positive number of milliseconds, not {bm.ToString(CultureInfo.InvariantCulture)}.");
            topK = request.TopK;
            if (topK is null && Option(ctx, "top_k", "X-Top-K") is { } t)
                topK = int.TryParse(t, NumberStyles.Integer, CultureInfo.InvariantCulture, out int tv) ? tv : throw new BadRequestException($"top_k '{t}' is not an integer.");
            if (topK is int tk && (tk < 1 || tk > _artifact.NumClasses)) throw new BadRequestException($"top_k must be 1 … {_artifact.NumClasses}, not {tk}.");
        }
        catch (BadRequestException e)
        {
            request?.Release();
            await Error(ctx, 400, e.Message).ConfigureAwait(false);
            return;
        }
        catch (BadHttpRequestException e)
        {
            request?.Release();
            string message = e.StatusCode == StatusCodes.Status413PayloadTooLarge ? $"the body exceeds the limit of {_o.MaxBodyBytes} bytes." : e.Message;
            await Error(ctx, e.StatusCode, message).ConfigureAwait(false);
            return;
        }

        var item = new WorkItem(request.TakeInput(), request.Images, _imageLength, _artifact.NumClasses, pin, budget, arrival, _o.ObjectiveMs);
        try
        {
            var admission = state.Batcher.TryAdmit(item, Clock.NowMs);
            if (!admission.Admitted)
            {
                item.Complete(WorkStatus.Failed, admission.Message);
                Metrics.Refused(admission.Reason!);
                await Error(ctx, 503, admission.Message!, admission.RetryAfterSeconds).ConfigureAwait(false);
                return;
            }
            await item.Completion.ConfigureAwait(false);
            switch (item.Status)
            {
                case WorkStatus.Done:
                    if (!IsWarmUp(ctx)) Metrics.Served(item.Subnet, (Clock.NowMs - arrival) / 1000, item.Images);
                    await WritePrediction(ctx, item, topK, arrival).ConfigureAwait(false);
                    break;
                case WorkStatus.Expired:
                    await Error(ctx, 503, item.Error!, 1).ConfigureAwait(false);
                    break;
                default:
                    await Error(ctx, 500, item.Error ?? "the request failed").ConfigureAwait(false);
                    break;
            }
        }
        finally
        {
            item.Dispose();
        }
    }

    private async Task WritePrediction(HttpContext ctx, WorkItem item, int? topK, double arrival)
    {
        int classes = _artifact.NumClasses;
        var sub = _artifact.Subnets[item.Subnet];
        ctx.Response.StatusCode = 200;
        ctx.Response.ContentType = "application/json";
        using (var w = new Utf8JsonWriter(ctx.Response.BodyWriter, new JsonWriterOptions { Encoder = Text }))
        {
            w.WriteStartObject();
            w.WriteNumber("subnet", item.Subnet);
            w.WriteString("spec", sub.Spec);
            w.WriteNumber("accuracy", sub.TestAccuracy);
            w.WriteNumber("latency_ms", Math.Round(Clock.NowMs - arrival, 3));
            w.WriteNumber("queue_ms", Math.Round(item.QueueMs, 3));
            w.WriteNumber("service_ms", Math.Round(item.ServiceMs, 3));
            w.WriteNumber("batch", item.RunImages);
            w.WriteStartArray("outputs");
            Span<int> order = classes <= 1024 ? stackalloc int[classes] : new int[classes];
            for (int i = 0; i < item.Images; i++)
            {
                var logits = item.Output.AsSpan(i * classes, classes);
                int best = 0;
                for (int c = 1; c < classes; c++) if (logits[c] > logits[best]) best = c;
                w.WriteStartObject();
                w.WriteNumber("class", best);
                w.WriteString("label", _artifact.ClassNames[best]);
                if (topK is int k)
                {
                    for (int c = 0; c < classes; c++) order[c] = c;
                    w.WriteStartArray("top_k");
                    for (int r = 0; r < k; r++)
                    {
                        int m = r;
                        for (int c = r + 1; c < classes; c++) if (logits[order[c]] > logits[order[m]]) m = c;
                        (order[r], order[m]) = (order[m], order[r]);
                        w.WriteStartObject();
                        w.WriteNumber("class", order[r]);
                        w.WriteString("label", _artifact.ClassNames[order[r]]);
                        w.WriteNumber("logit", logits[order[r]]);
                        w.WriteEndObject();
                    }
                    w.WriteEndArray();
                }
                else
                {
                    w.WriteStartArray("logits");
                    foreach (float v in logits) w.WriteNumberValue(v);
                    w.WriteEndArray();
                }
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        await ctx.Response.BodyWriter.FlushAsync().ConfigureAwait(false);
    }

    private Task DescribeModel(HttpContext ctx)
    {
        var a = _artifact;
        var state = _state;
        var c = state?.Controller;
        var table = state?.Table;
        var body = new
        {
            a.Architecture,
            Input = new { Channels = a.InChannels, Height = a.ImageSize, Width = a.ImageSize, ValuesPerImage = _imageLength, Mean = a.Info.Mean, Std = a.Info.Std,
                Note = "inputs are normalised images: x = (p/255 - mean[c]) / std[c] for bytes p, channel planes (C×H×W)" },
            Classes = a.ClassNames,
            Subnets = a.Subnets.Select((s, k) => new { Index = k, s.Spec, Kind = s.Kind.ToString().ToLowerInvariant(), s.Density, Accuracy = s.TestAccuracy, s.TestLoss }),
            Ready = state is not null && !_stopping,
            ObjectiveMs = _o.ObjectiveMs,
            _o.Pin,
            _o.MaxBatch,
            _o.QueueBound,
            _o.Workers,
            _o.MaxBodyBytes,
            _o.MaxImagesPerRequest,
            Controller = c is null ? null : new
            {
                c.Current, c.Ladder, c.Slowdown, ArrivalRatePerSecond = c.ArrivalRatePerSecond, c.Switches,
                QueuedImages = state!.Batcher.QueuedImages, QueuedRequests = state.Batcher.QueuedRequests,
            },
            Latency = table is null ? null : new
            {
                Source = state!.Profiled ? "profiled at warm-up" : "given",
                WarmupSeconds = Math.Round(state.WarmupSeconds, 3),
                Threads = _o.Inference.Engine.Threads,
                Machine = table.Select(e => e.Machine).FirstOrDefault(),
                Entries = table.Select(e => new { e.Subnet, e.BatchSize, e.MedianMs }),
            },
            FileLatency = a.Latency,
        };
        return WriteJson(ctx, 200, body, JsonIndented);
    }

    private static async Task WriteJson<T>(HttpContext ctx, int status, T body, JsonSerializerOptions? options = null)
    {
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = "application/json";
        await JsonSerializer.SerializeAsync(ctx.Response.Body, body, options ?? Json).ConfigureAwait(false);
    }

    private static Task Error(HttpContext ctx, int status, string message, int retryAfterSeconds = 0)
    {
        if (retryAfterSeconds > 0) ctx.Response.Headers.RetryAfter = retryAfterSeconds.ToString(CultureInfo.InvariantCulture);
        return WriteJson(ctx, status, new { Error = message });
    }

    /// <summary>A host lifetime that ignores the console's signals (the embedding program stops the server).</summary>
    private sealed class EmbeddedLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;
        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
