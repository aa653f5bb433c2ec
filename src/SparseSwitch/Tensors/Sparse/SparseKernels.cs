using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SparseSwitch.Tensors.Sparse;

/// <summary>
/// Sparse-weight × dense-activation products, the weights as the sparse operand (<see cref="CsrMatrix"/>),
/// SIMD over the dense side. Each has a scalar twin (…Reference) that the tests compare with.
/// Results depend only on the inputs (rows are independent; each row sums its entries in a fixed
/// order), never on how rows are split among threads.
/// </summary>
public static unsafe class SparseKernels
{
    /// <summary>
    /// y[r] = Σ_j A.Values[j] · x[A.Columns[j]] over row r's entries, for rows [from, to): a sparse
    /// matrix–vector product (a Linear layer at batch 1), gathering x 16 entries at a time.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Spmv(CsrMatrix a, ReadOnlySpan<float> x, Span<float> y, int from, int to)
    {
        CheckSpmv(a, x, y, from, to);
        fixed (int* rs = a.RowStart, cs = a.Columns)
        fixed (float* vs = a.Values, px = x, py = y)
        {
            bool simd = Avx2.IsSupported && Fma.IsSupported;
            for (int r = from; r < to; r++)
            {
                int j = rs[r], e = rs[r + 1];
                float sum = 0f;
                if (simd && e - j >= 16)
                {
                    // AVX2's 8-wide gathers (there is no 16-wide one to call), two chains.
                    var acc0 = Vector256<float>.Zero;
                    var acc1 = Vector256<float>.Zero;
                    for (; j + 16 <= e; j += 16)
                    {
                        acc0 = Fma.MultiplyAdd(Avx.LoadVector256(vs + j), Avx2.GatherVector256(px, Avx.LoadVector256(cs + j), 4), acc0);
                        acc1 = Fma.MultiplyAdd(Avx.LoadVector256(vs + j + 8), Avx2.GatherVector256(px, Avx.LoadVector256(cs + j + 8), 4), acc1);
                    }
                    sum = Vector256.Sum(acc0 + acc1);
                }
                for (; j < e; j++) sum = MathF.FusedMultiplyAdd(vs[j], px[cs[j]], sum);
                py[r] = sum;
            }
        }
    }

    /// <summary><see cref="Spmv"/> accumulated in double.</summary>
    public static void SpmvReference(CsrMatrix a, ReadOnlySpan<float> x, Span<float> y, int from, int to)
    {
        CheckSpmv(a, x, y, from, to);
        for (int r = from; r < to; r++)
        {
            double s = 0;
            for (int j = a.RowStart[r]; j < a.RowStart[r + 1]; j++) s += (double)a.Values[j] * x[a.Columns[j]];
            y[r] = (float)s;
        }
    }

    private static void CheckSpmv(CsrMatrix a, ReadOnlySpan<float> x, Span<float> y, int from, int to)
    {
        if (x.Length < a.Cols || y.Length < a.Rows || from < 0 || to > a.Rows || from > to)
            throw new ArgumentException($"SparseKernels.Spmv: x has {x.Length} (needs {a.Cols}), y {y.Length} (needs {a.Rows}), rows [{from}, {to}).");
    }

    /// <summary>Columns of <see cref="RowsProduct"/> are whole vectors of this many floats.</summary>
    public const int ColumnMultiple = 16;

    /// <summary>
    /// C[r, q] = Σ_j A.Values[j] · b[off[A.Columns[j]] + q] for rows r in [from, to) and q &lt; n
    /// (n a multiple of <see cref="ColumnMultiple"/>; C has row stride ldc): each kept weight adds
    /// a row of the dense operand, scaled, to its output row. With b = xᵀ [Cols, n] and
    /// off[c] = c·n it is a Linear layer over n images (Yᵀ = A · Xᵀ); with off the row offsets of a
    /// padded image (<c>ShiftedRowsConv.RowOffsets</c>) it is a direct sparse convolution.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void RowsProduct(CsrMatrix a, ReadOnlySpan<float> b, ReadOnlySpan<nint> off, int n, Span<float> c, int ldc, int from, int to)
    {
        CheckRows(a, b, off, n, c, ldc, from, to);
        if (n == 0) return;
        fixed (int* rs = a.RowStart, cs = a.Columns)
        fixed (float* vs = a.Values, pb = b, pc = c)
        fixed (nint* po = off)
        {
            if (!Avx512F.IsSupported)
            {
                RowsScalar(rs, cs, vs, pb, po, n, pc, ldc, from, to);
                return;
            }
            // Column tiles outside, rows inside: a tile of the dense operand (all its rows, 64 or
            // 128 columns) stays in cache while every output row reads it.
            int q = 0;
            for (; q + 128 <= n; q += 128)
                for (int r = from; r < to; r++) Block8(cs, vs, pb + q, po, rs[r], rs[r + 1], pc + (long)r * ldc + q);
            for (; q + 64 <= n; q += 64)
                for (int r = from; r < to; r++) Block4(cs, vs, pb + q, po, rs[r], rs[r + 1], pc + (long)r * ldc + q);
            for (; q < n; q += 16)
                for (int r = from; r < to; r++) Block1(cs, vs, pb + q, po, rs[r], rs[r + 1], pc + (long)r * ldc + q);
        }
    }

