using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace SparseSwitch.Nn;

/// <summary>
/// Stride-1 "same" convolution (KH = 2·PH + 1, KW = 2·PW + 1, dilation 1) without im2col.
/// nb images are zero-padded into pad[C][nbMax][Hp][Wp] (Hp = H + 2·PH, Wp = W + 2·PW,
/// PS = Hp·Wp). In that layout the im2col row (c, ki, kj) is the contiguous run starting at
/// c·nbMax·PS + ki·Wp + kj, read at columns q = j·PS + y·Wp + x (image j, output y, x); columns
/// with x ≥ W or y ≥ H are computed but unused. So
///   forward:  y_q[Cout, q]  = W[Cout, C·KH·KW] · rows(pad_x)          (then compacted to y)
///   dW:       dW[Cout, C·KH·KW] += dy_q[Cout, q] · rows(pad_x)ᵀ,  dy_q = pad_dy shifted by PH·Wp + PW
///             (its unused columns land on zero padding, so they add nothing)
///   dX:       dx_q[C, q] = Wflip[C, Cout·KH·KW] · rows(pad_dy),  Wflip[c, (o, ki, kj)] = W[o, c, KH−1−ki, KW−1−kj]
/// each a <see cref="Tensors.Gemm.SgemmRowOffsetsB"/> through <see cref="RowOffsets"/>. The padding
/// of a pad buffer is never written, so it stays zero once the buffer is allocated.
/// </summary>
public static class ShiftedRowsConv
{
    /// <summary>Whether a convolution geometry qualifies (groups = 1 is checked by the caller).</summary>
    public static bool Applies(in ConvGeometry g) =>
        g.SH == 1 && g.SW == 1 && g.DH == 1 && g.DW == 1 && g.KH == 2 * g.PH + 1 && g.KW == 2 * g.PW + 1 && g.KH * g.KW > 1;

    /// <summary>off[(c·KH + ki)·KW + kj] = c·channelStride + ki·Wp + kj for c &lt; channels.</summary>
    public static void RowOffsets(int channels, int kh, int kw, int channelStride, int wp, Span<nint> off)
    {
        if (off.Length < channels * kh * kw) throw new ArgumentException("ShiftedRowsConv.RowOffsets: offset table too short.");
        int r = 0;
        for (int c = 0; c < channels; c++)
        for (int ki = 0; ki < kh; ki++)
        for (int kj = 0; kj < kw; kj++)
            off[r++] = (nint)c * channelStride + ki * wp + kj;
    }

    /// <summary>pad[c, j, y + PH, x + PW] = x[j, c, y, x] for nb images [nb, C, H, W]; pad is
    /// [C, nbMax, Hp, Wp] (only the interiors of slots j &lt; nb are written).</summary>
    public static void Pad(ReadOnlySpan<float> images, int nb, int c, int h, int w, int ph, int pw, int nbMax, Span<float> pad)
    {
        int hp = h + 2 * ph, wp = w + 2 * pw, ps = hp * wp, hw = h * w;
        if (nb > nbMax || images.Length < nb * c * hw || pad.Length < c * nbMax * ps)
            throw new ArgumentException("ShiftedRowsConv.Pad: buffer sizes do not match the geometry.");
        for (int j = 0; j < nb; j++)
        for (int ch = 0; ch < c; ch++)
        {
            var src = images.Slice((j * c + ch) * hw, hw);
            var dst = pad.Slice((ch * nbMax + j) * ps + ph * wp + pw);
            for (int y = 0; y < h; y++) src.Slice(y * w, w).CopyTo(dst.Slice(y * wp, w));
        }
    }

    /// <summary>out[j, o, y, x] = q[o, j·PS + y·Wp + x] (+ bias[o]) for nb images; q has row
    /// stride ldq.</summary>
    public static void Compact(ReadOnlySpan<float> q, int ldq, int nb, int channels, int h, int w, int ph, int pw,
        ReadOnlySpan<float> bias, Span<float> output)
    {
        int wp = w + 2 * pw, ps = (h + 2 * ph) * wp, hw = h * w;
        if (output.Length < nb * channels * hw) throw new ArgumentException("ShiftedRowsConv.Compact: output too short.");
        for (int o = 0; o < channels; o++)
        {
            float bo = bias.IsEmpty ? 0f : bias[o];
            for (int j = 0; j < nb; j++)
            {
                var src = q.Slice(o * ldq + j * ps, (h - 1) * wp + w);
                var dst = output.Slice((j * channels + o) * hw, hw);
                for (int y = 0; y < h; y++)
                {
                    var s = src.Slice(y * wp, w);
                    var d = dst.Slice(y * w, w);
                    if (bias.IsEmpty) s.CopyTo(d);
                    else System.Numerics.Tensors.TensorPrimitives.Add(s, bo, d);
                }
            }
        }
    }

    /// <summary>Floats of packed B per product call: <see cref="Product"/> splits the columns so
    /// that the GEMM's packed B (k × columns) stays in L2 rather than being packed whole first.</summary>
    public const int PackedBudget = 1 << 16;

    /// <summary><see cref="Tensors.Gemm.SgemmRowOffsetsB"/> over column blocks of at most
    /// <see cref="PackedBudget"/>/k columns (a multiple of 48); same result, better locality.</summary>
    public static void Product(bool transB, int m, int n, int k, ReadOnlySpan<float> a, int lda,
        ReadOnlySpan<float> b, ReadOnlySpan<nint> bRowOffsets, float beta, Span<float> c, int ldc)
    {
        int block = Math.Clamp(PackedBudget / Math.Max(1, k) / 48 * 48, 96, 1 << 20);
        for (int j0 = 0; j0 < n; j0 += block)
        {
            int nb = Math.Min(block, n - j0);
            if (transB) Tensors.Gemm.SgemmRowOffsetsB(false, true, m, nb, k, 1f, a, lda, b, bRowOffsets.Slice(j0, nb), beta, c[j0..], ldc);
            else Tensors.Gemm.SgemmRowOffsetsB(false, false, m, nb, k, 1f, a, lda, b[j0..], bRowOffsets, beta, c[j0..], ldc);
        }
    }

    /// <summary>wflip[c, (o·KH + ki)·KW + kj] = w[o, c, KH−1−ki, KW−1−kj]; w is [Cout, C, KH, KW].</summary>
    public static void FlipTranspose(ReadOnlySpan<float> w, int cout, int c, int kh, int kw, Span<float> wflip)
    {
        int kk = kh * kw;
        if (w.Length < cout * c * kk || wflip.Length < cout * c * kk) throw new ArgumentException("ShiftedRowsConv.FlipTranspose: buffer too short.");
        for (int o = 0; o < cout; o++)
        for (int ch = 0; ch < c; ch++)
        {
            var src = w.Slice((o * c + ch) * kk, kk);
            var dst = wflip.Slice(ch * cout * kk + o * kk, kk);
            for (int t = 0; t < kk; t++) dst[t] = src[kk - 1 - t];
        }
    }
}
