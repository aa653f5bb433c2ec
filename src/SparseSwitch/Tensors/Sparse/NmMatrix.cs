using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SparseSwitch.Tensors.Sparse;

/// <summary>
/// A weight matrix [Rows, In·Positions] whose kept weights follow an N:M pattern, packed: for each
/// row, for each group (M consecutive input channels at one kernel position, the training's
/// convention: storage column c·Positions + p), N values and N in-group indices of one byte. Every
/// row has the same number of entries, so no row pointers; a group with fewer than N kept weights
/// is padded with zeros. 5 bytes per kept weight against CSR's 8.
/// </summary>
public sealed class NmMatrix
{
    public int Rows { get; }
    public int Cols { get; }
    public int N { get; }
    public int M { get; }
    /// <summary>Kernel positions (1 for a Linear layer): channel c of position p is column c·Positions + p.</summary>
    public int Positions { get; }
    /// <summary>Groups per row.</summary>
    public int Groups { get; }
    /// <summary>[Rows][Groups][N] values.</summary>
    public float[] Values { get; }
    /// <summary>[Rows][Groups][N] indices within the group (0 … M − 1).</summary>
    public byte[] Index { get; }
    /// <summary>Column of each group's first channel (the same for every row); in-group index i adds i·Positions.</summary>
    public int[] GroupBase { get; }

    public long Bytes => Values.Length * 5L + GroupBase.Length * 4L;

    private NmMatrix(int rows, int cols, int n, int m, int positions, int groups)
    {
        Rows = rows; Cols = cols; N = n; M = m; Positions = positions; Groups = groups;
        Values = new float[(long)rows * groups * n];
        Index = new byte[Values.Length];
        GroupBase = new int[groups];
    }

    /// <summary>Packs w [rows, inChannels·positions] (kept weights: <paramref name="mask"/>, or the
    /// non-zeros) when no group keeps more than n; null otherwise.</summary>
    public static NmMatrix? TryPack(ReadOnlySpan<float> w, int rows, int inChannels, int positions, int n, int m, BitMask? mask = null)
    {
        if (n < 1 || m < 2 || n > m || m > 256) throw new ArgumentOutOfRangeException(nameof(m), $"N:M = {n}:{m} is not a pattern this format holds.");
        int cols = inChannels * positions;
        if (w.Length != rows * cols || (mask is not null && mask.Length != w.Length))
            throw new ArgumentException($"NmMatrix: {w.Length} weights (mask {mask?.Length}) for {rows} × {cols}.");
        int perRun = (inChannels + m - 1) / m, groups = perRun * positions;
        var a = new NmMatrix(rows, cols, n, m, positions, groups);
        for (int p = 0, gi = 0; p < positions; p++)
            for (int g = 0; g < perRun; g++, gi++) a.GroupBase[gi] = g * m * positions + p;
        for (int r = 0; r < rows; r++)
        {
            int gi = 0;
            for (int p = 0; p < positions; p++)
            for (int g = 0; g < perRun; g++, gi++)
            {
                long e = ((long)r * groups + gi) * n;
                int kept = 0;
                for (int i = 0; i < m && g * m + i < inChannels; i++)
                {
                    int col = (g * m + i) * positions + p;
                    int at = r * cols + col;
                    if (mask is not null ? !mask[at] : w[at] == 0f) continue;
                    if (kept == n) return null;
                    a.Values[e + kept] = w[at];
                    a.Index[e + kept] = (byte)i;
                    kept++;
                }
            }
        }
        return a;
    }

    /// <summary>The dense matrix it holds.</summary>
    public float[] ToDense()
    {
        var d = new float[Rows * Cols];
        for (int r = 0; r < Rows; r++)
            for (int gi = 0; gi < Groups; gi++)
                for (int j = 0; j < N; j++)
                {
                    long e = ((long)r * Groups + gi) * N + j;
                    if (Values[e] != 0f) d[r * Cols + GroupBase[gi] + Index[e] * Positions] = Values[e];
                }
        return d;
    }
}

/// <summary>Products with <see cref="NmMatrix"/> weights, SIMD over the dense operand's columns; a scalar twin beside.</summary>
public static unsafe class NmKernels
{
    /// <summary>Entries per row whose offsets the SIMD kernel keeps on the stack (64 KiB); longer rows take the scalar path.</summary>
    public const int MaxEntriesPerRow = 8192;

