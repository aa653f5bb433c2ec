using System.CommandLine;
using System.Globalization;
using SparseSwitch.Inference;
using SparseSwitch.Serving;
using SparseSwitch.Tensors;

namespace SparseSwitch.Cli.Commands;

/// <summary><c>serve</c>: a model file over HTTP, switching sub-nets to hold a latency objective.</summary>
public static class ServeCommand
{
    public static Command Build()
    {
        var file = new Argument<string>("model") { Description = "A model file written by 'sparseswitch pack'." };
        var slo = new Option<double?>("--slo-ms") { Description = "Latency objective: the p99 of arrival-to-answer to hold, milliseconds (required)." };
        var port = new Option<int>("--port") { Description = "TCP port (0: any free port).", DefaultValueFactory = _ => 8080 };
        var host = new Option<string>("--host") { Description = "Address to listen on (default loopback only).", DefaultValueFactory = _ => "127.0.0.1" };
        var pin = new Option<string?>("--pin") { Description = "Serve every request that does not name a sub-net with this one (index or spec): no switching." };
        var threads = new Option<int>("--threads") { Description = "Kernel threads of each inference run (default: processor count).", DefaultValueFactory = _ => 0 };
        var maxBatch = new Option<int>("--max-batch") { Description = "Most images run together.", DefaultValueFactory = _ => 8 };
        var queue = new Option<int>("--queue") { Description = "Most requests waiting; beyond it requests are refused (503).", DefaultValueFactory = _ => 256 };
        var workers = new Option<int>("--workers") { Description = "Batches run concurrently.", DefaultValueFactory = _ => 1 };
        var maxBody = new Option<long>("--max-body-bytes") { Description = "Largest request body (larger: 413).", DefaultValueFactory = _ => 8L << 20 };
        var maxImages = new Option<int>("--max-images") { Description = "Most images one request may carry.", DefaultValueFactory = _ => 64 };
        var formats = new Option<string>("--formats") { Description = "Weight formats of the compiled layers: measure (the fastest here), density, dense, sparse.", DefaultValueFactory = _ => "measure" };
        var rounds = new Option<int>("--profile-rounds") { Description = "Interleaved rounds of the warm-up latency profile.", DefaultValueFactory = _ => 7 };
        var c = new Command("serve", "Serve a model file over HTTP (loopback by default) and hold a latency objective under changing load and CPU by " +
            "switching sub-nets: micro-batches behind a bounded queue, the most accurate sub-net predicted to answer within the objective " +
            "(profiled latencies at warm-up, queue depth, recent observed latencies), moving down at once and up only after sustained slack. " +
            "Requests that cannot be answered in time are refused at once with 503 and Retry-After. Endpoints: POST /v1/predict, " +
            "GET /v1/model, /healthz, /readyz, /metrics (Prometheus). SIGINT/SIGTERM stop it after answering what is queued.\n\n" +
            "Examples:\n  sparseswitch serve model.safetensors --slo-ms 20\n" +
            "  sparseswitch serve model.safetensors --slo-ms 10 --port 9000 --threads 2 --max-batch 16 --queue 128\n" +
            "  sparseswitch serve model.safetensors --slo-ms 20 --pin 0        # always the densest sub-net\n" +
            "  curl -s localhost:8080/v1/predict -H 'Content-Type: application/json' -d '{\"inputs\": [[0.1, …]], \"top_k\": 3}'");
        c.Arguments.Add(file);
        foreach (var o in new Option[] { slo, port, host, pin, threads, maxBatch, queue, workers, maxBody, maxImages, formats, rounds }) c.Options.Add(o);
        c.SetAction(p =>
        {
            string path = p.GetValue(file)!;
            if (p.GetValue(slo) is not double objective) throw new UsageException("--slo-ms is required: the latency objective in milliseconds (e.g. --slo-ms 20).");
            if (!(objective > 0) || double.IsInfinity(objective)) throw new UsageException("--slo-ms: must be a positive number of milliseconds.");
            int t = p.GetValue(threads);
            if (t < 0) throw new UsageException("--threads: must be ≥ 1 (or 0 for the processor count).");
            Check(p.GetValue(port) is >= 0 and <= 65535, "--port: must be 0 … 65535.");
            Check(p.GetValue(maxBatch) is >= 1 and <= 1024, "--max-batch: must be 1 … 1024.");
            Check(p.GetValue(queue) is >= 1 and <= 1_000_000, "--queue: must be 1 … 1000000.");
            Check(p.GetValue(workers) is >= 1 and <= 64, "--workers: must be 1 … 64.");
            Check(p.GetValue(maxBody) >= 1024, "--max-body-bytes: must be ≥ 1024.");
            Check(p.GetValue(maxImages) is >= 1 and <= 4096, "--max-images: must be 1 … 4096.");
            Check(p.GetValue(rounds) >= 1, "--profile-rounds: must be ≥ 1.");
            var formatChoice = p.GetValue(formats)!.ToLowerInvariant() switch
            {
                "measure" => FormatChoice.Measure,
                "density" => FormatChoice.Density,
                "dense" => FormatChoice.Dense,
                "sparse" => FormatChoice.Sparse,
                var other => throw new UsageException($"--formats: '{other}' is not one of measure, density, dense, sparse."),
            };
            if (!File.Exists(path)) throw new UsageException($"{path}: no such model file (make one with 'sparseswitch pack RUN').");
            var artifact = ModelArtifact.Read(path);
            int? pinned = p.GetValue(pin) is { } pinText ? ParsePin(pinText, artifact) : null;
            var options = new ServerOptions
            {
                ObjectiveMs = objective,
                Host = p.GetValue(host)!,
                Port = p.GetValue(port),
                Pin = pinned,
                MaxBatch = p.GetValue(maxBatch),
                QueueBound = p.GetValue(queue),
                Workers = p.GetValue(workers),
                MaxBodyBytes = p.GetValue(maxBody),
                MaxImagesPerRequest = p.GetValue(maxImages),
                ProfileRounds = p.GetValue(rounds),
                Inference = new InferenceOptions { Engine = EngineOptions.Default with { Threads = t > 0 ? t : Environment.ProcessorCount }, Formats = formatChoice },
                Log = line => Console.WriteLine(line),
            };
            if (!System.Net.IPAddress.TryParse(options.Host, out _) && !string.Equals(options.Host, "localhost", StringComparison.OrdinalIgnoreCase))
                throw new UsageException($"--host: '{options.Host}' is not an IP address (for example 127.0.0.1, ::1, 0.0.0.0) or localhost.");
            return Serve(artifact, path, options).GetAwaiter().GetResult();
        });
        return c;
    }

