using System.Numerics;
using System.Runtime.Intrinsics;

namespace SparseSwitch.Sparsity;

/// <summary>
/// Greedy transposable N:M for one M×M tile (SPEC §3.2): visit entries in descending |W| (ties:
/// lower index first) and keep (i, j) while row i and column j each have fewer than N. The result
/// keeps at least half the optimal magnitude (a greedy b-matching is a ½-approximation) but may
/// leave rows and columns short of N. <see cref="FixUp"/> completes it to exactly N per row and
/// column with augmenting paths: the best-gain 3-edge swap (add (i,l), add (k,j), drop (k,l)) for a
/// short row i and short column j, else any alternating path found by breadth-first search.
/// </summary>
internal static class TransposableGreedy
{
    public static void Solve(ReadOnlySpan<float> tile, int n, int m, Span<byte> keep)
    {
        int mm = m * m;
        Span<int> order = stackalloc int[mm];
        if (Vector512.IsHardwareAccelerated && mm <= 256) RankVector512(tile, order);
        else SortScalar(tile, order);
        Take(order, n, m, keep);
    }

    /// <summary>Scalar twin (test oracle): positions in descending |W|, ties by ascending index.</summary>
    public static void SolveScalar(ReadOnlySpan<float> tile, int n, int m, Span<byte> keep)
    {
        Span<int> order = stackalloc int[m * m];
        SortScalar(tile, order);
        Take(order, n, m, keep);
    }

    private static void Take(ReadOnlySpan<int> order, int n, int m, Span<byte> keep)
    {
        keep.Clear();
        Span<int> rowCnt = stackalloc int[m];
        Span<int> colCnt = stackalloc int[m];
        rowCnt.Clear(); colCnt.Clear();
        int kept = 0, target = n * m;
        for (int q = 0; q < order.Length && kept < target; q++)
        {
            int idx = order[q];
            int i = idx / m, j = idx - i * m;
            if (rowCnt[i] < n && colCnt[j] < n)
            {
                keep[idx] = 1; rowCnt[i]++; colCnt[j]++; kept++;
            }
        }
    }

    private static void SortScalar(ReadOnlySpan<float> tile, Span<int> order)
    {
        int mm = tile.Length;
        Span<ulong> keys = stackalloc ulong[mm];
        for (int i = 0; i < mm; i++)
        {
            uint bits = BitConverter.SingleToUInt32Bits(MathF.Abs(tile[i]));
            keys[i] = ((ulong)bits << 16) | (uint)(0xFFFF - i);    // descending |W|, then ascending index
        }
        keys.Sort();
        for (int q = 0; q < mm; q++) order[q] = 0xFFFF - (int)(keys[mm - 1 - q] & 0xFFFF);
    }

