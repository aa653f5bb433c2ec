using System.Numerics;

namespace SparseSwitch.Sparsity;

/// <summary>
/// Mask diversity (SPEC §3.3): how many masks satisfy a sparsity constraint, exactly (big
/// integers) with log10 helpers. For T weights:
/// unstructured with K kept: C(T, K); row-wise N:M: C(M, N)^(T/M); transposable N:M:
/// A(M, N)^(T/M²), where A(M, N) counts M×M 0/1 matrices whose rows and columns all sum to N.
/// </summary>
public static class MaskDiversity
{
    public static BigInteger Binomial(int n, int k)
    {
        if (n < 0) throw new ArgumentOutOfRangeException(nameof(n), $"n must be ≥ 0 (got {n}).");
        if (k < 0 || k > n) return BigInteger.Zero;
        k = Math.Min(k, n - k);
        BigInteger r = BigInteger.One;
        for (int i = 1; i <= k; i++) r = r * (n - k + i) / i;
        return r;
    }

    /// <summary>Unstructured masks of T weights keeping round(density·T).</summary>
    public static BigInteger Unstructured(int weights, double density)
    {
        CheckDensity(density);
        if (weights < 0) throw new ArgumentOutOfRangeException(nameof(weights), $"Weight count must be ≥ 0 (got {weights}).");
        return Binomial(weights, (int)Math.Round(density * weights));
    }

    /// <summary>Row-wise N:M masks of T weights (M must divide T): C(M, N)^(T/M).</summary>
    public static BigInteger RowWise(int weights, int n, int m)
    {
        NmLayout.Check(n, m);
        if (weights < 0 || weights % m != 0)
            throw new ArgumentException($"Row-wise N:M diversity needs a weight count divisible by M = {m} (got {weights}).", nameof(weights));
        return BigInteger.Pow(Binomial(m, n), weights / m);
    }

    /// <summary>Transposable N:M masks of T weights (M² must divide T): A(M, N)^(T/M²).</summary>
    public static BigInteger Transposable(int weights, int n, int m)
    {
        NmLayout.Check(n, m);
        if (weights < 0 || weights % (m * m) != 0)
            throw new ArgumentException($"Transposable N:M diversity needs a weight count divisible by M² = {m * m} (got {weights}).", nameof(weights));
        return BigInteger.Pow(RegularBinaryMatrices(m, n), weights / (m * m));
    }

    /// <summary>
    /// A(M, N): M×M 0/1 matrices with every row and column sum N. Row-by-row dynamic programme
    /// over the multiset of column deficits: state a[r] = number of columns still needing r ones;
    /// a row picks k_r columns from each class r ≥ 1 (Σ k_r = N) in Π C(a_r, k_r) ways.
    /// </summary>
    public static BigInteger RegularBinaryMatrices(int m, int n)
    {
        if (m < 1) throw new ArgumentOutOfRangeException(nameof(m), $"M must be ≥ 1 (got {m}).");
        if (n < 0 || n > m) throw new ArgumentOutOfRangeException(nameof(n), $"N must be in [0, M] (got {n}).");
        var start = new int[n + 1];
        start[n] = m;
        var memo = new Dictionary<string, BigInteger>();
        return Count(start, m, n, memo);
    }

    private static BigInteger Count(int[] a, int rowsLeft, int n, Dictionary<string, BigInteger> memo)
    {
        if (rowsLeft == 0)
        {
            for (int r = 1; r <= n; r++) if (a[r] != 0) return BigInteger.Zero;
            return BigInteger.One;
        }
        string key = rowsLeft + ":" + string.Join(",", a);
        if (memo.TryGetValue(key, out var hit)) return hit;
        BigInteger total = BigInteger.Zero;
        var take = new int[n + 1];
        void Choose(int r, int left, BigInteger ways)
        {
            if (r == 0)
            {
                if (left != 0) return;
                var next = (int[])a.Clone();
                for (int q = 1; q <= n; q++) { next[q] -= take[q]; next[q - 1] += take[q]; }
                total += ways * Count(next, rowsLeft - 1, n, memo);
                return;
            }
            for (int k = 0; k <= Math.Min(left, a[r]); k++)
            {
                take[r] = k;
                Choose(r - 1, left - k, ways * Binomial(a[r], k));
            }
            take[r] = 0;
        }
        Choose(n, n, BigInteger.One);
        memo[key] = total;
        return total;
    }

    /// <summary>log10 of a positive big integer (for printing and comparing huge counts).</summary>
    public static double Log10(BigInteger x)
    {
        if (x.Sign <= 0) throw new ArgumentOutOfRangeException(nameof(x), "log10 needs a positive count.");
        return BigInteger.Log10(x);
    }

    private static void CheckDensity(double density)
    {
        if (!(density > 0 && density <= 1)) throw new ArgumentOutOfRangeException(nameof(density), $"Density must be in (0, 1] (got {density}).");
    }
}
