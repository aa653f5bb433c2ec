using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using SparseSwitch.Inference;
using SparseSwitch.Tensors;

namespace SparseSwitch.Bench;

/// <summary>
/// serve-load: the load-adaptive server against the same model pinned to its densest and to its
/// sparsest sub-net, each a <c>sparseswitch serve</c> child process on 127.0.0.1 (the CLI is built
/// first unless --no-build), stepped through rising open-loop load (Poisson arrivals at a fixed
/// offered rate per step, raw float32 images). Per server and step: offered and achieved rate
/// (200 answers per second), p50/p95/p99 of the answered requests, p99 of all requests (refused,
/// failed and lost as infinitely late), objective attainment (share answered 200 within the
/// objective), effective accuracy (the mean over all requests of the served sub-net's test accuracy
/// from the model file for on-time answers, 0 for late, refused or failed ones), the sub-net mix,
/// 4xx, 5xx and lost (no answer at all; must be 0). A server "holds" a load when its p99 over all
/// requests is within the objective (attainment ≥ 99 %); its max load is the highest offered rate it
/// holds with every lower step held too; the case <c>adaptive-vs-dense max-load</c> is the ratio of
/// the adaptive server's max load to the pinned-dense one's.
///
/// Options: --model FILE (default: a ResNet-20 (option A) with sub-nets 0.1/0.05/0.02 trained by the
/// CLI for --train-epochs (2) on --train-limit (8000) CIFAR-10 images when ../shared/datasets/cifar10
/// exists, synthetic images otherwise, packed and cached under bench/results/serve-load/),
/// --slo-ms X (20), --warmup-seconds W (5: load at the first rate before the first step, not counted), --rates a,b,c (default: 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 4 × the densest sub-net's
/// profiled full-batch throughput), --step-seconds S (10), --servers adaptive,dense,sparse,
/// --threads T (server kernel threads, 2), --max-batch B (8), --queue Q (256), --connections N (256).
/// --cpu-steal [--steal-rate R] [--steal-seconds S]: at a steady load (default half the densest
/// sub-net's throughput), a spinning process pinned to one core (taskset, when present) runs S (20) s,
/// started S/2 s into the run and stopped by the bench, S s before the run ends; attainment over that window for the adaptive and the pinned-dense
/// server, and the seconds the adaptive server takes to move down after it starts and back up after
/// it stops (from the sub-nets named in the answers). --soak-minutes M --load-fraction F: the
/// adaptive server alone for M minutes at F × its fastest sub-net's profiled throughput, reporting
/// the server's resident memory and thread count every window, errors and attainment.
/// </summary>
public sealed class ServeLoadBench : IBench
{
    public string Name => "serve-load";
    public string Description => "load-adaptive server vs pinned densest/sparsest sub-net under rising open-loop load (--model FILE --slo-ms 20 --rates a,b --step-seconds 10 [--cpu-steal] [--soak-minutes M])";

    private sealed record StepStats(string Server, double Offered, double Achieved, double P50, double P95, double P99, double P99All,
        double Attainment, double EffectiveAccuracy, IReadOnlyDictionary<int, double> Mix, int Client4xx, int Server5xx, int Lost, int Sent);

    private sealed record Settings
    {
        public string? Model { get; set; }
        public double SloMs { get; set; } = 20;
        public double[]? Rates { get; set; }
        public double StepSeconds { get; set; } = 10;
        public double WarmupSeconds { get; set; } = 5;
        public HashSet<string> Servers { get; set; } = ["adaptive", "dense", "sparse"];
        public int Threads { get; set; } = 2;
        public int MaxBatch { get; set; } = 8;
        public int Queue { get; set; } = 256;
        public int Connections { get; set; } = 256;
        public bool NoBuild { get; set; }
        public bool CpuSteal { get; set; }
        public double? StealRate { get; set; }
        public double StealSeconds { get; set; } = 20;
        public double SoakMinutes { get; set; }
        public double LoadFraction { get; set; } = 0.7;
        public double? SoakRate { get; set; }
        public int TrainEpochs { get; set; } = 2;
        public int TrainLimit { get; set; } = 8000;
    }

