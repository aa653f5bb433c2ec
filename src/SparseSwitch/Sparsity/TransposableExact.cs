namespace SparseSwitch.Sparsity;

/// <summary>
/// Exact transposable N:M for one M×M tile: maximum-weight b-matching as a min-cost flow
/// (SPEC §3.2). Nodes: source s, rows r_i, columns c_j, sink t. Edges s→r_i (capacity N, cost 0),
/// r_i→c_j (capacity 1, cost K − round(|W_ij|·2^40/max|W|) ≥ 0), c_j→t (capacity N, cost 0).
/// Every full flow uses exactly N·M row→column edges, so the constant K does not move the optimum,
/// and it makes every initial cost non-negative. Successive shortest paths: N·M unit augmentations,
/// each a dense Dijkstra on reduced costs with node potentials (integer arithmetic, so the result
/// is an exact optimum of the integer costs; the LP is totally unimodular).
/// </summary>
internal static class TransposableExact
{
    private const long Scale = 1L << 40;
    private const long Inf = long.MaxValue / 4;

    public static void Solve(ReadOnlySpan<float> tile, int n, int m, Span<byte> keep)
    {
        int mm = m * m;
        float max = 0;
        for (int i = 0; i < mm; i++) max = MathF.Max(max, MathF.Abs(tile[i]));
        Span<long> cost = stackalloc long[mm];
        double f = max > 0 ? Scale / (double)max : 0;
        for (int i = 0; i < mm; i++) cost[i] = Scale - (long)Math.Round(Math.Abs(tile[i]) * f);

        keep.Clear();
        int V = 2 * m + 2, S = 2 * m, T = 2 * m + 1;
        Span<long> pi = stackalloc long[V];
        Span<long> dist = stackalloc long[V];
        Span<int> prev = stackalloc int[V];
        Span<bool> done = stackalloc bool[V];
        Span<int> rowUsed = stackalloc int[m];
        Span<int> colUsed = stackalloc int[m];
        pi.Clear(); rowUsed.Clear(); colUsed.Clear();

        for (int flow = 0; flow < n * m; flow++)
        {
            dist.Fill(Inf); done.Clear(); prev.Fill(-1);
            dist[S] = 0;
            while (true)
            {
                int u = -1; long best = Inf;
                for (int v = 0; v < V; v++) if (!done[v] && dist[v] < best) { best = dist[v]; u = v; }
                if (u < 0 || u == T) break;
                done[u] = true;
                long du = dist[u] + pi[u];
                if (u == S)
                {
                    for (int i = 0; i < m; i++)
                        if (rowUsed[i] < n) Relax(i, du - pi[i], S, dist, prev, done);
                }
                else if (u < m)
                {
                    int row = u * m;
                    for (int j = 0; j < m; j++)
                        if (keep[row + j] == 0) Relax(m + j, du + cost[row + j] - pi[m + j], u, dist, prev, done);
                }
                else
                {
                    int j = u - m;
                    for (int i = 0; i < m; i++)
                        if (keep[i * m + j] != 0) Relax(i, du - cost[i * m + j] - pi[i], u, dist, prev, done);
                    if (colUsed[j] < n) Relax(T, du - pi[T], u, dist, prev, done);
                }
            }
            long dt = dist[T];
            if (dt >= Inf) throw new InvalidOperationException("Transposable N:M flow found no augmenting path (internal error).");
            for (int v = 0; v < V; v++) pi[v] += Math.Min(dist[v], dt);
            // Augment one unit along t ← ... ← s.
            int x = T;
            while (x != S)
            {
                int p = prev[x];
                if (p == S) rowUsed[x]++;
                else if (x == T) colUsed[p - m]++;
                else if (p < m) keep[p * m + (x - m)] = 1;      // row p → column x: take the edge
                else keep[x * m + (p - m)] = 0;                  // column p → row x: release it
                x = p;
            }
        }
    }

    private static void Relax(int v, long nd, int u, Span<long> dist, Span<int> prev, Span<bool> done)
    {
        if (!done[v] && nd < dist[v]) { dist[v] = nd; prev[v] = u; }
    }
}
