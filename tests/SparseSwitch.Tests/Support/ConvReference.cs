namespace SparseSwitch.Tests.Support;

/// <summary>Direct scalar 2-D convolution (cross-correlation, as PyTorch's) and its gradients,
/// accumulated in double: the oracle of the convolution tests. The general form takes stride,
/// padding and dilation per axis and groups (weight [cout, cin/groups, kh, kw]); the short form
/// pads kh/2, kw/2 with one stride, no dilation, one group.</summary>
public static class ConvReference
{
    public static (float[] Y, float[] Dx, float[] Dw, float[] Db) Run(ReadOnlySpan<float> x, ReadOnlySpan<float> dy,
        ReadOnlySpan<float> wt, ReadOnlySpan<float> bias, int b, int cin, int cout, int h, int w, int kh, int kw, int stride) =>
        Run(x, dy, wt, bias, b, cin, cout, h, w, kh, kw, (stride, stride), (kh / 2, kw / 2), (1, 1), 1);

    /// <summary>Output size of one axis.</summary>
    public static int OutSize(int size, int k, int stride, int pad, int dilation) => (size + 2 * pad - dilation * (k - 1) - 1) / stride + 1;

    public static (float[] Y, float[] Dx, float[] Dw, float[] Db) Run(ReadOnlySpan<float> x, ReadOnlySpan<float> dy,
        ReadOnlySpan<float> wt, ReadOnlySpan<float> bias, int b, int cin, int cout, int h, int w, int kh, int kw,
        (int H, int W) stride, (int H, int W) pad, (int H, int W) dilation, int groups)
    {
        int oh = OutSize(h, kh, stride.H, pad.H, dilation.H), ow = OutSize(w, kw, stride.W, pad.W, dilation.W);
        int cinG = cin / groups, coutG = cout / groups;
        var y = new float[b * cout * oh * ow];
        var dx = new double[b * cin * h * w];
        var dw = new double[cout * cinG * kh * kw];
        var db = new double[cout];
        for (int n = 0; n < b; n++)
        for (int o = 0; o < cout; o++)
        for (int oy = 0; oy < oh; oy++)
        for (int ox = 0; ox < ow; ox++)
        {
            double s = bias.IsEmpty ? 0 : bias[o];
            float g = dy[((n * cout + o) * oh + oy) * ow + ox];
            db[o] += g;
            int group = o / coutG;
            for (int cg = 0; cg < cinG; cg++)
            for (int ki = 0; ki < kh; ki++)
            for (int kj = 0; kj < kw; kj++)
            {
                int iy = oy * stride.H - pad.H + ki * dilation.H, ix = ox * stride.W - pad.W + kj * dilation.W;
                if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                int c = group * cinG + cg;
                int xi = ((n * cin + c) * h + iy) * w + ix, wi = ((o * cinG + cg) * kh + ki) * kw + kj;
                s += (double)wt[wi] * x[xi];
                dx[xi] += (double)wt[wi] * g;
                dw[wi] += (double)x[xi] * g;
            }
            y[((n * cout + o) * oh + oy) * ow + ox] = (float)s;
        }
        return (y, dx.Select(v => (float)v).ToArray(), dw.Select(v => (float)v).ToArray(), db.Select(v => (float)v).ToArray());
    }
}
