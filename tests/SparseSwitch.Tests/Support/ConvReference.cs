namespace SparseSwitch.Tests.Support;

/// <summary>Direct scalar 2-D convolution (padding kh/2, kw/2; the given stride) and its gradients,
/// accumulated in double: the oracle of the convolution path tests.</summary>
public static class ConvReference
{
    public static (float[] Y, float[] Dx, float[] Dw, float[] Db) Run(ReadOnlySpan<float> x, ReadOnlySpan<float> dy,
        ReadOnlySpan<float> wt, ReadOnlySpan<float> bias, int b, int cin, int cout, int h, int w, int kh, int kw, int stride)
    {
        int ph = kh / 2, pw = kw / 2;
        int oh = (h + 2 * ph - kh) / stride + 1, ow = (w + 2 * pw - kw) / stride + 1;
        var y = new float[b * cout * oh * ow];
        var dx = new double[b * cin * h * w];
        var dw = new double[cout * cin * kh * kw];
        var db = new double[cout];
        for (int n = 0; n < b; n++)
        for (int o = 0; o < cout; o++)
        for (int oy = 0; oy < oh; oy++)
        for (int ox = 0; ox < ow; ox++)
        {
            double s = bias[o];
            float g = dy[((n * cout + o) * oh + oy) * ow + ox];
            db[o] += g;
            for (int c = 0; c < cin; c++)
            for (int ki = 0; ki < kh; ki++)
            for (int kj = 0; kj < kw; kj++)
            {
                int iy = oy * stride - ph + ki, ix = ox * stride - pw + kj;
                if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                int xi = ((n * cin + c) * h + iy) * w + ix, wi = ((o * cin + c) * kh + ki) * kw + kj;
                s += (double)wt[wi] * x[xi];
                dx[xi] += (double)wt[wi] * g;
                dw[wi] += (double)x[xi] * g;
            }
            y[((n * cout + o) * oh + oy) * ow + ox] = (float)s;
        }
        return (y, dx.Select(v => (float)v).ToArray(), dw.Select(v => (float)v).ToArray(), db.Select(v => (float)v).ToArray());
    }
}
