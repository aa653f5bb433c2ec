using SparseSwitch.Tensors.Conv;

namespace SparseSwitch.Tests.Support;

/// <summary>The convolution oracle of the tests, over <see cref="ConvReference"/> (the library's
/// scalar twin, sums in double): the short form pads kh/2, kw/2 with one stride, no dilation, one
/// group; the general form takes stride, padding and dilation per axis and groups.</summary>
public static class ConvOracle
{
    public static (float[] Y, float[] Dx, float[] Dw, float[] Db) Run(ReadOnlySpan<float> x, ReadOnlySpan<float> dy,
        ReadOnlySpan<float> wt, ReadOnlySpan<float> bias, int b, int cin, int cout, int h, int w, int kh, int kw, int stride)
    {
        var g = new ConvGeometry(cin, h, w, kh, kw, stride, stride, kh / 2, kw / 2);
        var y = new float[b * cout * g.OH * g.OW];
        var dx = new float[x.Length];
        var dw = new float[wt.Length];
        var db = new float[cout];
        ConvReference.Forward(g, b, cout, 1, x, wt, bias, y);
        ConvReference.Backward(g, b, cout, 1, x, wt, dy, dx, dw, db);
        return (y, dx, dw, db);
    }

    /// <summary>Output size of one axis.</summary>
    public static int OutSize(int size, int k, int stride, int pad, int dilation) => (size + 2 * pad - dilation * (k - 1) - 1) / stride + 1;

    /// <summary>Any stride, padding and dilation per axis, and groups (weight [cout, cin/groups, kh, kw]).</summary>
    public static (float[] Y, float[] Dx, float[] Dw, float[] Db) Run(ReadOnlySpan<float> x, ReadOnlySpan<float> dy,
        ReadOnlySpan<float> wt, ReadOnlySpan<float> bias, int b, int cin, int cout, int h, int w, int kh, int kw,
        (int H, int W) stride, (int H, int W) pad, (int H, int W) dilation, int groups)
    {
        var g = new ConvGeometry(cin, h, w, kh, kw, stride.H, stride.W, pad.H, pad.W, dilation.H, dilation.W);
        var y = new float[b * cout * g.OH * g.OW];
        var dx = new float[x.Length];
        var dwt = new float[wt.Length];
        var db = new float[cout];
        ConvReference.Forward(g, b, cout, groups, x, wt, bias, y);
        ConvReference.Backward(g, b, cout, groups, x, wt, dy, dx, dwt, db);
        return (y, dx, dwt, db);
    }
}
