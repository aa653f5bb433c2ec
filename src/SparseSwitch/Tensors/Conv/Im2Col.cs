using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;


namespace SparseSwitch.Tensors.Conv;

/// <summary>
/// Unfolds one image for convolution as a matrix product and folds the gradient back.
/// image: [C, H, W]; col: [C·KH·KW, OH·OW] (row stride ldCol ≥ OH·OW, default OH·OW, so several
/// images can sit side by side in one wider matrix) with row (c·KH + ki)·KW + kj holding
/// x[c, oh·SH − PH + ki·DH, ow·SW − PW + kj·DW] (zero outside the image) at column oh·OW + ow.
/// Stride-1 rows are contiguous copies / vector adds; other strides gather.
/// </summary>
public static class Im2Col
{
    public static void Unfold(in ConvGeometry g, ReadOnlySpan<float> image, Span<float> col, int ldCol = 0)
    {
        int oh = g.OH, ow = g.OW, p = oh * ow;
        int ld = ldCol == 0 ? p : ldCol;
        if (ld < p) throw new ArgumentException($"Im2Col.Unfold: ldCol={ldCol} < OH·OW={p}.");
        if (image.Length < g.C * g.H * g.W) throw new ArgumentException("Im2Col.Unfold: image is too short for its geometry.");
        if (col.Length < (long)(g.ColRows - 1) * ld + p) throw new ArgumentException("Im2Col.Unfold: col is too short for its geometry.");
        if (g.SH == 1 && g.SW == 1 && g.OW == g.W) { UnfoldSameWidth(g, image, col, ld); return; }
        // General strides: per output row, zero the out-of-image edges and gather the rest.
        // Indices are in range by construction (lengths checked above, [lo, hi) from ValidOw).
        ref float img0 = ref MemoryMarshal.GetReference(image);
        ref float col0 = ref MemoryMarshal.GetReference(col);
        int sw = g.SW;
        for (int c = 0; c < g.C; c++)
        {
            int planeStart = c * g.H * g.W;
            for (int ki = 0; ki < g.KH; ki++)
            for (int kj = 0; kj < g.KW; kj++)
            {
                int rowStart = ((c * g.KH + ki) * g.KW + kj) * ld;
                var (lo, hi) = g.ValidOw(kj);
                int offW = kj * g.DW - g.PW;
                for (int y = 0; y < oh; y++)
                {
                    ref float dst = ref Unsafe.Add(ref col0, rowStart + y * ow);
                    int ih = y * g.SH - g.PH + ki * g.DH;
                    if ((uint)ih >= (uint)g.H || hi <= lo)
                    {
                        for (int x = 0; x < ow; x++) Unsafe.Add(ref dst, x) = 0f;
                        continue;
                    }
                    int srcBase = planeStart + ih * g.W + offW; // may be negative; srcBase + x·sw ≥ 0 for x ≥ lo
                    int xs = lo;
                    if (sw == 1)
                    {
                        // Stride 1: the valid run is one contiguous copy.
                        MemoryMarshal.CreateReadOnlySpan(ref Unsafe.Add(ref img0, srcBase + lo), hi - lo)
                            .CopyTo(MemoryMarshal.CreateSpan(ref Unsafe.Add(ref dst, lo), hi - lo));
                        xs = hi;
                    }
                    else if (sw == 2 && Avx512F.IsSupported && srcBase >= 0)
                        xs = Math.Max(lo, GatherStride2(ref img0, image.Length, srcBase, ref dst, ow));
                    for (int x = xs; x < hi; x++) Unsafe.Add(ref dst, x) = Unsafe.Add(ref img0, srcBase + x * sw);
                    for (int x = 0; x < lo; x++) Unsafe.Add(ref dst, x) = 0f;
                    for (int x = hi; x < ow; x++) Unsafe.Add(ref dst, x) = 0f;
                }
            }
        }
    }

