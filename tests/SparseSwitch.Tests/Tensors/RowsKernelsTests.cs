using SparseSwitch.Tensors;
using SparseSwitch.Tests.Support;
using Xunit;

namespace SparseSwitch.Tests.Tensors;

/// <summary>The in-place row products (<see cref="RowsKernels"/>) against plain double loops over
/// explicitly gathered rows, on sizes that leave partial tiles and blocks everywhere.</summary>
public class RowsKernelsTests
{
    private static (float[] B, nint[] Off) Rows(Rng rng, int k, int width, int slack)
    {
        // Overlapping rows at irregular offsets, like the shifted rows of a padded image.
        var off = new nint[k];
        for (int r = 0; r < k; r++) off[r] = rng.NextInt(3 * k + 7);
        var b = new float[3 * k + 7 + width + slack];
        for (int i = 0; i < b.Length; i++) b[i] = rng.NextFloat() * 2f - 1f;
        return (b, off);
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(8, 9)]
    [InlineData(13, 27)]   // a partial panel
    [InlineData(24, 144)]
    public void PackALaysOutPanelsOfMRRows(int m, int k)
    {
        var rng = new Rng((ulong)(m * 31 + k));
        int lda = k + 3, mr = RowsKernels.MR, panels = (m + mr - 1) / mr;
        var a = new float[m * lda];
        for (int i = 0; i < a.Length; i++) a[i] = rng.NextFloat() * 2f - 1f;
        var packed = new float[RowsKernels.PackedALength(m, k)];
        Array.Fill(packed, float.NaN);
        RowsKernels.PackA(m, k, a, lda, packed);
        for (int p = 0; p < panels; p++)
        for (int r = 0; r < k; r++)
        for (int i = 0; i < mr; i++)
        {
            int row = p * mr + i;
            Assert.Equal(row < m ? a[row * lda + r] : 0f, packed[(p * k + r) * mr + i]);
        }
    }

