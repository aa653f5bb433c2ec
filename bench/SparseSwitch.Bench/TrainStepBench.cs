using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using SparseSwitch.Nn;
using SparseSwitch.Nn.Models;
using SparseSwitch.Optim;
using SparseSwitch.Tensors;

namespace SparseSwitch.Bench;

/// <summary>
/// train-step: images/s of one full training step (zero gradients, forward, cross-entropy,
/// backward, SGD momentum update) at batch 128 on random data, with 2 engine threads, for the
/// MLP, LeNet-5 and the CIFAR ResNets; plus the managed bytes allocated per steady-state step.
/// When /usr/bin/python3 can import torch, PyTorch runs the same models (bench/torch_train_step.py
/// in --serve mode, with the environment of BASELINES.md, in two configurations) and its samples
/// are interleaved with ours round by round; the ratio is ours / best PyTorch configuration.
/// Options: --models a,b,c  --batch N  --threads N  --rounds N  --quick  --no-torch  --json PATH
/// Dispatch: once the shared bench harness (IBench, BenchOptions) is on this branch, a class
/// implementing IBench with Name/Description from here forwards options.Rest plus --quick,
/// --rounds, --json and --threads to <see cref="Run"/>.
/// </summary>
public static class TrainStepBench
{
    public const string Name = "train-step";
    public const string Description = "training-step img/s and bytes allocated per step vs PyTorch (options: --models mlp,resnet20 --batch 128 --no-torch)";

    private static readonly (string Name, int Channels, int Size)[] AllModels =
    [
        ("mlp", 1, 28), ("lenet5", 1, 28), ("lenet5-caffe", 1, 28), ("resnet20", 3, 32), ("resnet32", 3, 32), ("wrn32", 3, 32),
    ];

    /// <summary>PyTorch configurations tried (BASELINES.md), all with the common environment; the
    /// OpenBLAS-single-thread one for the small models, the default OpenMP wait policy for the
    /// ResNets. The best one per model is the baseline.</summary>
    private static readonly (string Label, string[] Env, bool Small, bool Large)[] TorchConfigs =
    [
        ("omp-passive", ["OMP_WAIT_POLICY=PASSIVE"], true, true),
        ("blas-1-thread", ["OPENBLAS_NUM_THREADS=1"], true, false),
        ("omp-default", [], false, true),
    ];

    private static bool IsSmall(string model) => model is "mlp" or "lenet5" or "lenet5-caffe";

