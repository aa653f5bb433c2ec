using SparseSwitch.Nn;
using SparseSwitch.Tensors;
using SparseSwitch.Tests.Support;
using Xunit;

using SparseSwitch.Tensors.Conv;

namespace SparseSwitch.Tests.Nn;

/// <summary>The image-interleaved planes of <see cref="InterleavedConv"/>: the 16 × 16 transpose,
/// Pad (whole and in bands, short groups, pixel counts not a multiple of 16, padding left zero)
/// and Compact against direct index arithmetic; and <see cref="InterleavedPlanesAlgorithm"/> run directly on
/// geometries that Conv2d leaves to the shifted rows (32×32, a 3-channel stem, 5×5 kernels)
/// against the scalar convolution oracle.</summary>
public class InterleavedConvTests
{
    private const int G = InterleavedConv.G;

    private static bool Applies(int c, int size, int k = 3) => InterleavedConv.Applies(new ConvGeometry(c, size, size, k, k, 1, 1, k / 2, k / 2), EngineOptions.Default);

    [CpuFact(CpuFeature.Avx512)]
    public void AppliesWherePaddingWasteOrDepthPaysForTheTransposes()
    {
        Assert.True(Applies(16, 16));   // 11 % padding waste under shifted rows
        Assert.True(Applies(64, 8));    // 21 %
        Assert.True(Applies(8, 8));     // depth 72
        Assert.False(Applies(4, 8));    // depth 36: the transposes cost more than they save
        Assert.False(Applies(16, 32));  // 6 % waste, depth 144: shifted rows
        Assert.False(Applies(32, 32));  // 6 % waste: the transposes would cost about what they save
        Assert.False(Applies(3, 32));   // the stem
        Assert.False(Applies(64, 8, 1)); // 1×1 kernels are not "same" convolutions with padding
    }

    [CpuFact(CpuFeature.Avx512, present: false)]
    public void NeverAppliesWithoutAvx512()
    {
        foreach (var (c, size) in new[] { (16, 16), (64, 8), (8, 8), (4, 8), (16, 32), (3, 32) })
            Assert.False(Applies(c, size));
    }

    [CpuFact(CpuFeature.Avx512)]
    public unsafe void Transpose16MatchesIndexSwap()
    {
        var src = new float[G * G];
        for (int i = 0; i < src.Length; i++) src[i] = i * 0.5f - 7f;
        var dst = new float[G * G];
        fixed (float* s = src, d = dst)
        {
            float** sp = stackalloc float*[G];
            float** dp = stackalloc float*[G];
            for (int i = 0; i < G; i++) { sp[i] = s + i * G; dp[i] = d + i * G; }
            InterleavedConv.Transpose16(sp, dp);
        }
        for (int i = 0; i < G; i++)
            for (int j = 0; j < G; j++)
                Assert.Equal(src[i * G + j], dst[j * G + i]);
    }

    [CpuTheory(CpuFeature.Avx512)]
    [InlineData(1, 3, 5, 7, 1, 1)]
    [InlineData(5, 2, 4, 8, 2, 2)]
    [InlineData(16, 2, 6, 6, 1, 1)]
    [InlineData(16, 1, 1, 1, 1, 1)]
    public void PadPutsEveryPixelInItsLaneAndLeavesThePaddingZero(int nb, int c, int h, int w, int ph, int pw)
    {
        var l = new InterleavedConv.Layout(h, w, ph, pw);
        var rng = new Rng((ulong)(nb * 100 + h * 10 + w));
        var images = new float[nb * c * h * w];
        for (int i = 0; i < images.Length; i++) images[i] = rng.NextFloat() + 0.5f; // never zero
        var planes = new float[c * l.ChannelStride];
        // Stale values in the lanes of missing images must be overwritten with zeros.
        for (int ch = 0; ch < c; ch++)
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                    for (int n = 0; n < G; n++) planes[ch * l.ChannelStride + ((y + ph) * l.Wp + x + pw) * G + n] = -1f;
        InterleavedConv.Pad(images, nb, c, l, planes);
        var banded = (float[])planes.Clone();
        Array.Clear(banded);
        int hw = h * w;
        for (int from = 0; from < hw; from += 2 * G) InterleavedConv.Pad(images, nb, c, l, banded, from, Math.Min(hw, from + 2 * G));
        Assert.Equal(planes, banded);
        for (int ch = 0; ch < c; ch++)
            for (int py = 0; py < l.Hp; py++)
                for (int px = 0; px < l.Wp; px++)
                    for (int n = 0; n < G; n++)
                    {
                        int y = py - ph, x = px - pw;
                        bool pixel = y >= 0 && y < h && x >= 0 && x < w;
                        float expected = pixel && n < nb ? images[((n * c + ch) * h + y) * w + x] : 0f;
                        Assert.Equal(expected, planes[ch * l.ChannelStride + (py * l.Wp + px) * G + n]);
                    }
        Assert.Throws<ArgumentException>(() => InterleavedConv.Pad(images, nb, c, l, planes, 3, hw));
    }

