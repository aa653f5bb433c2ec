using SparseSwitch.Tensors;

namespace SparseSwitch.Sparsity;

/// <summary>How a transposable N:M mask is found (SPEC §3.2).</summary>
public enum TransposableMethod
{
    /// <summary>Maximum kept |W| per tile: min-cost flow with integer costs (exact optimum).</summary>
    Exact,
    /// <summary>Entries in descending |W|, kept while row and column have fewer than N (≥ ½ optimum;
    /// rows or columns may end short of N).</summary>
    Greedy,
    /// <summary>Greedy, then augmenting swaps until every row and column of every tile keeps exactly N.</summary>
    GreedyFixUp,
}

/// <summary>
/// Transposable N:M masks: the 2-D weight matrix [rows, cols] is cut into aligned M×M tiles (edge
/// tiles zero-padded) and every row and every column of every tile keeps N (at most N for
/// <see cref="TransposableMethod.Greedy"/>), so both W and Wᵀ are N:M. Tiles are solved in parallel
/// on the <see cref="WorkerPool"/>; results do not depend on the thread count.
/// </summary>
public static unsafe class TransposableNm
{
    /// <summary>Mask of a weight tensor in the SPEC §1 layout: the matrix is [out, reduction] with
    /// the reduction axis in [kh, kw, in] order (<see cref="NmLayout.ToMatrix"/>), so tile rows are
    /// N:M groups of the row-wise convention and tile columns are N:M along the output axis.</summary>
    public static BitMask Compute(ReadOnlySpan<float> weight, ReadOnlySpan<int> shape, int n, int m, TransposableMethod method)
    {
        NmLayout.Check(n, m);
        var layout = new NmLayout(shape, m);
        if (weight.Length != layout.Length) throw new ArgumentException($"Weight has {weight.Length} elements, shape [{string.Join(", ", shape.ToArray())}] needs {layout.Length}.", nameof(weight));
        int rows = layout.Out, cols = layout.MatrixColumns;
        var matrix = new float[rows * cols];
        layout.ToMatrix(weight, matrix);
        var keep = new byte[rows * cols];
        ComputeMatrix(matrix, rows, cols, n, m, method, keep);
        var asFloat = new float[rows * cols];
        for (int i = 0; i < keep.Length; i++) asFloat[i] = keep[i];
        var back = new float[layout.Length];
        layout.FromMatrix(asFloat, back);
        return BitMask.FromFloats(back);
    }

    /// <summary>Mask of a row-major matrix [rows, cols] as a bit mask.</summary>
    public static BitMask ComputeMatrix(ReadOnlySpan<float> w, int rows, int cols, int n, int m, TransposableMethod method, EngineOptions? options = null)
    {
        var keep = new byte[checked(rows * cols)];
        ComputeMatrix(w, rows, cols, n, m, method, keep, options);
        var mask = new BitMask(keep.Length);
        var words = mask.Words;
        for (int i = 0; i < keep.Length; i++) if (keep[i] != 0) words[i >> 6] |= 1UL << (i & 63);
        return mask;
    }

    /// <summary>Writes keep[i] ∈ {0, 1} for the row-major matrix w [rows, cols].</summary>
    public static void ComputeMatrix(ReadOnlySpan<float> w, int rows, int cols, int n, int m, TransposableMethod method, Span<byte> keep, EngineOptions? options = null)
    {
        NmLayout.Check(n, m);
        if (m > TransposableExact.MaxM) throw new ArgumentOutOfRangeException(nameof(m), $"Transposable tiles support M ≤ {TransposableExact.MaxM} (got {m}).");
        if (rows <= 0 || cols <= 0) throw new ArgumentException($"Matrix must be non-empty (got {rows}×{cols}).");
        if (w.Length != rows * cols) throw new ArgumentException($"Matrix has {w.Length} elements, expected {rows}×{cols}.", nameof(w));
        if (keep.Length != rows * cols) throw new ArgumentException($"Keep buffer has {keep.Length} elements, expected {rows * cols}.", nameof(keep));
        fixed (float* pw = w)
        fixed (byte* pk = keep)
        {
            var body = new StripeBody { W = pw, Keep = pk, Rows = rows, Cols = cols, N = n, M = m, Method = method };
            WorkerPool.For((rows + m - 1) / m, body, options ?? EngineOptions.Default);
        }
    }

