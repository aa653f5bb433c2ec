using SparseSwitch.Nn;
using SparseSwitch.Tensors;
using SparseSwitch.Tests.Support;
using Xunit;

namespace SparseSwitch.Tests.Nn;

/// <summary>Conv2d's shifted-rows path (stride-1 "same" convolutions without im2col) against a
/// plain scalar convolution (double accumulation) and against the im2col path: forward y,
/// input gradient, weight and bias gradients, on batches that leave a short last GEMM group.</summary>
[Collection(EngineThreadsCollection.Name)]
public class ShiftedRowsConvTests
{
    [Theory]
    [InlineData(5, 8, 6, 12, 10, 3, 3)]
    [InlineData(3, 3, 9, 7, 7, 3, 3)]
    [InlineData(4, 5, 4, 9, 11, 5, 5)]
    [InlineData(6, 4, 8, 6, 5, 3, 1)]
    [InlineData(2, 16, 16, 32, 32, 3, 3)]
    [InlineData(2, 3, 2, 1, 1, 3, 3)] // a 1×1 image: every tap but the centre reads padding
    [InlineData(3, 2, 3, 2, 2, 5, 5)] // padding wider than the image
    [InlineData(2, 3, 4, 1, 7, 1, 3)]
    public void MatchesScalarConvolutionAndIm2ColPath(int b, int cin, int cout, int h, int w, int kh, int kw)
    {
        int savedThreads = Engine.Threads;
        try
        {
            foreach (int threads in new[] { 1, 2 })
            {
                Engine.Threads = threads;
                Check(b, cin, cout, h, w, kh, kw);
            }
        }
        finally
        {
            Engine.Threads = savedThreads;
            Conv2d.UseShiftedRows = true;
        }
    }

    private static void Check(int b, int cin, int cout, int h, int w, int kh, int kw)
    {
        var rng = new Rng((ulong)(b * 1000 + cin * 100 + cout * 10 + h + kh));
        var conv = new Conv2d(cin, cout, (kh, kw), (1, 1), (kh / 2, kw / 2), bias: true, rng: rng);
        var x = new Tensor(b, cin, h, w);
        var dy = new Tensor(b, cout, h, w);
        for (int i = 0; i < x.Length; i++) x.Span[i] = rng.NextFloat() * 2f - 1f;
        for (int i = 0; i < dy.Length; i++) dy.Span[i] = rng.NextFloat() * 2f - 1f;
        var (ey, edx, edw, edb) = ConvReference.Run(x.Span, dy.Span, conv.Weight.Data.Span, conv.Bias!.Data.Span, b, cin, cout, h, w, kh, kw, 1);

        var results = new List<(float[] Y, float[] Dx, float[] Dw, float[] Db)>();
        foreach (bool shifted in new[] { true, false })
        {
            Conv2d.UseShiftedRows = shifted;
            conv.Weight.Grad.Span.Clear();
            conv.Bias.Grad.Span.Clear();
            // Twice: the second call reuses the padded buffers (their padding must still be zero).
            conv.Forward(x); conv.Backward(dy);
            conv.Weight.Grad.Span.Clear();
            conv.Bias.Grad.Span.Clear();
            var y = conv.Forward(x).Span.ToArray();
            var dx = conv.Backward(dy).Span.ToArray();
            Assert.Equal(shifted ? "shifted rows" : "im2col", conv.Path);
            results.Add((y, dx, conv.Weight.Grad.Span.ToArray(), conv.Bias.Grad.Span.ToArray()));
        }
        int k = cin * kh * kw, pixels = b * h * w;
        string what = $"b={b} {cin}->{cout} {h}x{w} k{kh}x{kw} threads={Engine.Threads}";
        var s = results[0];
        Close.Assert(ey, s.Y, 1e-6 * k + 1e-5, 1e-5, "shifted y " + what);
        Close.Assert(edx, s.Dx, 1e-6 * cout * kh * kw + 1e-5, 1e-5, "shifted dx " + what);
        Close.Assert(edw, s.Dw, 1e-6 * pixels + 1e-5, 1e-5, "shifted dW " + what);
        Close.Assert(edb, s.Db, 1e-6 * pixels + 1e-5, 1e-5, "shifted db " + what);
        var i2c = results[1];
        Close.Assert(i2c.Y, s.Y, 2e-6 * k + 1e-5, 1e-5, "shifted vs im2col y " + what);
        Close.Assert(i2c.Dx, s.Dx, 2e-6 * cout * kh * kw + 1e-5, 1e-5, "shifted vs im2col dx " + what);
        Close.Assert(i2c.Dw, s.Dw, 2e-6 * pixels + 1e-5, 1e-5, "shifted vs im2col dW " + what);
    }
}