    [CpuTheory(CpuFeature.Avx512)]
    [InlineData(16, 3, 6, 8, 0, 48, false)]
    [InlineData(7, 2, 6, 8, 16, 32, true)]
    [InlineData(3, 4, 5, 5, 16, 9, true)] // count not a multiple of 16
    public void CompactReadsEachImagesLane(int nb, int c, int h, int w, int v0, int count, bool withBias)
    {
        var l = new InterleavedConv.Layout(h, w, 1, 1);
        int ld = InterleavedConv.Layout.StageStride, hw = h * w;
        var rng = new Rng(7);
        var stage = new float[c * ld];
        for (int i = 0; i < stage.Length; i++) stage[i] = rng.NextFloat();
        var bias = withBias ? Enumerable.Range(0, c).Select(i => i + 0.25f).ToArray() : [];
        var output = new float[nb * c * hw];
        Array.Fill(output, float.NaN);
        InterleavedConv.Compact(stage, ld, v0, count, nb, c, l, bias, output);
        for (int n = 0; n < nb; n++)
            for (int o = 0; o < c; o++)
                for (int v = 0; v < hw; v++)
                {
                    float actual = output[(n * c + o) * hw + v];
                    if (v < v0 || v >= v0 + count) Assert.True(float.IsNaN(actual), $"vector {v} outside the block was written");
                    else Assert.Equal(stage[o * ld + (v - v0) * G + n] + (withBias ? bias[o] : 0f), actual);
                }
    }

    [CpuTheory(CpuFeature.Avx512)]
    [InlineData(18, 3, 16, 32, 32, 3, 3)] // the ResNet stem's shape: more than one group, a short one
    [InlineData(5, 2, 3, 8, 9, 5, 5)]
    [InlineData(17, 12, 8, 7, 3, 3, 1)]
    public void PathMatchesScalarConvolutionOnAnyStrideOneSameGeometry(int b, int cin, int cout, int h, int w, int kh, int kw)
    {
        var g = new ConvGeometry(cin, h, w, kh, kw, 1, 1, kh / 2, kw / 2);
        var rng = new Rng((ulong)(b * 31 + cin * 7 + h));
        var x = new float[b * cin * h * w];
        var dy = new float[b * cout * h * w];
        var wt = new float[cout * cin * kh * kw];
        var bias = new float[cout];
        foreach (var a in new[] { x, dy, wt, bias })
            for (int i = 0; i < a.Length; i++) a[i] = rng.NextFloat() * 2f - 1f;
        var (ey, edx, edw, _) = ConvOracle.Run(x, dy, wt, bias, b, cin, cout, h, w, kh, kw, 1);
        var path = new InterleavedPlanesAlgorithm(cin, cout, kh, kw, winograd: false);
        var weight = Tensor.FromArray(wt, cout, cin, kh, kw);
        var y = new float[dy.Length];
        var dx = new float[x.Length];
        var dw = new float[wt.Length];
        // Two chunks, as two threads would split the batch; the backward reuses the forward's planes.
        int mid = b / 2;
        var batch = new ConvBatch(b, 2, b - mid);
        path.Prepare(g, batch, false, weight, null, EngineOptions.Default);
        path.Forward(0, 0, mid, new ConvForward { X = x, Bias = bias, Y = y });
        path.Forward(1, mid, b, new ConvForward { X = x, Bias = bias, Y = y });
        path.ForwardDone();
        path.Prepare(g, batch, true, weight, null, EngineOptions.Default);
        var dw1 = new float[wt.Length];
        path.Backward(0, 0, mid, new ConvBackward { X = x, Dy = dy, Dw = dw, Dx = dx });
        path.Backward(1, mid, b, new ConvBackward { X = x, Dy = dy, Dw = dw1, Dx = dx });
        for (int i = 0; i < dw.Length; i++) dw[i] += dw1[i];
        int k = cin * kh * kw;
        string what = $"b={b} {cin}->{cout} {h}x{w} k{kh}x{kw}";
        Close.Assert(ey, y, 1e-6 * k + 1e-5, 1e-5, "y " + what);
        Close.Assert(edx, dx, 1e-6 * cout * kh * kw + 1e-5, 1e-5, "dx " + what);
        Close.Assert(edw, dw, 1e-6 * b * h * w + 1e-5, 1e-5, "dW " + what);
    }
}