    public int Run(BenchOptions options, Harness harness)
    {
        Settings s;
        try { s = Parse(options); }
        catch (ArgumentException e) { Console.Error.WriteLine($"serve-load: {e.Message}"); return 2; }
        string root = Repo.Root();
        string cli = Path.Combine(root, "src", "SparseSwitch.Cli", "bin", "Release", "net10.0", "SparseSwitch.Cli.dll");
        if (!s.NoBuild && Repo.Exec("dotnet", ["build", "-c", "Release", "-v", "q", "-nologo", Path.Combine(root, "src", "SparseSwitch.Cli")], root) != 0)
        {
            Console.Error.WriteLine("serve-load: building the CLI failed.");
            return 1;
        }
        if (!File.Exists(cli)) { Console.Error.WriteLine($"serve-load: {cli} does not exist; build the CLI (dotnet build -c Release src/SparseSwitch.Cli)."); return 1; }
        string model = s.Model ?? MakeModel(root, cli, s);
        if (!File.Exists(model)) { Console.Error.WriteLine($"serve-load: {model}: no such model file."); return 2; }
        var artifact = ModelArtifact.Read(model);
        int densest = Enumerable.Range(0, artifact.SubnetCount).MaxBy(k => artifact.Subnets[k].Density);
        int sparsest = Enumerable.Range(0, artifact.SubnetCount).MinBy(k => artifact.Subnets[k].Density);
        var accuracy = artifact.Subnets.Select(x => x.TestAccuracy).ToArray();
        int image = artifact.InChannels * artifact.ImageSize * artifact.ImageSize;
        var x = new float[image];
        new Rng(42).FillNormal(x, 0, 1);
        byte[] payload = System.Runtime.InteropServices.MemoryMarshal.AsBytes(x.AsSpan()).ToArray();
        string shape = $"1,{artifact.InChannels},{artifact.ImageSize},{artifact.ImageSize}";
        string[] common = ["--slo-ms", F(s.SloMs), "--threads", s.Threads.ToString(CultureInfo.InvariantCulture),
            "--max-batch", s.MaxBatch.ToString(CultureInfo.InvariantCulture), "--queue", s.Queue.ToString(CultureInfo.InvariantCulture)];
        Console.WriteLine($"serve-load: {model} ({artifact.Architecture}; densest sub-net {densest} [{artifact.Subnets[densest].Spec}] {100 * accuracy[densest]:F2} %, " +
            $"sparsest {sparsest} [{artifact.Subnets[sparsest].Spec}] {100 * accuracy[sparsest]:F2} %), objective p99 ≤ {F(s.SloMs)} ms, server threads {s.Threads}, max batch {s.MaxBatch}, queue {s.Queue}");
        var servers = new List<(string Name, string[] Args)>();
        if (s.Servers.Contains("adaptive")) servers.Add(("adaptive", common));
        if (s.Servers.Contains("dense")) servers.Add(("pinned-dense", [.. common, "--pin", densest.ToString(CultureInfo.InvariantCulture)]));
        if (s.Servers.Contains("sparse")) servers.Add(("pinned-sparsest", [.. common, "--pin", sparsest.ToString(CultureInfo.InvariantCulture)]));
        harness.BeginBench(Name);

        if (s.SoakMinutes > 0) return Soak(s, cli, model, common, payload, shape, accuracy, sparsest, harness);

        double[] rates = s.Rates ?? [];
        var results = new List<StepStats>();
        foreach (var (name, args) in servers)
        {
            using var server = ServerProcess.Start(cli, model, args, name, TimeSpan.FromMinutes(10));
            var profile = Profile(server.Address);
            if (rates.Length == 0)
            {
                double capacity = Throughput(profile, densest, s.MaxBatch);
                rates = new[] { 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 4 }.Select(f => Math.Round(f * capacity, 1)).ToArray();
                Console.WriteLine($"rates: {string.Join(", ", rates.Select(F))} /s (0.25 … 4 × the densest sub-net's profiled throughput at batch {s.MaxBatch}, {F(capacity)} img/s)");
            }
            using var load = new OpenLoopLoad(server.Address, payload, shape, s.Connections);
            if (s.WarmupSeconds > 0)
            {
                // Not counted: the first seconds of load reach code paths and batch sizes the server's
                // own warm-up did not (JIT, pools), and every server gets the same.
                var warm = load.RunAsync(rates[0], s.WarmupSeconds, 999).GetAwaiter().GetResult();
                Console.WriteLine($"{name}: warm-up {F(s.WarmupSeconds)} s at {F(rates[0])}/s (not counted): {warm.Length} requests");
                Thread.Sleep(500);
            }
            for (int i = 0; i < rates.Length; i++)
            {
                var outcomes = load.RunAsync(rates[i], s.StepSeconds, (ulong)(1000 + i)).GetAwaiter().GetResult();
                var st = Stats(name, rates[i], s.StepSeconds, outcomes, s.SloMs, accuracy);
                results.Add(st);
                Console.WriteLine(Line(st));
                Thread.Sleep(500);
            }
            bool clean = server.Stop(TimeSpan.FromSeconds(60));
            Console.WriteLine($"{name}: stopped {(clean ? "cleanly (exit 0)" : "NOT cleanly")}: {server.Output.LastOrDefault(l => l.StartsWith("stopped", StringComparison.Ordinal))}");
        }
        PrintTable(results);
        Report(harness, results, rates, s);
        WriteSteps(options.JsonPath, results);
        if (s.CpuSteal) return CpuSteal(s, cli, model, servers, payload, shape, accuracy, densest, harness);
        return 0;
    }

