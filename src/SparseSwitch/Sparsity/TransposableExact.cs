using System.Numerics;

namespace SparseSwitch.Sparsity;

/// <summary>
/// Exact transposable N:M for one M×M tile: maximum-weight b-matching as a min-cost flow
/// (SPEC §3.2). Nodes: source s, rows r_i, columns c_j, sink t. Edges s→r_i (capacity N, cost 0),
/// r_i→c_j (capacity 1, cost K − round(|W_ij|·2^40/max|W|) ≥ 0), c_j→t (capacity N, cost 0).
/// Every full flow uses exactly N·M row→column edges, so the constant K does not move the optimum,
/// and it makes every initial cost non-negative. Successive shortest paths: N·M unit augmentations,
/// each a Dijkstra on reduced costs with node potentials (stopped when t is settled; unsettled
/// nodes' potentials advance by dist(t)). Integer arithmetic, so the result is an exact optimum of
/// the integer costs (the LP is totally unimodular, so the optimum is a 0/1 mask).
/// The graph is tiny (2M + 2 nodes), so nodes are bit sets: kept entries are a row bit mask per
/// row and per column, and the source is implicit (its potential stays 0).
/// </summary>
internal static unsafe class TransposableExact
{
    public const int MaxM = 31;
    private const long Scale = 1L << 40;
    private const long Inf = long.MaxValue / 4;

    public static void Solve(ReadOnlySpan<float> tile, int n, int m, Span<byte> keep)
    {
        if (m > MaxM) throw new ArgumentOutOfRangeException(nameof(m), $"Exact transposable tiles support M ≤ {MaxM} (got {m}).");
        int mm = m * m, T = 2 * m, V = 2 * m + 1;
        float max = 0;
        for (int i = 0; i < mm; i++) max = MathF.Max(max, MathF.Abs(tile[i]));
        long* cost = stackalloc long[mm];
        double f = max > 0 ? Scale / (double)max : 0;
        for (int i = 0; i < mm; i++) cost[i] = Scale - (long)Math.Round(Math.Abs(tile[i]) * f);

        uint* rowKeep = stackalloc uint[m];   // bit j: (i, j) kept
        uint* colKeep = stackalloc uint[m];   // bit i: (i, j) kept
        int* rowUsed = stackalloc int[m];
        int* colUsed = stackalloc int[m];
        long* pi = stackalloc long[V];
        long* dist = stackalloc long[V];
        int* prev = stackalloc int[V];
        for (int i = 0; i < m; i++) { rowKeep[i] = 0; colKeep[i] = 0; rowUsed[i] = 0; colUsed[i] = 0; }
        for (int v = 0; v < V; v++) pi[v] = 0;
        uint allCols = m == 32 ? ~0u : (1u << m) - 1;

        for (int flow = 0; flow < n * m; flow++)
        {
            // Source edges: dist(r_i) = reduced cost of s→r_i = 0 + π_s − π_i with π_s = 0.
            for (int i = 0; i < m; i++) { dist[i] = rowUsed[i] < n ? -pi[i] : Inf; prev[i] = -1; }
            for (int v = m; v < V; v++) dist[v] = Inf;
            ulong open = (1UL << V) - 1;
            while (true)
            {
                int u = -1; long best = Inf;
                for (ulong o = open; o != 0; o &= o - 1)
                {
                    int v = BitOperations.TrailingZeroCount(o);
                    if (dist[v] < best) { best = dist[v]; u = v; }
                }
                if (u < 0 || u == T) break;
                open &= ~(1UL << u);
                long du = dist[u] + pi[u];
                if (u < m)
                {
                    long* cr = cost + u * m;
                    for (uint free = ~rowKeep[u] & allCols; free != 0; free &= free - 1)
                    {
                        int j = BitOperations.TrailingZeroCount(free), v = m + j;
                        if ((open >> v & 1) == 0) continue;
                        long nd = du + cr[j] - pi[v];
                        if (nd < dist[v]) { dist[v] = nd; prev[v] = u; }
                    }
                }
                else
                {
                    int j = u - m;
                    for (uint rows = colKeep[j]; rows != 0; rows &= rows - 1)
                    {
                        int i = BitOperations.TrailingZeroCount(rows);
                        if ((open >> i & 1) == 0) continue;
                        long nd = du - cost[i * m + j] - pi[i];
                        if (nd < dist[i]) { dist[i] = nd; prev[i] = u; }
                    }
                    if (colUsed[j] < n)
                    {
                        long nd = du - pi[T];
                        if (nd < dist[T]) { dist[T] = nd; prev[T] = u; }
                    }
                }
            }
            long dt = dist[T];
            if (dt >= Inf) throw new InvalidOperationException("Transposable N:M flow found no augmenting path (internal error).");
            for (int v = 0; v < V; v++) pi[v] += Math.Min(dist[v], dt);

            // Augment one unit along t ← c ← r ← ... ← r ← s.
            int x = prev[T];
            colUsed[x - m]++;
            while (true)
            {
                int r = prev[x];                  // x is a column, r the row before it: take (r, x)
                int j = x - m;
                rowKeep[r] |= 1u << j; colKeep[j] |= 1u << r;
                int c = prev[r];
                if (c < 0) { rowUsed[r]++; break; }
                int jc = c - m;                   // column before the row: release (r, jc)
                rowKeep[r] &= ~(1u << jc); colKeep[jc] &= ~(1u << r);
                x = c;
            }
        }
        for (int i = 0; i < m; i++)
            for (int j = 0; j < m; j++) keep[i * m + j] = (byte)(rowKeep[i] >> j & 1);
    }
}