    /// <summary>rank(i) = #{j : |w_j| &gt; |w_i| or (|w_j| = |w_i| and j &lt; i)}, counted with
    /// 16-lane compares; order[rank(i)] = i. Branch-free; lanes past the tile hold −1.</summary>
    private static void RankVector512(ReadOnlySpan<float> tile, Span<int> order)
    {
        int mm = tile.Length, blocks = (mm + 15) >> 4;
        Span<float> a = stackalloc float[blocks << 4];
        a.Fill(-1f);
        for (int i = 0; i < mm; i++) a[i] = MathF.Abs(tile[i]);
        Span<Vector512<float>> vals = stackalloc Vector512<float>[blocks];
        Span<Vector512<float>> idx = stackalloc Vector512<float>[blocks];
        var lane = Vector512.Create(0f, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        for (int b = 0; b < blocks; b++)
        {
            vals[b] = Vector512.Create((ReadOnlySpan<float>)a.Slice(b << 4));
            idx[b] = lane + Vector512.Create((float)(b << 4));
        }
        for (int i = 0; i < mm; i++)
        {
            var ai = Vector512.Create(a[i]);
            var fi = Vector512.Create((float)i);
            int rank = 0;
            for (int b = 0; b < blocks; b++)
            {
                var v = vals[b];
                var before = Vector512.GreaterThan(v, ai) | (Vector512.Equals(v, ai) & Vector512.LessThan(idx[b], fi));
                rank += BitOperations.PopCount(before.ExtractMostSignificantBits());
            }
            order[rank] = i;
        }
    }

    public static void FixUp(ReadOnlySpan<float> tile, int n, int m, Span<byte> keep)
    {
        Span<int> rowCnt = stackalloc int[m];
        Span<int> colCnt = stackalloc int[m];
        rowCnt.Clear(); colCnt.Clear();
        int kept = 0;
        for (int i = 0; i < m; i++)
            for (int j = 0; j < m; j++)
                if (keep[i * m + j] != 0) { rowCnt[i]++; colCnt[j]++; kept++; }
        Span<int> prev = stackalloc int[2 * m];
        Span<int> queue = stackalloc int[2 * m];
        while (kept < n * m)
        {
            if (!BestSwap(tile, n, m, keep, rowCnt, colCnt))
                AugmentBfs(n, m, keep, rowCnt, colCnt, prev, queue);
            kept++;
        }
    }

    /// <summary>Direct add (i, j) or the best 3-edge swap for a short row i and short column j.</summary>
    private static bool BestSwap(ReadOnlySpan<float> t, int n, int m, Span<byte> keep, Span<int> rowCnt, Span<int> colCnt)
    {
        float best = float.NegativeInfinity;
        int bi = -1, bj = -1, bk = -1, bl = -1;
        for (int i = 0; i < m; i++)
        {
            if (rowCnt[i] >= n) continue;
            for (int j = 0; j < m; j++)
            {
                if (colCnt[j] >= n) continue;
                if (keep[i * m + j] == 0)
                {
                    float g = MathF.Abs(t[i * m + j]);
                    if (g > best) { best = g; bi = i; bj = j; bk = -1; bl = -1; }
                    continue;
                }
                for (int k = 0; k < m; k++)
                {
                    if (k == i || keep[k * m + j] != 0) continue;
                    for (int l = 0; l < m; l++)
                    {
                        if (l == j || keep[i * m + l] != 0 || keep[k * m + l] == 0) continue;
                        float g = MathF.Abs(t[i * m + l]) + MathF.Abs(t[k * m + j]) - MathF.Abs(t[k * m + l]);
                        if (g > best) { best = g; bi = i; bj = j; bk = k; bl = l; }
                    }
                }
            }
        }
        if (bi < 0) return false;
        if (bk < 0) keep[bi * m + bj] = 1;
        else
        {
            keep[bi * m + bl] = 1; keep[bk * m + bj] = 1; keep[bk * m + bl] = 0;
        }
        rowCnt[bi]++; colCnt[bj]++;
        return true;
    }

    /// <summary>Breadth-first alternating path from a short row to a short column (rows 0..m−1,
    /// columns m..2m−1; row→column over unkept entries, column→row over kept ones).</summary>
    private static void AugmentBfs(int n, int m, Span<byte> keep, Span<int> rowCnt, Span<int> colCnt, Span<int> prev, Span<int> queue)
    {
        prev.Fill(-2);
        int head = 0, tail = 0;
        for (int i = 0; i < m; i++) if (rowCnt[i] < n) { prev[i] = -1; queue[tail++] = i; }
        while (head < tail)
        {
            int u = queue[head++];
            if (u < m)
            {
                for (int j = 0; j < m; j++)
                {
                    if (keep[u * m + j] != 0 || prev[m + j] != -2) continue;
                    prev[m + j] = u;
                    if (colCnt[j] < n) { Flip(m + j, m, keep, rowCnt, colCnt, prev); return; }
                    queue[tail++] = m + j;
                }
            }
            else
            {
                int j = u - m;
                for (int i = 0; i < m; i++)
                {
                    if (keep[i * m + j] == 0 || prev[i] != -2) continue;
                    prev[i] = u;
                    queue[tail++] = i;
                }
            }
        }
        throw new InvalidOperationException("Transposable N:M fix-up found no augmenting path (internal error).");
    }

    private static void Flip(int endCol, int m, Span<byte> keep, Span<int> rowCnt, Span<int> colCnt, Span<int> prev)
    {
        colCnt[endCol - m]++;
        int x = endCol;
        while (true)
        {
            int p = prev[x];
            if (p == -1) { rowCnt[x]++; return; }
            if (x >= m) keep[p * m + (x - m)] = 1;   // row p → column x: take
            else keep[x * m + (p - m)] = 0;          // column p → row x: release
            x = p;
        }
    }
}
