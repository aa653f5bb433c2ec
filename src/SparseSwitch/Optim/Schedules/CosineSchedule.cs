namespace SparseSwitch.Optim.Schedules;

/// <summary>
/// Cosine annealing, PyTorch's CosineAnnealingLR closed form, over the steps after the warm-up:
/// lr = minLr + (baseLr − minLr)·(1 + cos(π·s/S))/2 with s = step − warmupSteps and
/// S = totalSteps − warmupSteps; from step totalSteps on it stays at minLr.
/// </summary>
public sealed class CosineSchedule : LrSchedule
{
    public long TotalSteps { get; }
    public double MinLr { get; }

    public CosineSchedule(double baseLr, long totalSteps, long warmupSteps = 0, double minLr = 0)
        : base(baseLr, warmupSteps)
    {
        if (totalSteps <= 0) throw new ArgumentOutOfRangeException(nameof(totalSteps), totalSteps, "totalSteps must be > 0.");
        if (warmupSteps > totalSteps) throw new ArgumentOutOfRangeException(nameof(warmupSteps), warmupSteps, $"warmupSteps must be ≤ totalSteps ({totalSteps}).");
        if (!(minLr >= 0) || minLr > baseLr) throw new ArgumentOutOfRangeException(nameof(minLr), minLr, $"minLr must be in [0, baseLr = {baseLr}].");
        TotalSteps = totalSteps;
        MinLr = minLr;
    }

    protected override double AfterWarmup(long step)
    {
        long span = TotalSteps - WarmupSteps;
        if (span == 0 || step >= TotalSteps) return MinLr;
        double s = step - WarmupSteps;
        return MinLr + (BaseLr - MinLr) * (1 + Math.Cos(Math.PI * s / span)) / 2;
    }
}