    private sealed class StripeBody : IParallelBody
    {
        public float* W;
        public byte* Keep;
        public int Rows, Cols, N, M;
        public TransposableMethod Method;

        public void Execute(int stripe)
        {
            int m = M;
            Span<float> tile = stackalloc float[m * m];
            Span<byte> k = stackalloc byte[m * m];
            int r0 = stripe * m;
            int h = Math.Min(m, Rows - r0);
            for (int c0 = 0; c0 < Cols; c0 += m)
            {
                int wd = Math.Min(m, Cols - c0);
                if (h < m || wd < m) tile.Clear();
                for (int i = 0; i < h; i++)
                    new ReadOnlySpan<float>(W + (long)(r0 + i) * Cols + c0, wd).CopyTo(tile.Slice(i * m, wd));
                Solve(tile, N, m, Method, k);
                for (int i = 0; i < h; i++)
                    k.Slice(i * m, wd).CopyTo(new Span<byte>(Keep + (long)(r0 + i) * Cols + c0, wd));
            }
        }
    }

    /// <summary>Solves one M×M tile (row-major values; signs ignored) into keep (0/1); returns the kept L1.</summary>
    public static double SolveTile(ReadOnlySpan<float> tile, int n, int m, TransposableMethod method, Span<byte> keep)
    {
        NmLayout.Check(n, m);
        if (tile.Length != m * m || keep.Length != m * m) throw new ArgumentException($"A tile needs {m * m} values and keep flags.");
        Solve(tile, n, m, method, keep);
        double l1 = 0;
        for (int i = 0; i < m * m; i++) if (keep[i] != 0) l1 += Math.Abs(tile[i]);
        return l1;
    }

    private static void Solve(ReadOnlySpan<float> tile, int n, int m, TransposableMethod method, Span<byte> keep)
    {
        switch (method)
        {
            case TransposableMethod.Exact: TransposableExact.Solve(tile, n, m, keep); break;
            case TransposableMethod.Greedy: TransposableGreedy.Solve(tile, n, m, keep); break;
            case TransposableMethod.GreedyFixUp:
                TransposableGreedy.Solve(tile, n, m, keep);
                TransposableGreedy.FixUp(tile, n, m, keep);
                break;
            default: throw new ArgumentOutOfRangeException(nameof(method));
        }
    }

    /// <summary>Whether every row and column of every (zero-padded) M×M tile of the matrix keeps at
    /// most N real entries, or exactly min(N, real length) when <paramref name="exact"/>.</summary>
    public static bool IsValidMatrix(BitMask mask, int rows, int cols, int n, int m, bool exact)
    {
        if (mask.Length != rows * cols) return false;
        for (int r0 = 0; r0 < rows; r0 += m)
            for (int c0 = 0; c0 < cols; c0 += m)
            {
                int h = Math.Min(m, rows - r0), wd = Math.Min(m, cols - c0);
                for (int i = 0; i < h; i++)
                {
                    int k = 0;
                    for (int j = 0; j < wd; j++) if (mask[(r0 + i) * cols + c0 + j]) k++;
                    if (k > n || (exact && h == m && wd == m && k != n)) return false;
                }
                for (int j = 0; j < wd; j++)
                {
                    int k = 0;
                    for (int i = 0; i < h; i++) if (mask[(r0 + i) * cols + c0 + j]) k++;
                    if (k > n || (exact && h == m && wd == m && k != n)) return false;
                }
            }
        return true;
    }
}
