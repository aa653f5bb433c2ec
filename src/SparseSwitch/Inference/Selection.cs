using System.Diagnostics;

namespace SparseSwitch.Inference;

/// <summary>What <see cref="SubnetSelector.Select"/> decided: the sub-net, its measured latency and
/// accuracy, and whether it fits the budget (when none does: the fastest, and by how much it misses).</summary>
public sealed record Selection(int Subnet, double LatencyMs, double Accuracy, bool Fits, double MissMs)
{
    public override string ToString() => Fits
        ? $"sub-net {Subnet} ({LatencyMs:0.###} ms, accuracy {Accuracy:0.####})"
        : $"no sub-net fits: the fastest, sub-net {Subnet}, takes {LatencyMs:0.###} ms ({MissMs:0.###} ms over the budget)";
}

/// <summary>Measures sub-nets' latencies and picks one for a time budget.</summary>
public static class SubnetSelector
{
    /// <summary>Every sub-net's latency at each batch size on this machine: after a warm-up,
    /// <paramref name="rounds"/> rounds that each time every sub-net once (in turn, the order
    /// reversed every other round, so that drifts of the machine reach all alike); medians.
    /// Calls taking under ~1 ms are repeated within a sample.</summary>
    public static IReadOnlyList<LatencyEntry> Profile(InferenceModel model, IReadOnlyList<int> batchSizes, int rounds = 15)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (batchSizes.Count == 0 || batchSizes.Any(b => b < 1)) throw new ArgumentException("Profile: batch sizes must be ≥ 1.", nameof(batchSizes));
        if (rounds < 1) throw new ArgumentOutOfRangeException(nameof(rounds), rounds, "rounds must be ≥ 1.");
        var table = new List<LatencyEntry>();
        int k = model.SubnetCount;
        foreach (int batch in batchSizes)
        {
            var x = new float[batch * model.InputShape.Length];
            new Tensors.Rng(17).FillNormal(x, 0, 1);
            var y = new float[batch * model.OutputLength];
            var reps = new int[k];
            for (int s = 0; s < k; s++)
            {
                for (int w = 0; w < 3; w++) model.Run(s, x, y, batch);
                double once = Time(model, s, x, y, batch, 1);
                reps[s] = Math.Max(1, (int)Math.Ceiling(1.0 / Math.Max(once, 1e-3)));
            }
            var samples = new double[k][];
            for (int s = 0; s < k; s++) samples[s] = new double[rounds];
            for (int r = 0; r < rounds; r++)
                for (int i = 0; i < k; i++)
                {
                    int s = r % 2 == 0 ? i : k - 1 - i;
                    samples[s][r] = Time(model, s, x, y, batch, reps[s]) / reps[s];
                }
            for (int s = 0; s < k; s++)
            {
                Array.Sort(samples[s]);
                table.Add(new LatencyEntry(s, batch, model.Options.Engine.Threads, samples[s][rounds / 2], MachineDescription));
            }
        }
        return table;
    }

    /// <summary>The CPU model (Linux /proc/cpuinfo), the processor count and the SIMD width: where a latency was measured.</summary>
    public static string MachineDescription { get; } = Describe();

    private static string Describe()
    {
        string cpu = "unknown CPU";
        try
        {
            foreach (var line in File.ReadLines("/proc/cpuinfo"))
                if (line.StartsWith("model name", StringComparison.Ordinal)) { cpu = line[(line.IndexOf(':') + 1)..].Trim(); break; }
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        string simd = System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated ? "AVX-512" : System.Runtime.Intrinsics.Vector256.IsHardwareAccelerated ? "AVX2" : "128-bit SIMD";
        return $"{cpu}, {Environment.ProcessorCount} processors, {simd}";
    }

    private static double Time(InferenceModel model, int subnet, float[] x, float[] y, int batch, int reps)
    {
        long t0 = Stopwatch.GetTimestamp();
        for (int i = 0; i < reps; i++) model.Run(subnet, x, y, batch);
        return Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
    }

    /// <summary>
    /// The most accurate sub-net whose measured latency at <paramref name="batch"/> is within
    /// <paramref name="budgetMs"/>; among equally accurate ones the faster. When none fits, the
    /// fastest, marked as not fitting with the amount it misses by. The batch size must be in the
    /// table (the latency of other sizes is not guessed).
    /// </summary>
    public static Selection Select(IReadOnlyList<LatencyEntry> table, IReadOnlyList<double> accuracies, double budgetMs, int batch)
    {
        ArgumentNullException.ThrowIfNull(table);
        ArgumentNullException.ThrowIfNull(accuracies);
        if (double.IsNaN(budgetMs)) throw new ArgumentException("Select: the budget is NaN.", nameof(budgetMs));
        var rows = table.Where(e => e.BatchSize == batch).ToList();
        if (rows.Count == 0)
            throw new ArgumentException($"Select: the latency table has no entry for batch {batch} (it has {string.Join(", ", table.Select(e => e.BatchSize).Distinct().Order())}); profile that batch size first.", nameof(batch));
        foreach (var e in rows)
            if ((uint)e.Subnet >= (uint)accuracies.Count)
                throw new ArgumentException($"Select: the table names sub-net {e.Subnet}, but only {accuracies.Count} accuracies are given.", nameof(accuracies));
        if (rows.GroupBy(e => e.Subnet).Any(g => g.Count() > 1))
            throw new ArgumentException($"Select: the table has more than one entry for a sub-net at batch {batch}.", nameof(table));
        LatencyEntry? best = null;
        foreach (var e in rows)
        {
            if (e.MedianMs > budgetMs) continue;
            if (best is null) { best = e; continue; }
            double a = accuracies[e.Subnet], b = accuracies[best.Subnet];
            if (a > b || (a == b && e.MedianMs < best.MedianMs)) best = e;
        }
        if (best is not null) return new Selection(best.Subnet, best.MedianMs, accuracies[best.Subnet], true, 0);
        var fastest = rows.MinBy(e => e.MedianMs)!;
        return new Selection(fastest.Subnet, fastest.MedianMs, accuracies[fastest.Subnet], false, fastest.MedianMs - budgetMs);
    }
}
