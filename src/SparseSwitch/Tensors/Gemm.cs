using System.Numerics.Tensors;
using System.Runtime.Intrinsics;

namespace SparseSwitch.Tensors;

/// <summary>
/// Single-precision matrix product, row-major:
/// C[m×n] = alpha · op(A)[m×k] · op(B)[k×n] + beta · C, op(X) = X or Xᵀ.
/// A is stored [m×k] (lda ≥ k) or, transposed, [k×m] (lda ≥ m); B likewise.
/// beta = 0 overwrites C without reading it (NaNs in C do not propagate), as in BLAS; alpha = 0
/// or k = 0 only scales C by beta (A and B are not read).
/// Sgemm is the packed, register-blocked, multithreaded implementation (GemmDriver,
/// GemmPacking, GemmMicroKernel, block sizes in GemmBlocking; m = 1 or n = 1 goes to the
/// matrix–vector kernels of GemvDriver); it uses <see cref="EngineOptions.Threads"/> of
/// <c>options</c> (default <see cref="EngineOptions.Default"/>)
/// threads for products above 128³ multiply-adds, and its result bits depend neither on the
/// thread count nor on timing. SgemmReference is its plain scalar twin.
/// </summary>
public static partial class Gemm
{
    public static void Sgemm(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb,
        float beta, Span<float> c, int ldc, EngineOptions? options = null)
    {
        CheckArgs(transA, transB, m, n, k, a, lda, b, ldb, c, ldc);
        if (m == 0 || n == 0) return;
        var o = options ?? EngineOptions.Default;
        if (o.MatmulPrecision == MatmulPrecision.Highest)
        {
            SgemmReference(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
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
            {
                if (m == 1 || n == 1)
                {
                    bool done = Vector512.IsHardwareAccelerated
                        ? GemvDriver<Vector512<float>, Gemm512>.ForThisThread.TryRun(transA, transB, m, n, k, alpha, pa, lda, pb, ldb, beta, pc, ldc, o)
                        : Vector256.IsHardwareAccelerated
                            ? GemvDriver<Vector256<float>, Gemm256>.ForThisThread.TryRun(transA, transB, m, n, k, alpha, pa, lda, pb, ldb, beta, pc, ldc, o)
                            : GemvDriver<Vector128<float>, Gemm128>.ForThisThread.TryRun(transA, transB, m, n, k, alpha, pa, lda, pb, ldb, beta, pc, ldc, o);
                    if (done) return;
                }
                if (Vector512.IsHardwareAccelerated)
                    GemmDriver<Vector512<float>, Gemm512>.ForThisThread.Run(transA, transB, m, n, k, alpha, pa, lda, pb, ldb, beta, pc, ldc, o);
                else if (Vector256.IsHardwareAccelerated)
                    GemmDriver<Vector256<float>, Gemm256>.ForThisThread.Run(transA, transB, m, n, k, alpha, pa, lda, pb, ldb, beta, pc, ldc, o);
                else if (Vector128.IsHardwareAccelerated)
                    GemmDriver<Vector128<float>, Gemm128>.ForThisThread.Run(transA, transB, m, n, k, alpha, pa, lda, pb, ldb, beta, pc, ldc, o);
                else
                    SgemmReference(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
            }
        }
    }

    /// <summary>C = beta · C over the m×n block (beta = 0 writes zeros without reading C).</summary>
    private static void ScaleC(int m, int n, float beta, Span<float> c, int ldc)
    {
        for (int i = 0; i < m; i++)
        {
            var row = c.Slice(i * ldc, n);
            if (beta == 0f) row.Clear();
            else if (beta != 1f) TensorPrimitives.Multiply(row, beta, row);
        }
    }

    internal static void CheckArgs(bool transA, bool transB, int m, int n, int k,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, Span<float> c, int ldc)
    {
        CheckSizesAAndC(transA, m, n, k, a, lda, c, ldc);
        int bRows = transB ? n : k, bCols = transB ? k : n;
        if (ldb < Math.Max(1, bCols)) throw new ArgumentException($"ldb={ldb} < {bCols}.");
        if (m == 0 || n == 0) return;
        if (bRows > 0 && b.Length < (long)(bRows - 1) * ldb + bCols) throw new ArgumentException("B is too short for its shape.");
    }

    /// <summary>The checks every GEMM entry shares, whatever the layout of B: non-negative sizes,
    /// lda and ldc, and A and C long enough for their shapes.</summary>
    internal static void CheckSizesAAndC(bool transA, int m, int n, int k, ReadOnlySpan<float> a, int lda, Span<float> c, int ldc)
    {
        if (m < 0 || n < 0 || k < 0) throw new ArgumentException($"Negative GEMM size m={m} n={n} k={k}.");
        int aRows = transA ? k : m, aCols = transA ? m : k;
        if (lda < Math.Max(1, aCols)) throw new ArgumentException($"lda={lda} < {aCols}.");
        if (ldc < Math.Max(1, n)) throw new ArgumentException($"ldc={ldc} < {n}.");
        if (m == 0 || n == 0) return;
        if (aRows > 0 && a.Length < (long)(aRows - 1) * lda + aCols) throw new ArgumentException("A is too short for its shape.");
        if (c.Length < (long)(m - 1) * ldc + n) throw new ArgumentException("C is too short for its shape.");
    }

    /// <summary>The plain scalar twin: test oracle and fallback. Accumulates in double.</summary>
    public static void SgemmReference(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb,
        float beta, Span<float> c, int ldc)
    {
        for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++)
        {
            double s = 0;
            for (int p = 0; p < k; p++)
            {
                float av = transA ? a[p * lda + i] : a[i * lda + p];
                float bv = transB ? b[j * ldb + p] : b[p * ldb + j];
                s += (double)av * bv;
            }
            float prev = beta == 0f ? 0f : beta * c[i * ldc + j];
            c[i * ldc + j] = (float)(alpha * s) + prev;
        }
    }
}
