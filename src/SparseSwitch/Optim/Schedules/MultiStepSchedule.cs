namespace SparseSwitch.Optim.Schedules;

/// <summary>
/// Multi-step decay (PyTorch's MultiStepLR counted in steps): after the warm-up,
/// lr = baseLr·gamma^(number of milestones ≤ step). Milestones are global steps, strictly increasing.
/// </summary>
public sealed class MultiStepSchedule : LrSchedule
{
    private readonly long[] _milestones;

    public IReadOnlyList<long> Milestones => _milestones;
    public double Gamma { get; }

    public MultiStepSchedule(double baseLr, long[] milestones, double gamma, long warmupSteps = 0)
        : base(baseLr, warmupSteps)
    {
        ArgumentNullException.ThrowIfNull(milestones);
        for (int i = 0; i < milestones.Length; i++)
        {
            if (milestones[i] < 0) throw new ArgumentOutOfRangeException(nameof(milestones), $"Milestone {milestones[i]} is negative.");
            if (i > 0 && milestones[i] <= milestones[i - 1])
                throw new ArgumentException($"Milestones must be strictly increasing; got {milestones[i - 1]} then {milestones[i]}.", nameof(milestones));
        }
        if (!(gamma > 0) || double.IsInfinity(gamma)) throw new ArgumentOutOfRangeException(nameof(gamma), gamma, "gamma must be a finite number > 0.");
        _milestones = (long[])milestones.Clone();
        Gamma = gamma;
    }

    protected override double AfterWarmup(long step)
    {
        int passed = 0;
        while (passed < _milestones.Length && _milestones[passed] <= step) passed++;
        return BaseLr * Math.Pow(Gamma, passed);
    }
}
