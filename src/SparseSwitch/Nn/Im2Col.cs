using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;

namespace SparseSwitch.Nn;

/// <summary>
/// Unfolds one image for convolution as a matrix product and folds the gradient back.
/// image: [C, H, W]; col: [C·KH·KW, OH·OW] with row (c·KH + ki)·KW + kj holding
/// x[c, oh·SH − PH + ki·DH, ow·SW − PW + kj·DW] (zero outside the image) at column oh·OW + ow.
/// Stride-1 rows are contiguous copies / vector adds; other strides gather.
/// </summary>
public static class Im2Col
{
    public static void Unfold(in ConvGeometry g, ReadOnlySpan<float> image, Span<float> col)
    {
        int oh = g.OH, ow = g.OW, p = oh * ow;
        if (image.Length < g.C * g.H * g.W) throw new ArgumentException("Im2Col.Unfold: image is too short for its geometry.");
        if (col.Length < g.ColRows * p) throw new ArgumentException("Im2Col.Unfold: col is too short for its geometry.");
        if (g.SH == 1 && g.SW == 1 && g.OW == g.W) { UnfoldSameWidth(g, image, col); return; }
        for (int c = 0; c < g.C; c++)
        {
            var plane = image.Slice(c * g.H * g.W, g.H * g.W);
            for (int ki = 0; ki < g.KH; ki++)
            for (int kj = 0; kj < g.KW; kj++)
            {
                var row = col.Slice(((c * g.KH + ki) * g.KW + kj) * p, p);
                var (lo, hi) = g.ValidOw(kj);
                int offW = kj * g.DW - g.PW;
                for (int y = 0; y < oh; y++)
                {
                    var dst = row.Slice(y * ow, ow);
                    int ih = y * g.SH - g.PH + ki * g.DH;
                    if ((uint)ih >= (uint)g.H || hi <= lo) { dst.Clear(); continue; }
                    var src = plane.Slice(ih * g.W, g.W);
                    if (lo > 0) dst[..lo].Clear();
                    if (hi < ow) dst[hi..].Clear();
                    if (g.SW == 1)
                        src.Slice(lo + offW, hi - lo).CopyTo(dst.Slice(lo, hi - lo));
                    else
                        for (int x = lo; x < hi; x++) dst[x] = src[x * g.SW + offW];
                }
            }
        }
    }

    /// <summary>image += fold(col): the adjoint of <see cref="Unfold"/> (accumulates; clear the
    /// image first for an overwrite). col is scratch: entries that fall outside the image may be
    /// zeroed.</summary>
    public static void FoldAdd(in ConvGeometry g, Span<float> col, Span<float> image)
    {
        int oh = g.OH, ow = g.OW, p = oh * ow;
        if (image.Length < g.C * g.H * g.W) throw new ArgumentException("Im2Col.FoldAdd: image is too short for its geometry.");
        if (col.Length < g.ColRows * p) throw new ArgumentException("Im2Col.FoldAdd: col is too short for its geometry.");
        if (g.SH == 1 && g.SW == 1 && g.OW == g.W) { FoldAddSameWidth(g, col, image); return; }
        for (int c = 0; c < g.C; c++)
        {
            var plane = image.Slice(c * g.H * g.W, g.H * g.W);
            for (int ki = 0; ki < g.KH; ki++)
            for (int kj = 0; kj < g.KW; kj++)
            {
                var row = col.Slice(((c * g.KH + ki) * g.KW + kj) * p, p);
                var (lo, hi) = g.ValidOw(kj);
                if (hi <= lo) continue;
                int offW = kj * g.DW - g.PW;
                for (int y = 0; y < oh; y++)
                {
                    int ih = y * g.SH - g.PH + ki * g.DH;
                    if ((uint)ih >= (uint)g.H) continue;
                    var src = row.Slice(y * ow, ow);
                    var dst = plane.Slice(ih * g.W, g.W);
                    if (g.SW == 1)
                    {
                        var d = dst.Slice(lo + offW, hi - lo);
                        TensorPrimitives.Add(d, src.Slice(lo, hi - lo), d);
                    }
                    else
                        for (int x = lo; x < hi; x++) dst[x * g.SW + offW] += src[x];
                }
            }
        }
    }

    /// <summary>
    /// Stride 1 with output width = input width ("same" convolutions, the common case):
    /// a col row is the plane shifted by (ih0, iw0) = (ki·DH − PH, kj·DW − PW), so the valid output
    /// rows are one contiguous block copy; the few columns that wrapped around from the neighbouring
    /// image row are zeroed afterwards, as are the rows outside the image.
    /// </summary>
    private static void UnfoldSameWidth(in ConvGeometry g, ReadOnlySpan<float> image, Span<float> col)
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
                    var row = col.Slice(((c * g.KH + ki) * g.KW + kj) * p, p);
                    var (lo, hi) = g.ValidOw(kj);
                    if (yhi <= ylo || hi <= lo) { row.Clear(); continue; }
                    int iw0 = kj * g.DW - g.PW;
                    row[..(ylo * w)].Clear();
                    row[(yhi * w)..].Clear();
                    // dst[y·W + x] = plane[(y + ih0)·W + x + iw0] for y in [ylo, yhi), all x at once
                    int s = (ylo + ih0) * w + iw0, d = ylo * w, len = (yhi - ylo) * w;
                    int skip = Math.Max(0, -s), over = Math.Max(0, s + len - hw);
                    plane.Slice(s + skip, len - skip - over).CopyTo(row.Slice(d + skip, len - skip - over));
                    if (lo > 0 || hi < w)
                        for (int y = ylo; y < yhi; y++)
                        {
                            var r = row.Slice(y * w, w);
                            r[..lo].Clear();
                            r[hi..].Clear();
                        }
                }
            }
        }
    }

    /// <summary>Adjoint of <see cref="UnfoldSameWidth"/>: zero the wrapped columns of col (it is a
    /// scratch gradient buffer, so it may be modified), then one vector add per col row.</summary>
    private static void FoldAddSameWidth(in ConvGeometry g, Span<float> col, Span<float> image)
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
                    var row = col.Slice(((c * g.KH + ki) * g.KW + kj) * p, p);
                    var (lo, hi) = g.ValidOw(kj);
                    if (yhi <= ylo || hi <= lo) continue;
                    int iw0 = kj * g.DW - g.PW;
                    if (lo > 0 || hi < w)
                        for (int y = ylo; y < yhi; y++)
                        {
                            var r = row.Slice(y * w, w);
                            r[..lo].Clear();
                            r[hi..].Clear();
                        }
                    int s = (ylo + ih0) * w + iw0, d = ylo * w, len = (yhi - ylo) * w;
                    int skip = Math.Max(0, -s), over = Math.Max(0, s + len - hw);
                    var dst = plane.Slice(s + skip, len - skip - over);
                    TensorPrimitives.Add(dst, row.Slice(d + skip, len - skip - over), dst);
                }
            }
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
