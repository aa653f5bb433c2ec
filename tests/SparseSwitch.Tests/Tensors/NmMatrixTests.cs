using SparseSwitch.Sparsity;
using SparseSwitch.Tensors;
using SparseSwitch.Tensors.Sparse;
using Xunit;

namespace SparseSwitch.Tests.Tensors;

/// <summary>The N:M packed form holds exactly its matrix; its product equals the scalar twin and the
/// dense product on odd shapes (tail groups, rows shorter than a vector tile, all-zero rows).</summary>
public class NmMatrixTests
{
    [Theory]
    [InlineData(5, 12, 9, 2, 4, 80)]   // conv-like: 12 channels × 9 positions, columns past one 64-tile
    [InlineData(3, 10, 1, 1, 4, 16)]   // 10 channels: a tail group of 2
    [InlineData(7, 16, 9, 1, 8, 144)]
    [InlineData(1, 64, 1, 2, 4, 48)]
    public void PackedProductEqualsTheDenseOne(int rows, int channels, int positions, int n, int m, int cols)
    {
        var rng = new Rng(4);
        int k = channels * positions;
        var w = new float[rows * k];
        rng.FillNormal(w, 0, 1);
        var mask = NmMask.Compute(w, positions == 1 ? [rows, channels] : [rows, channels, 3, positions / 3], n, m);
        if (rows > 2) for (int i = k; i < 2 * k; i++) mask[i] = false; // row 1 keeps nothing
        var a = NmMatrix.TryPack(w, rows, channels, positions, n, m, mask)!;
        Assert.NotNull(a);
        var masked = (float[])w.Clone();
        mask.ApplyTo(masked);
        Assert.Equal(masked, a.ToDense());
        // B: k rows of cols columns at shuffled offsets.
        int ld = cols + 16;
        var b = new float[k * ld + 64];
        rng.FillNormal(b, 0, 1);
        var off = Enumerable.Range(0, k).Select(i => (nint)((i * 7919 % k) * ld)).ToArray();
        var c = new float[rows * cols];
        var cRef = new float[rows * cols];
        NmKernels.RowsProduct(a, b, off, cols, c, cols, 0, rows);
        NmKernels.RowsProductReference(a, b, off, cols, cRef, cols, 0, rows);
        for (int r = 0; r < rows; r++)
            for (int q = 0; q < cols; q++)
            {
                double d = 0;
                for (int j = 0; j < k; j++) d += masked[r * k + j] * (double)b[off[j] + q];
                Assert.True(Math.Abs(d - cRef[r * cols + q]) <= 1e-5 * (1 + Math.Abs(d)), $"reference [{r}, {q}]");
                Assert.True(Math.Abs(d - c[r * cols + q]) <= 1e-4 * (1 + Math.Abs(d)), $"kernel [{r}, {q}]: {c[r * cols + q]} vs {d}");
            }
        if (rows > 2) Assert.All(c.AsSpan(cols, cols).ToArray(), v => Assert.Equal(0f, v));
    }

    [Fact]
    public void AMaskThatBreaksThePatternHasNoPackedForm()
    {
        var w = new float[2 * 8];
        var mask = new BitMask(16);
        mask[0] = mask[1] = mask[2] = true; // three kept in the first group of four
        Assert.Null(NmMatrix.TryPack(w, 2, 8, 1, 2, 4, mask));
        mask[2] = false;
        Assert.NotNull(NmMatrix.TryPack(w, 2, 8, 1, 2, 4, mask));
        Assert.Throws<ArgumentOutOfRangeException>(() => NmMatrix.TryPack(w, 2, 8, 1, 5, 4, mask));
    }
}