    [Theory]
    [InlineData(3, 16, 3, 3)]
    [InlineData(16, 13, 3, 3)] // a partial panel of input channels
    [InlineData(5, 8, 1, 3)]
    [InlineData(2, 9, 5, 5)]
    public void PackFlippedIsPackAOfTheFlippedTransposedWeights(int cout, int cin, int kh, int kw)
    {
        var rng = new Rng((ulong)(cout * 1000 + cin * 10 + kh));
        int kk = kh * kw;
        var w = new float[cout * cin * kk];
        for (int i = 0; i < w.Length; i++) w[i] = rng.NextFloat() * 2f - 1f;
        // Wflip[c, (o·KH + ki)·KW + kj] = w[o, c, KH−1−ki, KW−1−kj], written out here.
        var flip = new float[cin * cout * kk];
        for (int o = 0; o < cout; o++)
        for (int c = 0; c < cin; c++)
        for (int ki = 0; ki < kh; ki++)
        for (int kj = 0; kj < kw; kj++)
            flip[c * cout * kk + (o * kh + ki) * kw + kj] = w[((o * cin + c) * kh + (kh - 1 - ki)) * kw + (kw - 1 - kj)];
        var expected = new float[RowsKernels.PackedALength(cin, cout * kk)];
        RowsKernels.PackA(cin, cout * kk, flip, cout * kk, expected);
        var actual = new float[expected.Length];
        Array.Fill(actual, float.NaN);
        RowsKernels.PackFlipped(cout, cin, kh, kw, w, actual);
        Assert.Equal(expected, actual);
    }

    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(8, 48, 27)]
    [InlineData(13, 100, 9)]
    [InlineData(16, 131, 144)]
    [InlineData(30, 7, 50)]
    [InlineData(10, 60, 700)] // several k-slices
    public void ProductMatchesGatheredRows(int m, int n, int k)
    {
        var rng = new Rng((ulong)(m * 10007 + n * 101 + k));
        int nr = RowsKernels.TileColumns, nR = (n + nr - 1) / nr * nr, mR = (m + 7) / 8 * 8;
        var a = new float[m * k];
        for (int i = 0; i < a.Length; i++) a[i] = rng.NextFloat() * 2f - 1f;
        var (b, off) = Rows(rng, k, nR, 0);
        var packed = new float[RowsKernels.PackedALength(m, k)];
        RowsKernels.PackA(m, k, a, k, packed);
        var c = new float[mR * nR];
        Array.Fill(c, float.NaN);
        RowsKernels.Product(m, n, k, packed, b, off, c, nR, EngineOptions.Default);
        var expected = new float[m * n];
        var actual = new float[m * n];
        for (int i = 0; i < m; i++)
        for (int q = 0; q < n; q++)
        {
            double s = 0;
            for (int r = 0; r < k; r++) s += (double)a[i * k + r] * b[off[r] + q];
            expected[i * n + q] = (float)s;
            actual[i * n + q] = c[i * nR + q];
        }
        Close.Assert(expected, actual, 1e-6 * k + 1e-6, 1e-5, $"Product m={m} n={n} k={k}");
        // Rows past m come out zero (packed A's padding).
        for (int i = m; i < mR; i++)
            for (int q = 0; q < n; q++) Assert.Equal(0f, c[i * nR + q]);
    }

    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(4, 6, 16)]
    [InlineData(16, 27, 1056)]
    [InlineData(7, 13, 37)]
    [InlineData(9, 20, 200)]
    public void DotProductMatchesGatheredRows(int m, int k, int n)
    {
        var rng = new Rng((ulong)(m * 7919 + k * 31 + n));
        int ldd = n + 5, ldc = k + 3;
        var d = new float[m * ldd];
        for (int i = 0; i < d.Length; i++) d[i] = rng.NextFloat() * 2f - 1f;
        var (b, off) = Rows(rng, k, n, 0);
        foreach (float beta in new[] { 0f, 1f })
        {
            var c = new float[m * ldc];
            for (int i = 0; i < c.Length; i++) c[i] = beta == 0f ? float.NaN : i * 0.25f;
            var before = (float[])c.Clone();
            RowsKernels.DotProduct(m, k, n, d, ldd, b, off, beta, c, ldc, EngineOptions.Default);
            var expected = new float[m * k];
            var actual = new float[m * k];
            for (int i = 0; i < m; i++)
            for (int r = 0; r < k; r++)
            {
                double s = beta == 0f ? 0 : before[i * ldc + r];
                for (int q = 0; q < n; q++) s += (double)d[i * ldd + q] * b[off[r] + q];
                expected[i * k + r] = (float)s;
                actual[i * k + r] = c[i * ldc + r];
            }
            Close.Assert(expected, actual, 1e-6 * n + 1e-6, 1e-5, $"DotProduct m={m} k={k} n={n} beta={beta}");
            // The padding columns of C are not touched.
            for (int i = 0; i < m; i++)
                for (int r = k; r < ldc; r++) Assert.Equal(before[i * ldc + r], c[i * ldc + r]);
        }
    }

    [Fact]
    public void DotProductBlockedForL2GivesTheSameBits()
    {
        // Operands far larger than the L2 budget set here, so rows of D and of B are taken in many
        // blocks: every sum must still be the one kernel call over the whole reduction.
        var rng = new Rng(11);
        int m = 22, k = 57, rows = 3, n = 40, rowStride = 48, ldd = rows * rowStride, ldc = k + 1;
        var d = new float[m * ldd];
        for (int i = 0; i < d.Length; i++) d[i] = rng.NextFloat() * 2f - 1f;
        var b = new float[k * 7 + rows * rowStride + 64];
        for (int i = 0; i < b.Length; i++) b[i] = rng.NextFloat() * 2f - 1f;
        var off = new nint[k];
        for (int r = 0; r < k; r++) off[r] = r * 7 % 61;
        float[] Run(int budget, float beta)
        {
            var c = new float[m * ldc];
            for (int i = 0; i < c.Length; i++) c[i] = i * 0.125f;
            RowsKernels.DotProductRows(m, k, rows, n, d, ldd, rowStride, b, off, rowStride, beta, c, ldc, EngineOptions.Default with { DotL2Bytes = budget });
            return c;
        }
        foreach (float beta in new[] { 0f, 1f })
        {
            var whole = Run(int.MaxValue, beta);
            Assert.Equal(whole, Run(256, beta));
            Assert.Equal(whole, Run(2000, beta));
            // And the sums are right (double-precision reference).
            for (int i = 0; i < m; i++)
            for (int r = 0; r < k; r++)
            {
                double s = beta == 0f ? 0 : (i * ldc + r) * 0.125;
                for (int y = 0; y < rows; y++)
                for (int q = 0; q < n; q++) s += (double)d[i * ldd + y * rowStride + q] * b[off[r] + y * rowStride + q];
                Assert.True(Math.Abs(whole[i * ldc + r] - s) <= 1e-4 * (1 + Math.Abs(s)), $"C[{i}, {r}] = {whole[i * ldc + r]}, expected {s}");
            }
        }
    }

    [Fact]
    public void RowsOutsideBAreRefused()
    {
        var packed = new float[RowsKernels.PackedALength(8, 2)];
        var c = new float[8 * RowsKernels.TileColumns];
        var b = new float[RowsKernels.TileColumns + 4];
        Assert.Throws<ArgumentException>(() => RowsKernels.Product(8, 4, 2, packed, b, new nint[] { 0, 5 }, c, RowsKernels.TileColumns, EngineOptions.Default));
        Assert.Throws<ArgumentException>(() => RowsKernels.DotProduct(1, 2, 4, new float[4], 4, new float[6], new nint[] { 0, 3 }, 0f, new float[2], 2, EngineOptions.Default));
    }
}