    /// <summary>128 columns of one output row: 8 independent accumulators.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Block8(int* cs, float* vs, float* b, nint* off, int s, int e, float* c)
    {
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
        for (int j = s; j < e; j++)
        {
            var v = Vector512.Create(vs[j]);
            float* p = b + off[cs[j]];
            a0 = Avx512F.FusedMultiplyAdd(v, Avx512F.LoadVector512(p), a0);
            a1 = Avx512F.FusedMultiplyAdd(v, Avx512F.LoadVector512(p + 16), a1);
            a2 = Avx512F.FusedMultiplyAdd(v, Avx512F.LoadVector512(p + 32), a2);
            a3 = Avx512F.FusedMultiplyAdd(v, Avx512F.LoadVector512(p + 48), a3);
            a4 = Avx512F.FusedMultiplyAdd(v, Avx512F.LoadVector512(p + 64), a4);
            a5 = Avx512F.FusedMultiplyAdd(v, Avx512F.LoadVector512(p + 80), a5);
            a6 = Avx512F.FusedMultiplyAdd(v, Avx512F.LoadVector512(p + 96), a6);
            a7 = Avx512F.FusedMultiplyAdd(v, Avx512F.LoadVector512(p + 112), a7);
        }
        Avx512F.Store(c, a0); Avx512F.Store(c + 16, a1); Avx512F.Store(c + 32, a2); Avx512F.Store(c + 48, a3);
        Avx512F.Store(c + 64, a4); Avx512F.Store(c + 80, a5); Avx512F.Store(c + 96, a6); Avx512F.Store(c + 112, a7);
    }

    /// <summary>64 columns of one output row: the entries alternate between two sets of 4
    /// accumulators (8 chains hide the FMA latency), added at the end.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Block4(int* cs, float* vs, float* b, nint* off, int s, int e, float* c)
    {
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, b0 = default, b1 = default, b2 = default, b3 = default;
        int j = s;
        for (; j + 2 <= e; j += 2)
        {
            var v = Vector512.Create(vs[j]);
            float* p = b + off[cs[j]];
            a0 = Avx512F.FusedMultiplyAdd(v, Avx512F.LoadVector512(p), a0);
            a1 = Avx512F.FusedMultiplyAdd(v, Avx512F.LoadVector512(p + 16), a1);
            a2 = Avx512F.FusedMultiplyAdd(v, Avx512F.LoadVector512(p + 32), a2);
            a3 = Avx512F.FusedMultiplyAdd(v, Avx512F.LoadVector512(p + 48), a3);
            var w = Vector512.Create(vs[j + 1]);
            float* t = b + off[cs[j + 1]];
            b0 = Avx512F.FusedMultiplyAdd(w, Avx512F.LoadVector512(t), b0);
            b1 = Avx512F.FusedMultiplyAdd(w, Avx512F.LoadVector512(t + 16), b1);
            b2 = Avx512F.FusedMultiplyAdd(w, Avx512F.LoadVector512(t + 32), b2);
            b3 = Avx512F.FusedMultiplyAdd(w, Avx512F.LoadVector512(t + 48), b3);
        }
        if (j < e)
        {
            var v = Vector512.Create(vs[j]);
            float* p = b + off[cs[j]];
            a0 = Avx512F.FusedMultiplyAdd(v, Avx512F.LoadVector512(p), a0);
            a1 = Avx512F.FusedMultiplyAdd(v, Avx512F.LoadVector512(p + 16), a1);
            a2 = Avx512F.FusedMultiplyAdd(v, Avx512F.LoadVector512(p + 32), a2);
            a3 = Avx512F.FusedMultiplyAdd(v, Avx512F.LoadVector512(p + 48), a3);
        }
        Avx512F.Store(c, a0 + b0); Avx512F.Store(c + 16, a1 + b1); Avx512F.Store(c + 32, a2 + b2); Avx512F.Store(c + 48, a3 + b3);
    }