    /// <summary>image += fold(col): the adjoint of <see cref="Unfold"/> (accumulates; clear the
    /// image first for an overwrite). col is scratch: entries that fall outside the image may be
    /// zeroed.</summary>
    public static void FoldAdd(in ConvGeometry g, Span<float> col, Span<float> image, int ldCol = 0)
    {
        int oh = g.OH, ow = g.OW, p = oh * ow;
        int ld = ldCol == 0 ? p : ldCol;
        if (ld < p) throw new ArgumentException($"Im2Col.FoldAdd: ldCol={ldCol} < OH·OW={p}.");
        if (image.Length < g.C * g.H * g.W) throw new ArgumentException("Im2Col.FoldAdd: image is too short for its geometry.");
        if (col.Length < (long)(g.ColRows - 1) * ld + p) throw new ArgumentException("Im2Col.FoldAdd: col is too short for its geometry.");
        if (g.SH == 1 && g.SW == 1 && g.OW == g.W) { FoldAddSameWidth(g, col, image, ld); return; }
        ref float img0 = ref MemoryMarshal.GetReference(image);
        ref float col0 = ref MemoryMarshal.GetReference(col);
        int sw = g.SW;
        for (int c = 0; c < g.C; c++)
        {
            int planeStart = c * g.H * g.W;
            for (int ki = 0; ki < g.KH; ki++)
            for (int kj = 0; kj < g.KW; kj++)
            {
                int rowStart = ((c * g.KH + ki) * g.KW + kj) * ld;
                var (lo, hi) = g.ValidOw(kj);
                if (hi <= lo) continue;
                int offW = kj * g.DW - g.PW;
                for (int y = 0; y < oh; y++)
                {
                    int ih = y * g.SH - g.PH + ki * g.DH;
                    if ((uint)ih >= (uint)g.H) continue;
                    ref float src = ref Unsafe.Add(ref col0, rowStart + y * ow);
                    int dstBase = planeStart + ih * g.W + offW; // dstBase + x·sw ≥ 0 for x ≥ lo
                    int xs = lo;
                    if (sw == 1)
                    {
                        // Stride 1: one contiguous vector add.
                        var d = MemoryMarshal.CreateSpan(ref Unsafe.Add(ref img0, dstBase + lo), hi - lo);
                        TensorPrimitives.Add(d, MemoryMarshal.CreateReadOnlySpan(ref Unsafe.Add(ref src, lo), hi - lo), d);
                        xs = hi;
                    }
                    else if (sw == 2 && Avx512F.IsSupported && dstBase >= 0)
                    {
                        // The vector blocks cover whole rows: entries outside [lo, hi) must add 0.
                        for (int x = 0; x < lo; x++) Unsafe.Add(ref src, x) = 0f;
                        for (int x = hi; x < ow; x++) Unsafe.Add(ref src, x) = 0f;
                        xs = Math.Max(lo, ScatterAddStride2(ref src, ow, ref img0, image.Length, dstBase));
                    }
                    for (int x = xs; x < hi; x++) Unsafe.Add(ref img0, dstBase + x * sw) += Unsafe.Add(ref src, x);
                }
            }
        }
    }

