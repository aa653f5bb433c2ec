using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SparseSwitch.Tensors.Sparse;

/// <summary>
/// A sparse weight matrix [Rows, Cols] laid out for products with one vector (a Linear layer at
/// batch 1) without gathers. Rows go in slices of <see cref="Lanes"/> (one per vector lane), columns
/// in windows of <see cref="Window"/> (two vectors of x, from which a two-source permute picks any
/// element). Within a slice and a window, slot t holds for every lane the t-th kept entry of that
/// lane's row in the window (its value and its column within the window), or a zero; the window has
/// as many slots as its fullest row. One slot is a load of 16 values, a load of 16 one-byte columns,
/// a permute and a fused multiply-add into the slice's 16 sums: no horizontal sums, no gathers.
/// An N:M pattern with M dividing 32 fills every slot (2:4: 16 slots per window, none padded);
/// unstructured masks pad each window to its fullest row.
/// </summary>
public sealed class SlicedMatrix
{
    /// <summary>Rows per slice: the lanes of one vector.</summary>
    public const int Lanes = 16;
    /// <summary>Columns per window: two vectors of the input.</summary>
    public const int Window = 32;

    public int Rows { get; }
    public int Cols { get; }
    public int Slices => (Rows + Lanes - 1) / Lanes;
    /// <summary>Slice s's windows are WindowOf[SliceStart[s] .. SliceStart[s + 1]).</summary>
    public int[] SliceStart { get; }
    /// <summary>The window (column / 32) of each listed window; only windows some row of the slice keeps an entry in are listed.</summary>
    public int[] WindowOf { get; }
    /// <summary>Listed window k holds slots SlotStart[k] .. SlotStart[k + 1]).</summary>
    public int[] SlotStart { get; }
    /// <summary>[slots][16] values (0 where a lane's row has no entry for the slot).</summary>
    public float[] Values { get; }
    /// <summary>[slots][16] columns within the window (0 … 31).</summary>
    public byte[] Index { get; }
    /// <summary>Kept entries (the slots' non-padding lanes).</summary>
    public int NonZeros { get; }

    public int SlotCount => SlotStart[^1];

    /// <summary>Bytes the kernel reads for the weights.</summary>
    public long Bytes => SlotCount * (long)Lanes * 5 + 4L * (SliceStart.Length + WindowOf.Length + SlotStart.Length);

    private SlicedMatrix(int rows, int cols, int[] sliceStart, int[] windowOf, int[] slotStart, float[] values, byte[] index, int nonZeros)
    {
        Rows = rows; Cols = cols; SliceStart = sliceStart; WindowOf = windowOf; SlotStart = slotStart; Values = values; Index = index; NonZeros = nonZeros;
    }

    /// <summary>The entries of row-major <paramref name="w"/> [rows, cols] that <paramref name="mask"/>
    /// keeps (bit i for w[i]), or, without a mask, its nonzeros.</summary>
    public static SlicedMatrix FromDense(ReadOnlySpan<float> w, int rows, int cols, BitMask? mask = null)
    {
        CsrMatrix.CheckDense(w, rows, cols, mask, nameof(SlicedMatrix));
        int slices = (rows + Lanes - 1) / Lanes, windows = (cols + Window - 1) / Window;
        var sliceStart = new int[slices + 1];
        var windowOf = new List<int>();
        var slotStart = new List<int> { 0 };
        var values = new List<float>();
        var index = new List<byte>();
        var count = new int[Lanes];
        int nonZeros = 0;
        for (int s = 0; s < slices; s++)
        {
            int r0 = s * Lanes, lanes = Math.Min(Lanes, rows - r0);
            for (int win = 0; win < windows; win++)
            {
                int c0 = win * Window, c1 = Math.Min(cols, c0 + Window);
                int slots = 0;
                for (int i = 0; i < lanes; i++)
                {
                    count[i] = 0;
                    for (int c = c0; c < c1; c++)
                        if (CsrMatrix.Keeps(w, mask, (r0 + i) * cols + c)) count[i]++;
                    slots = Math.Max(slots, count[i]);
                }
                if (slots == 0) continue;
                int first = values.Count;
                for (int k = 0; k < slots * Lanes; k++) { values.Add(0f); index.Add(0); }
                for (int i = 0; i < lanes; i++)
                {
                    int t = 0;
                    for (int c = c0; c < c1; c++)
                    {
                        int at = (r0 + i) * cols + c;
                        if (!CsrMatrix.Keeps(w, mask, at)) continue;
                        values[first + t * Lanes + i] = w[at];
                        index[first + t * Lanes + i] = (byte)(c - c0);
                        t++;
                        nonZeros++;
                    }
                }
                windowOf.Add(win);
                slotStart.Add(slotStart[^1] + slots);
            }
            sliceStart[s + 1] = windowOf.Count;
        }
        return new SlicedMatrix(rows, cols, sliceStart, [.. windowOf], [.. slotStart], [.. values], [.. index], nonZeros);
    }

