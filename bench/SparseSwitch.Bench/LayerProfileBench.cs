using System.Diagnostics;
using SparseSwitch.Nn;
using SparseSwitch.Nn.Models;
using SparseSwitch.Optim;
using SparseSwitch.Tensors;

using SparseSwitch.Tensors.Conv;

namespace SparseSwitch.Bench;

/// <summary>
/// layer-profile: where a CIFAR ResNet training step spends its time. Every distinct layer shape
/// of the model (batch 128, engine threads as given, default 2) is timed on its own: conv forward
/// and backward, and, single-threaded on one thread's share of the batch, the pieces of the conv
/// (im2col, forward GEMM, dW GEMM, dX GEMM, col2im); batch-norm (+ fused ReLU) forward/backward,
/// ReLU, add+ReLU, the SGD step of the whole model; each multiplied by how often the model uses
/// it. The sum is printed beside the measured full step. Options: --width 16 --depth 20 --batch 128;
/// --paths (stride-1 convs: shifted rows vs im2col), --pieces (the shifted-rows steps on one thread),
/// --ab MODEL [--knob rows|interleave|defer|winograd|wchan=N|wblock=N|cols=N|kslice=N|waste=N|depth=N|dotl2=N|spin=N] [--rounds N] (whole steps, interleaved: the row paths vs im2col,
/// image-interleaved planes vs shifted rows for the convolutions both serve, or batch-norms
/// deferred to their consumers vs written out), --cols N /
/// --kslice N (tuning knobs).
/// Milliseconds per step (medians of a few repetitions; the machine is shared, so read ratios).
/// </summary>
public sealed class LayerProfileBench : IBench
{
    public string Name => "layer-profile";
    public string Description => "per-layer ms per ResNet training step (options: --width 16 --depth 20 --batch 128)";

