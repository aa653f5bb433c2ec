using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SparseSwitch.Tensors;

/// <summary>
/// Packing of GEMM operands into the micro-kernel's layout. Both transpose cases are resolved
/// here, so the kernel sees one layout:
/// A micro-panel (MR rows × kc): dst[p·MR + r] = op(A)[row0 + r, p0 + p], rows past the edge zero.
/// B micro-panel (kc × NR cols): dst[p·NR + j] = op(B)[p0 + p, col0 + j], columns past the edge zero.
/// </summary>
internal static unsafe class GemmPacking
{
    private const int MR = GemmMicroKernel.MR;

    /// <summary>Packs rows [row0, row0+rows) (rows ≤ MR) of op(A), columns [p0, p0+kc).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void PackA(float* a, nint lda, bool transA, int row0, int rows, int p0, int kc, float* dst)
    {
        if (transA)
        {
            // A stored [k×m]: the MR values for one p are contiguous.
            float* src = a + p0 * lda + row0;
            if (rows == MR)
            {
                for (int p = 0; p < kc; p++, src += lda, dst += MR)
                    Vector256.Store(Vector256.Load(src), dst);
            }
            else
            {
                for (int p = 0; p < kc; p++, src += lda, dst += MR)
                {
                    int r = 0;
                    for (; r < rows; r++) dst[r] = src[r];
                    for (; r < MR; r++) dst[r] = 0f;
                }
            }
            return;
        }
        // A stored [m×k]: gather one value from each of the MR rows per p.
        if (rows == MR && Avx.IsSupported)
        {
            PackRows8x8(a + row0 * lda + p0, lda, kc, dst, MR);
            return;
        }
        for (int r = 0; r < MR; r++)
        {
            float* d = dst + r;
            if (r < rows)
            {
                float* src = a + (row0 + r) * lda + p0;
                for (int p = 0; p < kc; p++) d[p * MR] = src[p];
            }
            else
            {
                for (int p = 0; p < kc; p++) d[p * MR] = 0f;
            }
        }
    }

    /// <summary>dst[p·ds + r] = src[r·ld + p] for r &lt; 8, p &lt; kc: 8×8 in-register transposes (AVX).</summary>
    private static void PackRows8x8(float* src, nint ld, int kc, float* dst, nint ds)
    {
        int p = 0;
        for (; p + 8 <= kc; p += 8, src += 8, dst += 8 * ds)
        {
            var r0 = Vector256.Load(src);
            var r1 = Vector256.Load(src + ld);
            var r2 = Vector256.Load(src + 2 * ld);
            var r3 = Vector256.Load(src + 3 * ld);
            var r4 = Vector256.Load(src + 4 * ld);
            var r5 = Vector256.Load(src + 5 * ld);
            var r6 = Vector256.Load(src + 6 * ld);
            var r7 = Vector256.Load(src + 7 * ld);
            Transpose8x8(ref r0, ref r1, ref r2, ref r3, ref r4, ref r5, ref r6, ref r7);
            Vector256.Store(r0, dst);
            Vector256.Store(r1, dst + ds);
            Vector256.Store(r2, dst + 2 * ds);
            Vector256.Store(r3, dst + 3 * ds);
            Vector256.Store(r4, dst + 4 * ds);
            Vector256.Store(r5, dst + 5 * ds);
            Vector256.Store(r6, dst + 6 * ds);
            Vector256.Store(r7, dst + 7 * ds);
        }
        for (; p < kc; p++, src++, dst += ds)
            for (int r = 0; r < MR; r++) dst[r] = src[r * ld];
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose8x8(ref Vector256<float> r0, ref Vector256<float> r1, ref Vector256<float> r2, ref Vector256<float> r3,
        ref Vector256<float> r4, ref Vector256<float> r5, ref Vector256<float> r6, ref Vector256<float> r7)
    {
        // 32-bit interleave of row pairs, then 64-bit, then swap 128-bit halves.
        var t0 = Avx.UnpackLow(r0, r1); var t1 = Avx.UnpackHigh(r0, r1);
        var t2 = Avx.UnpackLow(r2, r3); var t3 = Avx.UnpackHigh(r2, r3);
        var t4 = Avx.UnpackLow(r4, r5); var t5 = Avx.UnpackHigh(r4, r5);
        var t6 = Avx.UnpackLow(r6, r7); var t7 = Avx.UnpackHigh(r6, r7);
        var u0 = Avx.Shuffle(t0, t2, 0x44); var u1 = Avx.Shuffle(t0, t2, 0xEE);
        var u2 = Avx.Shuffle(t1, t3, 0x44); var u3 = Avx.Shuffle(t1, t3, 0xEE);
        var u4 = Avx.Shuffle(t4, t6, 0x44); var u5 = Avx.Shuffle(t4, t6, 0xEE);
        var u6 = Avx.Shuffle(t5, t7, 0x44); var u7 = Avx.Shuffle(t5, t7, 0xEE);
        r0 = Avx.Permute2x128(u0, u4, 0x20); r1 = Avx.Permute2x128(u1, u5, 0x20);
        r2 = Avx.Permute2x128(u2, u6, 0x20); r3 = Avx.Permute2x128(u3, u7, 0x20);
        r4 = Avx.Permute2x128(u0, u4, 0x31); r5 = Avx.Permute2x128(u1, u5, 0x31);
        r6 = Avx.Permute2x128(u2, u6, 0x31); r7 = Avx.Permute2x128(u3, u7, 0x31);
    }

    /// <summary>Packs columns [col0, col0+cols) (cols ≤ nr) of op(B), rows [p0, p0+kc).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void PackB<TV, TO>(float* b, nint ldb, bool transB, int col0, int cols, int p0, int kc, float* dst)
        where TV : struct where TO : struct, IGemmVector<TV>
    {
        nint w = TO.Width, nr = GemmMicroKernel.NV * TO.Width;
        if (!transB)
        {
            // B stored [k×n]: the NR values for one p are contiguous.
            float* src = b + p0 * ldb + col0;
            if (cols == nr)
            {
                for (int p = 0; p < kc; p++, src += ldb, dst += nr)
                {
                    TO.Store(ref dst[0], TO.Load(ref src[0]));
                    TO.Store(ref dst[w], TO.Load(ref src[w]));
                    TO.Store(ref dst[2 * w], TO.Load(ref src[2 * w]));
                }
            }
            else
            {
                for (int p = 0; p < kc; p++, src += ldb, dst += nr)
                {
                    int j = 0;
                    for (; j < cols; j++) dst[j] = src[j];
                    for (; j < nr; j++) dst[j] = 0f;
                }
            }
            return;
        }
        // B stored [n×k]: one value from each of the NR rows of storage per p.
        int j0 = 0;
        if (Avx.IsSupported)
            for (; j0 + 8 <= cols; j0 += 8)
                PackRows8x8(b + (col0 + j0) * ldb + p0, ldb, kc, dst + j0, nr);
        for (int j = j0; j < nr; j++)
        {
            float* d = dst + j;
            if (j < cols)
            {
                float* src = b + (col0 + j) * ldb + p0;
                for (int p = 0; p < kc; p++) d[p * nr] = src[p];
            }
            else
            {
                for (int p = 0; p < kc; p++) d[p * nr] = 0f;
            }
        }
    }
}
