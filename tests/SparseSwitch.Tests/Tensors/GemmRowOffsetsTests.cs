using SparseSwitch.Tensors;
using SparseSwitch.Tests.Support;
using Xunit;

namespace SparseSwitch.Tests.Tensors;

/// <summary><see cref="Gemm.SgemmRowOffsetsB"/> against its scalar twin and against
/// <see cref="Gemm.Sgemm"/> on the materialised B (same packing and kernel: same bits).</summary>
[Collection(EngineThreadsCollection.Name)]
public class GemmRowOffsetsTests
{
    [Theory]
    [InlineData(false, 16, 1086, 144)]
    [InlineData(false, 3, 61, 27)]
    [InlineData(false, 9, 47, 5)]
    [InlineData(false, 1, 1, 1)]
    [InlineData(true, 16, 144, 1086)]
    [InlineData(true, 7, 50, 33)]
    [InlineData(true, 17, 9, 300)]
    public void MatchesReferenceAndMaterialisedB(bool transB, int m, int n, int k)
    {
        foreach (int threads in new[] { 1, 2 })
        {
            int saved = Engine.Threads;
            Engine.Threads = threads;
            try { Check(transB, m, n, k, seed: (ulong)(m * 131 + n * 7 + k)); }
            finally { Engine.Threads = saved; }
        }
    }

    private static void Check(bool transB, int m, int n, int k, ulong seed)
    {
        var rng = new Rng(seed);
        int bRows = transB ? n : k, bCols = transB ? k : n;
        // Rows scattered in a larger buffer, overlapping and out of order, as in implicit im2col.
        int len = bCols + 3 * bRows + 5;
        var b = new float[len];
        for (int i = 0; i < len; i++) b[i] = rng.NextFloat() * 2f - 1f;
        var off = new nint[bRows];
        for (int r = 0; r < bRows; r++) off[r] = rng.NextInt(len - bCols + 1);
        var a = new float[m * k];
        for (int i = 0; i < a.Length; i++) a[i] = rng.NextFloat() * 2f - 1f;
        var materialised = new float[bRows * bCols];
        for (int r = 0; r < bRows; r++) b.AsSpan((int)off[r], bCols).CopyTo(materialised.AsSpan(r * bCols));
        var c0 = new float[m * n];
        for (int i = 0; i < c0.Length; i++) c0[i] = rng.NextFloat();
        foreach (float beta in new[] { 0f, 1f })
        {
            var expected = (float[])c0.Clone();
            var viaSgemm = (float[])c0.Clone();
            var actual = (float[])c0.Clone();
            Gemm.SgemmRowOffsetsBReference(false, transB, m, n, k, 0.5f, a, k, b, off, beta, expected, n);
            Gemm.Sgemm(false, transB, m, n, k, 0.5f, a, k, materialised, bCols, beta, viaSgemm, n);
            Gemm.SgemmRowOffsetsB(false, transB, m, n, k, 0.5f, a, k, b, off, beta, actual, n);
            Close.Assert(expected, actual, 2e-6 * k + 1e-6, 1e-5, $"row-offset GEMM m={m} n={n} k={k} transB={transB} beta={beta}");
            Assert.Equal(viaSgemm, actual);
        }
    }

    [Fact]
    public void RejectsOffsetsOutsideB()
    {
        var b = new float[10];
        var c = new float[4];
        Assert.Throws<ArgumentException>(() => Gemm.SgemmRowOffsetsB(false, false, 1, 4, 2, 1f, new float[2], 2, b, new nint[] { 0, 7 }, 0f, c, 4));
        Assert.Throws<ArgumentException>(() => Gemm.SgemmRowOffsetsB(false, false, 1, 4, 2, 1f, new float[2], 2, b, new nint[] { -1, 0 }, 0f, c, 4));
        Assert.Throws<ArgumentException>(() => Gemm.SgemmRowOffsetsB(false, false, 1, 4, 2, 1f, new float[2], 2, b, new nint[] { 0 }, 0f, c, 4));
    }
}
