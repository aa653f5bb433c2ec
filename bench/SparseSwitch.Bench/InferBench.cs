using System.Globalization;
using SparseSwitch.Inference;
using SparseSwitch.Nn;
using SparseSwitch.Nn.Models;
using SparseSwitch.Sparsity;
using SparseSwitch.Tensors;

namespace SparseSwitch.Bench;

/// <summary>
/// infer: eval-mode forward of compiled sub-nets against the dense model, all in one run. For each
/// model (--models wrn32,resnet20) one multi-sub-net model is built: dense, unstructured 90/95/98 %
/// (magnitude masks of the random initial weights, per layer) and 2:4/1:4/1:8 (N:M along each
/// weight row), compiled with measured formats. Reports batch-1 latency (ms) and batch-64
/// throughput (img/s) of every sub-net; ratio = the dense model's time / the sub-net's. With
/// ONNX Runtime 1.32 (the exported dense model, all graph optimisations) and PyTorch 1.13 (eval, channels_last, where /usr/bin/python3 has torch; --no-peers: not) runs the
/// dense model too and the sub-nets' ratio is against the best dense of the run. --profile prints
/// each plan's time step by step; --drift S prints the dense model's batch-1 time every second for
/// S seconds (on shared virtual machines it has been seen to change by 1.8× within one process);
/// --group N sets the images a plan runs together (default 8).
/// </summary>
public sealed class InferBench : IBench
{
    public string Name => "infer";
    public string Description => "compiled sub-nets (90/95/98 %, 2:4/1:4/1:8) vs the dense model: batch-1 latency and batch-64 throughput (--models wrn32,resnet20 [--batch 64])";

    private static readonly string[] Subnets = ["dense", "unstructured-90%", "unstructured-95%", "unstructured-98%", "2:4", "1:4", "1:8"];

