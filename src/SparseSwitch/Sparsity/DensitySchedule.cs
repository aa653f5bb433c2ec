namespace SparseSwitch.Sparsity;

/// <summary>Density and prune-rate schedules (SPEC §2.3, §2.5).</summary>
public static class DensitySchedule
{
    /// <summary>Cubic ramp (gradual magnitude pruning): after update event j of n, the target
    /// density is d_final + (d_init − d_final)·(1 − j/n)³; j ≥ n gives d_final.</summary>
    public static double Cubic(double finalDensity, double initialDensity, int step, int steps)
    {
        CheckDensity(finalDensity, nameof(finalDensity));
        CheckDensity(initialDensity, nameof(initialDensity));
        if (steps < 1) throw new ArgumentOutOfRangeException(nameof(steps), $"The ramp needs at least one update event (got {steps}).");
        if (step < 0) throw new ArgumentOutOfRangeException(nameof(step), $"Update event index must be ≥ 0 (got {step}).");
        double f = 1.0 - Math.Min(step, steps) / (double)steps;
        return finalDensity + (initialDensity - finalDensity) * f * f * f;
    }

    /// <summary>Prune rate p_t decaying from <paramref name="start"/> to <paramref name="end"/> along
    /// a half cosine over <paramref name="total"/> iterations: end + (start − end)·(1 + cos(π·t/total))/2.</summary>
    public static double PruneRateCosine(long t, long total, double start = 0.5, double end = 0.005)
    {
        if (total < 1) throw new ArgumentOutOfRangeException(nameof(total), $"Total iterations must be ≥ 1 (got {total}).");
        if (!(start >= 0 && start <= 1) || !(end >= 0 && end <= 1))
            throw new ArgumentOutOfRangeException(nameof(start), $"Prune rates must be in [0, 1] (got {start} → {end}).");
        double x = Math.Clamp(t / (double)total, 0, 1);
        return end + (start - end) * 0.5 * (1 + Math.Cos(Math.PI * x));
    }

    private static void CheckDensity(double d, string name)
    {
        if (!(d > 0 && d <= 1)) throw new ArgumentOutOfRangeException(name, $"Density must be in (0, 1] (got {d}).");
    }
}
