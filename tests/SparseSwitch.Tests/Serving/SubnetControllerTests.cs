using SparseSwitch.Inference;
using SparseSwitch.Serving;
using SparseSwitch.Tensors;
using Xunit;

namespace SparseSwitch.Tests.Serving;

/// <summary>The controller and its latency model on their own, driven by a synthetic clock,
/// synthetic queue depths and, for steady loads, a simulated open-loop queue.</summary>
public sealed class SubnetControllerTests
{
    // ms: sub-net 0 (most accurate) 4 / 12 for 1 / 8 images, sub-net 1 2 / 6, sub-net 2 1 / 3.
    private static readonly LatencyEntry[] Table =
    [
        new(0, 1, 1, 4, "t"), new(0, 8, 1, 12, "t"),
        new(1, 1, 1, 2, "t"), new(1, 8, 1, 6, "t"),
        new(2, 1, 1, 1, "t"), new(2, 8, 1, 3, "t"),
    ];
    private static readonly double[] Accuracy = [0.92, 0.90, 0.85];

    private static SubnetController Make(double objectiveMs = 20, ControllerSettings? s = null, int? pin = null) =>
        new(new LatencyModel(Table, 3), Accuracy, objectiveMs, 8, 1, pin, s ?? new ControllerSettings());

    [Fact]
    public void LatencyModelInterpolatesAndRunsLargeBatchesInGroups()
    {
        var m = new LatencyModel(Table, 3);
        Assert.Equal(4, m.Ms(0, 1));
        Assert.Equal(12, m.Ms(0, 8));
        Assert.Equal(4 + 8.0 * 3 / 7, m.Ms(0, 4), 12);
        Assert.Equal(12 + 12 + 4, m.Ms(0, 17), 12);
        Assert.Equal(2 * 12 + 4 + 8.0 * 2 / 7, m.Drain(0, 19, 8), 12);
        Assert.Equal(12 + 12, m.Drain(0, 16, 8), 12);
        Assert.Throws<ArgumentException>(() => new LatencyModel([new(0, 8, 1, 3, "t")], 1));
        Assert.Throws<ArgumentException>(() => new LatencyModel([new(0, 1, 1, 3, "t")], 2));
        Assert.Throws<ArgumentException>(() => new LatencyModel([new(0, 1, 1, 0, "t")], 1));
    }

    [Fact]
    public void LadderLeavesOutSubnetsBeatenOnBothAccuracyAndSpeed()
    {
        LatencyEntry[] t = [new(0, 1, 1, 4, "t"), new(1, 1, 1, 5, "t"), new(2, 1, 1, 1, "t")];
        var c = new SubnetController(new LatencyModel(t, 3), [0.9, 0.8, 0.7], 20, 1);
        Assert.Equal([0, 2], c.Ladder);
        Assert.Equal(0, c.Current);
        Assert.Equal(2, c.Fastest);
    }

    [Fact]
    public void MovesDownAtOnceWhenTheQueueThreatensTheObjective()
    {
        var c = Make();
        Assert.Equal(0, c.Decide(0, 1, 0));
        // 12 waiting: sub-net 0 needs 19.4 ms to drain them (> 0.8 × 20), sub-net 1 9.7 ms: one rung down, in this very decision.
        Assert.Equal(1, c.Decide(1, 12, 0));
        // 40 waiting: even sub-net 1 needs 30 ms to drain them; the fastest needs 15 (under 16).
        Assert.Equal(2, c.Decide(2, 40, 0));
        // 80 waiting: nothing fits; the fastest all the same.
        Assert.Equal(2, c.Decide(3, 80, 0));
        Assert.Equal(2, c.Switches);
    }

    [Fact]
    public void MovesDownWhenTheOldestRequestHasWaitedLong()
    {
        var c = Make();
        Assert.Equal(0, c.Decide(0, 1, 0));
        Assert.Equal(1, c.Decide(1, 1, 13)); // 13 + 4 > 16, 13 + 2 ≤ 16
    }

    [Fact]
    public void MovesDownWhenObservedLatenciesShowASlowerMachine()
    {
        var c = Make();
        Assert.Equal(0, c.Decide(0, 1, 0));
        for (int i = 0; i < 30; i++) c.Observe(0, 1, 4 * 5.0); // runs take five times the profile
        Assert.InRange(c.Slowdown, 4.9, 5.0);
        // one image: sub-net 0 predicted 20 ms, sub-net 1 10 ms.
        Assert.Equal(1, c.Decide(1, 1, 0));
    }

    [Fact]
    public void MovesUpOneRungAtATimeAndOnlyAfterSustainedSlack()
    {
        var s = new ControllerSettings { UpHoldBatches = 20, UpHoldMs = 1000 };
        var c = Make(s: s);
        Assert.Equal(2, c.Decide(0, 40, 0));
        // Now quiet: one image every 10 ms. Nothing moves before 1000 ms and 20 batches of slack.
        double t = 10;
        var moves = new List<(double T, int To)>();
        int last = 2;
        for (; t < 5000; t += 10)
        {
            c.Arrived(1);
            int k = c.Decide(t, 1, 0);
            if (k != last) { moves.Add((t, k)); last = k; }
        }
        Assert.Equal(2, moves.Count);
        Assert.Equal(1, moves[0].To);
        Assert.Equal(0, moves[1].To);
        Assert.True(moves[0].T >= 10 + s.UpHoldMs, $"moved up at {moves[0].T} ms");
        Assert.True(moves[1].T - moves[0].T >= s.UpHoldMs, $"second move {moves[1].T - moves[0].T} ms after the first");
    }

