namespace SparseSwitch.Sparsity;

/// <summary>Settings of <see cref="AdaPrune"/> (SPEC §3.5).</summary>
public sealed class AdaPruneOptions
{
    /// <summary>Adam steps per layer fitting the kept weights to the cached outputs; 0 = no
    /// reconstruction (mask, and redistribute if asked, only).</summary>
    public int Steps { get; init; } = 1000;
    public float LearningRate { get; init; } = 1e-3f;
    public float Beta1 { get; init; } = 0.9f;
    public float Beta2 { get; init; } = 0.999f;
    public float Epsilon { get; init; } = 1e-8f;
    /// <summary>Add each group's pruned mass (the signed sum of its pruned weights) evenly to its kept weights.</summary>
    public bool Redistribute { get; init; } = true;
    /// <summary>Re-estimate batch-norm running statistics on the calibration batches at the end.</summary>
    public bool RecalibrateBatchNorm { get; init; } = true;
    /// <summary>Optional progress lines.</summary>
    public Action<string>? Log { get; init; }

    internal void Check()
    {
        if (Steps < 0) throw new ArgumentOutOfRangeException(nameof(Steps), $"Steps must be ≥ 0 (got {Steps}).");
        if (!(LearningRate > 0) || float.IsInfinity(LearningRate)) throw new ArgumentOutOfRangeException(nameof(LearningRate), $"Learning rate must be a finite value > 0 (got {LearningRate}).");
        if (!(Beta1 >= 0 && Beta1 < 1) || !(Beta2 >= 0 && Beta2 < 1)) throw new ArgumentOutOfRangeException(nameof(Beta1), $"Adam betas must be in [0, 1) (got {Beta1}, {Beta2}).");
        if (!(Epsilon > 0)) throw new ArgumentOutOfRangeException(nameof(Epsilon), $"Adam epsilon must be > 0 (got {Epsilon}).");
    }
}

/// <summary>What AdaPrune did to one layer: output MSE against the original layer on the
/// calibration set after masking (and redistribution) and after reconstruction.</summary>
public sealed record AdaPruneLayerReport(string Path, double MseMasked, double MseFinal, long Kept, long Total);

public sealed record AdaPruneReport(IReadOnlyList<AdaPruneLayerReport> Layers);