    public static int Run(string[] args)
    {
        var models = AllModels.ToList();
        int batch = 128, threads = 2, rounds = 7;
        bool torch = true, quick = false, rowPaths = true;
        string? json = null;
        for (int i = 0; i < args.Length; i++)
        {
            string a = args[i];
            string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{a} needs a value.");
            int Positive() => int.TryParse(Value(), NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) && v >= 1
                ? v : throw new ArgumentException($"{a} expects a positive integer.");
            try
            {
                switch (a)
                {
                    case "--models":
                        var names = Value().Split(',', StringSplitOptions.RemoveEmptyEntries);
                        models = names.Select(n => AllModels.FirstOrDefault(m => m.Name == n) is { Name: not null } m ? m
                            : throw new ArgumentException($"unknown model '{n}'; known: {string.Join(", ", AllModels.Select(x => x.Name))}")).ToList();
                        break;
                    case "--batch": batch = Positive(); break;
                    case "--threads": threads = Positive(); break;
                    case "--rounds": rounds = Positive(); break;
                    case "--quick": quick = true; rounds = 3; break;
                    case "--no-torch": torch = false; break;
                    case "--im2col": rowPaths = false; break; // every convolution through im2col
                    case "--json": json = Value(); break;
                    default: throw new ArgumentException($"unknown option '{a}'. {Description}");
                }
            }
            catch (ArgumentException e)
            {
                Console.Error.WriteLine($"{Name}: {e.Message}");
                return 2;
            }
        }

        var engine = EngineOptions.Default with { Threads = threads, ConvAlgorithms = rowPaths ? ConvAlgorithms.All : ConvAlgorithms.None };
        var allPeers = new List<TorchPeer>();
        if (torch)
        {
            foreach (var (label, env, small, large) in TorchConfigs)
            {
                if (!models.Any(m => IsSmall(m.Name) ? small : large)) continue;
                var peer = TorchPeer.Start(label, env, threads, batch, out string? why);
                if (peer is null) { Console.WriteLine($"PyTorch peer unavailable ({why}); printing ours only."); break; }
                allPeers.Add(peer);
            }
        }
        Console.WriteLine($"train-step: batch {batch}, {threads} engine threads, {rounds} interleaved rounds; " +
                          $"PyTorch configurations: {(allPeers.Count == 0 ? "none" : string.Join(", ", allPeers.Select(p => p.Label)))}");
        Console.WriteLine($"{"model",-14} {"ours img/s",11} {"torch img/s",12} {"ratio",6}  {"bytes/step",10}  torch config (median of each)");
        var lines = new List<string>();
        try
        {
            foreach (var (name, c, size) in models)
            {
                var peers = allPeers.Where(p => TorchConfigs.Any(t => t.Label == p.Label && (IsSmall(name) ? t.Small : t.Large))).ToList();
                var step = new OurStep(name, c, size, batch, engine);
                // Warm-up: buffers, and the JIT's tiers (a method is recompiled optimised only after
                // ~30 calls and a quiet spell, so a couple of steps leave the first model measured
                // partly unoptimised): at least 3 steps and 3 seconds.
                var warm = Stopwatch.StartNew();
                for (int i = 0; i < 3 || warm.Elapsed.TotalSeconds < (quick ? 1 : 3); i++) step.Run();
                double once = Time(step.Run, 1);
                double minSample = quick ? 0.2 : 0.5;
                int reps = Math.Max(1, (int)Math.Ceiling(minSample / once));
                var peerReps = new int[peers.Count];
                for (int p = 0; p < peers.Count; p++)
                {
                    peers[p].Run(name, 2);
                    peerReps[p] = Math.Max(1, (int)Math.Ceiling(minSample / peers[p].Run(name, 1)));
                }
                var ours = new double[rounds];
                var theirs = peers.Select(_ => new double[rounds]).ToArray();
                for (int r = 0; r < rounds; r++)
                {
                    // Alternate who goes first so neither side always runs right after the other;
                    // every sample starts after a pause (Settle), so the other side's threads have
                    // gone to sleep (OpenMP workers spin for a while after a parallel region).
                    if (r % 2 == 0) { Settle(); ours[r] = Time(step.Run, reps) / reps; }
                    for (int p = 0; p < peers.Count; p++) { Settle(); theirs[p][r] = peers[p].Run(name, peerReps[p]) / peerReps[p]; }
                    if (r % 2 == 1) { Settle(); ours[r] = Time(step.Run, reps) / reps; }
                }
                long bytes = step.AllocatedBytesPerStep(quick ? 3 : 10);
                double oursIps = batch / Median(ours);
                double[] peerIps = theirs.Select(t => batch / Median(t)).ToArray();
                int best = peerIps.Length == 0 ? -1 : Array.IndexOf(peerIps, peerIps.Max());
                double? baseline = best >= 0 ? peerIps[best] : null;
                string ratio = baseline is double b ? (oursIps / b).ToString("0.00", CultureInfo.InvariantCulture) : "-";
                string cfg = string.Join(", ", peers.Select((p, i) => $"{p.Label} {peerIps[i]:0}"));
                Console.WriteLine($"{name,-14} {oursIps,11:0} {(baseline is double bb ? bb.ToString("0", CultureInfo.InvariantCulture) : "-"),12} {ratio,6}  {bytes,10}  {cfg}");
                lines.Add(JsonSerializer.Serialize(new Dictionary<string, object?>
                {
                    ["bench"] = Name, ["case"] = $"{name} b{batch}", ["ours"] = oursIps, ["baseline"] = baseline, ["unit"] = "img/s",
                    ["ratio"] = baseline is double b2 ? oursIps / b2 : null, ["threads"] = threads,
                    ["baseline_config"] = best >= 0 ? peers[best].Label : null, ["alloc_bytes_per_step"] = bytes,
                }));
                lines.Add(JsonSerializer.Serialize(new Dictionary<string, object?>
                {
                    ["bench"] = Name, ["case"] = $"{name} b{batch} alloc", ["ours"] = bytes, ["baseline"] = null,
                    ["unit"] = "bytes/step", ["ratio"] = null, ["threads"] = threads,
                }));
            }
        }
        finally
        {
            foreach (var p in allPeers) p.Dispose();
        }
        if (json is not null) File.AppendAllLines(json, lines);
        return 0;
    }

    /// <summary>A pause before each sample, the same for both sides: longer than OpenMP's spin-wait
    /// after a parallel region and our pool's, so one side's idle threads do not run during the
    /// other's sample.</summary>
    private static void Settle() => Thread.Sleep(100);

    private static double Time(Action run, int reps)
    {
        long t0 = Stopwatch.GetTimestamp();
        for (int i = 0; i < reps; i++) run();
        return Stopwatch.GetElapsedTime(t0).TotalSeconds;
    }

    private static double Median(double[] x)
    {
        var s = (double[])x.Clone();
        Array.Sort(s);
        return s.Length % 2 == 1 ? s[s.Length / 2] : 0.5 * (s[s.Length / 2 - 1] + s[s.Length / 2]);
    }

    /// <summary>Our training step on one model, with all buffers made on the first call.</summary>
    internal sealed class OurStep
    {
        private readonly Module _model;
        private readonly Sgd _opt;
        private readonly CrossEntropyLoss _loss = new();
        private readonly Tensor _x;
        private readonly int[] _targets;
        private readonly Action _run;

        public OurStep(string name, int channels, int size, int batch, EngineOptions engine)
        {
            var rng = new Rng(1);
            _model = ModelZoo.Create(name, channels, size, 10, 1, rng);
            _model.UseOptions(engine);
            _opt = new Sgd(_model.NamedParameters(), 0.01, momentum: 0.9, weightDecay: 5e-4);
            _x = new Tensor(batch, channels, size, size);
            rng.FillNormal(_x.Span, 0, 1);
            _targets = new int[batch];
            for (int i = 0; i < batch; i++) _targets[i] = rng.NextInt(10);
            _model.Train();
            _run = Step;
        }

        public void Run() => _run();

        private void Step()
        {
            _opt.ZeroGrad();
            _loss.Forward(_model.Forward(_x), _targets);
            _model.Backward(_loss.Backward());
            _opt.Step();
        }

        /// <summary>Managed bytes allocated by all threads per step, over <paramref name="steps"/> steps.</summary>
        public long AllocatedBytesPerStep(int steps)
        {
            Step();
            long before = GC.GetTotalAllocatedBytes(precise: true);
            for (int i = 0; i < steps; i++) Step();
            return (GC.GetTotalAllocatedBytes(precise: true) - before) / steps;
        }
    }
}
