namespace SparseSwitch.Tests.Sparsity;

/// <summary>Test oracle: enumerates every M×M 0/1 matrix with all row and column sums N
/// (depth-first, row by row, pruning on column sums).</summary>
internal static class BruteForceTransposable
{
    public static long CountRegular(int m, int n)
    {
        long count = 0;
        Enumerate(m, n, _ => count++);
        return count;
    }

    /// <summary>Maximum kept Σ|w| over all admissible masks, and one mask attaining it.</summary>
    public static (double Best, byte[] Mask) Optimum(ReadOnlySpan<float> tile, int n, int m)
    {
        var abs = new double[m * m];
        for (int i = 0; i < m * m; i++) abs[i] = Math.Abs(tile[i]);
        double best = double.NegativeInfinity;
        byte[] bestMask = new byte[m * m];
        Enumerate(m, n, mask =>
        {
            double s = 0;
            for (int i = 0; i < m * m; i++) if (mask[i] != 0) s += abs[i];
            if (s > best) { best = s; mask.CopyTo(bestMask, 0); }
        });
        return (best, bestMask);
    }

    private static void Enumerate(int m, int n, Action<byte[]> visit)
    {
        var mask = new byte[m * m];
        var col = new int[m];
        void Row(int i)
        {
            if (i == m) { visit(mask); return; }
            Pick(i, 0, 0);
        }
        void Pick(int i, int j, int taken)
        {
            if (taken == n) { Row(i + 1); return; }
            if (m - j < n - taken) return;
            // Skipping column j in row i is possible only if the rows below can still fill it.
            if (col[j] < n)
            {
                mask[i * m + j] = 1; col[j]++;
                Pick(i, j + 1, taken + 1);
                mask[i * m + j] = 0; col[j]--;
            }
            if (n - col[j] <= m - i - 1) Pick(i, j + 1, taken);
        }
        Row(0);
    }
}
