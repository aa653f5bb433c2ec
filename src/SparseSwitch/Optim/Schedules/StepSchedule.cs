namespace SparseSwitch.Optim.Schedules;

/// <summary>
/// Step decay (PyTorch's StepLR counted in steps): lr = baseLr·gamma^⌊step/stepSize⌋ after the
/// warm-up. Steps count from 0 including the warm-up, so decays happen at fixed global steps.
/// </summary>
public sealed class StepSchedule : LrSchedule
{
    public long StepSize { get; }
    public double Gamma { get; }

    public StepSchedule(double baseLr, long stepSize, double gamma, long warmupSteps = 0)
        : base(baseLr, warmupSteps)
    {
        if (stepSize <= 0) throw new ArgumentOutOfRangeException(nameof(stepSize), stepSize, "stepSize must be > 0.");
        if (!(gamma > 0) || double.IsInfinity(gamma)) throw new ArgumentOutOfRangeException(nameof(gamma), gamma, "gamma must be a finite number > 0.");
        StepSize = stepSize;
        Gamma = gamma;
    }

    protected override double AfterWarmup(long step) => BaseLr * Math.Pow(Gamma, step / StepSize);
}
