namespace SparseSwitch.Serving;

/// <summary>Tuning of <see cref="SubnetController"/>. Fractions are of the latency objective;
/// utilisations are the recent arrival rate times a sub-net's per-image service time at full batches.</summary>
public sealed record ControllerSettings
{
    /// <summary>The current sub-net is at risk when its predicted completion exceeds this fraction of the objective.</summary>
    public double DownFraction { get; init; } = 0.8;
    /// <summary>The current sub-net is at risk when the arrivals would keep it busy more than this fraction of the time.</summary>
    public double DownUtilization { get; init; } = 0.9;
    /// <summary>A more accurate sub-net qualifies only when its predicted completion is within this fraction of the objective …</summary>
    public double UpFraction { get; init; } = 0.5;
    /// <summary>… and the arrivals would keep it busy at most this fraction of the time.</summary>
    public double UpUtilization { get; init; } = 0.7;
    /// <summary>Consecutive batches for which the more accurate sub-net must qualify before moving up …</summary>
    public int UpHoldBatches { get; init; } = 20;
    /// <summary>… and milliseconds for which it must have qualified (both must hold).</summary>
    public double UpHoldMs { get; init; } = 1000;
    /// <summary>A move down within this many milliseconds of moving up to that sub-net counts as a flap:
    /// the next move up to it must wait twice as long (up to <see cref="MaxHoldFactor"/> times);
    /// staying there this long restores the plain hold.</summary>
    public double FlapWindowMs { get; init; } = 10_000;
    /// <summary>The most the up-hold grows by after repeated flaps.</summary>
    public int MaxHoldFactor { get; init; } = 64;
    /// <summary>Weight of each new observation in the moving average of observed / profiled service time (0: predictions use the profile alone).</summary>
    public double SlowdownWeight { get; init; } = 0.2;
    /// <summary>Time constant of the arrival-rate average, milliseconds.</summary>
    public double RateTimeConstantMs { get; init; } = 500;

    internal void Check()
    {
        static void Fraction(double v, string name)
        {
            if (!(v > 0) || double.IsInfinity(v)) throw new ArgumentOutOfRangeException(name, v, $"{name} must be positive.");
        }
        Fraction(DownFraction, nameof(DownFraction));
        Fraction(DownUtilization, nameof(DownUtilization));
        Fraction(UpFraction, nameof(UpFraction));
        Fraction(UpUtilization, nameof(UpUtilization));
        Fraction(RateTimeConstantMs, nameof(RateTimeConstantMs));
        if (UpFraction > DownFraction) throw new ArgumentException($"UpFraction ({UpFraction}) must not exceed DownFraction ({DownFraction}): the gap between them is the hysteresis.");
        if (UpUtilization > DownUtilization) throw new ArgumentException($"UpUtilization ({UpUtilization}) must not exceed DownUtilization ({DownUtilization}).");
        if (UpHoldBatches < 1) throw new ArgumentOutOfRangeException(nameof(UpHoldBatches), UpHoldBatches, "UpHoldBatches must be ≥ 1.");
        if (UpHoldMs < 0 || double.IsNaN(UpHoldMs)) throw new ArgumentOutOfRangeException(nameof(UpHoldMs), UpHoldMs, "UpHoldMs must be ≥ 0.");
        if (FlapWindowMs < 0 || double.IsNaN(FlapWindowMs)) throw new ArgumentOutOfRangeException(nameof(FlapWindowMs), FlapWindowMs, "FlapWindowMs must be ≥ 0.");
        if (MaxHoldFactor < 1) throw new ArgumentOutOfRangeException(nameof(MaxHoldFactor), MaxHoldFactor, "MaxHoldFactor must be ≥ 1.");
        if (SlowdownWeight < 0 || SlowdownWeight > 1 || double.IsNaN(SlowdownWeight)) throw new ArgumentOutOfRangeException(nameof(SlowdownWeight), SlowdownWeight, "SlowdownWeight must be in 0 … 1.");
    }
}

