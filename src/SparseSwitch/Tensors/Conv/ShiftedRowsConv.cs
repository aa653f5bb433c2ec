using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using SparseSwitch.Tensors;


namespace SparseSwitch.Tensors.Conv;

/// <summary>
/// Stride-1 "same" convolution (KH = 2·PH + 1, KW = 2·PW + 1, dilation 1) without im2col.
/// nb images of one channel are laid out one after another in a zero-padded plane whose
/// padding is shared: rows are Wp = W + PW wide (the PW zero columns right of a row are the left
/// padding of the next row) and images are H + PH rows apart (the PH zero rows below an image are
/// the top padding of the next), after Front + Lead leading zeros (Lead = PH·Wp + PW; Front aligns
/// the first pixel). Pixel (j, y, x) sits at Origin + (j·(H + PH) + y)·Wp + x of its channel's
/// plane, Origin = Front + Lead (<see cref="Layout"/>). Output column q = (j·(H + PH) + y)·Wp + x
/// then reads input row (c, ki, kj) at c·S + Front + ki·Wp + kj + q, so the
/// im2col matrix's rows are shifted runs of the plane and the products read them in place:
///   forward:  y_q[Cout, q]  = W[Cout, C·KH·KW] · rows(x)                  (<see cref="RowsKernels.Product"/>, then compacted to y)
///   dW:       dW[Cout, C·KH·KW] += dy_q[Cout, q] · rows(x)ᵀ, dy_q = dy's plane from Origin on (<see cref="RowsKernels.DotProduct"/>;
///             its columns that are not pixels are zero padding, so they add nothing)
///   dX:       dx_q[C, q] = Wflip[C, Cout·KH·KW] · rows(dy),  Wflip[c, (o, ki, kj)] = W[o, c, KH−1−ki, KW−1−kj]
/// Columns that are not pixels (x ≥ W, the rows between images) are computed and dropped: 6 %,
/// 11 % and 21 % of the work on 32×32, 16×16 and 8×8 planes with 3×3 kernels. The padding of a
/// plane is never written, so it stays zero once the buffer is allocated.
/// </summary>
public static class ShiftedRowsConv
{
    /// <summary>Whether a convolution geometry qualifies (groups = 1 is checked by the caller).</summary>
    public static bool Applies(in ConvGeometry g) =>
        g.SH == 1 && g.SW == 1 && g.DH == 1 && g.DW == 1 && g.KH == 2 * g.PH + 1 && g.KW == 2 * g.PW + 1 && g.KH * g.KW > 1;

    /// <summary>The shared-padding layout of up to NbMax images of H × W (padding PH, PW).</summary>
    public readonly record struct Layout(int H, int W, int PH, int PW, int NbMax)
    {
        /// <summary>The layout for up to <paramref name="maxImages"/> images, as many stacked as
        /// bring a product to <paramref name="targetColumns"/> output columns
        /// (<see cref="EngineOptions.ShiftedRowsTargetColumns"/>: longer dot products for dW, fewer calls).</summary>
        public static Layout ForImages(int h, int w, int ph, int pw, int maxImages, int targetColumns)
        {
            int perImage = (h + ph) * (w + pw);
            return new Layout(h, w, ph, pw, Math.Min(maxImages, Math.Max(1, (targetColumns + perImage - 1) / perImage)));
        }

        public int Wp => W + PW;
        public int RowsPerImage => H + PH;
        public int Lead => PH * Wp + PW;
        /// <summary>Zeros in front of a plane so that pixel (0, 0, 0), at Front + Lead, starts a
        /// 64-byte line: dy's rows in the weight-gradient dot products load aligned.</summary>
        public int Front => (16 - Lead % 16) % 16;
        /// <summary>Where output column 0's pixel sits in its plane.</summary>
        public int Origin => Front + Lead;
        /// <summary>Output columns computed for nb images (the last image's last row included).</summary>
        public int Cols(int nb) => ((nb - 1) * RowsPerImage + H) * Wp;
        /// <summary>Floats per channel plane: every input run the products read for NbMax images.</summary>
        public int ChannelStride => (Front + Cols(NbMax) + 2 * PH * Wp + 2 * PW + 15) / 16 * 16;
        /// <summary>Floats of a plane buffer for c channels, with slack for whole-tile reads.</summary>
        public int BufferLength(int channels) => channels * ChannelStride + RowsKernels.TileColumns + 16;
        /// <summary>Row stride of a product's output: NbMax's columns rounded up to whole tiles.</summary>
        public int OutputStride => (Cols(NbMax) + RowsKernels.TileColumns - 1) / RowsKernels.TileColumns * RowsKernels.TileColumns;
    }

    /// <summary>off[(c·KH + ki)·KW + kj] = c·S + Front + ki·Wp + kj for c &lt; channels: where the
    /// products read input row (c, ki, kj) for output column 0.</summary>
    public static void RowOffsets(int channels, int kh, int kw, in Layout l, Span<nint> off)
    {
        int channelStride = l.ChannelStride, wp = l.Wp, front = l.Front;
        if (off.Length < channels * kh * kw) throw new ArgumentException("ShiftedRowsConv.RowOffsets: offset table too short.");
        int r = 0;
        for (int c = 0; c < channels; c++)
        for (int ki = 0; ki < kh; ki++)
        for (int kj = 0; kj < kw; kj++)
            off[r++] = (nint)c * channelStride + front + ki * wp + kj;
    }

