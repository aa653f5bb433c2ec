namespace SparseSwitch.Optim.Schedules;

/// <summary>
/// A learning rate as a function of the global step (0-based). Every schedule starts with an
/// optional linear warm-up: for step &lt; warmupSteps the rate is baseLr·(step + 1)/warmupSteps,
/// so it rises from about 0 to baseLr. After the warm-up the schedule's own shape applies.
/// </summary>
public abstract class LrSchedule
{
    public double BaseLr { get; }
    public long WarmupSteps { get; }

    protected LrSchedule(double baseLr, long warmupSteps)
    {
        if (!(baseLr >= 0) || double.IsInfinity(baseLr))
            throw new ArgumentOutOfRangeException(nameof(baseLr), baseLr, "baseLr must be a finite number ≥ 0.");
        if (warmupSteps < 0) throw new ArgumentOutOfRangeException(nameof(warmupSteps), warmupSteps, "warmupSteps must be ≥ 0.");
        BaseLr = baseLr;
        WarmupSteps = warmupSteps;
    }

    /// <summary>The learning rate to use for step <paramref name="step"/> (≥ 0).</summary>
    public double At(long step)
    {
        if (step < 0) throw new ArgumentOutOfRangeException(nameof(step), step, "step must be ≥ 0.");
        if (step < WarmupSteps) return BaseLr * (step + 1) / WarmupSteps;
        return AfterWarmup(step);
    }

    /// <summary>The rate for a step at or after the warm-up.</summary>
    protected abstract double AfterWarmup(long step);
}
