namespace SparseSwitch.Sparsity;

/// <summary>Density of one prunable layer in one sub-net.</summary>
public sealed record LayerDensity(string Path, long Kept, long Total)
{
    public double Density => Total == 0 ? 1 : (double)Kept / Total;
}

/// <summary>Densities of one sub-net: per layer, over the prunable layers, and over all weights
/// (non-prunable parameters counted as kept).</summary>
public sealed record DensityReport(IReadOnlyList<LayerDensity> Layers, long KeptPrunable, long TotalPrunable, long KeptAll, long TotalAll)
{
    public double Density => (double)KeptPrunable / TotalPrunable;
    public double Sparsity => 1 - Density;
    public double DensityAllWeights => (double)KeptAll / TotalAll;
    public double SparsityAllWeights => 1 - DensityAllWeights;
}

/// <summary>Mask overlap between two sub-nets: intersection over union, and the share of the
/// sparser (smaller) mask contained in the other; over prunable layers and over all weights.</summary>
public sealed record MaskOverlap(long Intersection, long Union, long SmallerCount, long OtherParameters)
{
    public double Iou => Union == 0 ? 1 : (double)Intersection / Union;
    public double Containment => SmallerCount == 0 ? 1 : (double)Intersection / SmallerCount;
    public double IouAllWeights => (double)(Intersection + OtherParameters) / (Union + OtherParameters);
}

/// <summary>Mask statistics (sparsity reports say which figure counts what: SPEC §1).</summary>
public static class MaskStats
{
    public static DensityReport Density(MaskSet set, int subnet)
    {
        var layers = new List<LayerDensity>();
        for (int l = 0; l < set.Layers; l++)
            layers.Add(new LayerDensity(set.Paths[l], set.Get(subnet, l).Count(), set.Get(subnet, l).Length));
        long kept = layers.Sum(x => x.Kept);
        return new DensityReport(layers, kept, set.TotalPrunable, kept + set.OtherParameters, set.TotalPrunable + set.OtherParameters);
    }

    public static MaskOverlap Overlap(MaskSet set, int a, int b)
    {
        long inter = 0, ca = 0, cb = 0;
        for (int l = 0; l < set.Layers; l++)
        {
            inter += set.Get(a, l).IntersectionCount(set.Get(b, l));
            ca += set.Get(a, l).Count();
            cb += set.Get(b, l).Count();
        }
        return new MaskOverlap(inter, ca + cb - inter, Math.Min(ca, cb), set.OtherParameters);
    }
}
