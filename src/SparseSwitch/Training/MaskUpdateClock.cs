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
/// <para>Weighted sampling (<see cref="Weighted"/>): sub-net k trains w_k of every L = Σ w iterations,
/// in a fixed cycle that spreads each sub-net's turns evenly (smooth weighted round robin; weights all
/// 1 give t mod K). Its own iteration counts its turns, and its ramp starts and ends at its first own
/// iterations at or after the global iterations given, so every sub-net's ramp spans the same epochs.</para>
/// </summary>
public sealed class MaskUpdateClock
{
    private readonly int[] _pattern, _turn, _weight;
    private readonly long[] _startOwn, _rampEndOwn;

    public int K { get; }
    public long Period { get; }
    public long Stagger { get; }
    public long StopOwn { get; }

    /// <summary>The cycle of sub-nets the iterations follow (length <see cref="CycleLength"/>).</summary>
    public IReadOnlyList<int> Pattern => _pattern;
    public int CycleLength => _pattern.Length;

    /// <summary>First own iteration of pruning (round robin: the same for every sub-net).</summary>
    public long StartOwn => _startOwn[0];
    public long RampEndOwn => _rampEndOwn[0];

    /// <summary>Round robin: iteration t trains sub-net t mod K; the bounds are own iterations of every sub-net.</summary>
    public MaskUpdateClock(int k, long period, long startOwn, long rampEndOwn, long stopOwn, long? stagger = null)
        : this(Enumerable.Range(0, Math.Max(k, 0)).ToArray(), k, period, Enumerable.Repeat(startOwn, Math.Max(k, 0)).ToArray(),
            Enumerable.Repeat(rampEndOwn, Math.Max(k, 0)).ToArray(), stopOwn, stagger)
    {
    }

    private MaskUpdateClock(int[] pattern, int k, long period, long[] startOwn, long[] rampEndOwn, long stopOwn, long? stagger)
    {
        if (k < 1) throw new ArgumentOutOfRangeException(nameof(k), "Number of sub-nets must be at least 1.");
        if (period < 1) throw new ArgumentOutOfRangeException(nameof(period), $"Mask update period must be at least 1 iteration, got {period}.");
        for (int i = 0; i < k; i++)
            if (startOwn[i] < 0 || rampEndOwn[i] < startOwn[i])
                throw new ArgumentOutOfRangeException(nameof(rampEndOwn), $"Pruning must start at or after iteration 0 and end at or after its start (start {startOwn[i]}, end {rampEndOwn[i]}).");
        K = k; Period = period; StopOwn = stopOwn;
        _pattern = pattern;
        _startOwn = startOwn;
        _rampEndOwn = rampEndOwn;
        _weight = new int[k];
        _turn = new int[pattern.Length];
        for (int i = 0; i < pattern.Length; i++) _turn[i] = _weight[pattern[i]]++;
        Stagger = stagger ?? period / k;
        if (Stagger < 0) throw new ArgumentOutOfRangeException(nameof(stagger), "Stagger must not be negative.");
    }

    /// <summary>
    /// Weighted sampling: sub-net k trains <paramref name="weights"/>[k] of every Σ weights iterations.
    /// Pruning starts at global iteration <paramref name="startGlobal"/> and the ramp ends at
    /// <paramref name="rampEndGlobal"/>, for each sub-net at its first own iteration there or after.
    /// </summary>
    public static MaskUpdateClock Weighted(IReadOnlyList<int> weights, long period, long startGlobal, long rampEndGlobal, long stopOwn, long? stagger = null)
    {
        ArgumentNullException.ThrowIfNull(weights);
        if (weights.Count < 1 || weights.Any(w => w < 1)) throw new ArgumentOutOfRangeException(nameof(weights), "Every sub-net needs a weight ≥ 1.");
        var pattern = SmoothCycle(weights);
        var probe = new MaskUpdateClock(pattern, weights.Count, period, new long[weights.Count], new long[weights.Count], stopOwn, stagger);
        var start = Enumerable.Range(0, weights.Count).Select(k => probe.OwnBefore(k, startGlobal)).ToArray();
        var end = Enumerable.Range(0, weights.Count).Select(k => probe.OwnBefore(k, rampEndGlobal)).ToArray();
        return new MaskUpdateClock(pattern, weights.Count, period, start, end, stopOwn, stagger);
    }

    /// <summary>The cycle of smooth weighted round robin: at each step every sub-net gains its weight,
    /// the one with the most (the lowest index among equals) trains and gives back the total.</summary>
    public static int[] SmoothCycle(IReadOnlyList<int> weights)
    {
        int total = weights.Sum();
        var current = new long[weights.Count];
        var cycle = new int[total];
        for (int i = 0; i < total; i++)
        {
            int best = 0;
            for (int k = 0; k < weights.Count; k++)
            {
                current[k] += weights[k];
                if (current[k] > current[best]) best = k;
            }
            cycle[i] = best;
            current[best] -= total;
        }
        return cycle;
    }

    public int SubnetAt(long t) => _pattern[(int)(t % _pattern.Length)];

    public long OwnIteration(long t) => t / _pattern.Length * _weight[SubnetAt(t)] + _turn[(int)(t % _pattern.Length)];

    /// <summary>Own iterations of sub-net k before global iteration t (the index of its first own iteration at or after t).</summary>
    public long OwnBefore(int k, long t)
    {
        long n = t / _pattern.Length * _weight[k];
        for (int i = 0, r = (int)(t % _pattern.Length); i < r; i++) if (_pattern[i] == k) n++;
        return n;
    }

    /// <summary>Whether iteration t starts a cycle (round robin: t mod K = 0; the inner groups of the correction).</summary>
    public bool StartsCycle(long t) => t % _pattern.Length == 0;

    public long Offset(int k) => k * Stagger;

    /// <summary>Whether sub-net <paramref name="k"/> updates at its own iteration <paramref name="n"/>.</summary>
    public bool FiresOwn(int k, long n)
    {
        long first = _startOwn[k] + Offset(k);
        return n >= first && n < StopOwn && (n - first) % Period == 0;
    }

    /// <summary>Whether global iteration t is a mask-update step (for the sub-net it trains).</summary>
    public bool Fires(long t) => FiresOwn(SubnetAt(t), OwnIteration(t));

    public bool IsRampEventOwn(int k, long n) => FiresOwn(k, n) && n < _rampEndOwn[k];

    /// <summary>Number of ramp events of sub-net k (n_k).</summary>
    public long RampEvents(int k)
    {
        long first = _startOwn[k] + Offset(k);
        long end = Math.Min(_rampEndOwn[k], StopOwn);
        return end <= first ? 0 : (end - 1 - first) / Period + 1;
    }

    /// <summary>1-based index j of the ramp event at own iteration n (valid when <see cref="IsRampEventOwn"/>).</summary>
    public long RampEventIndex(int k, long n) => (n - _startOwn[k] - Offset(k)) / Period + 1;

    /// <summary>All events of sub-net k with own iteration below <paramref name="ownEnd"/> (for reports and tests).</summary>
    public long CountEvents(int k, long ownEnd)
    {
        long first = _startOwn[k] + Offset(k);
        long end = Math.Min(ownEnd, StopOwn);
        return end <= first ? 0 : (end - 1 - first) / Period + 1;
    }
}