    private static readonly Vector512<int> EvenLanes = Vector512.Create(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    private static readonly Vector512<int> SpreadLow = Vector512.Create(0, 16, 1, 16, 2, 16, 3, 16, 4, 16, 5, 16, 6, 16, 7, 16);
    private static readonly Vector512<int> SpreadHigh = Vector512.Create(8, 16, 9, 16, 10, 16, 11, 16, 12, 16, 13, 16, 14, 16, 15, 16);

    /// <summary>dst[x] = img[srcBase + 2x] for x in blocks of 16 from 0 while the 32-float read
    /// window stays inside [0, imgLen) and x + 16 ≤ count; returns where it stopped.</summary>
    private static int GatherStride2(ref float img0, int imgLen, int srcBase, ref float dst, int count)
    {
        int x = 0;
        for (; x + 16 <= count && srcBase + 2 * x + 32 <= imgLen; x += 16)
        {
            var a = Vector512.LoadUnsafe(ref img0, (nuint)(srcBase + 2 * x));
            var b = Vector512.LoadUnsafe(ref img0, (nuint)(srcBase + 2 * x + 16));
            Avx512F.PermuteVar16x32x2(a, EvenLanes, b).StoreUnsafe(ref dst, (nuint)x);
        }
        return x;
    }

    /// <summary>img[dstBase + 2x] += src[x] for x in blocks of 16 from 0 while the 32-float
    /// window stays inside [0, imgLen) and x + 16 ≤ count (odd positions get + 0); returns where
    /// it stopped.</summary>
    private static int ScatterAddStride2(ref float src, int count, ref float img0, int imgLen, int dstBase)
    {
        int x = 0;
        for (; x + 16 <= count && dstBase + 2 * x + 32 <= imgLen; x += 16)
        {
            var s = Vector512.LoadUnsafe(ref src, (nuint)x);
            nuint at = (nuint)(dstBase + 2 * x);
            (Vector512.LoadUnsafe(ref img0, at) + Avx512F.PermuteVar16x32x2(s, SpreadLow, Vector512<float>.Zero)).StoreUnsafe(ref img0, at);
            (Vector512.LoadUnsafe(ref img0, at + 16) + Avx512F.PermuteVar16x32x2(s, SpreadHigh, Vector512<float>.Zero)).StoreUnsafe(ref img0, at + 16);
        }
        return x;
    }

    /// <summary>
    /// Stride 1 with output width = input width ("same" convolutions, the common case):
    /// a col row is the plane shifted by (ih0, iw0) = (ki·DH − PH, kj·DW − PW), so the valid output
    /// rows are one contiguous block copy; the few columns that wrapped around from the neighbouring
    /// image row are zeroed afterwards, as are the rows outside the image.
    /// </summary>
    private static void UnfoldSameWidth(in ConvGeometry g, ReadOnlySpan<float> image, Span<float> col, int ld)
    {
        int oh = g.OH, w = g.W, p = oh * w, hw = g.H * w;
        for (int c = 0; c < g.C; c++)
        {
            var plane = image.Slice(c * hw, hw);
            for (int ki = 0; ki < g.KH; ki++)
            {
                var (ylo, yhi) = ValidRows(g, ki);
                int ih0 = ki * g.DH - g.PH;
                for (int kj = 0; kj < g.KW; kj++)
                {
                    var row = col.Slice(((c * g.KH + ki) * g.KW + kj) * ld, p);
                    var (lo, hi) = g.ValidOw(kj);
                    if (yhi <= ylo || hi <= lo) { row.Clear(); continue; }
                    int iw0 = kj * g.DW - g.PW;
                    row[..(ylo * w)].Clear();
                    row[(yhi * w)..].Clear();
                    // dst[y·W + x] = plane[(y + ih0)·W + x + iw0] for y in [ylo, yhi), all x at once
                    int s = (ylo + ih0) * w + iw0, d = ylo * w, len = (yhi - ylo) * w;
                    int skip = Math.Max(0, -s), over = Math.Max(0, s + len - hw);
                    plane.Slice(s + skip, len - skip - over).CopyTo(row.Slice(d + skip, len - skip - over));
                    if (lo > 0 || hi < w) ClearEdgeColumns(row, w, ylo, yhi, lo, hi);
                }
            }
        }
    }

    /// <summary>Adjoint of <see cref="UnfoldSameWidth"/>: zero the wrapped columns of col (it is a
    /// scratch gradient buffer, so it may be modified), then one vector add per col row.</summary>
    private static void FoldAddSameWidth(in ConvGeometry g, Span<float> col, Span<float> image, int ld)
    {
        int oh = g.OH, w = g.W, p = oh * w, hw = g.H * w;
        for (int c = 0; c < g.C; c++)
        {
            var plane = image.Slice(c * hw, hw);
            for (int ki = 0; ki < g.KH; ki++)
            {
                var (ylo, yhi) = ValidRows(g, ki);
                int ih0 = ki * g.DH - g.PH;
                for (int kj = 0; kj < g.KW; kj++)
                {
                    var row = col.Slice(((c * g.KH + ki) * g.KW + kj) * ld, p);
                    var (lo, hi) = g.ValidOw(kj);
                    if (yhi <= ylo || hi <= lo) continue;
                    int iw0 = kj * g.DW - g.PW;
                    if (lo > 0 || hi < w) ClearEdgeColumns(row, w, ylo, yhi, lo, hi);
                    int s = (ylo + ih0) * w + iw0, d = ylo * w, len = (yhi - ylo) * w;
                    int skip = Math.Max(0, -s), over = Math.Max(0, s + len - hw);
                    var dst = plane.Slice(s + skip, len - skip - over);
                    TensorPrimitives.Add(dst, row.Slice(d + skip, len - skip - over), dst);
                }
            }
        }
    }

    /// <summary>Zeroes columns [0, lo) and [hi, w) of rows [ylo, yhi) of a [·, w] row-major block.</summary>
    private static void ClearEdgeColumns(Span<float> block, int w, int ylo, int yhi, int lo, int hi)
    {
        if (block.Length < yhi * w) throw new ArgumentException("Im2Col: block too short.");
        ref float r0 = ref MemoryMarshal.GetReference(block);
        for (int y = ylo; y < yhi; y++)
        {
            ref float r = ref Unsafe.Add(ref r0, y * w);
            for (int x = 0; x < lo; x++) Unsafe.Add(ref r, x) = 0f;
            for (int x = hi; x < w; x++) Unsafe.Add(ref r, x) = 0f;
        }
    }

    /// <summary>Output rows y whose input row y·SH − PH + ki·DH lies inside [0, H).</summary>
    private static (int Lo, int Hi) ValidRows(in ConvGeometry g, int ki)
    {
        int off = ki * g.DH - g.PH;
        int lo = off >= 0 ? 0 : (-off + g.SH - 1) / g.SH;
        int hi = g.H - off <= 0 ? 0 : (g.H - off + g.SH - 1) / g.SH;
        return (lo, Math.Min(Math.Max(hi, lo), g.OH));
    }

    /// <summary>Scalar twin of <see cref="Unfold"/> (test oracle).</summary>
    public static void UnfoldReference(in ConvGeometry g, ReadOnlySpan<float> image, Span<float> col)
    {
        int p = g.OH * g.OW;
        for (int c = 0; c < g.C; c++)
        for (int ki = 0; ki < g.KH; ki++)
        for (int kj = 0; kj < g.KW; kj++)
        for (int y = 0; y < g.OH; y++)
        for (int x = 0; x < g.OW; x++)
        {
            int ih = y * g.SH - g.PH + ki * g.DH, iw = x * g.SW - g.PW + kj * g.DW;
            bool inside = ih >= 0 && ih < g.H && iw >= 0 && iw < g.W;
            col[((c * g.KH + ki) * g.KW + kj) * p + y * g.OW + x] = inside ? image[(c * g.H + ih) * g.W + iw] : 0f;
        }
    }
}