    public int Run(BenchOptions options, Harness harness)
    {
        int width = 16, depth = 20, batch = 128;
        bool paths = false;
        var tuned = EngineOptions.Default with { Threads = options.ThreadCountsOr(2)[0] };
        for (int i = 0; i < options.Rest.Count; i++)
        {
            switch (options.Rest[i])
            {
                case "--width": width = int.Parse(options.Rest[++i]); break;
                case "--depth": depth = int.Parse(options.Rest[++i]); break;
                case "--batch": batch = int.Parse(options.Rest[++i]); break;
                case "--paths": paths = true; break;
                case "--pieces": return ShiftedPieces(batch, width, tuned);
                case "--cols": tuned = tuned with { ShiftedRowsTargetColumns = int.Parse(options.Rest[++i]) }; break;
                case "--kslice": tuned = tuned with { RowsKSlice = int.Parse(options.Rest[++i]) }; break;
                case "--ab":
                {
                    string abModel = options.Rest[++i];
                    string knob = "rows";
                    int rounds = 12;
                    while (i + 2 < options.Rest.Count && options.Rest[i + 1] is "--knob" or "--rounds")
                    {
                        if (options.Rest[i + 1] == "--knob") knob = options.Rest[i + 2];
                        else rounds = int.Parse(options.Rest[i + 2]);
                        i += 2;
                    }
                    return StepAb(abModel, knob, rounds, batch, tuned);
                }
                default: Console.Error.WriteLine($"layer-profile: unknown option {options.Rest[i]}"); return 2;
            }
        }
        if (paths) return ComparePaths(batch, width, tuned with { Threads = options.ThreadCountsOr(1)[0] });
        var engine = tuned;
        var im2col = engine with { ConvAlgorithms = ConvAlgorithms.None };
        var oneThread = engine with { Threads = 1 };
        int n = (depth - 2) / 6;
        var rng = new Rng(1);
        var rows = new List<(string Name, double Ms)>();
        void Row(string name, double msEach, int times)
        {
            rows.Add((name, msEach * times));
            Console.WriteLine($"{name,-44} {msEach,9:0.000} ms × {times,2} = {msEach * times,8:0.00} ms");
        }

        // Conv shapes: (cin, cout, k, stride, size, count)
        var convs = new List<(int Cin, int Cout, int K, int S, int Size, int Count)>
        {
            (3, width, 3, 1, 32, 1),
            (width, width, 3, 1, 32, 2 * n),
            (width, 2 * width, 3, 2, 32, 1), (2 * width, 2 * width, 3, 1, 16, 2 * n - 1), (width, 2 * width, 1, 2, 32, 1),
            (2 * width, 4 * width, 3, 2, 16, 1), (4 * width, 4 * width, 3, 1, 8, 2 * n - 1), (2 * width, 4 * width, 1, 2, 16, 1),
        };
        foreach (var (cin, cout, k, s, size, count) in convs)
        {
            var conv = new Conv2d(cin, cout, k, s, k / 2, bias: false, rng: rng);
            conv.UseOptions(engine);
            var x = Rand(rng, batch, cin, size, size);
            var y = conv.Forward(x);
            var dy = Rand(rng, y.Shape);
            string tag = $"conv {cin}->{cout} k{k} s{s} @{size}";
            Row(tag + " fwd", Ms(() => conv.Forward(x)), count);
            Row(tag + " bwd", Ms(() => conv.Backward(dy)), count);
            if (k == 3 && s == 1)
            {
                // The im2col path for comparison (not counted in the sum).
                conv.UseOptions(im2col);
                Console.WriteLine($"{tag + " fwd/bwd via im2col",-44} {Ms(() => conv.Forward(x)),9:0.000} / {Ms(() => { conv.Forward(x); conv.Backward(dy); }) - Ms(() => conv.Forward(x)),0:0.000} ms");
                conv.UseOptions(engine);
                conv.Forward(x);
            }
            // Pieces, one thread, one thread's share of the batch.
            int share = (batch + engine.Threads - 1) / engine.Threads;
            var g = new ConvGeometry(cin, size, size, k, k, s, s, k / 2, k / 2);
            int p = g.ColCols, kk = g.ColRows, imgLen = cin * size * size;
            int nb = g.IsIdentityIm2Col ? 1 : Math.Max(1, (Im2ColAlgorithm.MinGemmColumns + p - 1) / p), ld = nb * p;
            var col = new Tensor(kk, ld);
            var w = Rand(rng, cout, kk);
            var outB = new Tensor(cout, ld);
            var dw = new Tensor(cout, kk);
            var img = new Tensor(imgLen);
            int gemms = (share + nb - 1) / nb;
            {
                Row(tag + "  · im2col (1 thr, share)", Ms(() => { for (int j = 0; j < share; j++) Im2Col.Unfold(g, x.Span.Slice(j * imgLen, imgLen), col.Span[((j % nb) * p)..], ld); }), count);
                Row(tag + "  · gemm fwd", Ms(() => { for (int j = 0; j < gemms; j++) Gemm.Sgemm(false, false, cout, ld, kk, 1f, w.Span, kk, col.Span, ld, 0f, outB.Span, ld, oneThread); }), count);
                Row(tag + "  · gemm dW", Ms(() => { for (int j = 0; j < gemms; j++) Gemm.Sgemm(false, true, cout, kk, ld, 1f, outB.Span, ld, col.Span, ld, 1f, dw.Span, kk, oneThread); }), count);
                Row(tag + "  · gemm dX", Ms(() => { for (int j = 0; j < gemms; j++) Gemm.Sgemm(true, false, kk, ld, cout, 1f, w.Span, kk, outB.Span, ld, 0f, col.Span, ld, oneThread); }), count);
                Row(tag + "  · col2im", Ms(() => { for (int j = 0; j < share; j++) Im2Col.FoldAdd(g, col.Span[((j % nb) * p)..], img.Span, ld); }), count);
            }
        }
        // Batch-norm (fused ReLU and plain), ReLU, add+ReLU per stage.
        for (int st = 0; st < 3; st++)
        {
            int c = width << st, size = 32 >> st;
            int bns = 2 * n + (st > 0 ? 1 : 0) + (st == 0 ? 1 : 0);
            var x = Rand(rng, batch, c, size, size);
            var bn = new BatchNorm2d(c);
            bn.UseOptions(engine);
            bn.Train();
            var y = bn.Forward(x);
            var dy = Rand(rng, y.Shape);
            Row($"bn {c} @{size} fwd", Ms(() => bn.Forward(x)), bns);
            Row($"bn {c} @{size} bwd", Ms(() => bn.Backward(dy)), bns);
            var relu = new ReLU();
            relu.UseOptions(engine);
            relu.Forward(x);
            Row($"relu {c} @{size} fwd", Ms(() => relu.Forward(x)), n + (st == 0 ? 1 : 0));
            Row($"relu {c} @{size} bwd", Ms(() => relu.Backward(dy)), n + (st == 0 ? 1 : 0));
            var join = new AddReLU { Options = engine };
            join.Forward(x, dy);
            Row($"add+relu {c} @{size} fwd", Ms(() => join.Forward(x, dy)), n);
            Row($"add+relu {c} @{size} bwd", Ms(() => join.Backward(dy)), n);
            var add = new Add { Options = engine };
            Row($"add (dx) {c} @{size}", Ms(() => add.Forward(x, dy)), n);
        }
        // Whole model: optimiser step and full training step.
        var model = ModelZoo.Create(width == 16 ? (depth == 20 ? "resnet20" : "resnet32") : "wrn32", 3, 32, 10, 1, new Rng(1));
        model.UseOptions(engine);
        model.Train();
        var opt = new Sgd(model.NamedParameters(), 0.01, momentum: 0.9, weightDecay: 5e-4);
        Row("sgd step", Ms(opt.Step), 1);
        Row("zero grad", Ms(opt.ZeroGrad), 1);
        var input = Rand(rng, batch, 3, 32, 32);
        var targets = new int[batch];
        var loss = new CrossEntropyLoss();
        double full = Ms(() => { opt.ZeroGrad(); loss.Forward(model.Forward(input), targets); model.Backward(loss.Backward()); opt.Step(); });
        double sum = rows.Where(r => !r.Name.Contains('·')).Sum(r => r.Ms);
        Console.WriteLine($"sum of layer rows (without the · pieces): {sum:0.0} ms; measured full step: {full:0.0} ms ({batch / full * 1000:0} img/s)");
        return 0;
    }

