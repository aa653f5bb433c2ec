using SparseSwitch.Nn;
using SparseSwitch.Tensors;
using Xunit;

using SparseSwitch.Tensors.Conv;

namespace SparseSwitch.Tests.Nn;

/// <summary>The layers' span kernels against their scalar twins.</summary>
public class KernelTests
{
    public static IEnumerable<object[]> Geometries() =>
    [
        [new ConvGeometry(3, 7, 6, 3, 3, 1, 1, 1, 1)],
        [new ConvGeometry(2, 8, 9, 3, 3, 2, 2, 1, 1)],
        [new ConvGeometry(2, 5, 5, 1, 1, 2, 2, 0, 0)],
        [new ConvGeometry(1, 9, 8, 5, 3, 3, 2, 2, 1)],
        [new ConvGeometry(2, 7, 7, 3, 3, 1, 1, 2, 2, 2, 2)],
        [new ConvGeometry(1, 3, 3, 3, 3, 1, 1, 3, 3)], // padding larger than the image
        [new ConvGeometry(2, 6, 5, 5, 5, 1, 1, 2, 2)],
        [new ConvGeometry(2, 7, 6, 3, 3, 2, 1, 1, 1)], // vertical stride 2, same width
        [new ConvGeometry(2, 5, 6, 1, 3, 1, 1, 0, 1)],
        [new ConvGeometry(3, 4, 4, 3, 3, 1, 1, 1, 1)],
        [new ConvGeometry(1, 1, 1, 3, 3, 1, 1, 1, 1)],
        [new ConvGeometry(3, 9, 40, 3, 3, 2, 2, 1, 1)], // stride 2, rows of ≥ 16 outputs (vector path)
        [new ConvGeometry(2, 6, 33, 3, 3, 2, 2, 1, 1)],
        [new ConvGeometry(2, 5, 34, 1, 1, 2, 2, 0, 0)],
        [new ConvGeometry(2, 4, 32, 3, 3, 2, 2, 0, 0)],
        [new ConvGeometry(6, 14, 14, 5, 5, 1, 1, 0, 0)], // stride 1, narrower output (contiguous runs)
        [new ConvGeometry(2, 9, 9, 3, 3, 1, 1, 1, 1, 2, 2)], // stride 1, dilated, clipped runs
        [new ConvGeometry(2, 7, 9, 3, 2, 1, 1, 0, 1)],
    ];

    [Theory]
    [MemberData(nameof(Geometries))]
    public void UnfoldMatchesReferenceAndFoldIsItsAdjoint(ConvGeometry g)
    {
        var rng = new Rng(1);
        var img = new float[g.C * g.H * g.W];
        rng.FillUniform(img, -1f, 1f);
        var col = new float[g.ColRows * g.ColCols];
        var reference = new float[col.Length];
        col.AsSpan().Fill(float.NaN);
        Im2Col.Unfold(g, img, col);
        Im2Col.UnfoldReference(g, img, reference);
        Assert.Equal(reference, col);
        // ⟨unfold(x), c⟩ = ⟨x, fold(c)⟩
        var c = new float[col.Length];
        rng.FillUniform(c, -1f, 1f);
        var folded = new float[img.Length];
        Im2Col.FoldAdd(g, c, folded);
        double lhs = 0, rhs = 0;
        for (int i = 0; i < c.Length; i++) lhs += (double)col[i] * c[i];
        for (int i = 0; i < img.Length; i++) rhs += (double)img[i] * folded[i];
        Assert.Equal(lhs, rhs, 4);
    }

    [Theory]
    [MemberData(nameof(Geometries))]
    public void UnfoldAndFoldWithWiderRowStrideTouchOnlyTheirColumns(ConvGeometry g)
    {
        var rng = new Rng(3);
        int p = g.ColCols, ld = 3 * p + 1, offset = p + 1;
        var img = new float[g.C * g.H * g.W];
        rng.FillUniform(img, -1f, 1f);
        var reference = new float[g.ColRows * p];
        Im2Col.UnfoldReference(g, img, reference);
        var wide = new float[g.ColRows * ld];
        wide.AsSpan().Fill(7f);
        Im2Col.Unfold(g, img, wide.AsSpan(offset), ld);
        for (int r = 0; r < g.ColRows; r++)
        for (int j = 0; j < ld; j++)
        {
            float expected = j >= offset && j < offset + p ? reference[r * p + j - offset] : 7f;
            Assert.Equal(expected, wide[r * ld + j]);
        }
        var folded = new float[img.Length];
        var plain = new float[img.Length];
        var c = new float[reference.Length];
        rng.FillUniform(c, -1f, 1f);
        for (int r = 0; r < g.ColRows; r++) c.AsSpan(r * p, p).CopyTo(wide.AsSpan(r * ld + offset, p));
        Im2Col.FoldAdd(g, c, plain);
        Im2Col.FoldAdd(g, wide.AsSpan(offset), folded, ld);
        Assert.Equal(plain, folded);
    }

    [Fact]
    public void ElementwiseKernelsMatchScalarOnEveryLength()
    {
        var rng = new Rng(2);
        for (int n = 0; n <= 4 * 16 + 5; n++)
        {
            var x = new float[n]; var dy = new float[n];
            rng.FillUniform(x, -1f, 1f); rng.FillUniform(dy, -1f, 1f);
            var y = new float[n]; var dx = new float[n];
            Elementwise.CenteredAffine(x, 0.3f, 1.5f, -0.25f, y);
            for (int i = 0; i < n; i++) Assert.Equal(MathF.FusedMultiplyAdd(x[i] - 0.3f, 1.5f, -0.25f), y[i]);
            Elementwise.ReluForward(x, y);
            for (int i = 0; i < n; i++) Assert.Equal(Math.Max(x[i], 0f), y[i]);
            Elementwise.ReluBackward(y, dy, dx);
            for (int i = 0; i < n; i++) Assert.Equal(x[i] > 0 ? dy[i] : 0f, dx[i]);
            double s1 = 0, s2 = 0, sd = 0, dc = 0;
            for (int i = 0; i < n; i++)
            {
                double d = x[i] - 0.1;
                s1 += d; s2 += d * d; sd += dy[i]; dc += dy[i] * d;
            }
            var (g1, g2) = Elementwise.ShiftedSums(x, 0.1f);
            Assert.Equal(s1, g1, 4); Assert.Equal(s2, g2, 4);
            var (h1, h2) = Elementwise.SumAndDotCentered(dy, x, 0.1f);
            Assert.Equal(sd, h1, 4); Assert.Equal(dc, h2, 4);
            Elementwise.ScaleAddCenteredAffine(dy, 0.5f, x, 0.3f, -2f, 0.25f, y);
            for (int i = 0; i < n; i++) Assert.Equal(MathF.FusedMultiplyAdd(dy[i], 0.5f, MathF.FusedMultiplyAdd(x[i] - 0.3f, -2f, 0.25f)), y[i]);
            Elementwise.AddRelu(x, dy, y);
            for (int i = 0; i < n; i++) Assert.Equal(Math.Max(x[i] + dy[i], 0f), y[i]);
        }
    }
}
