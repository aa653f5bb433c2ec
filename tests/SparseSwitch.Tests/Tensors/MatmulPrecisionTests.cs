using SparseSwitch.Tensors;
using SparseSwitch.Tests.Support;
using Xunit;

namespace SparseSwitch.Tests.Tensors;

/// <summary><see cref="MatmulPrecision.Highest"/> against an oracle of its own: every product of
/// two floats is exact in double, and their sum is taken with compensated (Neumaier) summation, so
/// the oracle is the exact dot product to within far less than a float32 ulp. Highest must round
/// to a neighbour of it (within one ulp); the fast float32 summation must not, somewhere.</summary>
public class MatmulPrecisionTests
{
    private static readonly EngineOptions Highest = EngineOptions.Default with { MatmulPrecision = MatmulPrecision.Highest };

    /// <summary>C = alpha·op(A)·op(B) + beta·C in double, each dot product summed with Neumaier's
    /// compensation; also |alpha·dot| + |beta·c| of each element.</summary>
    private static (double[] C, double[] Terms) Oracle(bool ta, bool tb, int m, int n, int k, double alpha,
        float[] a, int lda, float[] b, int ldb, double beta, float[] c0)
    {
        var c = new double[m * n];
        var mag = new double[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double sum = 0, comp = 0;
                for (int p = 0; p < k; p++)
                {
                    double term = (double)(ta ? a[p * lda + i] : a[i * lda + p]) * (tb ? b[j * ldb + p] : b[p * ldb + j]); // exact
                    double t = sum + term;
                    comp += Math.Abs(sum) >= Math.Abs(term) ? (sum - t) + term : (term - t) + sum;
                    sum = t;
                }
                double dot = sum + comp;
                double prev = beta == 0 ? 0 : beta * c0[i * n + j];
                c[i * n + j] = alpha * dot + prev;
                mag[i * n + j] = Math.Abs(alpha * dot) + Math.Abs(prev);
            }
        return (c, mag);
    }

    /// <summary>The largest error of <paramref name="got"/> in float32 ulps of the oracle's value.</summary>
    private static double MaxUlps(double[] oracle, float[] got)
    {
        double worst = 0;
        for (int i = 0; i < got.Length; i++)
        {
            float o = (float)oracle[i];
            double ulp = MathF.BitIncrement(MathF.Abs(o)) - MathF.Abs(o);
            worst = Math.Max(worst, Math.Abs(got[i] - oracle[i]) / ulp);
        }
        return worst;
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    [InlineData(true, true)]
    public void HighestPrecisionRoundsTheExactProductToWithinOneUlp(bool ta, bool tb)
    {
        var rng = new Rng(5);
        int m = 37, n = 53, k = 301;
        var a = new float[m * k]; var b = new float[k * n];
        rng.FillNormal(a, 0, 1); rng.FillNormal(b, 0, 1);
        int lda = ta ? m : k, ldb = tb ? k : n;
        var (oracle, _) = Oracle(ta, tb, m, n, k, 1, a, lda, b, ldb, 0, new float[m * n]);
        var highest = new float[m * n];
        var fast = new float[m * n];
        Gemm.Sgemm(ta, tb, m, n, k, 1f, a, lda, b, ldb, 0f, highest, n, Highest);
        Gemm.Sgemm(ta, tb, m, n, k, 1f, a, lda, b, ldb, 0f, fast, n, EngineOptions.Default with { MatmulPrecision = MatmulPrecision.Fast });
        double highestUlps = MaxUlps(oracle, highest), fastUlps = MaxUlps(oracle, fast);
        Assert.True(highestUlps <= 1, $"Highest is {highestUlps:F2} ulps from the exact product");
        // The fast path really is a different (float32) summation, and the oracle can tell.
        Assert.True(fastUlps > 1, $"the fast path is within {fastUlps:F2} ulps: the check would not notice float accumulation");
        Close.Assert(oracle.Select(v => (float)v).ToArray(), fast, 1e-4, 1e-4, "fast vs exact");
    }

    [Fact]
    public void HighestPrecisionAppliesAlphaAndBetaToTheExactProduct()
    {
        var rng = new Rng(6);
        int m = 19, n = 23, k = 517;
        var a = new float[m * k]; var b = new float[k * n]; var c = new float[m * n];
        rng.FillNormal(a, 0, 1); rng.FillNormal(b, 0, 1); rng.FillNormal(c, 0, 10);
        var (oracle, terms) = Oracle(false, true, m, n, k, 1.5, a, k, b, k, -0.75, c);
        var highest = (float[])c.Clone();
        Gemm.Sgemm(false, true, m, n, k, 1.5f, a, k, b, k, -0.75f, highest, n, Highest);
        // alpha·dot and beta·c are each rounded to float once, then added in float: three float32
        // roundings (2⁻²⁴ relative each) of at most |alpha·dot| + |beta·c|.
        for (int i = 0; i < highest.Length; i++)
            Assert.True(Math.Abs(highest[i] - oracle[i]) <= 3 * Math.ScaleB(1, -24) * terms[i],
                $"element {i}: {highest[i]} vs exact {oracle[i]} (|alpha·dot| + |beta·c| = {terms[i]})");
    }
}
