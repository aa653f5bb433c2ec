using SparseSwitch.Training;

namespace SparseSwitch.Cli.Reports;

/// <summary>
/// How the final masks of a run's sub-nets overlap, over the prunable weights: Share[i, j] is the
/// fraction of sub-net i's kept weights that sub-net j also keeps (1 on the diagonal; 1 off it when
/// i's mask lies inside j's). Jaccard(i, j) = |i ∩ j| / |i ∪ j|; containment is the share of the
/// smaller mask inside the other.
/// </summary>
internal sealed class MaskOverlapMatrix
{
    public required double[,] Share { get; init; }
    public required string Source { get; init; }

    public int Count => Share.GetLength(0);

    public double Jaccard(int i, int j)
    {
        // |i ∩ j| = s_ij·|i| = s_ji·|j|, so |i ∪ j| = |i| + |j| − |i ∩ j| gives J = 1 / (1/s_ij + 1/s_ji − 1).
        double a = Share[i, j], b = Share[j, i];
        return a <= 0 || b <= 0 ? 0 : 1 / (1 / a + 1 / b - 1);
    }

    public double Containment(int i, int j) => Math.Max(Share[i, j], Share[j, i]);

    /// <summary>From the last metric rows of a run that trained its sub-nets in one model (AST,
    /// joint): each row holds the Jaccard index against every sub-net and its density, and
    /// |i ∩ j| / N = J·(d_i + d_j) / (1 + J) over the N prunable weights.</summary>
    public static MaskOverlapMatrix? FromMetrics(IReadOnlyList<EpochMetrics> final)
    {
        int k = final.Count;
        if (k < 2 || final.Any(m => m.Overlap.Length != k)) return null;
        var share = new double[k, k];
        for (int i = 0; i < k; i++)
            for (int j = 0; j < k; j++)
            {
                double jac = final[i].Overlap[j], di = final[i].DensityPrunable, dj = final[j].DensityPrunable;
                share[i, j] = i == j ? 1 : di <= 0 ? 0 : Math.Min(1, jac * (di + dj) / (1 + jac) / di);
            }
        return new MaskOverlapMatrix { Share = share, Source = "the last epoch's metrics (Jaccard index and density of each sub-net)" };
    }

    /// <summary>From the checkpoints of a mode-independent run (one per sub-folder subnet-k):
    /// counts of the masks themselves, parameter by parameter.</summary>
    public static MaskOverlapMatrix FromCheckpoints(string runDir, int subnets)
    {
        var masks = Enumerable.Range(0, subnets).Select(k => TrainedSubnet.Load(runDir, k).Masks).ToList();
        var share = new double[subnets, subnets];
        for (int i = 0; i < subnets; i++)
        {
            long own = masks[i].Values.Sum(m => m.Count());
            for (int j = 0; j < subnets; j++)
            {
                long both = masks[i].Sum(p => masks[j].TryGetValue(p.Key, out var other) ? p.Value.IntersectionCount(other) : 0);
                share[i, j] = own == 0 ? 0 : (double)both / own;
            }
        }
        return new MaskOverlapMatrix { Share = share, Source = "the masks in each sub-net's checkpoint (subnet-k/checkpoint.safetensors)" };
    }
}
