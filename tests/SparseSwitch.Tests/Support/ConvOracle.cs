using SparseSwitch.Tensors.Conv;

namespace SparseSwitch.Tests.Support;

/// <summary>The convolution oracle of the algorithm tests in the shape they use: "same" padding
/// (kh/2, kw/2), the given stride, groups 1, over <see cref="ConvReference"/> (the library's scalar
/// twin, sums in double).</summary>
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
}
