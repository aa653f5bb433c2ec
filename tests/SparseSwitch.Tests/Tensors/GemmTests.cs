using SparseSwitch.Tensors;
using SparseSwitch.Tests.Support;
using Xunit;

namespace SparseSwitch.Tests.Tensors;

/// <summary>The optimised <see cref="Gemm.Sgemm"/> against its scalar twin (which accumulates in
/// double). Float accumulation over k terms errs by about k·ε·Σ|a·b|, so the tolerance scales
/// with k and with the magnitude of the terms, not of the result.</summary>
public class GemmTests
{
    private const int MR = GemmMicroKernel.MR;
    private static int NR => GemmMicroKernel.NV * (System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated ? 16
        : System.Runtime.Intrinsics.Vector256.IsHardwareAccelerated ? 8 : 4);

    private static float[] Random(Rng rng, int length)
    {
        var x = new float[length];
        for (int i = 0; i < length; i++) x[i] = rng.NextFloat() * 2f - 1f;
        return x;
    }

    /// <summary>Runs both implementations on identical inputs (operands at offset
    /// <paramref name="offset"/> inside their arrays, padded leading dimensions) and compares.</summary>
    private static void Check(bool ta, bool tb, int m, int n, int k, float alpha, float beta,
        int pad = 0, int offset = 0, bool nanC = false, ulong seed = 1, EngineOptions? options = null)
    {
        var rng = new Rng(seed);
        int lda = Math.Max(1, (ta ? m : k) + pad), ldb = Math.Max(1, (tb ? k : n) + pad), ldc = Math.Max(1, n + pad);
        int aRows = ta ? k : m, bRows = tb ? n : k;
        var a = Random(rng, offset + aRows * lda + 1);
        var b = Random(rng, offset + bRows * ldb + 1);
        var c0 = Random(rng, offset + m * ldc + 1);
        if (nanC) // NaN in every element the product writes; the padding keeps its values
            for (int i = 0; i < m; i++) c0.AsSpan(offset + i * ldc, n).Fill(float.NaN);
        var expected = (float[])c0.Clone();
        var actual = (float[])c0.Clone();
        Gemm.SgemmReference(ta, tb, m, n, k, alpha, a.AsSpan(offset), lda, b.AsSpan(offset), ldb, beta, expected.AsSpan(offset), ldc);
        Gemm.Sgemm(ta, tb, m, n, k, alpha, a.AsSpan(offset), lda, b.AsSpan(offset), ldb, beta, actual.AsSpan(offset), ldc, options);
        // Each term |a·b| ≤ 1; float summation error is bounded by ~k·ε per unit of Σ|a·b| ≤ k.
        double atol = Math.Abs(alpha) * 4e-7 * Math.Max(1, k) * Math.Sqrt(Math.Max(1, k)) + 1e-6;
        Close.Assert(expected, actual, atol, 1e-6, $"ta={ta} tb={tb} m={m} n={n} k={k} alpha={alpha} beta={beta} pad={pad} off={offset}");
    }