    private static void Check(bool ok, string message)
    {
        if (!ok) throw new UsageException(message);
    }

    private static int ParsePin(string text, ModelArtifact a)
    {
        if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int k) && k < a.SubnetCount) return k;
        for (int i = 0; i < a.SubnetCount; i++)
            if (string.Equals(a.Subnets[i].Spec, text, StringComparison.OrdinalIgnoreCase)) return i;
        throw new UsageException($"--pin: '{text}' is not a sub-net of the model file: 0 … {a.SubnetCount - 1} ({string.Join(", ", a.Subnets.Select(s => s.Spec))}).");
    }

    private static async Task<int> Serve(ModelArtifact artifact, string path, ServerOptions options)
    {
        await using var server = new InferenceServer(artifact, options);
        await server.StartAsync();
        string mode = options.Pin is int pinned ? $"pinned to sub-net {pinned} [{artifact.Subnets[pinned].Spec}]" : "adaptive";
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"serving {path} ({artifact.Architecture}, {artifact.SubnetCount} sub-nets, {mode}, objective p99 ≤ {options.ObjectiveMs} ms) on {server.Address}"));
        var shutdown = server.WaitForShutdownAsync();
        if (await Task.WhenAny(server.Ready, shutdown) == server.Ready)
        {
            if (server.Ready.IsFaulted)
            {
                Console.Error.WriteLine($"error: warm-up failed: {server.Ready.Exception!.GetBaseException().Message}");
                await server.StopAsync();
                return 1;
            }
            PrintReady(artifact, server);
        }
        await shutdown;
        Console.WriteLine(server.Controller is { } c
            ? string.Create(CultureInfo.InvariantCulture, $"stopped: {server.Answered} requests answered by the workers; {c.Switches} sub-net switches, observed/profiled service time {c.Slowdown:F2}")
            : "stopped during the warm-up");
        return 0;
    }

    private static void PrintReady(ModelArtifact a, InferenceServer server)
    {
        var table = server.LatencyTable!;
        var sizes = table.Select(e => e.BatchSize).Distinct().Order().ToArray();
        var c = server.Controller!;
        Console.WriteLine($"{"sub-net",-7} {"spec",-8} {"density",8} {"accuracy",9} " + string.Join(" ", sizes.Select(b => $"{"b" + b + " ms",9}")) + "  ladder");
        for (int k = 0; k < a.SubnetCount; k++)
        {
            var s = a.Subnets[k];
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{k,-7} {s.Spec,-8} {s.Density,8:F4} {100 * s.TestAccuracy,8:F2}% ") +
                string.Join(" ", sizes.Select(b => string.Create(CultureInfo.InvariantCulture, $"{table.Single(e => e.Subnet == k && e.BatchSize == b).MedianMs,9:F3}"))) +
                (c.Ladder.Contains(k) ? "  yes" : "  no (a more accurate sub-net is as fast)"));
        }
        Console.WriteLine($"ready: serving with sub-net {c.Current} at {server.Address}");
    }
}
