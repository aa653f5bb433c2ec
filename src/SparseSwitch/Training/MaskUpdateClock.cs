namespace SparseSwitch.Training;

/// <summary>
/// When sub-net k's masks change (SPEC §2.3). The rule, stated once:
/// <list type="bullet">
/// <item>Iteration t trains sub-net k = t mod K; it is that sub-net's own iteration n = t div K.</item>
/// <item>ΔT (<see cref="Period"/>) counts the sub-net's <b>own</b> iterations, so any ΔT ≥ 1 works for
/// any K (a clock on the global t that fires when t mod ΔT = offset only reaches every sub-net when
/// ΔT and K are co-prime — the reference code's trap).</item>
/// <item>Sub-net k updates at own iteration n when n ≥ s + o_k and (n − s − o_k) mod ΔT = 0, where s
/// is the first own iteration of pruning (<see cref="StartOwn"/>) and o_k = k·<see cref="Stagger"/>
/// is its offset (default stagger ⌊ΔT / K⌋, which spreads the K sub-nets' events evenly).</item>
/// <item>Events at own iterations n &lt; <see cref="RampEndOwn"/> are ramp events (global magnitude
/// pruning to the cubic target, then prune-and-regrow); later ones are prune-and-regrow only.
/// No event fires at or after <see cref="StopOwn"/>.</item>
/// </list>
/// Events j = 1 … n_k of sub-net k's ramp are numbered by <see cref="RampEventIndex"/>;
/// <see cref="RampEvents"/> gives n_k, so the cubic target reaches the final density exactly at the
/// ramp's last event.
/// </summary>
public sealed class MaskUpdateClock
{
    public int K { get; }
    public long Period { get; }
    public long Stagger { get; }
    public long StartOwn { get; }
    public long RampEndOwn { get; }
    public long StopOwn { get; }

    public MaskUpdateClock(int k, long period, long startOwn, long rampEndOwn, long stopOwn, long? stagger = null)
    {
        if (k < 1) throw new ArgumentOutOfRangeException(nameof(k), "Number of sub-nets must be at least 1.");
        if (period < 1) throw new ArgumentOutOfRangeException(nameof(period), $"Mask update period must be at least 1 iteration, got {period}.");
        if (startOwn < 0 || rampEndOwn < startOwn)
            throw new ArgumentOutOfRangeException(nameof(rampEndOwn), $"Pruning must start at or after iteration 0 and end at or after its start (start {startOwn}, end {rampEndOwn}).");
        K = k; Period = period; StartOwn = startOwn; RampEndOwn = rampEndOwn; StopOwn = stopOwn;
        Stagger = stagger ?? period / k;
        if (Stagger < 0) throw new ArgumentOutOfRangeException(nameof(stagger), "Stagger must not be negative.");
    }

    public int SubnetAt(long t) => (int)(t % K);
    public long OwnIteration(long t) => t / K;
    public long Offset(int k) => k * Stagger;

    /// <summary>Whether sub-net <paramref name="k"/> updates at its own iteration <paramref name="n"/>.</summary>
    public bool FiresOwn(int k, long n)
    {
        long first = StartOwn + Offset(k);
        return n >= first && n < StopOwn && (n - first) % Period == 0;
    }

    /// <summary>Whether global iteration t is a mask-update step (for sub-net t mod K).</summary>
    public bool Fires(long t) => FiresOwn(SubnetAt(t), OwnIteration(t));

    public bool IsRampEventOwn(int k, long n) => FiresOwn(k, n) && n < RampEndOwn;

    /// <summary>Number of ramp events of sub-net k (n_k).</summary>
    public long RampEvents(int k)
    {
        long first = StartOwn + Offset(k);
        long end = Math.Min(RampEndOwn, StopOwn);
        return end <= first ? 0 : (end - 1 - first) / Period + 1;
    }

    /// <summary>1-based index j of the ramp event at own iteration n (valid when <see cref="IsRampEventOwn"/>).</summary>
    public long RampEventIndex(int k, long n) => (n - StartOwn - Offset(k)) / Period + 1;

    /// <summary>All events of sub-net k with own iteration below <paramref name="ownEnd"/> (for reports and tests).</summary>
    public long CountEvents(int k, long ownEnd)
    {
        long first = StartOwn + Offset(k);
        long end = Math.Min(ownEnd, StopOwn);
        return end <= first ? 0 : (end - 1 - first) / Period + 1;
    }
}
