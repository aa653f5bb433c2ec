using SparseSwitch.Tensors;

namespace SparseSwitch.Sparsity;

/// <summary>
/// Row-wise N:M masks (SPEC §3.1): in each group of M weights along the reduction axis
/// (<see cref="NmLayout"/>) keep the N of largest |w|. Ties keep the lower channel. A tail group
/// shorter than M is padded with zeros, so it keeps min(N, its length) real weights.
/// </summary>
public static class NmMask
{
    /// <summary>Computes the N:M mask of <paramref name="weight"/> (shape <paramref name="shape"/>) into
    /// <paramref name="mask"/>.</summary>
    public static void Compute(ReadOnlySpan<float> weight, ReadOnlySpan<int> shape, int n, int m, BitMask mask)
    {
        NmLayout.Check(n, m);
        var layout = new NmLayout(shape, m);
        if (weight.Length != layout.Length) throw new ArgumentException($"Weight has {weight.Length} elements, shape [{string.Join(", ", shape.ToArray())}] needs {layout.Length}.", nameof(weight));
        if (mask.Length != weight.Length) throw new ArgumentException($"Mask has {mask.Length} positions, weight {weight.Length}.", nameof(mask));
        mask.SetAll(false);
        Span<int> best = stackalloc int[n];
        Span<float> bestAbs = stackalloc float[n];
        int P = layout.Positions, In = layout.In;
        for (int run = 0; run < layout.Runs; run++)
        {
            int o = run / P, p = run - o * P;
            int baseIdx = o * In * P + p;
            for (int g = 0; g < layout.GroupsPerRun; g++)
            {
                int c0 = g * m, c1 = Math.Min(In, c0 + m);
                int kept = TopN(weight, baseIdx + c0 * P, P, c1 - c0, n, best, bestAbs);
                for (int i = 0; i < kept; i++) mask[best[i]] = true;
            }
        }
    }

    /// <summary>Convenience: a new mask.</summary>
    public static BitMask Compute(ReadOnlySpan<float> weight, ReadOnlySpan<int> shape, int n, int m)
    {
        var mask = new BitMask(weight.Length);
        Compute(weight, shape, n, m, mask);
        return mask;
    }

    /// <summary>Writes the N:M mask as 0/1 floats (the layer mask of <see cref="Nn.Parameter.Mask"/>).</summary>
    public static void ComputeFloats(ReadOnlySpan<float> weight, ReadOnlySpan<int> shape, int n, int m, Span<float> mask)
    {
        var bits = Compute(weight, shape, n, m);
        bits.WriteFloats(mask);
    }

    /// <summary>Top-n |w| of the len elements at start, start+stride, ... (insertion into a sorted
    /// list of at most n; strict &gt; keeps the earlier element on ties). Returns how many were kept.</summary>
    private static int TopN(ReadOnlySpan<float> w, int start, int stride, int len, int n, Span<int> best, Span<float> bestAbs)
    {
        int count = 0;
        for (int i = 0; i < len; i++)
        {
            int idx = start + i * stride;
            float a = MathF.Abs(w[idx]);
            if (count == n && !(a > bestAbs[n - 1])) continue;
            int pos = count < n ? count++ : n - 1;
            while (pos > 0 && a > bestAbs[pos - 1]) { bestAbs[pos] = bestAbs[pos - 1]; best[pos] = best[pos - 1]; pos--; }
            bestAbs[pos] = a; best[pos] = idx;
        }
        return count;
    }

    /// <summary>Whether every group keeps exactly min(N, group length) positions.</summary>
    public static bool IsValid(BitMask mask, ReadOnlySpan<int> shape, int n, int m)
    {
        NmLayout.Check(n, m);
        var layout = new NmLayout(shape, m);
        if (mask.Length != layout.Length) return false;
        for (int run = 0; run < layout.Runs; run++)
            for (int g = 0; g < layout.GroupsPerRun; g++)
            {
                int c0 = g * m, c1 = Math.Min(layout.In, c0 + m), k = 0;
                for (int c = c0; c < c1; c++) if (mask[layout.Index(run, c)]) k++;
                if (k != Math.Min(n, c1 - c0)) return false;
            }
        return true;
    }
}
