using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;


namespace SparseSwitch.Tensors.Conv;

/// <summary>
/// Direct kernels for depthwise convolution (groups = input channels, M = Cout/Cin outputs per
/// input channel), one image at a time: image [C, H, W], w [C·M, 1, KH, KW], y [C·M, OH, OW].
/// y[o] = b[o] + Σ_{ki,kj} w[o, ki, kj]·x[o / M] shifted by (ki, kj): a few row-wise scaled adds
/// per output channel, far cheaper than im2col plus one tiny GEMM per group.
/// </summary>
public static class DepthwiseConv
{
    /// <summary>y = depthwise(x, w) + bias (bias may be empty).</summary>
    public static void Forward(in ConvGeometry g, int multiplier, ReadOnlySpan<float> w, ReadOnlySpan<float> bias,
        ReadOnlySpan<float> image, Span<float> y)
    {
        int oc = g.C * multiplier, p = g.OH * g.OW, hw = g.H * g.W, kk = g.KH * g.KW;
        Check(g, multiplier, w, image, y, "Forward");
        for (int o = 0; o < oc; o++)
        {
            var plane = image.Slice(o / multiplier * hw, hw);
            var yo = y.Slice(o * p, p);
            yo.Fill(bias.IsEmpty ? 0f : bias[o]);
            for (int ki = 0; ki < g.KH; ki++)
            for (int kj = 0; kj < g.KW; kj++)
            {
                float wv = w[o * kk + ki * g.KW + kj];
                var (lo, hi) = g.ValidOw(kj);
                if (hi <= lo || wv == 0f) continue;
                int offW = kj * g.DW - g.PW;
                for (int r = 0; r < g.OH; r++)
                {
                    int ih = r * g.SH - g.PH + ki * g.DH;
                    if ((uint)ih >= (uint)g.H) continue;
                    var src = plane.Slice(ih * g.W, g.W);
                    var dst = yo.Slice(r * g.OW, g.OW);
                    if (g.SW == 1)
                    {
                        var d = dst.Slice(lo, hi - lo);
                        TensorPrimitives.MultiplyAdd(src.Slice(lo + offW, hi - lo), wv, d, d);
                    }
                    else
                        for (int x = lo; x < hi; x++) dst[x] += wv * src[x * g.SW + offW];
                }
            }
        }
    }

    /// <summary>dx = Σ over the M outputs of each channel of the adjoint shifts of dy (overwrites dx).</summary>
    public static void BackwardData(in ConvGeometry g, int multiplier, ReadOnlySpan<float> w, ReadOnlySpan<float> dy, Span<float> dx)
    {
        int oc = g.C * multiplier, p = g.OH * g.OW, hw = g.H * g.W, kk = g.KH * g.KW;
        Check(g, multiplier, w, dx, dy, "BackwardData");
        dx[..(g.C * hw)].Clear();
        for (int o = 0; o < oc; o++)
        {
            var plane = dx.Slice(o / multiplier * hw, hw);
            var dyo = dy.Slice(o * p, p);
            for (int ki = 0; ki < g.KH; ki++)
            for (int kj = 0; kj < g.KW; kj++)
            {
                float wv = w[o * kk + ki * g.KW + kj];
                var (lo, hi) = g.ValidOw(kj);
                if (hi <= lo || wv == 0f) continue;
                int offW = kj * g.DW - g.PW;
                for (int r = 0; r < g.OH; r++)
                {
                    int ih = r * g.SH - g.PH + ki * g.DH;
                    if ((uint)ih >= (uint)g.H) continue;
                    var src = dyo.Slice(r * g.OW, g.OW);
                    var dst = plane.Slice(ih * g.W, g.W);
                    if (g.SW == 1)
                    {
                        var d = dst.Slice(lo + offW, hi - lo);
                        TensorPrimitives.MultiplyAdd(src.Slice(lo, hi - lo), wv, d, d);
                    }
                    else
                        for (int x = lo; x < hi; x++) dst[x * g.SW + offW] += wv * src[x];
                }
            }
        }
    }

    /// <summary>dw[o, ki, kj] (+)= Σ dy[o]·shift(x[o / M]); overwrites when accumulate is false.</summary>
    public static void BackwardWeight(in ConvGeometry g, int multiplier, ReadOnlySpan<float> dy, ReadOnlySpan<float> image,
        Span<float> dw, bool accumulate)
    {
        int oc = g.C * multiplier, p = g.OH * g.OW, hw = g.H * g.W, kk = g.KH * g.KW;
        Check(g, multiplier, dw, image, dy, "BackwardWeight");
        for (int o = 0; o < oc; o++)
        {
            var plane = image.Slice(o / multiplier * hw, hw);
            var dyo = dy.Slice(o * p, p);
            for (int ki = 0; ki < g.KH; ki++)
            for (int kj = 0; kj < g.KW; kj++)
            {
                var (lo, hi) = g.ValidOw(kj);
                int offW = kj * g.DW - g.PW;
                double s = 0;
                if (hi > lo)
                    for (int r = 0; r < g.OH; r++)
                    {
                        int ih = r * g.SH - g.PH + ki * g.DH;
                        if ((uint)ih >= (uint)g.H) continue;
                        var src = plane.Slice(ih * g.W, g.W);
                        var d = dyo.Slice(r * g.OW, g.OW);
                        if (g.SW == 1) s += TensorPrimitives.Dot(d.Slice(lo, hi - lo), src.Slice(lo + offW, hi - lo));
                        else
                        {
                            float t = 0f;
                            for (int x = lo; x < hi; x++) t += d[x] * src[x * g.SW + offW];
                            s += t;
                        }
                    }
                ref float target = ref dw[o * kk + ki * g.KW + kj];
                target = accumulate ? target + (float)s : (float)s;
            }
        }
    }

    private static void Check(in ConvGeometry g, int multiplier, ReadOnlySpan<float> w, ReadOnlySpan<float> image, ReadOnlySpan<float> y, string what)
    {
        if (multiplier < 1) throw new ArgumentOutOfRangeException(nameof(multiplier));
        int oc = g.C * multiplier;
        if (w.Length < oc * g.KH * g.KW || image.Length < g.C * g.H * g.W || y.Length < oc * g.OH * g.OW)
            throw new ArgumentException($"DepthwiseConv.{what}: a buffer is too short for its geometry.");
    }
}
