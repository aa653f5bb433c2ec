using SparseSwitch.Nn;
using SparseSwitch.Tensors;
using Xunit;

namespace SparseSwitch.Tests.Nn;

/// <summary>The vectorised 2×2 stride-2 max-pool rows against a scalar oracle (first maximum in
/// scan order, a NaN wins and stops the scan), with ties and NaNs, on planes wide and narrow
/// enough to use the 16-window blocks, their overhang into the next row, and the scalar tail.</summary>
public class MaxPoolVectorTests
{
    [Theory]
    [InlineData(3, 2, 28, 28)]
    [InlineData(2, 3, 10, 10)]
    [InlineData(1, 2, 12, 40)]
    [InlineData(2, 1, 9, 9)]
    [InlineData(1, 1, 64, 66)]
    public void MatchesScalarOracle(int b, int c, int h, int w)
    {
        var rng = new Rng((ulong)(b * 100 + c * 10 + h + w));
        var x = new Tensor(b, c, h, w);
        var xs = x.Span;
        for (int i = 0; i < xs.Length; i++)
        {
            int r = rng.NextInt(20);
            xs[i] = r == 0 ? float.NaN : r < 4 ? 0.5f : rng.NextFloat() * 2f - 1f; // NaNs and ties
        }
        var pool = new MaxPool2d(2);
        var y = pool.Forward(x);
        var dy = new Tensor(y.Shape);
        for (int i = 0; i < dy.Length; i++) dy.Span[i] = i + 1;
        var dx = pool.Backward(dy);
        int oh = h / 2, ow = w / 2;
        var expDx = new float[x.Length];
        for (int pl = 0; pl < b * c; pl++)
        for (int oy = 0; oy < oh; oy++)
        for (int ox = 0; ox < ow; ox++)
        {
            int best = -1;
            float v = 0;
            foreach (var (dy0, dx0) in new[] { (0, 0), (0, 1), (1, 0), (1, 1) })
            {
                int i = pl * h * w + (2 * oy + dy0) * w + 2 * ox + dx0;
                if (best < 0) { best = i; v = xs[i]; continue; }
                if (float.IsNaN(v)) break;
                if (xs[i] > v || float.IsNaN(xs[i])) { best = i; v = xs[i]; }
            }
            int o = (pl * oh + oy) * ow + ox;
            Assert.True(v.Equals(y.Span[o]), $"y[{o}] = {y.Span[o]}, expected {v} ({b}x{c}x{h}x{w})");
            expDx[best] += dy.Span[o];
        }
        for (int i = 0; i < expDx.Length; i++)
            Assert.True(expDx[i] == dx.Span[i], $"dx[{i}] = {dx.Span[i]}, expected {expDx[i]} ({b}x{c}x{h}x{w})");
    }
}