    public static IEnumerable<object[]> Shapes()
    {
        int nr = NR;
        int[] ms = [0, 1, 2, MR - 1, MR, MR + 1, 13, 2 * MR + 3, 97];
        int[] ns = [0, 1, 3, nr - 1, nr, nr + 1, 31, 2 * nr + 5];
        int[] ks = [0, 1, 2, 7, 17, 257];
        var rng = new Rng(42);
        foreach (int m in ms)
        foreach (int n in ns)
        {
            int k = ks[rng.NextInt(ks.Length)];
            yield return [m, n, k];
        }
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void MatchesReferenceOnOddShapes(int m, int n, int k)
    {
        foreach (bool ta in new[] { false, true })
        foreach (bool tb in new[] { false, true })
            Check(ta, tb, m, n, k, 1f, 0f);
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public void AllTransposeCombinationsWithPaddingAndOffsets(bool ta, bool tb)
    {
        for (int offset = 0; offset <= 3; offset++)
            Check(ta, tb, 37, 53, 29, 0.75f, -0.5f, pad: 3 + offset, offset: offset, seed: (ulong)offset + 7);
    }

    [Theory]
    [InlineData(1f, 0f)]
    [InlineData(1f, 1f)]
    [InlineData(-2f, 0.5f)]
    [InlineData(0.5f, -1f)]
    [InlineData(0f, 0.25f)]
    [InlineData(0f, 0f)]
    public void AlphaBeta(float alpha, float beta)
    {
        Check(false, false, 19, 67, 300, alpha, beta);
        Check(true, true, 19, 67, 300, alpha, beta);
    }

    [Fact]
    public void BetaZeroDoesNotReadC()
    {
        foreach (bool ta in new[] { false, true })
        foreach (bool tb in new[] { false, true })
        {
            Check(ta, tb, 21, 50, 11, 1f, 0f, pad: 2, nanC: true);
            Check(ta, tb, 5, 7, 0, 1f, 0f, nanC: true);
        }
    }

    [Fact]
    public void LargerThanOneBlockInEveryDimension()
    {
        // Crosses MC, KC and (at a narrow width) NC boundaries; k spans three k-slices.
        Check(false, false, 211, 3 * NR * 64 / 16 + 7, 600, 1f, 0.5f);
        Check(true, true, 131, 301, 529, -1f, 0f, pad: 1);
    }

    [Fact]
    public void SmallBlockSizesCrossEveryBlockBoundary()
    {
        // Several k-slices, MC-row blocks, NC-column tasks and packed column blocks (two panels each).
        var o = EngineOptions.Default with { Gemm = new GemmBlocking { KC = 40, MC = 2 * MR, NC = NR, PackedBLimit = 2L * 300 * NR } };
        {
            foreach (int threads in new[] { 1, 2 })
            {
                o = o with { Threads = threads };
                Check(false, false, 5 * MR + 3, 5 * NR + 7, 300, 1f, 0.5f, options: o);
                Check(true, true, 6 * MR, 4 * NR, 300, -1f, 0f, pad: 2, options: o); // above the threading threshold
            }
        }
    }

    [Theory]
    [InlineData(16, 1024, 27)]
    [InlineData(32, 1024, 144)]
    [InlineData(64, 256, 576)]
    public void ConvolutionLikeShapes(int m, int n, int k)
    {
        foreach (bool ta in new[] { false, true })
        foreach (bool tb in new[] { false, true })
            Check(ta, tb, m, n, k, 1f, 0f, seed: (ulong)(m + n + k));
    }

    [Fact]
    public void SameBitsForOneAndTwoThreads()
    {
        var o = EngineOptions.Default;
        {
            var rng = new Rng(5);
            int m = 157, n = 203, k = 611;
            var a = Random(rng, m * k);
            var b = Random(rng, n * k);
            var results = new List<float[]>();
            foreach (int threads in new[] { 1, 2, 1, 2 })
            {
                o = o with { Threads = threads };
                var c = Random(new Rng(9), m * n);
                Gemm.Sgemm(false, true, m, n, k, 1.5f, a, k, b, k, 0.5f, c, n, o);
                results.Add(c);
            }
            for (int i = 1; i < results.Count; i++) Assert.Equal(results[0], results[i]);
            o = o with { Threads = 2 };
            Check(false, false, 157, 203, 611, 1f, 0.5f, options: o);
            Check(true, false, 33, 1000, 100, 1f, 0f, options: o);
        }
    }

    /// <summary>The narrower-vector instantiations of the driver (the fallbacks on machines
    /// without AVX-512) against the reference, called directly since Sgemm picks the widest.</summary>
    [CpuFact(CpuFeature.Vector256)]
    public void Vector256DriverMatchesReference() => NarrowerVectorWidthMatchesReference(256);

    [CpuFact(CpuFeature.Vector128)]
    public void Vector128DriverMatchesReference() => NarrowerVectorWidthMatchesReference(128);

    private static unsafe void NarrowerVectorWidthMatchesReference(int bits)
    {
        var rng = new Rng(11);
        foreach (var (m, n, k, ta, tb) in new[] { (13, 29, 37, false, false), (8, 24, 5, true, false), (33, 50, 300, false, true), (17, 7, 19, true, true) })
        {
            int lda = ta ? m : k, ldb = tb ? k : n;
            var a = Random(rng, m * k);
            var b = Random(rng, k * n);
            var expected = Random(rng, m * n);
            var actual = (float[])expected.Clone();
            Gemm.SgemmReference(ta, tb, m, n, k, 1.25f, a, lda, b, ldb, 0.5f, expected, n);
            fixed (float* pa = a, pb = b, pc = actual)
            {
                if (bits == 256)
                    GemmDriver<System.Runtime.Intrinsics.Vector256<float>, Gemm256>.ForThisThread.Run(ta, tb, m, n, k, 1.25f, pa, lda, pb, ldb, 0.5f, pc, n, EngineOptions.Default);
                else
                    GemmDriver<System.Runtime.Intrinsics.Vector128<float>, Gemm128>.ForThisThread.Run(ta, tb, m, n, k, 1.25f, pa, lda, pb, ldb, 0.5f, pc, n, EngineOptions.Default);
            }
            Close.Assert(expected, actual, 1.25 * 4e-7 * k * Math.Sqrt(k) + 1e-6, 1e-6, $"{bits}-bit m={m} n={n} k={k} ta={ta} tb={tb}");
        }
    }

    [Fact]
    public void MatrixVectorProducts()
    {
        var o = EngineOptions.Default;
        {
            foreach (int threads in new[] { 1, 2 })
            {
                o = o with { Threads = threads };
                foreach (bool ta in new[] { false, true })
                foreach (bool tb in new[] { false, true })
                {
                    // Above and below the threading threshold, odd output counts, padding, offsets.
                    Check(ta, tb, 1, 1000 + 13, 700, 1.5f, 0.5f, pad: 3, offset: 1, options: o);
                    Check(ta, tb, 777, 1, 900, -1f, 0f, pad: 2, offset: 2, nanC: true, options: o);
                    Check(ta, tb, 1, 37, 5, 1f, 0f, pad: 1, options: o);
                    Check(ta, tb, 63, 1, 1, 1f, 1f, options: o);
                }
            }
            // Same bits for one and two threads.
            var rng = new Rng(8);
            var a = Random(rng, 1500);
            var b = Random(rng, 1500 * 999);
            var r1 = new float[999];
            var r2 = new float[999];
            o = o with { Threads = 1 };
            Gemm.Sgemm(false, false, 1, 999, 1500, 1f, a, 1500, b, 999, 0f, r1, 999, o);
            o = o with { Threads = 2 };
            Gemm.Sgemm(false, false, 1, 999, 1500, 1f, a, 1500, b, 999, 0f, r2, 999, o);
            Assert.Equal(r1, r2);
        }
    }

    [Fact]
    public void SteadyStateCallsDoNotAllocate()
    {
        var o = EngineOptions.Default;
        {
            var rng = new Rng(3);
            int m = 70, n = 90, k = 500; // above the threading threshold
            var a = Random(rng, m * k);
            var b = Random(rng, k * n);
            var c = new float[m * n];
            foreach (int threads in new[] { 1, 2 })
            {
                o = o with { Threads = threads };
                Gemm.Sgemm(false, true, m, n, k, 1f, a, k, b, k, 0f, c, n, o); // grows the buffers
                long before = GC.GetAllocatedBytesForCurrentThread();
                for (int i = 0; i < 5; i++) Gemm.Sgemm(false, true, m, n, k, 1f, a, k, b, k, 0f, c, n, o);
                Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
            }
        }
    }

    [Fact]
    public unsafe void HalfTileKernelGivesTheSameBits()
    {
        // The 16-register path (two 4-row halves per tile) must agree bit for bit with the
        // 32-register kernel, whichever of them Sgemm uses on this CPU.
        var rng = new Rng(21);
        int w = System.Runtime.Intrinsics.Vector256<float>.Count, nr = GemmMicroKernel.NV * w, kc = 300;
        var ap = Random(rng, MR * kc);
        var bp = Random(rng, kc * nr);
        var c0 = Random(rng, MR * nr);
        var full = (float[])c0.Clone();
        var halves = (float[])c0.Clone();
        fixed (float* pa = ap, pb = bp, pf = full, ph = halves)
        {
            var b = new PackedB(pb, nr, w);
            GemmMicroKernel.Run<System.Runtime.Intrinsics.Vector256<float>, Gemm256, PackedB>(kc, pa, b, pf, nr, 0.5f, 2f);
            GemmMicroKernel.RunHalf<System.Runtime.Intrinsics.Vector256<float>, Gemm256, PackedB>(kc, pa, b, ph, nr, 0.5f, 2f);
            GemmMicroKernel.RunHalf<System.Runtime.Intrinsics.Vector256<float>, Gemm256, PackedB>(kc, pa + MR / 2, b, ph + MR / 2 * nr, nr, 0.5f, 2f);
        }
        Assert.Equal(full, halves);
        Check(false, true, 37, 101, 77, 1f, 0f);
    }

    [Fact]
    public void RejectsBadArguments()
    {
        var a = new float[12];
        var b = new float[12];
        var c = new float[12];
        Assert.Contains("lda", Assert.Throws<ArgumentException>(() => Gemm.Sgemm(false, false, 3, 4, 4, 1f, a, 3, b, 4, 0f, c, 4)).Message);
        Assert.Contains("ldb", Assert.Throws<ArgumentException>(() => Gemm.Sgemm(false, false, 3, 4, 4, 1f, a, 4, b, 3, 0f, c, 4)).Message);
        Assert.Contains("ldc", Assert.Throws<ArgumentException>(() => Gemm.Sgemm(false, false, 3, 4, 4, 1f, a, 4, b, 4, 0f, c, 3)).Message);
        Assert.Contains("A is too short", Assert.Throws<ArgumentException>(() => Gemm.Sgemm(false, false, 4, 3, 4, 1f, a, 4, b, 3, 0f, c, 3)).Message);
        Assert.Contains("B is too short", Assert.Throws<ArgumentException>(() => Gemm.Sgemm(false, false, 3, 3, 5, 1f, new float[15], 5, b, 3, 0f, c, 3)).Message);
        Assert.Contains("C is too short", Assert.Throws<ArgumentException>(() => Gemm.Sgemm(false, false, 3, 5, 2, 1f, a, 2, b, 5, 0f, c, 5)).Message);
        Assert.Contains("Negative", Assert.Throws<ArgumentException>(() => Gemm.Sgemm(false, false, -1, 4, 4, 1f, a, 4, b, 4, 0f, c, 4)).Message);
    }
}