    /// <summary>The dense matrix (dropped entries 0).</summary>
    public float[] ToDense()
    {
        var d = new float[Rows * Cols];
        for (int s = 0; s < Slices; s++)
            for (int k = SliceStart[s]; k < SliceStart[s + 1]; k++)
                for (int t = SlotStart[k]; t < SlotStart[k + 1]; t++)
                    for (int i = 0; i < Lanes && s * Lanes + i < Rows; i++)
                    {
                        float v = Values[t * Lanes + i];
                        if (v != 0f) d[(s * Lanes + i) * Cols + WindowOf[k] * Window + Index[t * Lanes + i]] = v;
                    }
        return d;
    }

    /// <summary>Slice boundaries that split the slices into <paramref name="bounds"/>.Length − 1 chunks
    /// of about equal slot counts (a thread's share), bounds[0] = 0, bounds[^1] = Slices.</summary>
    public void BalancedSlices(Span<int> bounds) => SparseKernels.Balance(Slices, s => SlotStart[SliceStart[s]], bounds);
}

/// <summary>The one-vector product with <see cref="SlicedMatrix"/> weights, and its scalar twin.</summary>
public static unsafe class SlicedKernels
{
    /// <summary>
    /// y[r] = Σ kept A[r, c] · x[c] for the rows of slices [sliceFrom, sliceTo). Each slice sums its
    /// slots in a fixed order (slot t into sum t mod 4 within a window, the four sums added at the
    /// end), so results depend only on the inputs, never on how slices are split among threads.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Gemv(SlicedMatrix a, ReadOnlySpan<float> x, Span<float> y, int sliceFrom, int sliceTo)
    {
        Check(a, x, y, sliceFrom, sliceTo);
        if (!Avx512F.IsSupported)
        {
            GemvScalar(a, x, y, sliceFrom, sliceTo);
            return;
        }
        int cols = a.Cols, fullWindows = cols / SlicedMatrix.Window;
        float* tail = stackalloc float[SlicedMatrix.Window]; // the last, partial window, zero-padded
        new Span<float>(tail, SlicedMatrix.Window).Clear();
        x.Slice(fullWindows * SlicedMatrix.Window, cols - fullWindows * SlicedMatrix.Window).CopyTo(new Span<float>(tail, SlicedMatrix.Window));
        float* sums = stackalloc float[SlicedMatrix.Lanes];
        fixed (int* ss = a.SliceStart, wo = a.WindowOf, st = a.SlotStart)
        fixed (float* vs = a.Values, px = x, py = y)
        fixed (byte* ix = a.Index)
        {
            for (int s = sliceFrom; s < sliceTo; s++)
            {
                Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
                for (int k = ss[s]; k < ss[s + 1]; k++)
                {
                    int win = wo[k];
                    float* xw = win < fullWindows ? px + win * SlicedMatrix.Window : tail;
                    var lo = Avx512F.LoadVector512(xw);
                    var hi = Avx512F.LoadVector512(xw + 16);
                    int t = st[k], e = st[k + 1];
                    for (; t + 4 <= e; t += 4)
                    {
                        a0 = Slot(vs, ix, t, lo, hi, a0);
                        a1 = Slot(vs, ix, t + 1, lo, hi, a1);
                        a2 = Slot(vs, ix, t + 2, lo, hi, a2);
                        a3 = Slot(vs, ix, t + 3, lo, hi, a3);
                    }
                    if (t < e) a0 = Slot(vs, ix, t, lo, hi, a0);
                    if (t + 1 < e) a1 = Slot(vs, ix, t + 1, lo, hi, a1);
                    if (t + 2 < e) a2 = Slot(vs, ix, t + 2, lo, hi, a2);
                }
                var sum = (a0 + a1) + (a2 + a3);
                int r0 = s * SlicedMatrix.Lanes, lanes = Math.Min(SlicedMatrix.Lanes, a.Rows - r0);
                if (lanes == SlicedMatrix.Lanes) Avx512F.Store(py + r0, sum);
                else
                {
                    Avx512F.Store(sums, sum);
                    for (int i = 0; i < lanes; i++) py[r0 + i] = sums[i];
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Slot(float* vs, byte* ix, int t, Vector512<float> lo, Vector512<float> hi, Vector512<float> acc)
    {
        var columns = Avx512F.ConvertToVector512Int32(Vector128.Load(ix + t * SlicedMatrix.Lanes));
        return Avx512F.FusedMultiplyAdd(Avx512F.LoadVector512(vs + t * SlicedMatrix.Lanes), Avx512F.PermuteVar16x32x2(lo, columns, hi), acc);
    }

    /// <summary>The product without SIMD (machines without AVX-512), summing each row's slots in order.</summary>
    private static void GemvScalar(SlicedMatrix a, ReadOnlySpan<float> x, Span<float> y, int sliceFrom, int sliceTo)
    {
        for (int s = sliceFrom; s < sliceTo; s++)
            for (int i = 0; i < SlicedMatrix.Lanes && s * SlicedMatrix.Lanes + i < a.Rows; i++)
            {
                float sum = 0f;
                for (int k = a.SliceStart[s]; k < a.SliceStart[s + 1]; k++)
                {
                    int c0 = a.WindowOf[k] * SlicedMatrix.Window;
                    for (int t = a.SlotStart[k]; t < a.SlotStart[k + 1]; t++)
                    {
                        float v = a.Values[t * SlicedMatrix.Lanes + i];
                        if (v != 0f) sum = MathF.FusedMultiplyAdd(v, x[c0 + a.Index[t * SlicedMatrix.Lanes + i]], sum);
                    }
                }
                y[s * SlicedMatrix.Lanes + i] = sum;
            }
    }

    /// <summary><see cref="Gemv"/> accumulated in double.</summary>
    public static void GemvReference(SlicedMatrix a, ReadOnlySpan<float> x, Span<float> y, int sliceFrom, int sliceTo)
    {
        Check(a, x, y, sliceFrom, sliceTo);
        for (int s = sliceFrom; s < sliceTo; s++)
            for (int i = 0; i < SlicedMatrix.Lanes && s * SlicedMatrix.Lanes + i < a.Rows; i++)
            {
                double sum = 0;
                for (int k = a.SliceStart[s]; k < a.SliceStart[s + 1]; k++)
                    for (int t = a.SlotStart[k]; t < a.SlotStart[k + 1]; t++)
                        sum += (double)a.Values[t * SlicedMatrix.Lanes + i] * x[a.WindowOf[k] * SlicedMatrix.Window + a.Index[t * SlicedMatrix.Lanes + i]];
                y[s * SlicedMatrix.Lanes + i] = (float)sum;
            }
    }

    private static void Check(SlicedMatrix a, ReadOnlySpan<float> x, Span<float> y, int sliceFrom, int sliceTo)
    {
        if (x.Length < a.Cols || y.Length < a.Rows || sliceFrom < 0 || sliceTo > a.Slices || sliceFrom > sliceTo)
            throw new ArgumentException($"SlicedKernels.Gemv: x has {x.Length} (needs {a.Cols}), y {y.Length} (needs {a.Rows}), slices [{sliceFrom}, {sliceTo}) of {a.Slices}.");
    }
}