/// <summary>
/// Chooses the sub-net that serves the next batch so that answers arrive within a latency
/// objective, preferring accuracy. The sub-nets form a ladder: those not beaten by a more accurate
/// one on speed (batch 1 or full batches), most accurate first. Before each batch the worker calls
/// <see cref="Decide"/> with the images waiting (the batch included) and the age of the oldest; the
/// predicted completion of sub-net k is max(oldest age + its service time for the batch, the time to
/// drain everything waiting), service times being the profiled ones (<see cref="LatencyModel"/>)
/// scaled by a moving average of observed / profiled (<see cref="Observe"/>: a slower machine, for
/// instance one whose cores are taken by another process, shows there). Moving down is immediate:
/// when the current sub-net's prediction exceeds <see cref="ControllerSettings.DownFraction"/> of
/// the objective, or the recent arrival rate would keep it busy beyond
/// <see cref="ControllerSettings.DownUtilization"/>, the most accurate sub-net below it that is not
/// at risk is taken (the fastest if none). Moving up is one rung at a time and only after the next
/// more accurate sub-net has had ample slack (prediction within <see cref="ControllerSettings.UpFraction"/>,
/// utilisation within <see cref="ControllerSettings.UpUtilization"/>) for
/// <see cref="ControllerSettings.UpHoldBatches"/> consecutive batches and
/// <see cref="ControllerSettings.UpHoldMs"/>: the gaps between the down and up thresholds keep it
/// from flapping on a steady load, and where a load sits on the edge of a sub-net (moved up, then
/// down again within <see cref="ControllerSettings.FlapWindowMs"/>) the next move up to it waits
/// twice as long each time. A pinned controller always answers its pin. Thread-safe; time is
/// passed in (milliseconds on any monotonic clock), so it can be driven by a synthetic clock.
/// </summary>
public sealed class SubnetController
{
    private readonly LatencyModel _latency;
    private readonly double[] _accuracy;
    private readonly int[] _ladder;
    private readonly int[] _rung;           // sub-net → position in the ladder, −1 when off it
    private readonly int[] _byAccuracy;     // every sub-net, most accurate first (ties: faster first)
    private readonly ControllerSettings _s;
    private readonly int _maxBatch, _workers;
    private readonly Lock _gate = new();
    private int _current;
    private double _slowdown = 1;
    private double _rate;                   // images per millisecond
    private long _arrivals, _countedArrivals;
    private double _lastRateMs = double.NaN;
    private int _goodBatches;
    private double _goodSinceMs;
    private long _switches;
    private readonly int[] _holdFactor;     // per rung: how many times the plain up-hold a move up to it waits
    private double _upAtMs = double.NegativeInfinity;

    public double ObjectiveMs { get; }
    public int? Pin { get; }
    public int MaxBatch => _maxBatch;
    public int Workers => _workers;
    public LatencyModel Latency => _latency;
    /// <summary>The sub-nets the controller moves between, most accurate (slowest) first.</summary>
    public IReadOnlyList<int> Ladder => _ladder;
    /// <summary>Called (inside the controller's lock) with the new sub-net whenever it changes.</summary>
    public Action<int>? Switched { get; set; }

    public SubnetController(LatencyModel latency, IReadOnlyList<double> accuracy, double objectiveMs, int maxBatch,
        int workers = 1, int? pin = null, ControllerSettings? settings = null)
    {
        ArgumentNullException.ThrowIfNull(latency);
        ArgumentNullException.ThrowIfNull(accuracy);
        if (accuracy.Count != latency.SubnetCount)
            throw new ArgumentException($"{accuracy.Count} accuracies for {latency.SubnetCount} sub-nets.", nameof(accuracy));
        if (!(objectiveMs > 0) || double.IsInfinity(objectiveMs)) throw new ArgumentOutOfRangeException(nameof(objectiveMs), objectiveMs, "the objective must be a positive number of milliseconds.");
        if (maxBatch < 1) throw new ArgumentOutOfRangeException(nameof(maxBatch), maxBatch, "maxBatch must be ≥ 1.");
        if (workers < 1) throw new ArgumentOutOfRangeException(nameof(workers), workers, "workers must be ≥ 1.");
        if (pin is int p && (p < 0 || p >= latency.SubnetCount))
            throw new ArgumentOutOfRangeException(nameof(pin), pin, $"the model has sub-nets 0 … {latency.SubnetCount - 1}.");
        _s = settings ?? new ControllerSettings();
        _s.Check();
        _latency = latency;
        _accuracy = accuracy.ToArray();
        ObjectiveMs = objectiveMs;
        _maxBatch = maxBatch;
        _workers = workers;
        Pin = pin;
        _byAccuracy = Enumerable.Range(0, _accuracy.Length).OrderByDescending(k => _accuracy[k]).ThenBy(k => latency.Ms(k, 1)).ToArray();
        var ladder = new List<int>();
        double best1 = double.PositiveInfinity, bestB = double.PositiveInfinity;
        foreach (int k in _byAccuracy)
        {
            double t1 = latency.Ms(k, 1), tb = latency.Ms(k, maxBatch);
            if (t1 < best1 || tb < bestB) ladder.Add(k);
            best1 = Math.Min(best1, t1);
            bestB = Math.Min(bestB, tb);
        }
        _ladder = ladder.ToArray();
        _rung = Enumerable.Repeat(-1, _accuracy.Length).ToArray();
        for (int i = 0; i < _ladder.Length; i++) _rung[_ladder[i]] = i;
        _holdFactor = Enumerable.Repeat(1, _ladder.Length).ToArray();
        _current = pin ?? _ladder[0];
    }

    /// <summary>The sub-net unpinned requests are served by now.</summary>
    public int Current { get { lock (_gate) return _current; } }
    /// <summary>The moving average of observed / profiled service time (1: as profiled).</summary>
    public double Slowdown { get { lock (_gate) return _slowdown; } }
    /// <summary>The recent arrival rate, images per second.</summary>
    public double ArrivalRatePerSecond { get { lock (_gate) return _rate * 1000; } }
    /// <summary>How many times the sub-net has changed.</summary>
    public long Switches => Interlocked.Read(ref _switches);
    /// <summary>The fastest sub-net on the ladder (the last rung).</summary>
    public int Fastest => _ladder[^1];

