using SparseSwitch.Nn;
using SparseSwitch.Tensors;
using SparseSwitch.Tensors.Sparse;
using SparseSwitch.Tests.Support;
using Xunit;

namespace SparseSwitch.Tests.Tensors;

/// <summary>The sparse-weight kernels against their scalar twins and the dense product, on odd
/// shapes: empty rows, an all-zero matrix, a fully dense one, lengths that are not multiples of the
/// vector width, masks that keep zeros.</summary>
public class SparseKernelsTests
{
    internal static (float[] W, BitMask Mask) Weights(Rng rng, int rows, int cols, double density, bool emptyRows)
    {
        var w = new float[rows * cols];
        rng.FillNormal(w, 0, 1);
        var mask = new BitMask(w.Length);
        for (int i = 0; i < w.Length; i++) mask[i] = rng.NextFloat() < density;
        if (emptyRows)
            for (int r = 0; r < rows; r += 3)
                for (int c = 0; c < cols; c++) mask[r * cols + c] = false;
        return (w, mask);
    }

    [Theory]
    [InlineData(1, 1, 1.0, false)]
    [InlineData(7, 13, 0.5, true)]
    [InlineData(40, 100, 0.1, true)]
    [InlineData(33, 47, 1.0, false)]   // fully dense: rows of 47 (two vectors and a tail)
    [InlineData(64, 1024, 0.02, false)]
    [InlineData(20, 300, 0.0, false)]  // all zero
    public void CsrRoundTripsAndSpmvMatchesItsTwinAndTheDenseProduct(int rows, int cols, double density, bool emptyRows)
    {
        var rng = new Rng((ulong)(rows * 1000 + cols));
        var (w, mask) = Weights(rng, rows, cols, density, emptyRows);
        var a = CsrMatrix.FromDense(w, rows, cols, mask);
        var masked = new float[w.Length];
        mask.ApplyTo(w, masked);
        Assert.Equal(masked, a.ToDense());
        Assert.Equal(mask.Count(), a.NonZeros);
        var x = new float[cols];
        rng.FillNormal(x, 0, 1);
        var y = new float[rows];
        var expected = new float[rows];
        SparseKernels.Spmv(a, x, y, 0, rows);
        SparseKernels.SpmvReference(a, x, expected, 0, rows);
        Close.Assert(expected, y, 1e-5 * Math.Sqrt(cols) + 1e-6, 1e-5, "spmv");
        var dense = new float[rows];
        Gemm.SgemmReference(false, false, rows, 1, cols, 1f, masked, cols, x, 1, 0f, dense, 1);
        Close.Assert(dense, expected, 1e-6, 1e-6, "spmv twin vs dense");
        // Rows in two parts give the same bits as all at once.
        var parts = new float[rows];
        SparseKernels.Spmv(a, x, parts, 0, rows / 2);
        SparseKernels.Spmv(a, x, parts, rows / 2, rows);
        Assert.Equal(y, parts);
    }

    [Theory]
    [InlineData(1, 1, 1.0, false)]
    [InlineData(7, 13, 0.5, true)]      // one partial slice, one partial window
    [InlineData(40, 100, 0.1, true)]    // partial last slice and window, empty rows
    [InlineData(33, 64, 1.0, false)]    // fully dense: 32 slots per window
    [InlineData(64, 1024, 0.02, false)]
    [InlineData(20, 300, 0.0, false)]   // all zero: no windows listed
    public void SlicedRoundTripsAndGemvMatchesItsTwinAndTheDenseProduct(int rows, int cols, double density, bool emptyRows)
    {
        var rng = new Rng((ulong)(rows * 1000 + cols + 5));
        var (w, mask) = Weights(rng, rows, cols, density, emptyRows);
        var a = SlicedMatrix.FromDense(w, rows, cols, mask);
        var masked = new float[w.Length];
        mask.ApplyTo(w, masked);
        Assert.Equal(masked, a.ToDense());
        Assert.Equal(mask.Count(), a.NonZeros);
        var x = new float[cols];
        rng.FillNormal(x, 0, 1);
        var y = new float[rows];
        var expected = new float[rows];
        SlicedKernels.Gemv(a, x, y, 0, a.Slices);
        SlicedKernels.GemvReference(a, x, expected, 0, a.Slices);
        Close.Assert(expected, y, 1e-5 * Math.Sqrt(cols) + 1e-6, 1e-5, "sliced gemv");
        var dense = new float[rows];
        Gemm.SgemmReference(false, false, rows, 1, cols, 1f, masked, cols, x, 1, 0f, dense, 1);
        Close.Assert(dense, expected, 1e-6, 1e-6, "sliced twin vs dense");
        // Slices in balanced parts give the same bits as all at once.
        var bounds = new int[4];
        a.BalancedSlices(bounds);
        Assert.Equal(0, bounds[0]);
        Assert.Equal(a.Slices, bounds[^1]);
        var parts = new float[rows];
        for (int k = 0; k + 1 < bounds.Length; k++) SlicedKernels.Gemv(a, x, parts, bounds[k], bounds[k + 1]);
        Assert.Equal(y, parts);
    }

