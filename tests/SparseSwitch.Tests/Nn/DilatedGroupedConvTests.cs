using SparseSwitch.Nn;
using SparseSwitch.Tensors;
using SparseSwitch.Tests.Support;
using Xunit;

using SparseSwitch.Tensors.Conv;

namespace SparseSwitch.Tests.Nn;

/// <summary><see cref="Conv2d"/> with dilation and groups (and both, with strides, rectangular
/// kernels and a bias) against the scalar double-accumulating oracle of
/// <see cref="ConvReference"/>: forward y, dL/dx, dL/dW and dL/db.</summary>
public class DilatedGroupedConvTests
{
    // batch, cin, cout, h, w, kh, kw, sh, sw, ph, pw, dh, dw, groups, bias
    public static IEnumerable<object[]> Cases() =>
    [
        [2, 3, 5, 9, 8, 3, 3, 1, 1, 2, 2, 2, 2, 1, false], // dilated, "same" size
        [2, 3, 4, 11, 11, 3, 3, 2, 2, 1, 1, 3, 3, 1, true], // dilation 3, stride 2
        [2, 4, 6, 7, 7, 3, 3, 1, 1, 1, 1, 1, 1, 2, false], // two groups
        [3, 4, 8, 8, 9, 3, 3, 2, 2, 1, 1, 1, 1, 4, true], // four groups, two outputs each, stride 2
        [2, 8, 8, 9, 9, 3, 3, 1, 1, 2, 2, 2, 2, 8, false], // depthwise and dilated
        [2, 4, 6, 10, 12, 3, 5, 1, 2, 2, 2, 2, 1, 2, true], // rectangular kernel, stride, dilation; grouped
        [4, 32, 32, 8, 8, 3, 3, 1, 1, 2, 2, 2, 2, 2, false], // wide enough for the packed products
        [2, 6, 9, 8, 8, 1, 1, 2, 2, 0, 0, 1, 1, 3, false], // grouped 1×1, stride 2
        [1, 2, 2, 5, 5, 3, 3, 1, 1, 0, 0, 2, 2, 1, true], // dilated kernel spanning the whole input
    ];

    [Theory]
    [MemberData(nameof(Cases))]
    public void MatchesTheScalarOracle(int b, int cin, int cout, int h, int w, int kh, int kw, int sh, int sw, int ph, int pw, int dh, int dw, int groups, bool bias)
    {
        var rng = new Rng((ulong)(b * 1000 + cin * 100 + cout * 10 + h + w + kh + dh + groups));
        var conv = new Conv2d(cin, cout, (kh, kw), (sh, sw), (ph, pw), groups, bias, (dh, dw), rng);
        if (bias) for (int i = 0; i < cout; i++) conv.Bias!.Data.Span[i] = rng.NextFloat() - 0.5f;
        var x = new Tensor(b, cin, h, w);
        for (int i = 0; i < x.Length; i++) x.Span[i] = rng.NextFloat() * 2f - 1f;
        int oh = ConvOracle.OutSize(h, kh, sh, ph, dh), ow = ConvOracle.OutSize(w, kw, sw, pw, dw);

        var y = conv.Forward(x);
        Assert.Equal(new[] { b, cout, oh, ow }, y.Shape);
        var dy = new Tensor(b, cout, oh, ow);
        for (int i = 0; i < dy.Length; i++) dy.Span[i] = rng.NextFloat() * 2f - 1f;
        conv.ZeroGrad();
        var dx = conv.Backward(dy);

        var (ey, edx, edw, edb) = ConvOracle.Run(x.Span, dy.Span, conv.Weight.Data.Span, bias ? conv.Bias!.Data.Span : default,
            b, cin, cout, h, w, kh, kw, (sh, sw), (ph, pw), (dh, dw), groups);
        string what = $"b={b} {cin}->{cout} {h}x{w} k{kh}x{kw} s{sh},{sw} p{ph},{pw} d{dh},{dw} g{groups}";
        int k = cin / groups * kh * kw;
        Close.Assert(ey, y.Span, 1e-6 * k + 1e-5, 1e-5, "y " + what);
        Close.Assert(edx, dx.Span, 1e-6 * cout / groups * kh * kw + 1e-5, 1e-5, "dx " + what);
        Close.Assert(edw, conv.Weight.Grad.Span, 1e-6 * b * oh * ow + 1e-5, 1e-5, "dW " + what);
        if (bias) Close.Assert(edb, conv.Bias!.Grad.Span, 1e-6 * b * oh * ow + 1e-5, 1e-5, "db " + what);
    }

    [Fact]
    public void TheOracleKnowsADilatedGroupedConvolutionByHand()
    {
        // One image, 2 input channels, 2 groups (one channel each), 1×3 kernels with dilation 2 on
        // a 1×5 row, no padding: y[g] = w[g,0]·x[g,0] + w[g,1]·x[g,2] + w[g,2]·x[g,4].
        float[] x = [1, 2, 3, 4, 5, 10, 20, 30, 40, 50];
        float[] wt = [1, -1, 2, 0.5f, 0, -2];
        var (y, dx, dw, _) = ConvOracle.Run(x, [1f, 1f], wt, default, 1, 2, 2, 1, 5, 1, 3, (1, 1), (0, 0), (1, 2), 2);
        Assert.Equal([1 - 3 + 10, 5 - 100f], y);
        Assert.Equal([1, 0, -1, 0, 2, 0.5f, 0, 0, 0, -2], dx);
        Assert.Equal([1, 3, 5, 10, 30, 50], dw);
    }
}