    public int Run(BenchOptions options, Harness harness)
    {
        string[] models = ["wrn32", "resnet20"];
        int big = 64;
        bool profile = false;
        double drift = 0;
        int group = 0; // chosen per network unless --group
        var peerSet = new HashSet<string> { "onnxruntime", "pytorch" };
        for (int i = 0; i < options.Rest.Count; i++)
        {
            switch (options.Rest[i])
            {
                case "--models": models = options.Rest[++i].Split(','); break;
                case "--profile": profile = true; break;
                case "--drift": drift = double.Parse(options.Rest[++i], CultureInfo.InvariantCulture); break;
                case "--no-peers": peerSet.Clear(); break;
                case "--group": group = int.Parse(options.Rest[++i], CultureInfo.InvariantCulture); break;
                case "--peers": peerSet = [.. options.Rest[++i].Split(',')]; break;
                case "--batch": big = int.Parse(options.Rest[++i], CultureInfo.InvariantCulture); break;
                default: Console.Error.WriteLine($"infer: unknown option {options.Rest[i]}"); return 2;
            }
        }
        int threads = options.ThreadCountsOr(2)[0];
        var engine = EngineOptions.Default with { Threads = threads };
        harness.BeginBench(Name);
        foreach (var name in models)
        {
            var (model, masks) = Build(name);
            var sw = System.Diagnostics.Stopwatch.StartNew();
            var compiled = InferenceModel.Compile(model, 3, 32, masks, new InferenceOptions { Engine = engine, GroupSize = group }, Patterns);
            Console.WriteLine($"{name}: compiled {Subnets.Length} sub-nets in {sw.Elapsed.TotalSeconds:0.0} s (formats measured), {threads} threads, groups of {compiled.Options.GroupSize}");
            static string Mix(IReadOnlyList<PlanLayer> layers) => string.Join(" ", layers.Where(l => l.Format is not null)
                .GroupBy(l => l.Format!.Value).OrderBy(g => g.Key).Select(g => $"{g.Count()} {g.Key}"));
            for (int k = 0; k < Subnets.Length; k++)
                Console.WriteLine($"  {Subnets[k],-18} one image: {Mix(compiled.Layers(k))}; groups: {Mix(compiled.Layers(k, false))}; weights {compiled.WeightBytes(k) / 1024.0:0} KiB (both batch classes)");
            if (drift > 0)
            {
                // The dense model's batch-1 time, every second for --drift seconds: does the machine change under us?
                var xd = new float[3 * 32 * 32];
                var yd = new float[10];
                var until = DateTime.UtcNow.AddSeconds(drift);
                while (DateTime.UtcNow < until)
                {
                    var sw1 = System.Diagnostics.Stopwatch.StartNew();
                    int n = 0;
                    while (sw1.Elapsed.TotalSeconds < 1) { compiled.Run(0, xd, yd, 1); n++; }
                    Console.WriteLine($"  {DateTime.UtcNow:HH:mm:ss} dense batch 1: {sw1.Elapsed.TotalMilliseconds / n:0.000} ms");
                }
                continue;
            }
            if (profile)
            {
                foreach (int k in new[] { 0, 3 })
                    foreach (int b in new[] { 1, compiled.Options.GroupSize })
                    {
                        var steps = compiled.ProfileSteps(k, b);
                        Console.WriteLine($"  {Subnets[k]}, {b} image(s): {steps.Sum(s => s.Ms):0.000} ms");
                        foreach (var (step, ms) in steps) Console.WriteLine($"    {ms,8:0.000} ms  {step}");
                    }
                continue;
            }
            foreach (int batch in new[] { 1, big })
            {
                var rng = new Rng(5);
                var x = new float[batch * 3 * 32 * 32];
                rng.FillNormal(x, 0, 1);
                var y = new float[batch * 10];
                var variants = Enumerable.Range(0, Subnets.Length)
                    .Select(k => new Harness.Variant(Subnets[k], () => compiled.Run(k, x, y, batch))).ToList();
                int turn = 0;
                variants.Add(new Harness.Variant("switching", () => { compiled.Run(turn, x, y, batch); turn = (turn + 1) % Subnets.Length; }));
                // Each peer process is alive only during its own pass: with both alive at once, our
                // kernels ran up to 1.8× slower here (even with the idle peer stopped).
                var peerTimes = new List<(string Name, double Seconds, double OurDense)>();
                string? whyOrt = null;
                double[] subnetTimes;
                double switching;
                using (var ort = peerSet.Contains("onnxruntime") ? OrtPeer.Start(model, 3, 32, batch, threads, x, out whyOrt) : null)
                {
                    if (peerSet.Contains("onnxruntime") && ort is null) Console.WriteLine("  ONNX Runtime peer not run: " + whyOrt);
                    if (ort is not null)
                    {
                        // The same dense model, as a check that both run the same function.
                        var ortOut = ort.Logits(batch * 10);
                        compiled.Run(0, x, y, batch);
                        double diff = y.Zip(ortOut, (a, b) => Math.Abs(a - b)).Max(), scale = Math.Max(1, y.Max(Math.Abs));
                        if (diff > 1e-3 * scale) Console.WriteLine($"  warning: ONNX Runtime's logits differ from ours by {diff:g3}");
                        variants.Add(new Harness.Variant("onnxruntime", ort.Run, ort.Resume, ort.Pause));
                        ort.Pause();
                    }
                    var t = harness.Measure([.. variants]);
                    subnetTimes = t.MedianSeconds.Take(Subnets.Length).ToArray();
                    switching = t.MedianSeconds[Subnets.Length];
                    if (ort is not null) peerTimes.Add(("onnxruntime", t.MedianSeconds[^1], subnetTimes[0]));
                }
                string? why = null;
                using (var torch = peerSet.Contains("pytorch") ? TorchPeer.Start("pytorch", ["OMP_WAIT_POLICY=PASSIVE"], threads, batch, out why, eval: true) : null)
                {
                    if (peerSet.Contains("pytorch") && torch is null) Console.WriteLine("  PyTorch peer not run: " + why);
                    if (torch is not null && torch.Run(name, 1) > 0)
                    {
                        torch.Pause();
                        var t = harness.Measure(variants[0], new Harness.Variant("pytorch", () => torch.Run(name, 1), torch.Resume, torch.Pause));
                        peerTimes.Add(("pytorch", t.MedianSeconds[1], t.MedianSeconds[0]));
                    }
                }
                double dense = subnetTimes[0];
                var best = peerTimes.Select(p => (p.Name, p.Seconds)).Append(("ours", dense)).MinBy(p => p.Item2);
                string unit = batch == 1 ? "ms" : "img/s";
                double Figure(double seconds) => batch == 1 ? seconds * 1e3 : batch / seconds;
                void Report(string c, double ours, double baseline, string note)
                {
                    if (batch == 1) harness.ReportTime(c, Figure(ours), Figure(baseline), unit, note);
                    else harness.ReportThroughput(c, Figure(ours), Figure(baseline), unit, ours, baseline, note);
                }
                // Switching sub-nets between calls (every call another one), timed in the same rounds as
                // the sub-nets alone, against the mean of their times.
                Report($"{name} switching-every-call batch={batch}", switching, subnetTimes.Average(), "baseline: the mean of the sub-nets run alone");
                long before = GC.GetAllocatedBytesForCurrentThread();
                for (int r = 0; r < 100; r++) compiled.Run(r % Subnets.Length, x, y, batch);
                Console.WriteLine($"  {name} batch {batch}: {GC.GetAllocatedBytesForCurrentThread() - before} managed bytes allocated by 100 calls (all sub-nets in turn)");
                foreach (var (peer, seconds, ourDense) in peerTimes)
                    Report($"{name} dense-vs-{peer} batch={batch}", ourDense, seconds, $"baseline: {peer} dense (our dense timed in the same pass)");
                for (int k = 0; k < Subnets.Length; k++)
                    Report($"{name} {Subnets[k]} batch={batch}", subnetTimes[k], best.Item2, $"vs best dense ({best.Item1})");
            }
        }
        harness.Finish();
        return 0;
    }