    // ---- the sweep ----

    private static StepStats Stats(string server, double rate, double seconds, Outcome[] o, double slo, double[] accuracy)
    {
        var ok = o.Where(r => r.Status == 200).Select(r => r.LatencyMs).Order().ToArray();
        var all = o.Select(r => r.Status == 200 ? r.LatencyMs : double.PositiveInfinity).Order().ToArray();
        int onTime = o.Count(r => r.Status == 200 && r.LatencyMs <= slo);
        double eff = o.Length == 0 ? 0 : o.Sum(r => r.Status == 200 && r.LatencyMs <= slo && r.Subnet >= 0 ? accuracy[r.Subnet] : 0) / o.Length;
        var mix = o.Where(r => r.Status == 200 && r.Subnet >= 0).GroupBy(r => r.Subnet).OrderBy(g => g.Key)
            .ToDictionary(g => g.Key, g => (double)g.Count() / Math.Max(1, ok.Length));
        return new StepStats(server, o.Length / seconds, ok.Length / seconds, Pct(ok, 0.5), Pct(ok, 0.95), Pct(ok, 0.99), Pct(all, 0.99),
            o.Length == 0 ? 0 : (double)onTime / o.Length, eff, mix,
            o.Count(r => r.Status is >= 400 and < 500), o.Count(r => r.Status >= 500), o.Count(r => r.Status < 0), o.Length);
    }