    /// <summary>--paths: each stride-1 3×3 conv shape, forward and forward+backward, shifted
    /// rows against im2col, interleaved, fastest of several rounds (1 thread by default).</summary>
    private static int ComparePaths(int batch, int width, EngineOptions engine)
    {
        var im2col = engine with { ConvAlgorithms = ConvAlgorithms.None };
        var rng = new Rng(1);
        foreach (var (cin, cout, size) in new[] { (3, width, 32), (width, width, 32), (2 * width, 2 * width, 16), (4 * width, 4 * width, 8) })
        {
            var conv = new Conv2d(cin, cout, 3, 1, 1, bias: false, rng: rng);
            var x = Rand(rng, batch, cin, size, size);
            var dy = Rand(rng, batch, cout, size, size);
            var best = new double[4];
            Array.Fill(best, double.MaxValue);
            for (int r = 0; r < 7; r++)
                for (int v = 0; v < 2; v++)
                {
                    conv.UseOptions(v == 0 ? engine : im2col);
                    best[2 * v] = Math.Min(best[2 * v], Ms(() => conv.Forward(x)));
                    best[2 * v + 1] = Math.Min(best[2 * v + 1], Ms(() => { conv.Forward(x); conv.Backward(dy); }));
                }
            Console.WriteLine($"conv {cin}->{cout} @{size}: fwd shifted {best[0]:0.00} im2col {best[2]:0.00} ms; fwd+bwd shifted {best[1]:0.00} im2col {best[3]:0.00} ms");
        }
        return 0;
    }