    /// <summary>Counts arriving images (for the arrival rate); any thread.</summary>
    public void Arrived(int images) => Interlocked.Add(ref _arrivals, images);

    /// <summary>Predicted milliseconds of one run of <paramref name="images"/> images on sub-net <paramref name="subnet"/>.</summary>
    public double Service(int subnet, int images)
    {
        lock (_gate) return _latency.Ms(subnet, images) * _slowdown;
    }

    /// <summary>Predicted milliseconds until <paramref name="images"/> queued images are all answered by sub-net <paramref name="subnet"/>.</summary>
    public double Drain(int subnet, int images)
    {
        lock (_gate) return _latency.Drain(subnet, images, _maxBatch) * _slowdown / _workers;
    }

    /// <summary>Feeds back one run: sub-net, images, and the milliseconds it took.</summary>
    public void Observe(int subnet, int images, double ms)
    {
        if (images < 1 || !(ms >= 0) || double.IsInfinity(ms)) return;
        lock (_gate)
        {
            double ratio = Math.Clamp(ms / _latency.Ms(subnet, images), 0.05, 100);
            _slowdown += _s.SlowdownWeight * (ratio - _slowdown);
        }
    }

    /// <summary>The most accurate sub-net whose run of <paramref name="images"/> images is predicted
    /// to take at most <paramref name="budgetMs"/> (any sub-net, not only the ladder's); the fastest if none.</summary>
    public int MostAccurateWithin(double budgetMs, int images)
    {
        lock (_gate)
        {
            foreach (int k in _byAccuracy)
                if (_latency.Ms(k, images) * _slowdown <= budgetMs) return k;
            return Fastest;
        }
    }

    /// <summary>The sub-net for the next batch: <paramref name="imagesWaiting"/> images are waiting
    /// (this batch included), the oldest arrived <paramref name="oldestAgeMs"/> ago.</summary>
    public int Decide(double nowMs, int imagesWaiting, double oldestAgeMs)
    {
        lock (_gate)
        {
            UpdateRate(nowMs);
            if (Pin is int p) return p;
            int n = Math.Max(1, imagesWaiting);
            double age = Math.Max(0, oldestAgeMs);
            int rung = _rung[_current];
            bool settled = nowMs - _upAtMs >= _s.FlapWindowMs;
            if (settled) _holdFactor[rung] = 1;
            if (AtRisk(_current, n, age))
            {
                _goodBatches = 0;
                int target = _ladder[^1];
                for (int i = rung + 1; i < _ladder.Length; i++)
                    if (!AtRisk(_ladder[i], n, age)) { target = _ladder[i]; break; }
                if (target != _current)
                {
                    // Down soon after coming up: a flap; the next move up here waits longer.
                    if (!settled) _holdFactor[rung] = Math.Min(2 * _holdFactor[rung], _s.MaxHoldFactor);
                    _upAtMs = double.NegativeInfinity;
                    SwitchTo(target);
                }
            }
            else if (rung > 0 && Comfortable(_ladder[rung - 1], n, age))
            {
                if (_goodBatches++ == 0) _goodSinceMs = nowMs;
                int f = _holdFactor[rung - 1];
                if (_goodBatches >= _s.UpHoldBatches * f && nowMs - _goodSinceMs >= _s.UpHoldMs * f)
                {
                    _goodBatches = 0;
                    _upAtMs = nowMs;
                    SwitchTo(_ladder[rung - 1]);
                }
            }
            else _goodBatches = 0;
            return _current;
        }
    }

    private void SwitchTo(int k)
    {
        _current = k;
        _switches++;
        Switched?.Invoke(k);
    }

    private double Predict(int k, int n, double age) =>
        Math.Max(age + _latency.Ms(k, Math.Min(n, _maxBatch)) * _slowdown, _latency.Drain(k, n, _maxBatch) * _slowdown / _workers);

    private double Utilization(int k) => _rate * _latency.Ms(k, _maxBatch) * _slowdown / _maxBatch / _workers;

    private bool AtRisk(int k, int n, double age) =>
        Predict(k, n, age) > _s.DownFraction * ObjectiveMs || Utilization(k) > _s.DownUtilization;

    private bool Comfortable(int k, int n, double age) =>
        Predict(k, n, age) <= _s.UpFraction * ObjectiveMs && Utilization(k) <= _s.UpUtilization;

    private void UpdateRate(double nowMs)
    {
        long total = Interlocked.Read(ref _arrivals);
        if (double.IsNaN(_lastRateMs))
        {
            _lastRateMs = nowMs;
            _countedArrivals = total;
            return;
        }
        double dt = nowMs - _lastRateMs;
        if (dt <= 0) return;
        double instant = (total - _countedArrivals) / dt;
        double w = 1 - Math.Exp(-dt / _s.RateTimeConstantMs);
        _rate += w * (instant - _rate);
        _lastRateMs = nowMs;
        _countedArrivals = total;
    }
}