    private static double Pct(double[] sorted, double q) => sorted.Length == 0 ? double.NaN : sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(q * sorted.Length) - 1)];

    private static string Ms(double v) => double.IsPositiveInfinity(v) ? "inf" : double.IsNaN(v) ? "-" : v.ToString(v >= 100 ? "F0" : "F1", CultureInfo.InvariantCulture);

    private static string Mix(IReadOnlyDictionary<int, double> mix) => mix.Count == 0 ? "-" : string.Join(" ", mix.Select(kv => $"{kv.Key}:{100 * kv.Value:F0}%"));

    private static string Line(StepStats t) => string.Create(CultureInfo.InvariantCulture,
        $"{t.Server,-16} {t.Offered,9:F1} {t.Achieved,9:F1} {Ms(t.P50),7} {Ms(t.P95),7} {Ms(t.P99),7} {Ms(t.P99All),8} {100 * t.Attainment,7:F2} {100 * t.EffectiveAccuracy,8:F2} {t.Client4xx,5} {t.Server5xx,6} {t.Lost,5}  {Mix(t.Mix)}");

    private static readonly string Header = $"{"server",-16} {"offered/s",9} {"achieved",9} {"p50 ms",7} {"p95 ms",7} {"p99 ms",7} {"p99 all",8} {"attain%",7} {"eff.acc%",8} {"4xx",5} {"5xx",6} {"lost",5}  sub-net mix";

    private static void PrintTable(List<StepStats> results)
    {
        Console.WriteLine();
        Console.WriteLine("p50/p95/p99: answered requests; p99 all: every request, refused or failed ones as infinitely late");
        Console.WriteLine(Header);
        foreach (var t in results.OrderBy(r => r.Offered).ThenBy(r => r.Server, StringComparer.Ordinal)) Console.WriteLine(Line(t));
        Console.WriteLine();
    }

    /// <summary>The highest offered rate held (p99 of all requests within the objective) with every lower step held too; 0 when none.</summary>
    private static double MaxLoad(IEnumerable<StepStats> steps, double slo)
    {
        double best = 0;
        foreach (var t in steps.OrderBy(t => t.Offered))
        {
            if (!(t.P99All <= slo)) break;
            best = t.Offered;
        }
        return best;
    }

    private static void Report(Harness harness, List<StepStats> results, double[] rates, Settings s)
    {
        var by = results.GroupBy(r => r.Server).ToDictionary(g => g.Key, g => g.OrderBy(t => t.Offered).ToList());
        by.TryGetValue("adaptive", out var a);
        by.TryGetValue("pinned-dense", out var d);
        by.TryGetValue("pinned-sparsest", out var sp);
        for (int i = 0; i < rates.Length; i++)
        {
            string rate = F(rates[i]) + "/s";
            StepStats? ai = a?[i], di = d?[i], si = sp?[i];
            if (ai is null) continue;
            string note = si is null ? "" : string.Create(CultureInfo.InvariantCulture, $"pinned-sparsest {100 * si.Attainment:F2} % on time, {100 * si.EffectiveAccuracy:F2} % effective accuracy");
            harness.ReportThroughput($"{rate} attainment adaptive-vs-dense", 100 * ai.Attainment, di is null ? null : 100 * di.Attainment, "%", double.NaN, null, note);
            harness.ReportThroughput($"{rate} effective accuracy adaptive-vs-dense", 100 * ai.EffectiveAccuracy, di is null ? null : 100 * di.EffectiveAccuracy, "%", double.NaN, null);
            if (si is not null)
                harness.ReportThroughput($"{rate} effective accuracy adaptive-vs-sparsest", 100 * ai.EffectiveAccuracy, 100 * si.EffectiveAccuracy, "%", double.NaN, null);
        }
        if (a is not null && d is not null)
        {
            double ma = MaxLoad(a, s.SloMs), md = MaxLoad(d, s.SloMs);
            harness.ReportThroughput("adaptive-vs-dense max-load", ma, md, "req/s", double.NaN, null,
                md == 0 ? "the pinned-dense server held none of the steps" : ma >= rates.Max() - 1e-9 ? "the adaptive server held every step (raise --rates)" : null);
        }
        harness.ReportThroughput("lost requests (all servers, all steps)", results.Sum(r => r.Lost), null, "requests", double.NaN, null, "must be 0");
    }

    private static void WriteSteps(string? path, List<StepStats> results)
    {
        if (path is null) return;
        if (Path.GetDirectoryName(Path.GetFullPath(path)) is { } dir) Directory.CreateDirectory(dir);
        using var w = new StreamWriter(path, append: true);
        foreach (var t in results)
            w.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object?>
            {
                ["bench"] = "serve-load", ["case"] = $"{t.Server} step {F(t.Offered)}/s", ["ours"] = 100 * t.Attainment, ["baseline"] = null, ["unit"] = "% on time", ["ratio"] = null,
                ["offered_per_s"] = t.Offered, ["achieved_per_s"] = t.Achieved, ["p50_ms"] = Num(t.P50), ["p95_ms"] = Num(t.P95), ["p99_ms"] = Num(t.P99), ["p99_all_ms"] = Num(t.P99All),
                ["effective_accuracy"] = t.EffectiveAccuracy, ["mix"] = t.Mix.ToDictionary(kv => kv.Key.ToString(CultureInfo.InvariantCulture), kv => kv.Value),
                ["4xx"] = t.Client4xx, ["5xx"] = t.Server5xx, ["lost"] = t.Lost, ["sent"] = t.Sent,
            }));
    }

    private static double? Num(double v) => double.IsFinite(v) ? v : null;

    // ---- CPU taken by another process ----

    private int CpuSteal(Settings s, string cli, string model, List<(string Name, string[] Args)> servers, byte[] payload, string shape, double[] accuracy, int densest, Harness harness)
    {
        double steal = s.StealSeconds, before = steal / 2, after = steal;
        var picked = servers.Where(x => x.Name is "adaptive" or "pinned-dense").ToList();
        if (picked.Count == 0) { Console.Error.WriteLine("serve-load: --cpu-steal needs the adaptive or the pinned-dense server."); return 2; }
        double? rate = s.StealRate;
        var attainment = new Dictionary<string, double>();
        foreach (var (name, args) in picked)
        {
            using var server = ServerProcess.Start(cli, model, args, name, TimeSpan.FromMinutes(10));
            rate ??= Math.Round(0.5 * Throughput(Profile(server.Address), densest, s.MaxBatch), 1);
            Console.WriteLine($"cpu-steal, {name}: {F(rate.Value)} req/s for {before + steal + after} s; a spinning process takes a core from {before} s to {before + steal} s");
            using var load = new OpenLoopLoad(server.Address, payload, shape, s.Connections);
            long start = 0;
            var started = new ManualResetEventSlim();
            var run = load.RunAsync(rate.Value, before + steal + after, 77, t => { start = t; started.Set(); });
            started.Wait();
            Process? spinner = null;
            try
            {
                SleepUntil(start, before);
                spinner = Spin();
                SleepUntil(start, before + steal);
            }
            finally
            {
                if (spinner is not null) { try { spinner.Kill(true); } catch (InvalidOperationException) { } spinner.WaitForExit(); spinner.Dispose(); }
            }
            var o = run.GetAwaiter().GetResult();
            server.Stop(TimeSpan.FromSeconds(60));
            Outcome[] Window(double a, double b) => o.Where(r => r.DueMs >= a * 1000 && r.DueMs < b * 1000).ToArray();
            var during = Stats(name, rate.Value, steal, Window(before, before + steal), s.SloMs, accuracy);
            var pre = Stats(name, rate.Value, before, Window(0, before), s.SloMs, accuracy);
            var post = Stats(name, rate.Value, after, Window(before + steal, before + steal + after), s.SloMs, accuracy);
            Console.WriteLine(Header);
            Console.WriteLine(Line(pre with { Server = name + " before" }));
            Console.WriteLine(Line(during with { Server = name + " taken" }));
            Console.WriteLine(Line(post with { Server = name + " after" }));
            attainment[name] = 100 * during.Attainment;
            if (name == "adaptive")
            {
                // The sub-net served just before the core was taken; when answers first came from
                // another one after, and when they came from it again after the core was given back.
                var ok = o.Where(r => r.Status == 200 && r.Subnet >= 0).OrderBy(r => r.DueMs).ToArray();
                int base_ = ok.Where(r => r.DueMs >= (before - 3) * 1000 && r.DueMs < before * 1000).GroupBy(r => r.Subnet).OrderByDescending(g => g.Count()).Select(g => g.Key).DefaultIfEmpty(-1).First();
                var down = ok.FirstOrDefault(r => r.DueMs >= before * 1000 && r.Subnet != base_);
                var up = ok.FirstOrDefault(r => r.DueMs >= (before + steal) * 1000 && r.Subnet == base_ && !ok.Any(q => q.DueMs > r.DueMs && q.DueMs < r.DueMs + 1000 && q.Subnet != base_));
                double? downS = down.Status == 200 && down.DueMs < (before + steal) * 1000 ? down.DueMs / 1000 - before : null;
                double? upS = downS is not null && up.Status == 200 ? up.DueMs / 1000 - before - steal : null;
                Console.WriteLine($"adaptive: sub-net {base_} before; moved down {(downS is double ds ? $"{ds:F2} s after the core was taken" : "not at all while it was taken")}, " +
                    (downS is null ? "" : $"back up {(upS is double us ? $"{us:F2} s after it was given back" : $"not within {after} s")}"));
                if (downS is double dn) harness.ReportTime("cpu-steal adaptive move-down", dn, null, "s", "after the core was taken");
                if (upS is double un) harness.ReportTime("cpu-steal adaptive move-up", un, null, "s", "after the core was given back");
            }
        }
        harness.ReportThroughput("cpu-steal attainment adaptive-vs-dense", attainment.GetValueOrDefault("adaptive"),
            attainment.TryGetValue("pinned-dense", out double dv) ? dv : null, "%", double.NaN, null, $"{steal} s with a core taken, {F(rate ?? 0)} req/s");
        return 0;
    }

    private static void SleepUntil(long start, double seconds)
    {
        double left = seconds * 1000 - Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        if (left > 0) Thread.Sleep(TimeSpan.FromMilliseconds(left));
    }

    /// <summary>A process that spins on one core (the last; taskset pins it where present).</summary>
    private static Process Spin()
    {
        bool taskset = File.Exists("/usr/bin/taskset") || File.Exists("/bin/taskset");
        var psi = new ProcessStartInfo(taskset ? "taskset" : "sh") { UseShellExecute = false };
        if (taskset) { psi.ArgumentList.Add("-c"); psi.ArgumentList.Add((Environment.ProcessorCount - 1).ToString(CultureInfo.InvariantCulture)); psi.ArgumentList.Add("sh"); }
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add("while :; do :; done");
        return Process.Start(psi) ?? throw new InvalidOperationException("could not start the spinning process.");
    }

    // ---- soak ----

    private int Soak(Settings s, string cli, string model, string[] common, byte[] payload, string shape, double[] accuracy, int sparsest, Harness harness)
    {
        using var server = ServerProcess.Start(cli, model, common, "adaptive", TimeSpan.FromMinutes(10));
        using var load = new OpenLoopLoad(server.Address, payload, shape, s.Connections);
        double rate;
        string how;
        if (s.SoakRate is double given) { rate = given; how = "--soak-rate"; }
        else
        {
            // Capacity as this client and server reach it together (HTTP included): closed loop, 32 clients, 3 s.
            double capacity = load.CapacityAsync(32, 3).GetAwaiter().GetResult();
            rate = Math.Round(s.LoadFraction * capacity, 1);
            how = string.Create(CultureInfo.InvariantCulture, $"{F(s.LoadFraction)} × {capacity:F1} answers/s, the closed-loop capacity of 32 clients over 3 s");
            Thread.Sleep(2000);
        }
        double total = s.SoakMinutes * 60, window = Math.Min(10, total / 10);
        Console.WriteLine($"soak: {F(rate)} req/s ({how}) for {F(total)} s; a line every {F(window)} s");
        Console.WriteLine($"{"t s",6} {"rss MiB",8} {"threads",7} {"sent",6} {"200",6} {"errors",6} {"lost",5} {"attain%",7}  sub-net mix");
        var sw = Stopwatch.StartNew();
        var samples = new List<(double T, long Rss, int Threads)>();
        int errors = 0, lost = 0, sent = 0, onTime = 0;
        var first = server.Usage();
        samples.Add((0, first.RssBytes, first.Threads));
        for (int w = 0; sw.Elapsed.TotalSeconds < total - 1e-9; w++)
        {
            double len = Math.Min(window, total - sw.Elapsed.TotalSeconds);
            var o = load.RunAsync(rate, len, (ulong)(5000 + w)).GetAwaiter().GetResult();
            var st = Stats("adaptive", rate, len, o, s.SloMs, accuracy);
            var u = server.Usage();
            samples.Add((sw.Elapsed.TotalSeconds, u.RssBytes, u.Threads));
            errors += st.Client4xx + st.Server5xx;
            lost += st.Lost;
            sent += st.Sent;
            onTime += (int)Math.Round(st.Attainment * st.Sent);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{sw.Elapsed.TotalSeconds,6:F0} {u.RssBytes / 1048576.0,8:F1} {u.Threads,7} {st.Sent,6} {(int)Math.Round(st.Achieved * len),6} {st.Client4xx + st.Server5xx,6} {st.Lost,5} {100 * st.Attainment,7:F2}  {Mix(st.Mix)}"));
        }
        bool clean = server.Stop(TimeSpan.FromSeconds(60));
        // Start of the steady state: after the first window (warm caches, pools grown).
        var steady = samples.Skip(Math.Min(2, samples.Count - 1)).ToList();
        long rss0 = steady[0].Rss, rss1 = steady[^1].Rss, rssMax = steady.Max(x => x.Rss);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"soak: resident {rss0 / 1048576.0:F1} MiB after the first window → {rss1 / 1048576.0:F1} MiB at the end (max {rssMax / 1048576.0:F1}); threads {steady[0].Threads} → {steady[^1].Threads} (max {steady.Max(x => x.Threads)}); " +
            $"{sent} requests, {errors} errors, {lost} lost, {100.0 * onTime / Math.Max(1, sent):F2} % on time; server stopped {(clean ? "cleanly" : "NOT cleanly")}"));
        // Lower is better: ratio = start / end (1: flat).
        harness.ReportTime("soak resident MiB end-vs-start", rss1 / 1048576.0, rss0 / 1048576.0, "MiB", $"max {rssMax / 1048576.0:F1} MiB");
        harness.ReportTime("soak threads end-vs-start", steady[^1].Threads, steady[0].Threads, "threads");
        harness.ReportThroughput("soak errors", errors + lost, null, "requests", double.NaN, null, $"{sent} sent, {lost} lost");
        harness.ReportThroughput("soak attainment", 100.0 * onTime / Math.Max(1, sent), null, "%", double.NaN, null, $"{F(rate)} req/s for {F(total)} s");
        return 0;
    }

    // ---- helpers ----

    private static List<(int Subnet, int Batch, double Ms)> Profile(Uri server)
    {
        using var client = new HttpClient { BaseAddress = server };
        var doc = JsonDocument.Parse(client.GetStringAsync("v1/model").GetAwaiter().GetResult());
        return doc.RootElement.GetProperty("latency").GetProperty("entries").EnumerateArray()
            .Select(e => (e.GetProperty("subnet").GetInt32(), e.GetProperty("batch_size").GetInt32(), e.GetProperty("median_ms").GetDouble())).ToList();
    }

    /// <summary>Images per second of sub-net <paramref name="k"/> at its largest profiled batch (up to <paramref name="maxBatch"/>).</summary>
    private static double Throughput(List<(int Subnet, int Batch, double Ms)> profile, int k, int maxBatch)
    {
        var e = profile.Where(p => p.Subnet == k && p.Batch <= maxBatch).MaxBy(p => p.Batch);
        return e.Batch / e.Ms * 1000;
    }

    private static string MakeModel(string root, string cli, Settings s)
    {
        string dir = Path.Combine(root, "bench", "results", "serve-load");
        bool cifar = Directory.Exists(Path.Combine(root, "..", "shared", "datasets", "cifar10"));
        string data = cifar ? "cifar10" : "synthetic";
        string file = Path.Combine(dir, $"resnet20-a-{data}-e{s.TrainEpochs}-n{s.TrainLimit}.safetensors");
        if (File.Exists(file)) { Console.WriteLine($"serve-load: using the cached model {file}"); return file; }
        Directory.CreateDirectory(dir);
        string run = Path.Combine(dir, $"run-{data}-e{s.TrainEpochs}-n{s.TrainLimit}");
        if (Directory.Exists(run)) Directory.Delete(run, true);
        Console.WriteLine($"serve-load: no --model; training ResNet-20 (option A) with sub-nets 0.1/0.05/0.02 on {s.TrainLimit} {data} images for {s.TrainEpochs} epochs → {file}");
        string[] train = [cli, "train", "--model", "resnet20-a", "--data", data, "--subnets", "0.1,0.05,0.02", "--epochs", s.TrainEpochs.ToString(CultureInfo.InvariantCulture),
            "--train-limit", s.TrainLimit.ToString(CultureInfo.InvariantCulture), "--test-limit", "2000", "--batch-size", "64", "--lr", "0.1", "--momentum", "0.9",
            "--wd", "5e-4", "--schedule", "cosine", "--prune-start", "0", "--prune-end", Math.Max(1, s.TrainEpochs / 2).ToString(CultureInfo.InvariantCulture),
            "--update-every", "10", "--augment", "--out", run];
        if (Repo.Exec("dotnet", train, root) != 0) throw new InvalidOperationException("training the bench model failed.");
        if (Repo.Exec("dotnet", [cli, "pack", run, "--out", file], root) != 0) throw new InvalidOperationException("packing the bench model failed.");
        return file;
    }


    private static string F(double v) => v.ToString("0.##", CultureInfo.InvariantCulture);

    private static Settings Parse(BenchOptions options)
    {
        var s = new Settings();
        if (options.Threads is { } t) s.Threads = t[0];
        var rest = options.Rest;
        for (int i = 0; i < rest.Count; i++)
        {
            string a = rest[i];
            string Value() => i + 1 < rest.Count ? rest[++i] : throw new ArgumentException($"{a} needs a value.");
            double Positive() => double.TryParse(Value(), NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && v > 0 && double.IsFinite(v) ? v : throw new ArgumentException($"{a} expects a positive number.");
            int Count() => int.TryParse(Value(), NumberStyles.None, CultureInfo.InvariantCulture, out int v) && v > 0 ? v : throw new ArgumentException($"{a} expects a positive integer.");
            switch (a)
            {
                case "--model": s.Model = Value(); break;
                case "--slo-ms": s.SloMs = Positive(); break;
                case "--rates":
                    s.Rates = Value().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                        .Select(r => double.TryParse(r, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && v > 0 && v <= 100_000 ? v : throw new ArgumentException($"--rates: '{r}' is not a rate (0 … 100000 per second)."))
                        .Order().ToArray();
                    if (s.Rates.Length == 0) throw new ArgumentException("--rates: give at least one rate.");
                    break;
                case "--step-seconds": s.StepSeconds = Math.Min(Positive(), 600); break;
                case "--warmup-seconds": s.WarmupSeconds = double.TryParse(Value(), NumberStyles.Float, CultureInfo.InvariantCulture, out double w) && w >= 0 && w <= 600 ? w : throw new ArgumentException("--warmup-seconds expects 0 … 600."); break;
                case "--servers":
                    s.Servers = Value().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToHashSet();
                    if (s.Servers.Count == 0 || s.Servers.Any(x => x is not ("adaptive" or "dense" or "sparse"))) throw new ArgumentException("--servers: a list of adaptive, dense, sparse.");
                    break;
                case "--max-batch": s.MaxBatch = Count(); break;
                case "--queue": s.Queue = Count(); break;
                case "--connections": s.Connections = Count(); break;
                case "--no-build": s.NoBuild = true; break;
                case "--cpu-steal": s.CpuSteal = true; break;
                case "--steal-rate": s.StealRate = Positive(); break;
                case "--steal-seconds": s.StealSeconds = Math.Min(Positive(), 300); break;
                case "--soak-minutes": s.SoakMinutes = Math.Min(Positive(), 240); break;
                case "--load-fraction": s.LoadFraction = Positive(); break;
                case "--soak-rate": s.SoakRate = Positive(); break;
                case "--train-epochs": s.TrainEpochs = Count(); break;
                case "--train-limit": s.TrainLimit = Count(); break;
                default: throw new ArgumentException($"unknown option {a}.");
            }
        }
        return s;
    }
}