    /// <summary>--pieces: the steps of the shifted-rows path on one thread for half the batch
    /// (one thread's share): padding, forward product, compaction, weight-gradient dot products.</summary>
    private static int ShiftedPieces(int batch, int width, EngineOptions engine)
    {
        engine = engine with { Threads = 1 };
        var rng = new Rng(1);
        int share = batch / 2;
        foreach (var (c, size) in new[] { (width, 32), (2 * width, 16), (4 * width, 8) })
        {
            var l = ShiftedRowsConv.Layout.ForImages(size, size, 1, 1, int.MaxValue, engine.ShiftedRowsTargetColumns);
            int nbMax = l.NbMax;
            var x = Rand(rng, share, c, size, size);
            var pad = new Tensor(l.BufferLength(c));
            var dyPad = Rand(rng, l.BufferLength(c));
            var stage = new Tensor((c + 7) / 8 * 8, l.OutputStride);
            var w = Rand(rng, c, c * 9);
            var packed = new Tensor(RowsKernels.PackedALength(c, c * 9));
            RowsKernels.PackA(c, c * 9, w.Span, c * 9, packed.Span);
            var off = new nint[c * 9];
            ShiftedRowsConv.RowOffsets(c, 3, 3, l, off);
            var y = new Tensor(share, c, size, size);
            var dw = new Tensor(c, c * 9);
            int groups = (share + nbMax - 1) / nbMax, imgLen = c * size * size, cols = l.Cols(nbMax);
            double tPad = Ms(() => { for (int g = 0; g < groups; g++) ShiftedRowsConv.Pad(x.Span.Slice(g * nbMax * imgLen, Math.Min(nbMax, share - g * nbMax) * imgLen), Math.Min(nbMax, share - g * nbMax), c, l, pad.Span); });
            double tProd = Ms(() => { for (int g = 0; g < groups; g++) RowsKernels.Product(c, cols, c * 9, packed.Span, pad.Span, off, stage.Span, l.OutputStride, engine); });
            double tCompact = Ms(() => { for (int g = 0; g < groups; g++) ShiftedRowsConv.Compact(stage.Span, l.OutputStride, Math.Min(nbMax, share - g * nbMax), c, l, default, y.Span.Slice(g * nbMax * imgLen)); });
            double tDot = Ms(() => { for (int g = 0; g < groups; g++) RowsKernels.DotProduct(c, c * 9, cols, dyPad.Span[l.Origin..], l.ChannelStride, pad.Span, off, 1f, dw.Span, c * 9, engine); });
            double gflop = 2.0 * c * c * 9 * share * size * size / 1e9;
            var copyDst = new Tensor(x.Shape);
            double tCopy = Ms(() => x.Span.CopyTo(copyDst.Span));
            Console.Write($"[plain copy of x {x.Length * 4 / 1e6:0.0} MB {tCopy:0.000} ms] ");
            Console.WriteLine($"{c}->{c} @{size} (nb {nbMax}, {groups} groups): pad {tPad:0.000} product {tProd:0.000} ({gflop / tProd * 1000:0} GFLOP/s useful) compact {tCompact:0.000} dot {tDot:0.000} ({gflop / tDot * 1000:0} GFLOP/s useful) ms");
        }
        return 0;
    }

