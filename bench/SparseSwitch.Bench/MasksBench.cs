using System.Diagnostics;
using SparseSwitch.Sparsity;
using SparseSwitch.Tensors;

namespace SparseSwitch.Bench;

/// <summary>
/// `masks`: mask computation on a 4096×4096 matrix — row-wise 2:4, transposable 4:8 greedy (with
/// and without fix-up) and exact — and the greedy's mean kept-magnitude ratio to the exact
/// optimum. Options: --size N (default 4096), --reps R (default 3), --json PATH.
/// </summary>
public static class MasksBench
{
    public static int Run(string[] args)
    {
        int size = IntArg(args, "--size", 4096), reps = IntArg(args, "--reps", 3);
        string? json = StrArg(args, "--json");
        var rng = new Rng(42);
        var w = new float[size * size];
        rng.FillNormal(w, 0, 1);
        var shape = new[] { size, size };
        var keep = new byte[w.Length];
        var rowMask = new BitMask(w.Length);

        var cases = new (string Name, Action Body)[]
        {
            ("rowwise 2:4", () => NmMask.Compute(w, shape, 2, 4, rowMask)),
            ("transposable 4:8 greedy", () => TransposableNm.ComputeMatrix(w, size, size, 4, 8, TransposableMethod.Greedy, keep)),
            ("transposable 4:8 greedy+fixup", () => TransposableNm.ComputeMatrix(w, size, size, 4, 8, TransposableMethod.GreedyFixUp, keep)),
            ("transposable 4:8 exact", () => TransposableNm.ComputeMatrix(w, size, size, 4, 8, TransposableMethod.Exact, keep)),
        };
        var times = cases.Select(_ => new List<double>()).ToArray();
        var cpu = cases.Select(_ => new List<double>()).ToArray();
        var proc = System.Diagnostics.Process.GetCurrentProcess();
        for (int r = 0; r < reps; r++)          // interleaved repetitions
            for (int c = 0; c < cases.Length; c++)
            {
                proc.Refresh();
                var cpu0 = proc.TotalProcessorTime;
                var sw = Stopwatch.StartNew();
                cases[c].Body();
                times[c].Add(sw.Elapsed.TotalSeconds);
                proc.Refresh();
                cpu[c].Add((proc.TotalProcessorTime - cpu0).TotalSeconds);
            }

        // Kept magnitude of greedy (and greedy+fix-up) relative to the exact optimum.
        double Kept(TransposableMethod method)
        {
            TransposableNm.ComputeMatrix(w, size, size, 4, 8, method, keep);
            double s = 0;
            for (int i = 0; i < w.Length; i++) if (keep[i] != 0) s += Math.Abs(w[i]);
            return s;
        }
        double exact = Kept(TransposableMethod.Exact), greedy = Kept(TransposableMethod.Greedy), fixup = Kept(TransposableMethod.GreedyFixUp);

        // Per-tile mean ratio over a sample of 8×8 tiles.
        int tiles = Math.Min(20000, (size / 8) * (size / 8));
        double ratioSum = 0;
        var t = new float[64]; var k = new byte[64];
        for (int q = 0; q < tiles; q++)
        {
            int tr = q / (size / 8), tc = q % (size / 8);
            for (int i = 0; i < 8; i++) for (int j = 0; j < 8; j++) t[i * 8 + j] = w[(tr * 8 + i) * size + tc * 8 + j];
            double e = TransposableNm.SolveTile(t, 4, 8, TransposableMethod.Exact, k);
            double g = TransposableNm.SolveTile(t, 4, 8, TransposableMethod.Greedy, k);
            ratioSum += g / e;
        }

        Console.WriteLine($"masks: {size}x{size} matrix, {Engine.Threads} threads, median of {reps} interleaved runs");
        Console.WriteLine("(wall-clock on a shared machine is noisy; cpu s = process CPU time summed over threads)");
        Console.WriteLine($"{"case",-32} {"median s",10} {"min s",10} {"cpu s",10}");
        var lines = new List<string>();
        for (int c = 0; c < cases.Length; c++)
        {
            var sorted = times[c].Order().ToArray();
            double med = sorted[sorted.Length / 2];
            double cpuMed = cpu[c].Order().ElementAt(cpu[c].Count / 2);
            Console.WriteLine($"{cases[c].Name,-32} {med,10:F4} {sorted[0],10:F4} {cpuMed,10:F4}");
            lines.Add($"{{\"bench\":\"masks\",\"case\":\"{cases[c].Name}\",\"ours\":{med:R},\"baseline\":null,\"unit\":\"s\",\"ratio\":null}}");
        }
        Console.WriteLine($"greedy kept |W| / exact optimum: whole matrix {greedy / exact:F5}, mean per 8x8 tile {ratioSum / tiles:F5} ({tiles} tiles)");
        Console.WriteLine($"greedy+fix-up kept |W| / exact optimum: {fixup / exact:F5}");
        lines.Add($"{{\"bench\":\"masks\",\"case\":\"greedy kept ratio\",\"ours\":{greedy / exact:R},\"baseline\":1,\"unit\":\"fraction of optimum\",\"ratio\":{greedy / exact:R}}}");
        lines.Add($"{{\"bench\":\"masks\",\"case\":\"greedy+fixup kept ratio\",\"ours\":{fixup / exact:R},\"baseline\":1,\"unit\":\"fraction of optimum\",\"ratio\":{fixup / exact:R}}}");
        if (json is not null) File.AppendAllLines(json, lines);
        return 0;
    }

    private static int IntArg(string[] args, string name, int def)
    {
        int i = Array.IndexOf(args, name);
        if (i < 0) return def;
        if (i + 1 >= args.Length || !int.TryParse(args[i + 1], out int v) || v <= 0)
            throw new ArgumentException($"{name} needs a positive integer.");
        return v;
    }

    private static string? StrArg(string[] args, string name)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }
}
