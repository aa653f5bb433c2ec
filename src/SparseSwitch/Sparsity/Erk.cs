namespace SparseSwitch.Sparsity;

/// <summary>
/// Erdős–Rényi-kernel layer densities (RigL, SPEC §2.3): layer l gets density ε·s_l with
/// s_l = (Σ dims / Π dims)^power, and ε chosen so the prunable layers together keep
/// density · Σ n_l weights. A layer whose ε·s_l would exceed 1 is made dense and ε is solved
/// again over the rest, until no layer exceeds 1.
/// </summary>
public static class Erk
{
    public static double[] Densities(IReadOnlyList<int[]> shapes, double density, double power = 1.0)
    {
        if (!(density > 0 && density <= 1)) throw new ArgumentOutOfRangeException(nameof(density), $"Density must be in (0, 1] (got {density}).");
        if (shapes.Count == 0) throw new ArgumentException("ERK needs at least one layer shape.", nameof(shapes));
        int L = shapes.Count;
        var n = new double[L]; var s = new double[L];
        for (int l = 0; l < L; l++)
        {
            var sh = shapes[l];
            if (sh.Length == 0 || sh.Any(d => d <= 0)) throw new ArgumentException($"Layer {l} has an invalid shape [{string.Join(", ", sh)}].", nameof(shapes));
            n[l] = sh.Aggregate(1.0, (a, d) => a * d);
            s[l] = Math.Pow(sh.Sum() / n[l], power);
        }
        double total = n.Sum();
        var dense = new bool[L];
        var result = new double[L];
        while (true)
        {
            double budget = density * total, weighted = 0;
            for (int l = 0; l < L; l++)
                if (dense[l]) budget -= n[l]; else weighted += s[l] * n[l];
            if (weighted == 0) { for (int l = 0; l < L; l++) result[l] = 1; return result; }
            double eps = budget / weighted;
            bool changed = false;
            for (int l = 0; l < L; l++)
                if (!dense[l] && eps * s[l] > 1) { dense[l] = true; changed = true; }
            if (changed) continue;
            for (int l = 0; l < L; l++) result[l] = dense[l] ? 1 : eps * s[l];
            return result;
        }
    }

    /// <summary>Random initial masks at the ERK densities (each layer keeps round(d_l · n_l)
    /// uniformly chosen positions).</summary>
    public static void RandomMasks(MaskSet set, int subnet, double density, SparseSwitch.Tensors.Rng rng, double power = 1.0)
    {
        var d = Densities(set.Parameters.Select(p => p.Shape).ToList(), density, power);
        var masks = set.Masks(subnet);
        for (int l = 0; l < set.Layers; l++)
        {
            int len = masks[l].Length, keep = (int)Math.Round(d[l] * len);
            var idx = Enumerable.Range(0, len).ToArray();
            rng.Shuffle<int>(idx);
            masks[l].SetAll(false);
            for (int i = 0; i < keep; i++) masks[l][idx[i]] = true;
        }
    }
}