    /// <summary>--ab MODEL: full training steps with the row-reading convolution paths (shifted rows
    /// for stride 1, phase planes for stride 2) on and off (im2col), interleaved,
    /// wall and process CPU time per step (CPU time is steadier when other work shares the cores).</summary>
    private static int StepAb(string name, string knob, int rounds, int batch, EngineOptions engine)
    {
        // Each knob: (label of variant A, label of variant B, the options of variant B; A runs with engine).
        var off = engine.ConvAlgorithms;
        (string A, string B, EngineOptions OptionsB) k = knob switch
        {
            "rows" => ("rows", "im2col", engine with { ConvAlgorithms = off & ~ConvAlgorithms.RowPaths }),
            "interleave" => ("interleaved planes", "shifted rows", engine with { ConvAlgorithms = off & ~(ConvAlgorithms.InterleavedPlanes | ConvAlgorithms.Winograd) }),
            "defer" => ("deferred norms", "written norms", engine with { DeferNorms = false }),
            "winograd" => ("Winograd", "direct products", engine with { ConvAlgorithms = off & ~ConvAlgorithms.Winograd }),
            _ when knob.StartsWith("wchan=") => Tuning(knob, engine.WinogradMinChannels, v => engine with { WinogradMinChannels = v }),
            _ when knob.StartsWith("wblock=") => Tuning(knob, engine.WinogradBlockBytes, v => engine with { WinogradBlockBytes = v }),
            _ when knob.StartsWith("cols=") => Tuning(knob, engine.ShiftedRowsTargetColumns, v => engine with { ShiftedRowsTargetColumns = v }),
            _ when knob.StartsWith("kslice=") => Tuning(knob, engine.RowsKSlice, v => engine with { RowsKSlice = v }),
            _ when knob.StartsWith("waste=") => Tuning(knob, engine.InterleavedMinWastePercent, v => engine with { InterleavedMinWastePercent = v }),
            _ when knob.StartsWith("depth=") => Tuning(knob, engine.InterleavedMinDepth, v => engine with { InterleavedMinDepth = v }),
            _ when knob.StartsWith("dotl2=") => Tuning(knob, engine.DotL2Bytes, v => engine with { DotL2Bytes = v }),
            _ when knob.StartsWith("spin=") => Tuning(knob, engine.SpinMicroseconds, v => engine with { SpinMicroseconds = v }),
            _ => throw new ArgumentException($"layer-profile --ab: unknown --knob '{knob}' (rows, interleave, defer, winograd, wchan=N, wblock=N, cols=N, kslice=N, waste=N, depth=N, dotl2=N, spin=N)"),
        };
        // A tuning knob: variant A the given value, B the current (default) one.
        (string, string, EngineOptions) Tuning(string knob, int current, Func<int, EngineOptions> with)
        {
            int value = int.Parse(knob[(knob.IndexOf('=') + 1)..]);
            var a = with(value);
            engine = a;
            return (knob, $"{knob[..knob.IndexOf('=')]}={current}", with(current));
        }
        var optionsA = engine;
        int threads = engine.Threads;
        var model = ModelZoo.Create(name, 3, 32, 10, 1, new Rng(1));
        model.Train();
        var opt = new Sgd(model.NamedParameters(), 0.01, momentum: 0.9, weightDecay: 5e-4);
        var rng = new Rng(2);
        var input = Rand(rng, batch, 3, 32, 32);
        var targets = new int[batch];
        var loss = new CrossEntropyLoss();
        void Step() { opt.ZeroGrad(); loss.Forward(model.Forward(input), targets); model.Backward(loss.Backward()); opt.Step(); }
        var wall = new List<double>[2] { [], [] };
        var cpu = new List<double>[2] { [], [] };
        var proc = Process.GetCurrentProcess();
        for (int r = 0; r < rounds + 1; r++)
            for (int v = 0; v < 2; v++)
            {
                model.UseOptions(v == 0 ? optionsA : k.OptionsB);
                Step(); Step();
                proc.Refresh();
                var c0 = proc.TotalProcessorTime;
                long t0 = Stopwatch.GetTimestamp();
                for (int i = 0; i < 3; i++) Step();
                double w = Stopwatch.GetElapsedTime(t0).TotalMilliseconds / 3;
                proc.Refresh();
                double c = (proc.TotalProcessorTime - c0).TotalMilliseconds / 3;
                if (r > 0) { wall[v].Add(w); cpu[v].Add(c); }
            }
        static double Med(List<double> x) { var a = x.Order().ToArray(); return a[a.Length / 2]; }
        Console.WriteLine($"{name} b{batch} t{threads}: {k.A} wall {Med(wall[0]):0.0} ms cpu {Med(cpu[0]):0.0} ms ({batch / Med(wall[0]) * 1000:0} img/s) | {k.B} wall {Med(wall[1]):0.0} ms cpu {Med(cpu[1]):0.0} ms ({batch / Med(wall[1]) * 1000:0} img/s) | A/B speed {Med(wall[1]) / Med(wall[0]):0.000}");
        return 0;
    }

    private static Tensor Rand(Rng rng, params int[] shape)
    {
        var t = new Tensor(shape);
        rng.FillNormal(t.Span, 0, 1);
        return t;
    }

    private static double Ms(Action a)
    {
        // Warm up past tiered JIT (30 calls promote a method; loops go through OSR first).
        long w0 = Stopwatch.GetTimestamp();
        for (int i = 0; i < 40 && (i < 3 || Stopwatch.GetElapsedTime(w0).TotalSeconds < 0.4); i++) a();
        var s = new double[3];
        for (int r = 0; r < s.Length; r++)
        {
            long t0 = Stopwatch.GetTimestamp();
            a();
            s[r] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
        }
        Array.Sort(s);
        return s[s.Length / 2];
    }
}
