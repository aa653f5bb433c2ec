using SparseSwitch.Nn;
using SparseSwitch.Tensors;
using SparseSwitch.Tests.Support;
using Xunit;

using SparseSwitch.Tensors.Conv;

namespace SparseSwitch.Tests.Nn;

/// <summary>Conv2d's row paths for stride-1 "same" convolutions without im2col — image-interleaved
/// planes (where AVX-512 is there) and shifted rows — against a plain scalar convolution (double
/// accumulation) and against the im2col path: forward y, input gradient, weight and bias
/// gradients, on batches that leave a short last group (of 16 images for the interleaved planes,
/// 33 and 40 images on two threads: 16 + 1, 16 + 4), pixel counts that are not a multiple of 16,
/// more than one block of product tiles (16×16) and more rows than one k-slice (40 channels).
/// The interleaved planes serve only the geometries <see cref="InterleavedConv.Applies"/> picks;
/// <see cref="InterleavedConvTests"/> runs them on the others too.</summary>
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
    [InlineData(33, 8, 5, 6, 6, 3, 3)]
    [InlineData(40, 40, 9, 4, 5, 3, 3)]
    [InlineData(2, 8, 8, 16, 16, 3, 3)]
    [InlineData(17, 32, 8, 30, 34, 3, 3)] // a large plane with 32 input channels and an odd batch
    [InlineData(33, 64, 64, 8, 8, 3, 3)]   // Winograd (with AVX-512): a short last group
    [InlineData(17, 64, 72, 16, 16, 3, 3)] // Winograd: several blocks of tiles, the last one partial
    [InlineData(20, 64, 65, 6, 10, 3, 3)]  // Winograd: rows of 5 tiles, output rows not a multiple of 16 pixels
    [InlineData(5, 72, 64, 2, 4, 3, 3)]    // Winograd: one row of two tiles
    public void MatchesScalarConvolutionAndIm2ColPath(int b, int cin, int cout, int h, int w, int kh, int kw)
    {
        foreach (int threads in new[] { 1, 2 })
            Check(b, cin, cout, h, w, kh, kw, EngineOptions.Default with { Threads = threads });
    }

    [Theory]
    [InlineData(16, 16, 3, 1, 1, true)]   // interleaved planes (with AVX-512), shifted rows, im2col
    [InlineData(8, 16, 3, 2, 1, true)]    // phase planes, im2col
    [InlineData(8, 8, 3, 1, 8, true)]     // depthwise
    [InlineData(8, 16, 1, 1, 1, false)]   // 1×1: im2col's dcol is dx itself
    public void AddToInputGradientEqualsAddingAfterwardsOnEveryPath(int cin, int cout, int k, int stride, int groups, bool pad)
    {
        var rng = new Rng((ulong)(cin * 100 + cout + k * 7 + stride + groups));
        var conv = new Conv2d(cin, cout, k, stride, pad ? k / 2 : 0, groups, bias: false, rng: rng);
        var x = new Tensor(20, cin, 12, 12); rng.FillNormal(x.Span, 0, 1);
        var y = conv.Forward(x);
        var dy = new Tensor(y.Shape); rng.FillNormal(dy.Span, 0, 1);
        var add = new Tensor(x.Shape); rng.FillNormal(add.Span, 0, 1);
        {
            foreach (var algorithms in new[] { ConvAlgorithms.All, ConvAlgorithms.ShiftedRows | ConvAlgorithms.PhasePlanes, ConvAlgorithms.None })
            {
                conv.UseOptions(EngineOptions.Default with { ConvAlgorithms = algorithms });
                conv.Forward(x);
                var expected = conv.Backward(dy).Span.ToArray();
                for (int i = 0; i < expected.Length; i++) expected[i] += add.Span[i];
                conv.Forward(x);
                var actual = conv.Backward(dy, default, add).Span.ToArray();
                Assert.True(expected.AsSpan().SequenceEqual(actual), $"path {conv.Path}: dx + added gradient differs");
            }
        }
    }

    /// <summary>The options that make the planner choose <paramref name="algorithm"/> where it applies.</summary>
    internal static EngineOptions Only(EngineOptions o, ConvAlgorithm algorithm) => o with
    {
        ConvAlgorithms = algorithm switch
        {
            ConvAlgorithm.Winograd => ConvAlgorithms.All,
            ConvAlgorithm.InterleavedPlanes => ConvAlgorithms.InterleavedPlanes,
            ConvAlgorithm.ShiftedRows => ConvAlgorithms.ShiftedRows,
            ConvAlgorithm.PhasePlanes => ConvAlgorithms.PhasePlanes,
            _ => ConvAlgorithms.None,
        },
    };

    private static void Check(int b, int cin, int cout, int h, int w, int kh, int kw, EngineOptions engine)
    {
        var rng = new Rng((ulong)(b * 1000 + cin * 100 + cout * 10 + h + kh));
        var conv = new Conv2d(cin, cout, (kh, kw), (1, 1), (kh / 2, kw / 2), bias: true, rng: rng);
        var x = new Tensor(b, cin, h, w);
        var dy = new Tensor(b, cout, h, w);
        for (int i = 0; i < x.Length; i++) x.Span[i] = rng.NextFloat() * 2f - 1f;
        for (int i = 0; i < dy.Length; i++) dy.Span[i] = rng.NextFloat() * 2f - 1f;
        var (ey, edx, edw, edb) = ConvOracle.Run(x.Span, dy.Span, conv.Weight.Data.Span, conv.Bias!.Data.Span, b, cin, cout, h, w, kh, kw, 1);

        var results = new List<(ConvAlgorithm Path, float[] Y, float[] Dx, float[] Dw, float[] Db)>();
        var geo = new ConvGeometry(cin, h, w, kh, kw, 1, 1, kh / 2, kw / 2);
        var paths = new List<ConvAlgorithm>();
        if (WinogradConv.Applies(geo, cin, cout, engine)) paths.Add(ConvAlgorithm.Winograd);
        if (InterleavedConv.Applies(geo, engine)) paths.Add(ConvAlgorithm.InterleavedPlanes);
        paths.AddRange([ConvAlgorithm.ShiftedRows, ConvAlgorithm.Im2Col]);
        foreach (var path in paths)
        {
            conv.UseOptions(Only(engine, path));
            conv.Weight.Grad.Span.Clear();
            conv.Bias.Grad.Span.Clear();
            // Twice: the second call reuses the padded buffers (their padding must still be zero).
            conv.Forward(x); conv.Backward(dy);
            conv.Weight.Grad.Span.Clear();
            conv.Bias.Grad.Span.Clear();
            var y = conv.Forward(x).Span.ToArray();
            var dx = conv.Backward(dy).Span.ToArray();
            Assert.Equal(path, conv.Path);
            results.Add((path, y, dx, conv.Weight.Grad.Span.ToArray(), conv.Bias.Grad.Span.ToArray()));
        }
        int k = cin * kh * kw, pixels = b * h * w;
        string what = $"b={b} {cin}->{cout} {h}x{w} k{kh}x{kw} threads={engine.Threads}";
        var i2c = results[^1];
        foreach (var s in results.SkipLast(1))
        {
            Close.Assert(ey, s.Y, 1e-6 * k + 1e-5, 1e-5, $"{s.Path} y {what}");
            Close.Assert(edx, s.Dx, 1e-6 * cout * kh * kw + 1e-5, 1e-5, $"{s.Path} dx {what}");
            Close.Assert(edw, s.Dw, 1e-6 * pixels + 1e-5, 1e-5, $"{s.Path} dW {what}");
            Close.Assert(edb, s.Db, 1e-6 * pixels + 1e-5, 1e-5, $"{s.Path} db {what}");
            Close.Assert(i2c.Y, s.Y, 2e-6 * k + 1e-5, 1e-5, $"{s.Path} vs im2col y {what}");
            Close.Assert(i2c.Dx, s.Dx, 2e-6 * cout * kh * kw + 1e-5, 1e-5, $"{s.Path} vs im2col dx {what}");
            Close.Assert(i2c.Dw, s.Dw, 2e-6 * pixels + 1e-5, 1e-5, $"{s.Path} vs im2col dW {what}");
        }
    }
}
