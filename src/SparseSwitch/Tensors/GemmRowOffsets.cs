using System.Runtime.Intrinsics;

namespace SparseSwitch.Tensors;

/// <summary>
/// SGEMM whose B is given row by row: storage row r of B starts at b[bRowOffsets[r]] (row length
/// k when transB, else n). C[m×n] = alpha · op(A)[m×k] · op(B)[k×n] + beta · C as in
/// <see cref="Gemm.Sgemm"/>. This is implicit im2col: the rows of a stride-1 convolution's
/// unfolded input are shifted views of one zero-padded image, so the product reads them in place
/// through an offset table and packing B is the only copy. Same bits as Sgemm on the materialised
/// B (same packing, same kernel, same order).
/// </summary>
public static partial class Gemm
{
    public static void SgemmRowOffsetsB(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, ReadOnlySpan<nint> bRowOffsets,
        float beta, Span<float> c, int ldc)
    {
        CheckRowOffsetArgs(transA, transB, m, n, k, a, lda, b, bRowOffsets, c, ldc);
        if (m == 0 || n == 0) return;
        if (Engine.MatmulPrecision == MatmulPrecision.Highest)
        {
            SgemmRowOffsetsBReference(transA, transB, m, n, k, alpha, a, lda, b, bRowOffsets, beta, c, ldc);
            return;
        }
        if (k == 0 || alpha == 0f)
        {
            ScaleC(m, n, beta, c, ldc);
            return;
        }
        unsafe
        {
            fixed (float* pa = a, pb = b, pc = c)
            fixed (nint* off = bRowOffsets)
            {
                if (Vector512.IsHardwareAccelerated)
                    GemmDriver<Vector512<float>, Gemm512>.ForThisThread.Run(transA, transB, m, n, k, alpha, pa, lda, pb, 1, off, beta, pc, ldc);
                else if (Vector256.IsHardwareAccelerated)
                    GemmDriver<Vector256<float>, Gemm256>.ForThisThread.Run(transA, transB, m, n, k, alpha, pa, lda, pb, 1, off, beta, pc, ldc);
                else if (Vector128.IsHardwareAccelerated)
                    GemmDriver<Vector128<float>, Gemm128>.ForThisThread.Run(transA, transB, m, n, k, alpha, pa, lda, pb, 1, off, beta, pc, ldc);
                else
                    SgemmRowOffsetsBReference(transA, transB, m, n, k, alpha, a, lda, b, bRowOffsets, beta, c, ldc);
            }
        }
    }

    private static void CheckRowOffsetArgs(bool transA, bool transB, int m, int n, int k,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, ReadOnlySpan<nint> bRowOffsets, Span<float> c, int ldc)
    {
        CheckSizesAAndC(transA, m, n, k, a, lda, c, ldc);
        int bRows = transB ? n : k, bCols = transB ? k : n;
        if (bRowOffsets.Length < bRows) throw new ArgumentException($"bRowOffsets has {bRowOffsets.Length} entries, B has {bRows} rows.");
        if (m == 0 || n == 0) return;
        for (int r = 0; r < bRows; r++)
            if (bRowOffsets[r] < 0 || bRowOffsets[r] + (long)bCols > b.Length)
                throw new ArgumentException($"bRowOffsets[{r}]={bRowOffsets[r]}: row of {bCols} floats outside B (length {b.Length}).");
    }

    /// <summary>The plain scalar twin of <see cref="SgemmRowOffsetsB"/>: test oracle and fallback.
    /// Accumulates in double.</summary>
    public static void SgemmRowOffsetsBReference(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, ReadOnlySpan<nint> bRowOffsets,
        float beta, Span<float> c, int ldc)
    {
        for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++)
        {
            double s = 0;
            for (int p = 0; p < k; p++)
            {
                float av = transA ? a[p * lda + i] : a[i * lda + p];
                float bv = transB ? b[(int)bRowOffsets[j] + p] : b[(int)bRowOffsets[p] + j];
                s += (double)av * bv;
            }
            float prev = beta == 0f ? 0f : beta * c[i * ldc + j];
            c[i * ldc + j] = (float)(alpha * s) + prev;
        }
    }
}