    /// <summary>C[r, q] = Σ_entries v · b[off[column] + q] for rows [from, to) and q &lt; n (a multiple of
    /// <see cref="SparseKernels.ColumnMultiple"/>), as <see cref="SparseKernels.RowsProduct"/> does for CSR.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void RowsProduct(NmMatrix a, ReadOnlySpan<float> b, ReadOnlySpan<nint> off, int n, Span<float> c, int ldc, int from, int to)
    {
        Check(a, b, off, n, c, ldc, from, to);
        if (n == 0 || from == to) return;
        int per = a.Groups * a.N;
        if (!Avx512F.IsSupported || per > MaxEntriesPerRow)
        {
            RowsProductReference(a, b, off, n, c, ldc, from, to);
            return;
        }
        int groups = a.Groups, nn = a.N, pos = a.Positions;
        // Each entry's offset into B, per row: computed once per row, reused by every column tile.
        nint* rowOff = stackalloc nint[per];
        fixed (float* vs = a.Values, pb = b, pc = c)
        fixed (byte* ix = a.Index)
        fixed (int* gb = a.GroupBase)
        fixed (nint* po = off)
        {
            for (int r = from; r < to; r++)
            {
                long e0 = (long)r * per;
                for (int gi = 0, j = 0; gi < groups; gi++)
                    for (int t = 0; t < nn; t++, j++) rowOff[j] = po[gb[gi] + ix[e0 + j] * pos];
                float* v = vs + e0, cr = pc + (long)r * ldc;
                int q = 0;
                for (; q + 64 <= n; q += 64)
                {
                    var a0 = Vector512<float>.Zero; var a1 = a0; var a2 = a0; var a3 = a0;
                    float* bq = pb + q;
                    for (int j = 0; j < per; j++)
                    {
                        var w = Vector512.Create(v[j]);
                        float* s = bq + rowOff[j];
                        a0 = Avx512F.FusedMultiplyAdd(w, Avx512F.LoadVector512(s), a0);
                        a1 = Avx512F.FusedMultiplyAdd(w, Avx512F.LoadVector512(s + 16), a1);
                        a2 = Avx512F.FusedMultiplyAdd(w, Avx512F.LoadVector512(s + 32), a2);
                        a3 = Avx512F.FusedMultiplyAdd(w, Avx512F.LoadVector512(s + 48), a3);
                    }
                    Avx512F.Store(cr + q, a0); Avx512F.Store(cr + q + 16, a1); Avx512F.Store(cr + q + 32, a2); Avx512F.Store(cr + q + 48, a3);
                }
                for (; q < n; q += 16)
                {
                    // Entry j into sum j mod 4: four chains hide the FMA latency.
                    Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
                    float* bq = pb + q;
                    int j = 0;
                    for (; j + 4 <= per; j += 4)
                    {
                        a0 = Avx512F.FusedMultiplyAdd(Vector512.Create(v[j]), Avx512F.LoadVector512(bq + rowOff[j]), a0);
                        a1 = Avx512F.FusedMultiplyAdd(Vector512.Create(v[j + 1]), Avx512F.LoadVector512(bq + rowOff[j + 1]), a1);
                        a2 = Avx512F.FusedMultiplyAdd(Vector512.Create(v[j + 2]), Avx512F.LoadVector512(bq + rowOff[j + 2]), a2);
                        a3 = Avx512F.FusedMultiplyAdd(Vector512.Create(v[j + 3]), Avx512F.LoadVector512(bq + rowOff[j + 3]), a3);
                    }
                    for (; j < per; j++) a0 = Avx512F.FusedMultiplyAdd(Vector512.Create(v[j]), Avx512F.LoadVector512(bq + rowOff[j]), a0);
                    Avx512F.Store(cr + q, (a0 + a1) + (a2 + a3));
                }
            }
        }
    }

    /// <summary>The scalar twin of <see cref="RowsProduct"/>, in double.</summary>
    public static void RowsProductReference(NmMatrix a, ReadOnlySpan<float> b, ReadOnlySpan<nint> off, int n, Span<float> c, int ldc, int from, int to)
    {
        Check(a, b, off, n, c, ldc, from, to);
        var s = new double[n];
        for (int r = from; r < to; r++)
        {
            Array.Clear(s);
            for (int gi = 0; gi < a.Groups; gi++)
                for (int t = 0; t < a.N; t++)
                {
                    long e = ((long)r * a.Groups + gi) * a.N + t;
                    nint o = off[a.GroupBase[gi] + a.Index[e] * a.Positions];
                    for (int q = 0; q < n; q++) s[q] += a.Values[e] * (double)b[(int)(o + q)];
                }
            for (int q = 0; q < n; q++) c[r * ldc + q] = (float)s[q];
        }
    }

    private static void Check(NmMatrix a, ReadOnlySpan<float> b, ReadOnlySpan<nint> off, int n, Span<float> c, int ldc, int from, int to)
    {
        if (n < 0 || n % SparseKernels.ColumnMultiple != 0 || ldc < n || off.Length < a.Cols || from < 0 || to > a.Rows || from > to
            || (to > from && c.Length < (long)(to - 1) * ldc + n))
            throw new ArgumentException($"NmKernels.RowsProduct: n = {n} (a multiple of {SparseKernels.ColumnMultiple}), ldc = {ldc}, {off.Length} offsets for {a.Cols} columns, C of {c.Length}, rows [{from}, {to}).");
        for (int k = 0; k < a.Cols; k++)
            if (off[k] < 0 || off[k] + n > b.Length)
                throw new ArgumentException($"NmKernels.RowsProduct: row {k} of B at {off[k]} (+{n}) is outside B (length {b.Length}).");
    }
}