    [Fact]
    public void SlicedFormOfATwoOfFourMaskPadsNothing()
    {
        var rng = new Rng(3);
        int rows = 32, cols = 64;
        var w = new float[rows * cols];
        rng.FillNormal(w, 0, 1);
        var mask = SparseSwitch.Sparsity.NmMask.Compute(w, [rows, cols], 2, 4);
        var a = SlicedMatrix.FromDense(w, rows, cols, mask);
        Assert.Equal(rows * cols / 2, a.NonZeros);
        Assert.Equal(a.NonZeros, a.SlotCount * SlicedMatrix.Lanes);   // 16 slots per window, every lane used
    }

    [Fact]
    public void SlicedGemvRejectsShortVectorsAndSlicesOutOfRange()
    {
        var a = SlicedMatrix.FromDense(new float[20 * 40], 20, 40);
        Assert.Throws<ArgumentException>(() => SlicedKernels.Gemv(a, new float[39], new float[20], 0, a.Slices));
        Assert.Throws<ArgumentException>(() => SlicedKernels.Gemv(a, new float[40], new float[19], 0, a.Slices));
        Assert.Throws<ArgumentException>(() => SlicedKernels.Gemv(a, new float[40], new float[20], 0, a.Slices + 1));
    }

    [Theory]
    [InlineData(9, 20, 16, 0.5, true)]
    [InlineData(16, 64, 64, 0.1, false)]
    [InlineData(30, 50, 128, 1.0, false)]
    [InlineData(5, 70, 208, 0.3, true)]   // 128 + 64 + 16 columns: every block width
    [InlineData(12, 40, 48, 0.0, false)]
    public void RowsProductMatchesItsTwinAndTheLinearLayerProduct(int rows, int cols, int n, double density, bool emptyRows)
    {
        var rng = new Rng((ulong)(rows * 100 + cols + n));
        var (w, mask) = Weights(rng, rows, cols, density, emptyRows);
        var a = CsrMatrix.FromDense(w, rows, cols, mask);
        // Xᵀ [cols, n], rows of B at c·n.
        var xt = new float[cols * n];
        rng.FillNormal(xt, 0, 1);
        var off = new nint[cols];
        for (int c = 0; c < cols; c++) off[c] = (nint)c * n;
        int ldc = n + 16;
        var got = new float[rows * ldc];
        var twin = new float[rows * ldc];
        Array.Fill(got, float.NaN);
        SparseKernels.RowsProduct(a, xt, off, n, got, ldc, 0, rows);
        SparseKernels.RowsProductReference(a, xt, off, n, twin, ldc, 0, rows);
        var masked = new float[w.Length];
        mask.ApplyTo(w, masked);
        var dense = new float[rows * ldc];
        Gemm.SgemmReference(false, false, rows, n, cols, 1f, masked, cols, xt, n, 0f, dense, ldc);
        for (int r = 0; r < rows; r++)
        {
            Close.Assert(twin.AsSpan(r * ldc, n), got.AsSpan(r * ldc, n), 1e-5 * Math.Sqrt(cols) + 1e-6, 1e-5, $"row {r}");
            Close.Assert(dense.AsSpan(r * ldc, n), twin.AsSpan(r * ldc, n), 1e-6, 1e-6, $"twin row {r}");
            Assert.All(got.AsSpan(r * ldc + n, ldc - n).ToArray(), v => Assert.True(float.IsNaN(v))); // past n: untouched
        }
    }

    [Fact]
    public void RejectsBadArguments()
    {
        var a = CsrMatrix.FromDense(new float[] { 1, 0, 2, 0, 0, 3 }, 2, 3);
        Assert.Equal(3, a.NonZeros);
        Assert.Throws<ArgumentException>(() => CsrMatrix.FromDense(new float[5], 2, 3));
        Assert.Throws<ArgumentException>(() => CsrMatrix.FromDense(new float[6], 2, 3, new BitMask(5)));
        Assert.Throws<ArgumentException>(() => SparseKernels.Spmv(a, new float[2], new float[2], 0, 2));
        Assert.Throws<ArgumentException>(() => SparseKernels.RowsProduct(a, new float[64], new nint[] { 0, 16, 32 }, 17, new float[64], 32, 0, 2));
        Assert.Throws<ArgumentException>(() => SparseKernels.RowsProduct(a, new float[40], new nint[] { 0, 16, 32 }, 16, new float[64], 32, 0, 2));
    }

    [Fact]
    public void BalancedRowsSplitsByEntries()
    {
        var w = new float[100 * 10];
        for (int i = 0; i < 10 * 10; i++) w[i] = 1; // the first 10 rows hold every entry
        var a = CsrMatrix.FromDense(w, 100, 10);
        Span<int> b = stackalloc int[3];
        SparseKernels.BalancedRows(a, b);
        Assert.Equal(0, b[0]);
        Assert.Equal(100, b[2]);
        Assert.InRange(b[1], 5, 15);
    }
}