    /// <summary>Writes nb images [nb, C, H, W] into their places of the planes (only pixels are
    /// written; the padding keeps its zeros), each channel through <paramref name="input"/> when
    /// that is not empty (a deferred batch-norm).</summary>
    public static unsafe void Pad(ReadOnlySpan<float> images, int nb, int c, in Layout l, Span<float> planes, in ChannelAffine input = default)
    {
        int h = l.H, w = l.W, hw = h * w, wp = l.Wp, s = l.ChannelStride, imageRows = l.RowsPerImage * wp;
        if (nb > l.NbMax || images.Length < nb * c * hw || planes.Length < c * s)
            throw new ArgumentException("ShiftedRowsConv.Pad: buffer sizes do not match the layout.");
        fixed (float* src0 = images, dst0 = planes)
        {
            for (int j = 0; j < nb; j++)
            for (int ch = 0; ch < c; ch++)
            {
                float* src = src0 + (long)(j * c + ch) * hw, dst = dst0 + (long)ch * s + l.Origin + (long)j * imageRows;
                if (input.IsEmpty) CopyRows(src, null, w, dst, wp, h, w, new Unary<CopyOp>(new CopyOp()));
                else CopyRows(src, null, w, dst, wp, h, w, new Unary<AffineOp>(AffineOp.For(input, ch)));
            }
        }
    }

    /// <summary><see cref="Pad"/> of a deferred batch-norm's input gradient: plane values are
    /// <paramref name="t"/> applied to dy and x (the batch-norm's input, laid out as dy).</summary>
    public static unsafe void PadGradient(ReadOnlySpan<float> dy, ReadOnlySpan<float> x, int nb, int c, in Layout l, Span<float> planes, in ChannelGradAffine t)
    {
        int h = l.H, w = l.W, hw = h * w, wp = l.Wp, s = l.ChannelStride, imageRows = l.RowsPerImage * wp;
        if (nb > l.NbMax || dy.Length < nb * c * hw || x.Length < nb * c * hw || planes.Length < c * s)
            throw new ArgumentException("ShiftedRowsConv.PadGradient: buffer sizes do not match the layout.");
        fixed (float* g0 = dy, x0 = x, dst0 = planes)
        {
            for (int j = 0; j < nb; j++)
            for (int ch = 0; ch < c; ch++)
            {
                long o = (long)(j * c + ch) * hw;
                CopyRows(g0 + o, x0 + o, w, dst0 + (long)ch * s + l.Origin + (long)j * imageRows, wp, h, w, GradAffineOp.For(t, ch));
            }
        }
    }

    /// <summary>out[j, o, y, x] = q[o, (j·(H + PH) + y)·Wp + x] (+ bias[o]) for nb images; q has
    /// row stride ldq.</summary>
    public static unsafe void Compact(ReadOnlySpan<float> q, int ldq, int nb, int channels, in Layout l,
        ReadOnlySpan<float> bias, Span<float> output)
    {
        int h = l.H, w = l.W, hw = h * w, wp = l.Wp, imageRows = l.RowsPerImage * wp;
        if (output.Length < nb * channels * hw || (nb > 0 && q.Length < (long)(channels - 1) * ldq + (nb - 1) * imageRows + (h - 1) * wp + w))
            throw new ArgumentException("ShiftedRowsConv.Compact: buffer sizes do not match the layout.");
        fixed (float* src0 = q, dst0 = output)
        {
            for (int j = 0; j < nb; j++)
            for (int o = 0; o < channels; o++)
            {
                float* src = src0 + (long)o * ldq + (long)j * imageRows, dst = dst0 + (long)(j * channels + o) * hw;
                if (bias.IsEmpty) CopyRows(src, null, wp, dst, w, h, w, new Unary<CopyOp>(new CopyOp()));
                else CopyRows(src, null, wp, dst, w, h, w, new Unary<AddOp>(new AddOp(bias[o])));
            }
        }
    }

    /// <summary>rows × cols values op(src[i], src2[i]) (src2 laid out as src, row stride ls; not
    /// read when the operation is unary) to dst (row stride ld); whole vectors where the row
    /// allows, with the remainder masked.</summary>
    private static unsafe void CopyRows<TOp>(float* src, float* src2, int ls, float* dst, int ld, int rows, int cols, TOp op) where TOp : struct, IBinaryVectorOp
    {
        if (Vector512.IsHardwareAccelerated && cols >= 8)
        {
            int full = cols / 16 * 16, rest = cols - full;
            // The remainder as a masked load/store (lanes past the row are left alone).
            var mask = Vector512.LessThan(Vector512<int>.Indices, Vector512.Create(rest)).AsSingle();
            for (int r = 0; r < rows; r++, src += ls, src2 += ls, dst += ld)
            {
                int i = 0;
                for (; i < full; i += 16)
                    Vector512.Store(op.Apply(Vector512.Load(src + i), TOp.ReadsSecond ? Vector512.Load(src2 + i) : default), dst + i);
                if (rest > 0)
                    Avx512F.MaskStore(dst + i, mask, op.Apply(Avx512F.MaskLoad(src + i, mask, Vector512<float>.Zero),
                        TOp.ReadsSecond ? Avx512F.MaskLoad(src2 + i, mask, Vector512<float>.Zero) : default));
            }
            return;
        }
        for (int r = 0; r < rows; r++, src += ls, src2 += ls, dst += ld)
            for (int i = 0; i < cols; i++) dst[i] = op.Apply(src[i], TOp.ReadsSecond ? src2[i] : 0f);
    }
}