    /// <summary>16 columns of one output row: entry j into sum j mod 4 (four chains hide the FMA
    /// latency; one would leave the unit idle three cycles in four), the sums added at the end.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Block1(int* cs, float* vs, float* b, nint* off, int s, int e, float* c)
    {
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
        int j = s;
        for (; j + 4 <= e; j += 4)
        {
            a0 = Avx512F.FusedMultiplyAdd(Vector512.Create(vs[j]), Avx512F.LoadVector512(b + off[cs[j]]), a0);
            a1 = Avx512F.FusedMultiplyAdd(Vector512.Create(vs[j + 1]), Avx512F.LoadVector512(b + off[cs[j + 1]]), a1);
            a2 = Avx512F.FusedMultiplyAdd(Vector512.Create(vs[j + 2]), Avx512F.LoadVector512(b + off[cs[j + 2]]), a2);
            a3 = Avx512F.FusedMultiplyAdd(Vector512.Create(vs[j + 3]), Avx512F.LoadVector512(b + off[cs[j + 3]]), a3);
        }
        if (j < e) a0 = Avx512F.FusedMultiplyAdd(Vector512.Create(vs[j]), Avx512F.LoadVector512(b + off[cs[j]]), a0);
        if (j + 1 < e) a1 = Avx512F.FusedMultiplyAdd(Vector512.Create(vs[j + 1]), Avx512F.LoadVector512(b + off[cs[j + 1]]), a1);
        if (j + 2 < e) a2 = Avx512F.FusedMultiplyAdd(Vector512.Create(vs[j + 2]), Avx512F.LoadVector512(b + off[cs[j + 2]]), a2);
        Avx512F.Store(c, (a0 + a1) + (a2 + a3));
    }

    private static void RowsScalar(int* rs, int* cs, float* vs, float* b, nint* off, int n, float* c, int ldc, int from, int to)
    {
        for (int r = from; r < to; r++)
        {
            float* cr = c + (long)r * ldc;
            new Span<float>(cr, n).Clear();
            for (int j = rs[r]; j < rs[r + 1]; j++)
            {
                float v = vs[j];
                float* p = b + off[cs[j]];
                for (int q = 0; q < n; q++) cr[q] = MathF.FusedMultiplyAdd(v, p[q], cr[q]);
            }
        }
    }

    /// <summary><see cref="RowsProduct"/> accumulated in double.</summary>
    public static void RowsProductReference(CsrMatrix a, ReadOnlySpan<float> b, ReadOnlySpan<nint> off, int n, Span<float> c, int ldc, int from, int to)
    {
        CheckRows(a, b, off, n, c, ldc, from, to);
        var s = new double[n];
        for (int r = from; r < to; r++)
        {
            Array.Clear(s);
            for (int j = a.RowStart[r]; j < a.RowStart[r + 1]; j++)
            {
                double v = a.Values[j];
                nint o = off[a.Columns[j]];
                for (int q = 0; q < n; q++) s[q] += v * b[(int)(o + q)];
            }
            for (int q = 0; q < n; q++) c[r * ldc + q] = (float)s[q];
        }
    }

    private static void CheckRows(CsrMatrix a, ReadOnlySpan<float> b, ReadOnlySpan<nint> off, int n, Span<float> c, int ldc, int from, int to)
    {
        if (n < 0 || n % ColumnMultiple != 0 || ldc < n || off.Length < a.Cols || from < 0 || to > a.Rows || from > to
            || (to > from && c.Length < (long)(to - 1) * ldc + n))
            throw new ArgumentException($"SparseKernels.RowsProduct: n = {n} (a multiple of {ColumnMultiple}), ldc = {ldc}, {off.Length} offsets for {a.Cols} columns, C of {c.Length}, rows [{from}, {to}).");
        for (int k = 0; k < a.Cols; k++)
            if (off[k] < 0 || off[k] + n > b.Length)
                throw new ArgumentException($"SparseKernels.RowsProduct: row {k} of B at {off[k]} (+{n}) is outside B (length {b.Length}).");
    }

    /// <summary>Row boundaries that split a's rows into <paramref name="bounds"/>.Length − 1 chunks of
    /// about equal entry counts (a thread's share of a product), bounds[0] = 0, bounds[^1] = Rows.</summary>
    public static void BalancedRows(CsrMatrix a, Span<int> bounds) => Balance(a.Rows, r => a.RowStart[r], bounds);

    /// <summary>Boundaries that split <paramref name="items"/> items into <paramref name="bounds"/>.Length − 1
    /// chunks of about equal cost, item i costing its entries (<paramref name="entriesBefore"/>(i + 1) −
    /// entriesBefore(i), entriesBefore(0) = 0) plus one (an item costs a little even when empty);
    /// bounds[0] = 0, bounds[^1] = items.</summary>
    internal static void Balance(int items, Func<int, long> entriesBefore, Span<int> bounds)
    {
        int chunks = bounds.Length - 1;
        if (chunks < 1) throw new ArgumentException("Balancing needs at least one chunk.");
        long total = entriesBefore(items) + items;
        bounds[0] = 0;
        int i = 0;
        for (int k = 1; k < chunks; k++)
        {
            long target = total * k / chunks;
            while (i < items && entriesBefore(i) + i < target) i++;
            bounds[k] = i;
        }
        bounds[chunks] = items;
    }
}
