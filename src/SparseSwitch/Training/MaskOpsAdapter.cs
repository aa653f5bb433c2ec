using SparseSwitch.Sparsity;

namespace SparseSwitch.Training;

/// <summary>
/// The mask operations the trainer calls, in one place: global magnitude pruning (SPEC §2.4),
/// per-layer prune-and-regrow (§2.5), the cubic ramp and the prune-rate cosine decay (§2.3), ERK
/// densities. The trainer only calls through this adapter, so where the Sparsity namespace provides
/// an operation this file delegates to it.
/// </summary>
public static class MaskOpsAdapter
{
    /// <summary>Cubic ramp: d_f + (d_i − d_f)·(1 − j/n)³ after event j of n (d_f once j ≥ n).</summary>
    public static double CubicDensity(double dInit, double dFinal, long j, long n)
    {
        if (n <= 0 || j >= n) return dFinal;
        double x = 1.0 - (double)j / n;
        return dFinal + (dInit - dFinal) * x * x * x;
    }

    /// <summary>Prune rate at iteration t of T: cosine decay from p0 to pFinal.</summary>
    public static double PruneRate(double p0, double pFinal, long t, long total)
    {
        if (total <= 0) return pFinal;
        double s = Math.Clamp((double)t / total, 0, 1);
        return pFinal + (p0 - pFinal) * (1 + Math.Cos(Math.PI * s)) / 2;
    }

    /// <summary>
    /// Global magnitude pruning: over all layers together keep the <paramref name="keep"/> positions of
    /// largest |W| (ties: lower layer, then lower index), restricted to <paramref name="within"/> when
    /// given. Writes the result into <paramref name="dst"/>.
    /// </summary>
    public static void GlobalMagnitude(IReadOnlyList<ReadOnlyMemory<float>> weights, long keep, BitMask[] dst, BitMask[]? within = null)
    {
        long total = weights.Sum(w => (long)w.Length);
        var keys = new float[total];
        var ids = new long[total];
        long n = 0;
        for (int l = 0; l < weights.Count; l++)
        {
            var w = weights[l].Span;
            long baseId = ids.Length == 0 ? 0 : OffsetOf(weights, l);
            for (int i = 0; i < w.Length; i++)
            {
                if (within is not null && !within[l][i]) continue;
                keys[n] = -MathF.Abs(w[i]);
                ids[n] = baseId + i;
                n++;
            }
        }
        var k2 = keys.AsSpan(0, (int)n);
        var i2 = ids.AsSpan(0, (int)n);
        k2.Sort(i2, Comparer<float>.Default);
        SortTiesByIndex(k2, i2);
        foreach (var m in dst) m.SetAll(false);
        long take = Math.Min(keep, n);
        for (long r = 0; r < take; r++)
        {
            long id = i2[(int)r];
            int l = 0;
            while (id >= weights[l].Length) { id -= weights[l].Length; l++; }
            dst[l][(int)id] = true;
        }
    }

    private static long OffsetOf(IReadOnlyList<ReadOnlyMemory<float>> weights, int layer)
    {
        long o = 0;
        for (int l = 0; l < layer; l++) o += weights[l].Length;
        return o;
    }

    /// <summary>Makes the order inside runs of equal keys ascending by id (the sort is not stable).</summary>
    private static void SortTiesByIndex(Span<float> keys, Span<long> ids)
    {
        int i = 0;
        while (i < keys.Length)
        {
            int j = i + 1;
            while (j < keys.Length && keys[j] == keys[i]) j++;
            if (j - i > 1) ids[i..j].Sort();
            i = j;
        }
    }

    /// <summary>
    /// Prune-and-regrow for one layer: drop the r = ⌈rate·nnz⌉ kept positions of smallest |w|, then
    /// switch on the r inactive positions (restricted to <paramref name="within"/>) of largest
    /// <paramref name="score"/>; the kept count is unchanged. Returns r.
    /// </summary>
    public static int PruneAndRegrow(ReadOnlySpan<float> w, ReadOnlySpan<float> score, BitMask mask, double rate, BitMask? within = null)
    {
        var kept = new List<int>();
        for (int i = 0; i < w.Length; i++) if (mask[i]) kept.Add(i);
        int r = (int)Math.Min(kept.Count, Math.Ceiling(rate * kept.Count));
        if (r == 0) return 0;
        var keys = new float[kept.Count];
        var idx = kept.ToArray();
        for (int q = 0; q < idx.Length; q++) keys[q] = MathF.Abs(w[idx[q]]);
        Array.Sort(keys, idx);
        SortTiesByIndexInt(keys, idx);
        for (int q = 0; q < r; q++) mask[idx[q]] = false;

        var candidates = new List<int>();
        for (int i = 0; i < w.Length; i++)
            if (!mask[i] && (within is null || within[i])) candidates.Add(i);
        var ck = new float[candidates.Count];
        var ci = candidates.ToArray();
        for (int q = 0; q < ci.Length; q++) ck[q] = -MathF.Abs(score[ci[q]]);
        Array.Sort(ck, ci);
        SortTiesByIndexInt(ck, ci);
        int grow = Math.Min(r, ci.Length);
        for (int q = 0; q < grow; q++) mask[ci[q]] = true;
        return r;
    }

    private static void SortTiesByIndexInt(float[] keys, int[] ids)
    {
        int i = 0;
        while (i < keys.Length)
        {
            int j = i + 1;
            while (j < keys.Length && keys[j] == keys[i]) j++;
            if (j - i > 1) Array.Sort(ids, i, j - i);
            i = j;
        }
    }

    /// <summary>
    /// Erdős–Rényi-kernel layer densities for an overall density d: layer density ∝ (Σ dims)/(Π dims),
    /// scaled so the kept total is d·Σ sizes; layers that would exceed 1 are set dense and the rest
    /// re-scaled.
    /// </summary>
    public static double[] ErkDensities(IReadOnlyList<int[]> shapes, double density)
    {
        int n = shapes.Count;
        var size = shapes.Select(s => (double)s.Aggregate(1L, (a, b) => a * b)).ToArray();
        var raw = shapes.Select(s => s.Sum() / (double)s.Aggregate(1L, (a, b) => a * b)).ToArray();
        var dense = new bool[n];
        double total = size.Sum();
        while (true)
        {
            double budget = density * total - Enumerable.Range(0, n).Where(i => dense[i]).Sum(i => size[i]);
            double denom = Enumerable.Range(0, n).Where(i => !dense[i]).Sum(i => raw[i] * size[i]);
            double eps = denom > 0 ? budget / denom : 0;
            bool changed = false;
            for (int i = 0; i < n; i++)
                if (!dense[i] && eps * raw[i] > 1) { dense[i] = true; changed = true; }
            if (!changed)
                return Enumerable.Range(0, n).Select(i => dense[i] ? 1.0 : Math.Clamp(eps * raw[i], 0, 1)).ToArray();
        }
    }
}