    [Fact]
    public void APressureSpikeRestartsTheWaitBeforeMovingUp()
    {
        var s = new ControllerSettings { UpHoldBatches = 5, UpHoldMs = 100 };
        var c = Make(s: s);
        Assert.Equal(2, c.Decide(0, 40, 0));
        for (double t = 10; t <= 90; t += 10) Assert.Equal(2, c.Decide(t, 1, 0));
        // A spike at 95 ms (sub-net 1 would need 30 ms for 40 images) restarts the count.
        Assert.Equal(2, c.Decide(95, 40, 0));
        for (double t = 100; t < 195; t += 10) Assert.Equal(2, c.Decide(t, 1, 0));
        Assert.Equal(1, c.Decide(200, 1, 0));
    }

    [Fact]
    public void APinnedControllerNeverMoves()
    {
        var c = Make(pin: 0);
        Assert.Equal(0, c.Decide(0, 80, 50));
        Assert.Equal(0, c.Decide(1, 1, 0));
        Assert.Equal(0, c.Switches);
    }

    [Fact]
    public void BudgetsPickTheMostAccurateSubnetThatFits()
    {
        var c = Make();
        Assert.Equal(0, c.MostAccurateWithin(4, 1));
        Assert.Equal(1, c.MostAccurateWithin(3.9, 1));
        Assert.Equal(2, c.MostAccurateWithin(1, 1));
        Assert.Equal(2, c.MostAccurateWithin(0.5, 1)); // none fits: the fastest
        Assert.Equal(1, c.MostAccurateWithin(6, 8));
    }

    [Fact]
    public void BadSettingsAreRefused()
    {
        Assert.Throws<ArgumentException>(() => Make(s: new ControllerSettings { UpFraction = 0.9, DownFraction = 0.8 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => Make(objectiveMs: 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => Make(pin: 3));
        Assert.Throws<ArgumentOutOfRangeException>(() => Make(s: new ControllerSettings { SlowdownWeight = 2 }));
    }

    /// <summary>One server, open-loop Poisson arrivals at <paramref name="ratePerSecond"/> for
    /// <paramref name="seconds"/> simulated seconds: each batch takes whatever waits (up to 8) and
    /// runs for the table's time on the sub-net chosen. Returns the simulated times (ms) of the
    /// controller's switches, the share answered within the objective and the sub-net that served most.</summary>
    private static (List<double> Switches, double Attainment, int Mostly) Simulate(SubnetController c, double ratePerSecond, double seconds, ulong seed)
    {
        var rng = new Rng(seed);
        var latency = c.Latency;
        double end = seconds * 1000, next = 0, free = 0, now = 0;
        var switches = new List<double>();
        c.Switched = _ => switches.Add(now);
        var queue = new Queue<double>();
        var served = new long[3];
        long onTime = 0, total = 0;
        while (true)
        {
            now = Math.Max(free, queue.Count > 0 ? queue.Peek() : next);
            while (next <= now && next < end)
            {
                queue.Enqueue(next);
                c.Arrived(1);
                next += -Math.Log(1 - rng.NextDouble()) * 1000 / ratePerSecond;
            }
            if (queue.Count == 0)
            {
                if (next >= end) break;
                continue;
            }
            int waiting = queue.Count;
            int k = c.Decide(now, waiting, now - queue.Peek());
            int b = Math.Min(8, waiting);
            double service = latency.Ms(k, b);
            c.Observe(k, b, service);
            free = now + service;
            for (int i = 0; i < b; i++)
            {
                double arrival = queue.Dequeue();
                total++;
                if (free - arrival <= c.ObjectiveMs) onTime++;
                served[k]++;
            }
        }
        return (switches, (double)onTime / total, Array.IndexOf(served, served.Max()));
    }

    private static readonly ControllerSettings NoHysteresis = new()
    {
        UpFraction = 0.8, DownFraction = 0.8, UpUtilization = 0.9, DownUtilization = 0.9, UpHoldBatches = 1, UpHoldMs = 0, MaxHoldFactor = 1,
    };

    [Theory]
    [InlineData(100)]
    [InlineData(400)]
    [InlineData(550)]
    [InlineData(1000)]
    [InlineData(1200)]
    [InlineData(2000)]
    public void ASteadyLoadSettlesWithoutFlapping(double rate)
    {
        // 60 simulated seconds of one load. After the first second the sub-net may still change a
        // few times where a sub-net is on the edge (each flap doubles the wait before the next move
        // up), but not in the last half; the same loads without hysteresis switch hundreds of times.
        var (switches, attainment, _) = Simulate(Make(), rate, 60, 3);
        int afterFirst = switches.Count(t => t >= 1000), lastHalf = switches.Count(t => t >= 30_000);
        Assert.True(afterFirst <= 8 && lastHalf <= 2, $"{afterFirst} switches after the first second, {lastHalf} in the last half, at {rate}/s: {string.Join(", ", switches.Select(t => (t / 1000).ToString("0.0")))} s");
        Assert.True(attainment > 0.99, $"attainment {attainment:P2} at {rate}/s");
    }

    [Fact]
    public void WithoutHysteresisTheSameLoadFlaps()
    {
        long worst = new[] { 400.0, 550, 1200 }.Max(r => Simulate(Make(s: NoHysteresis), r, 60, 3).Switches.Count);
        Assert.True(worst > 100, $"only {worst} switches without hysteresis");
    }

    [Fact]
    public void HeavierLoadIsServedBySparserSubnets()
    {
        int light = Simulate(Make(), 100, 20, 5).Mostly, heavy = Simulate(Make(), 2000, 20, 5).Mostly;
        Assert.Equal(0, light);
        Assert.Equal(2, heavy);
    }
}
