using SparseSwitch.Tensors;

namespace SparseSwitch.Sparsity;

/// <summary>
/// Row-wise N:M masks (SPEC §3.1): in each group of M weights along the reduction axis
/// (<see cref="NmLayout"/>) keep the N of largest |w|. Ties keep the lower channel. A tail group
/// shorter than M is padded with zeros, so it keeps min(N, its length) real weights.
/// </summary>
public static unsafe class NmMask
{
    /// <summary>Computes the N:M mask of <paramref name="weight"/> (shape <paramref name="shape"/>) into
    /// <paramref name="mask"/>.</summary>
    public static void Compute(ReadOnlySpan<float> weight, ReadOnlySpan<int> shape, int n, int m, BitMask mask) =>
        Compute(weight, shape, n, m, mask, new float[weight.Length]);

    /// <summary><see cref="Compute(ReadOnlySpan{float}, ReadOnlySpan{int}, int, int, BitMask)"/> with
    /// caller-owned working space (at least weight.Length floats), so repeated calls allocate nothing.</summary>
    public static void Compute(ReadOnlySpan<float> weight, ReadOnlySpan<int> shape, int n, int m, BitMask mask, Span<float> scratch)
    {
        if (mask.Length != weight.Length) throw new ArgumentException($"Mask has {mask.Length} positions, weight {weight.Length}.", nameof(mask));
        if (scratch.Length < weight.Length) throw new ArgumentException($"Scratch has {scratch.Length} floats, the weight {weight.Length}.", nameof(scratch));
        var floats = scratch[..weight.Length];
        ComputeFloats(weight, shape, n, m, floats);
        mask.SetFromFloats(floats);
    }

    /// <summary>Convenience: a new mask.</summary>
    public static BitMask Compute(ReadOnlySpan<float> weight, ReadOnlySpan<int> shape, int n, int m)
    {
        var mask = new BitMask(weight.Length);
        Compute(weight, shape, n, m, mask);
        return mask;
    }

    /// <summary>Writes the N:M mask as 0/1 floats (packed into bits by <see cref="Compute(ReadOnlySpan{float}, ReadOnlySpan{int}, int, int, BitMask)"/>).
    /// Element e of a group is kept when its rank — the number of group members with larger |w|,
    /// or equal |w| and lower channel — is below N. Runs are split over the <see cref="WorkerPool"/>
    /// (each writes its own elements, so the result does not depend on the thread count).</summary>
    public static void ComputeFloats(ReadOnlySpan<float> weight, ReadOnlySpan<int> shape, int n, int m, Span<float> mask, EngineOptions? options = null)
    {
        options ??= EngineOptions.Default;
        NmLayout.Check(n, m);
        var layout = new NmLayout(shape, m);
        if (weight.Length != layout.Length) throw new ArgumentException($"Weight has {weight.Length} elements, shape [{string.Join(", ", shape.ToArray())}] needs {layout.Length}.", nameof(weight));
        if (mask.Length != weight.Length) throw new ArgumentException($"Mask has {mask.Length} elements, weight {weight.Length}.", nameof(mask));
        fixed (float* w = weight)
        fixed (float* dst = mask)
        {
            var body = new RunBody { W = w, Dst = dst, N = n, M = m, In = layout.In, P = layout.Positions, Runs = layout.Runs };
            body.Chunks = layout.Length < 32768 ? 1 : Math.Min(layout.Runs, 16 * options.Threads);
            if (body.Chunks == 1) body.Execute(0);
            else WorkerPool.For(body.Chunks, body, options);
        }
    }

    private sealed class RunBody : IParallelBody
    {
        public float* W, Dst;
        public int N, M, In, P, Runs, Chunks;

        public void Execute(int chunk)
        {
            int r0 = (int)((long)chunk * Runs / Chunks), r1 = (int)((long)(chunk + 1) * Runs / Chunks);
            int m = M, P = this.P;
            if (m == 4 && P == 1 && In % 4 == 0) { Contiguous4(r0, r1); return; }
            float* a = stackalloc float[m];
            for (int run = r0; run < r1; run++)
            {
                int o = run / P, p = run - o * P;
                long baseIdx = (long)o * In * P + p;
                for (int c0 = 0; c0 < In; c0 += m)
                {
                    int len = Math.Min(m, In - c0);
                    float* src = W + baseIdx + (long)c0 * P;
                    float* dst = Dst + baseIdx + (long)c0 * P;
                    for (int i = 0; i < len; i++) a[i] = MathF.Abs(src[(long)i * P]);
                    for (int i = 0; i < len; i++)
                    {
                        float ai = a[i];
                        int rank = 0;
                        for (int j = 0; j < i; j++) rank += a[j] >= ai ? 1 : 0;
                        for (int j = i + 1; j < len; j++) rank += a[j] > ai ? 1 : 0;
                        dst[(long)i * P] = rank < N ? 1f : 0f;
                    }
                }
            }
        }

        /// <summary>Fast path for M = 4 groups of consecutive elements: straight-line ranks.</summary>
        private void Contiguous4(int r0, int r1)
        {
            float* src = W + (long)r0 * In, dst = Dst + (long)r0 * In, end = W + (long)r1 * In;
            int n = N;
            for (; src < end; src += 4, dst += 4)
            {
                float a0 = MathF.Abs(src[0]), a1 = MathF.Abs(src[1]), a2 = MathF.Abs(src[2]), a3 = MathF.Abs(src[3]);
                int k0 = (a1 > a0 ? 1 : 0) + (a2 > a0 ? 1 : 0) + (a3 > a0 ? 1 : 0);
                int k1 = (a0 >= a1 ? 1 : 0) + (a2 > a1 ? 1 : 0) + (a3 > a1 ? 1 : 0);
                int k2 = (a0 >= a2 ? 1 : 0) + (a1 >= a2 ? 1 : 0) + (a3 > a2 ? 1 : 0);
                int k3 = (a0 >= a3 ? 1 : 0) + (a1 >= a3 ? 1 : 0) + (a2 >= a3 ? 1 : 0);
                dst[0] = k0 < n ? 1f : 0f; dst[1] = k1 < n ? 1f : 0f; dst[2] = k2 < n ? 1f : 0f; dst[3] = k3 < n ? 1f : 0f;
            }
        }
    }

    /// <summary>Scalar twin (test oracle): insertion top-N per group.</summary>
    public static BitMask ComputeScalar(ReadOnlySpan<float> weight, ReadOnlySpan<int> shape, int n, int m)
    {
        NmLayout.Check(n, m);
        var layout = new NmLayout(shape, m);
        if (weight.Length != layout.Length) throw new ArgumentException($"Weight has {weight.Length} elements, layout needs {layout.Length}.", nameof(weight));
        var mask = new BitMask(weight.Length);
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
        return mask;
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
