using System.Diagnostics;
using SparseSwitch.Sparsity;
using SparseSwitch.Tensors;

namespace SparseSwitch.Bench;

/// <summary>
/// `masks`: mask computation on a 4096×4096 matrix — row-wise 2:4, transposable 4:8 greedy (with
/// and without fix-up) and exact (min-cost flow) — and the greedy's kept magnitude relative to the
/// exact optimum (whole matrix and mean per 8×8 tile). The fast cases go through the harness
/// (interleaved rounds, medians); the exact solver, seconds per run, is timed over a few runs
/// with process CPU time printed beside the wall time (the machine is shared).
/// Bench options: --size N (default 4096; --quick 1024), --exact-runs R (default 3).
/// </summary>
public sealed class MasksBench : IBench
{
    public string Name => "masks";
    public string Description => "N:M and transposable N:M mask times on 4096x4096, greedy/exact kept ratio (options: --size N --exact-runs R)";

    public int Run(BenchOptions options, Harness harness)
    {
        int size = options.Quick ? 1024 : 4096, exactRuns = options.Quick ? 1 : 3;
        for (int i = 0; i < options.Rest.Count; i++)
        {
            string a = options.Rest[i];
            if (a == "--size" && i + 1 < options.Rest.Count && int.TryParse(options.Rest[i + 1], out int s) && s >= 8) { size = s; i++; }
            else if (a == "--exact-runs" && i + 1 < options.Rest.Count && int.TryParse(options.Rest[i + 1], out int r) && r >= 1) { exactRuns = r; i++; }
            else { Console.Error.WriteLine($"masks: unknown or invalid option '{a}' (expected --size N≥8, --exact-runs R≥1)."); return 2; }
        }
        var engine = options.Threads is { Length: > 0 } t ? EngineOptions.Default with { Threads = t[0] } : EngineOptions.Default;
        Console.WriteLine($"masks: {size}x{size} matrix, {engine.Threads} threads");

        var rng = new Rng(42);
        var w = new float[size * size];
        rng.FillNormal(w, 0, 1);
        int[] shape = [size, size];
        var keep = new byte[w.Length];
        var rowMask = new BitMask(w.Length);

        var timing = harness.Measure(
            new("rowwise 2:4", () => NmMask.Compute(w, shape, 2, 4, rowMask)),
            new("transposable 4:8 greedy", () => TransposableNm.ComputeMatrix(w, size, size, 4, 8, TransposableMethod.Greedy, keep, engine)),
            new("transposable 4:8 greedy+fixup", () => TransposableNm.ComputeMatrix(w, size, size, 4, 8, TransposableMethod.GreedyFixUp, keep, engine)));
        foreach (var name in timing.Names) harness.ReportTime(name, timing[name], null, "s");

        // Exact: warm the JIT on a small matrix, then time whole runs.
        TransposableNm.ComputeMatrix(w.AsSpan(0, 64 * 64), 64, 64, 4, 8, TransposableMethod.Exact, keep.AsSpan(0, 64 * 64), engine);
        var wall = new List<double>(); var cpu = new List<double>();
        var proc = Process.GetCurrentProcess();
        for (int r = 0; r < exactRuns; r++)
        {
            proc.Refresh();
            var c0 = proc.TotalProcessorTime;
            var sw = Stopwatch.StartNew();
            TransposableNm.ComputeMatrix(w, size, size, 4, 8, TransposableMethod.Exact, keep, engine);
            wall.Add(sw.Elapsed.TotalSeconds);
            proc.Refresh();
            cpu.Add((proc.TotalProcessorTime - c0).TotalSeconds);
        }
        wall.Sort(); cpu.Sort();
        harness.ReportTime("transposable 4:8 exact", wall[wall.Count / 2], null, "s",
            $"min {wall[0]:0.00} s; process CPU {cpu[cpu.Count / 2]:0.00} s over {exactRuns} run(s)");

        double Kept(TransposableMethod method)
        {
            TransposableNm.ComputeMatrix(w, size, size, 4, 8, method, keep, engine);
            double s = 0;
            for (int i = 0; i < w.Length; i++) if (keep[i] != 0) s += Math.Abs(w[i]);
            return s;
        }
        double exact = Kept(TransposableMethod.Exact), greedy = Kept(TransposableMethod.Greedy), fixup = Kept(TransposableMethod.GreedyFixUp);

        // Mean per-tile ratio over (up to) 20 000 8×8 tiles.
        int perRow = size / 8, tiles = Math.Min(20000, perRow * perRow);
        double ratioSum = 0;
        var tile = new float[64]; var k = new byte[64];
        for (int q = 0; q < tiles; q++)
        {
            int tr = q / perRow, tc = q % perRow;
            for (int i = 0; i < 8; i++) for (int j = 0; j < 8; j++) tile[i * 8 + j] = w[(tr * 8 + i) * size + tc * 8 + j];
            double e = TransposableNm.SolveTile(tile, 4, 8, TransposableMethod.Exact, k);
            ratioSum += TransposableNm.SolveTile(tile, 4, 8, TransposableMethod.Greedy, k) / e;
        }
        harness.ReportThroughput("greedy kept |W| / optimum (matrix)", greedy / exact, 1, "fraction", double.NaN, null);
        harness.ReportThroughput("greedy kept |W| / optimum (tile mean)", ratioSum / tiles, 1, "fraction", double.NaN, null, $"{tiles} tiles");
        harness.ReportThroughput("greedy+fixup kept |W| / optimum", fixup / exact, 1, "fraction", double.NaN, null);
        return 0;
    }
}