    /// <summary>The model with K = 7 batch-norm sets and the masks of each sub-net (null: dense).</summary>
    internal static (Module Model, List<IReadOnlyDictionary<string, BitMask>?> Masks) Build(string name)
    {
        var model = ModelZoo.Create(name, 3, 32, 10, Subnets.Length, new Rng(1));
        model.Eval();
        var masks = new List<IReadOnlyDictionary<string, BitMask>?> { null };
        foreach (var spec in Subnets.Skip(1))
        {
            var m = new Dictionary<string, BitMask>();
            foreach (var (path, p) in model.NamedParameters())
            {
                if (!p.Prunable) continue;
                if (spec.Contains(':'))
                {
                    int n = spec[0] - '0', mm = spec[2] - '0';
                    m[path] = NmMask.Compute(p.Data.Span, p.Shape, n, mm);
                }
                else
                {
                    double density = 1 - double.Parse(spec["unstructured-".Length..^1], CultureInfo.InvariantCulture) / 100;
                    m[path] = Magnitude(p.Data.Span, density);
                }
            }
            masks.Add(m);
        }
        return (model, masks);
    }

    /// <summary>Each sub-net's N:M pattern (null: none).</summary>
    internal static NmPattern?[] Patterns => [.. Subnets.Select(s => s.Contains(':') ? new NmPattern(s[0] - '0', s[2] - '0') : (NmPattern?)null)];

    /// <summary>The largest-magnitude <paramref name="density"/> of <paramref name="w"/> (at least one weight).</summary>
    internal static BitMask Magnitude(ReadOnlySpan<float> w, double density)
    {
        int keep = Math.Max(1, (int)Math.Round(w.Length * density));
        var order = Enumerable.Range(0, w.Length).ToArray();
        var mags = w.ToArray().Select(MathF.Abs).ToArray();
        Array.Sort(mags, order);
        var mask = new BitMask(w.Length);
        for (int i = w.Length - keep; i < w.Length; i++) mask[order[i]] = true;
        return mask;
    }
}
