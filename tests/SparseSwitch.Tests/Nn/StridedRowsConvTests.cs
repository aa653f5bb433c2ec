using SparseSwitch.Nn;
using SparseSwitch.Tensors;
using SparseSwitch.Tests.Support;
using Xunit;

using SparseSwitch.Tensors.Conv;

namespace SparseSwitch.Tests.Nn;

/// <summary>Conv2d's stride-2 phase-plane path (<see cref="StridedRowsConv"/>) against a plain
/// scalar convolution (double accumulation) and against the im2col path: y, dx, dW, db, at 1 and
/// 2 threads, with batches that leave a short last group.</summary>
public class StridedRowsConvTests
{
    [Theory]
    [InlineData(3, 4, 6, 8, 8, 3)]
    [InlineData(2, 3, 5, 6, 10, 3)]
    [InlineData(5, 6, 4, 8, 6, 1)]
    [InlineData(4, 5, 3, 4, 4, 3)]
    [InlineData(3, 16, 32, 32, 32, 3)]
    [InlineData(7, 9, 11, 18, 34, 1)]
    [InlineData(2, 3, 4, 2, 2, 3)] // 1×1 output
    [InlineData(3, 2, 5, 2, 6, 1)]
    public void MatchesScalarConvolutionAndIm2ColPath(int b, int cin, int cout, int h, int w, int k)
    {
        // 64 target columns: several images per product, a short last group
        foreach (int threads in new[] { 1, 2 })
            Check(b, cin, cout, h, w, k, EngineOptions.Default with { Threads = threads, ShiftedRowsTargetColumns = 64 });
    }

    [Fact]
    public void AppliesOnlyToEvenStride2SamePadding()
    {
        Assert.True(PhasePlanesAlgorithm.Applies(new ConvGeometry(3, 8, 8, 3, 3, 2, 2, 1, 1)));
        Assert.True(PhasePlanesAlgorithm.Applies(new ConvGeometry(3, 8, 8, 1, 1, 2, 2, 0, 0)));
        Assert.False(PhasePlanesAlgorithm.Applies(new ConvGeometry(3, 7, 8, 3, 3, 2, 2, 1, 1)));
        Assert.False(PhasePlanesAlgorithm.Applies(new ConvGeometry(3, 8, 8, 3, 3, 2, 2, 0, 0)));
        Assert.False(PhasePlanesAlgorithm.Applies(new ConvGeometry(3, 8, 8, 5, 5, 2, 2, 2, 2)));
        Assert.False(PhasePlanesAlgorithm.Applies(new ConvGeometry(3, 8, 8, 3, 3, 1, 1, 1, 1)));
    }

    private static void Check(int b, int cin, int cout, int h, int w, int k, EngineOptions engine)
    {
        var rng = new Rng((ulong)(b * 1000 + cin * 100 + cout * 10 + h + k));
        var conv = new Conv2d(cin, cout, (k, k), (2, 2), (k / 2, k / 2), bias: true, rng: rng);
        var x = new Tensor(b, cin, h, w);
        var dy = new Tensor(b, cout, h / 2, w / 2);
        for (int i = 0; i < x.Length; i++) x.Span[i] = rng.NextFloat() * 2f - 1f;
        for (int i = 0; i < dy.Length; i++) dy.Span[i] = rng.NextFloat() * 2f - 1f;
        var (ey, edx, edw, edb) = ConvOracle.Run(x.Span, dy.Span, conv.Weight.Data.Span, conv.Bias!.Data.Span, b, cin, cout, h, w, k, k, 2);
        var results = new List<(float[] Y, float[] Dx, float[] Dw, float[] Db)>();
        foreach (bool rows in new[] { true, false })
        {
            conv.UseOptions(engine with { ConvAlgorithms = rows ? ConvAlgorithms.All : ConvAlgorithms.None });
            // Twice: the second call reuses the buffers (their padding must still be zero).
            conv.Forward(x); conv.Backward(dy);
            conv.Weight.Grad.Span.Clear();
            conv.Bias.Grad.Span.Clear();
            var y = conv.Forward(x).Span.ToArray();
            var dx = conv.Backward(dy).Span.ToArray();
            Assert.Equal(rows ? ConvAlgorithm.PhasePlanes : ConvAlgorithm.Im2Col, conv.Path);
            results.Add((y, dx, conv.Weight.Grad.Span.ToArray(), conv.Bias.Grad.Span.ToArray()));
            conv.Weight.Grad.Span.Clear();
            conv.Bias.Grad.Span.Clear();
        }
        int kk = cin * k * k, pixels = b * (h / 2) * (w / 2);
        string what = $"b={b} {cin}->{cout} {h}x{w} k{k} s2 threads={engine.Threads}";
        var s = results[0];
        Close.Assert(ey, s.Y, 1e-6 * kk + 1e-5, 1e-5, "strided y " + what);
        Close.Assert(edx, s.Dx, 1e-6 * cout * k * k + 1e-5, 1e-5, "strided dx " + what);
        Close.Assert(edw, s.Dw, 1e-6 * pixels + 1e-5, 1e-5, "strided dW " + what);
        Close.Assert(edb, s.Db, 1e-6 * pixels + 1e-5, 1e-5, "strided db " + what);
        var i2c = results[1];
        Close.Assert(i2c.Y, s.Y, 2e-6 * kk + 1e-5, 1e-5, "strided vs im2col y " + what);
        Close.Assert(i2c.Dx, s.Dx, 2e-6 * cout * k * k + 1e-5, 1e-5, "strided vs im2col dx " + what);
        Close.Assert(i2c.Dw, s.Dw, 2e-6 * pixels + 1e-5, 1e-5, "strided vs im2col dW " + what);
    }
}
