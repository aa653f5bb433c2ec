using SparseSwitch.Nn;
using SparseSwitch.Tensors;
using SparseSwitch.Tests.Support;
using Xunit;

using SparseSwitch.Tensors.Conv;

namespace SparseSwitch.Tests.Nn;

/// <summary>The F(2×2, 3×3) transforms of <see cref="WinogradConv"/> on their own: with small
/// integers every intermediate value is exact in float32, so one channel's transformed input times
/// its transformed filter, transformed back, must equal the direct 3×3 correlation bit for bit —
/// for every tile of a padded plane, every image lane, and the filters flipped for dX. Whole
/// convolutions through the Winograd path are checked against a double-precision reference in
/// <see cref="ShiftedRowsConvTests"/>.</summary>
public class WinogradConvTests
{
    private const int G = InterleavedConv.G;

    [CpuTheory(CpuFeature.Avx512)] // the transforms are AVX-512 code; Applies keeps them off elsewhere
    [InlineData(4, 6, false)]
    [InlineData(2, 2, false)]
    [InlineData(6, 4, true)]
    public void TransformsOfIntegerDataGiveTheDirectCorrelationExactly(int h, int w, bool flipped)
    {
        var rng = new Rng((ulong)(h * 10 + w + (flipped ? 100 : 0)));
        var l = new InterleavedConv.Layout(h, w, 1, 1);
        var planes = new float[l.ChannelStride];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                for (int n = 0; n < G; n++) planes[l.Origin + (y * l.Wp + x) * G + n] = (int)(rng.NextFloat() * 9) - 4;
        var f = new float[9];
        for (int i = 0; i < 9; i++) f[i] = 2 * ((int)(rng.NextFloat() * 9) - 4); // even: G's halves stay exact
        // One filter (1 output, 1 input channel) through PackFilters, unpacked from its MR panel.
        var packed = new float[WinogradConv.PackedLength(1, 1)];
        WinogradConv.PackFilters(1, 1, f, flipped, packed);
        int one = RowsKernels.PackedALength(1, 1);
        int tiles = h / 2 * (w / 2), ld = tiles * G;
        var v = new float[WinogradConv.Points * ld];
        WinogradConv.InputTransform(planes, l, 1, 0, tiles, v, ld, ld);
        var m = new float[v.Length];
        for (int xi = 0; xi < WinogradConv.Points; xi++)
            for (int q = 0; q < ld; q++) m[xi * ld + q] = packed[xi * one] * v[xi * ld + q];
        var stage = new float[h * w * G];
        WinogradConv.OutputTransform(m, ld, ld, 1, l, 0, tiles, stage, h * w * G);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                for (int n = 0; n < G; n++)
                {
                    float sum = 0;
                    for (int ki = 0; ki < 3; ki++)
                        for (int kj = 0; kj < 3; kj++)
                            sum += planes[((y + ki) * l.Wp + x + kj) * G + n] * f[flipped ? 8 - (ki * 3 + kj) : ki * 3 + kj];
                    Assert.Equal(sum, stage[(y * w + x) * G + n]);
                }
    }

    [Fact]
    public void AppliesOnlyToEvenThreeByThreeSameConvolutionsWithEnoughChannels()
    {
        var g = new ConvGeometry(64, 8, 8, 3, 3, 1, 1, 1, 1);
        Assert.Equal(Cpu.Has(CpuFeature.Avx512), WinogradConv.Applies(g, 64, 64, EngineOptions.Default));
        Assert.False(WinogradConv.Applies(g with { H = 7 }, 64, 64, EngineOptions.Default));
        Assert.False(WinogradConv.Applies(g with { SH = 2, SW = 2 }, 64, 64, EngineOptions.Default));
        Assert.False(WinogradConv.Applies(g with { KH = 5, KW = 5, PH = 2, PW = 2 }, 64, 64, EngineOptions.Default));
        Assert.False(WinogradConv.Applies(g, 64, 16, EngineOptions.Default));
    }
}
