using SparseSwitch.Training;
using Xunit;

namespace SparseSwitch.Tests.Training;

public class MaskUpdateClockTests
{
    [Theory]
    [InlineData(99, 3)]
    [InlineData(999, 3)]
    [InlineData(100, 3)]
    [InlineData(7, 4)]
    public void Every_subnet_updates_once_per_period_of_its_own_iterations(long period, int k)
    {
        long periods = 10;
        long ownTotal = period * periods;
        var clock = new MaskUpdateClock(k, period, startOwn: 0, rampEndOwn: ownTotal / 2, stopOwn: long.MaxValue);
        var counts = new long[k];
        var lastOwn = new long[k];
        Array.Fill(lastOwn, -1);
        for (long t = 0; t < ownTotal * k; t++)
        {
            if (!clock.Fires(t)) continue;
            int s = (int)(t % k);
            long n = t / k;
            if (lastOwn[s] >= 0) Assert.Equal(period, n - lastOwn[s]);
            lastOwn[s] = n;
            counts[s]++;
        }
        for (int s = 0; s < k; s++)
        {
            Assert.Equal(periods, counts[s]); // the intended number: one per ΔT own iterations
            Assert.Equal(periods, clock.CountEvents(s, ownTotal));
            Assert.Equal(s * (period / k), clock.Offset(s));
        }
    }

    [Fact]
    public void A_global_clock_with_offsets_misses_subnets_when_period_is_a_multiple_of_K()
    {
        // The trap the own-iteration clock avoids: fire when (t − 300·k) mod 999 = 0 on the global t.
        int k = 3;
        var counts = new long[k];
        for (long t = 0; t < 999 * 30; t++)
        {
            int s = (int)(t % k);
            if (t >= 300 * s && (t - 300 * s) % 999 == 0) counts[s]++;
        }
        Assert.True(counts[0] > 0);
        Assert.Equal(0, counts[1]);
        Assert.Equal(0, counts[2]);
    }

    [Fact]
    public void Ramp_events_are_numbered_one_to_n_and_stop_at_the_ramp_end()
    {
        var clock = new MaskUpdateClock(3, period: 10, startOwn: 5, rampEndOwn: 95, stopOwn: 200);
        for (int s = 0; s < 3; s++)
        {
            var js = new List<long>();
            for (long n = 0; n < 300; n++)
                if (clock.IsRampEventOwn(s, n)) js.Add(clock.RampEventIndex(s, n));
            Assert.Equal(Enumerable.Range(1, js.Count).Select(x => (long)x), js);
            Assert.Equal(clock.RampEvents(s), js.Count);
            Assert.True(js.Count >= 8);
        }
        Assert.DoesNotContain(Enumerable.Range(200, 100), n => clock.FiresOwn(0, n));
    }

    [Fact]
    public void Iteration_t_trains_subnet_t_mod_K()
    {
        var clock = new MaskUpdateClock(3, 5, 0, 10, 100);
        Assert.Equal([0, 1, 2, 0, 1, 2, 0], Enumerable.Range(0, 7).Select(t => clock.SubnetAt(t)));
        Assert.Equal(2, clock.OwnIteration(7));
    }

    [Fact]
    public void Bad_arguments_are_rejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new MaskUpdateClock(0, 5, 0, 1, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new MaskUpdateClock(3, 0, 0, 1, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new MaskUpdateClock(3, 5, 10, 1, 1));
    }

    [Fact]
    public void Subnet_lists_parse_and_reject_bad_items()
    {
        Assert.Equal("0.1,0.05,0.02", string.Join(",", SubnetList.Parse("0.1, 0.05,0.02")));
        var nm = SubnetList.Parse("2:4,1:4,1:8");
        Assert.All(nm, s => Assert.True(s.IsNm));
        Assert.True(nm.IsNm);
        Assert.Equal(0.125, nm[2].FinalDensity);
        Assert.Equal("2:4,1:4,1:8", nm.ToExactString());
        Assert.Equal(nm, SubnetList.Parse(" 2:4 ,1:4,1:8"));
        Assert.NotEqual(nm, SubnetList.Parse("2:4,1:8,1:4"));
        Assert.Equal(0.00005, SubnetList.Parse(SubnetList.Parse("0.00005").ToExactString())[0].Density);
        foreach (var bad in new[] { "4:4", "0:4", "0.1,2:4", "1.5", "abc", "0.1,0.1", "", " , " })
        {
            var e = Assert.Throws<ArgumentException>(() => SubnetList.Parse(bad));
            Assert.StartsWith("subnets: ", e.Message);
        }
        Assert.Contains("'abc'", Assert.Throws<ArgumentException>(() => SubnetList.Parse("0.1,abc")).Message);
        Assert.Throws<ArgumentException>(() => new SubnetList([new SubnetSpec(0.3, 2, 4)]));
        Assert.Throws<ArgumentException>(() => new SubnetList([]));
    }

    [Theory]
    [InlineData(new[] { 1, 1, 1 }, new[] { 0, 1, 2 })]
    [InlineData(new[] { 1, 1, 2 }, new[] { 2, 0, 1, 2 })]
    [InlineData(new[] { 1, 2, 3 }, new[] { 2, 1, 0, 2, 1, 2 })]
    public void The_weighted_cycle_gives_each_subnet_its_weight_spread_evenly(int[] weights, int[] expected)
    {
        var cycle = MaskUpdateClock.SmoothCycle(weights);
        Assert.Equal(expected, cycle);
        for (int k = 0; k < weights.Length; k++) Assert.Equal(weights[k], cycle.Count(x => x == k));
    }

    [Fact]
    public void Weighted_own_iterations_count_each_subnets_turns_and_its_ramp_spans_the_same_global_span()
    {
        int[] weights = [1, 1, 3];
        var clock = MaskUpdateClock.Weighted(weights, period: 4, startGlobal: 50, rampEndGlobal: 500, stopOwn: long.MaxValue);
        Assert.Equal(5, clock.CycleLength);
        var seen = new long[3];
        var firstEvent = new long[] { -1, -1, -1 };
        var lastRamp = new long[] { -1, -1, -1 };
        for (long t = 0; t < 1000; t++)
        {
            int k = clock.SubnetAt(t);
            Assert.Equal(seen[k], clock.OwnIteration(t));
            Assert.Equal(seen[k], clock.OwnBefore(k, t));
            seen[k]++;
            if (clock.Fires(t))
            {
                if (firstEvent[k] < 0) firstEvent[k] = t;
                if (clock.IsRampEventOwn(k, clock.OwnIteration(t))) lastRamp[k] = t;
            }
        }
        Assert.Equal(new long[] { 200, 200, 600 }, seen);
        for (int k = 0; k < 3; k++)
        {
            Assert.InRange(firstEvent[k], 50, 50 + 5 * (4 + 2)); // at the start, plus its stagger
            Assert.InRange(lastRamp[k], 400, 499);             // its ramp ends by global 500
            Assert.True(clock.RampEvents(k) > 0);
        }
        // A sub-net sampled three times as often has three times the events.
        Assert.InRange(clock.RampEvents(2), 3 * clock.RampEvents(0) - 3, 3 * clock.RampEvents(0) + 3);
        // Weights all 1 are round robin.
        var rr = MaskUpdateClock.Weighted([1, 1, 1], 4, 0, 30, long.MaxValue);
        for (long t = 0; t < 30; t++) { Assert.Equal((int)(t % 3), rr.SubnetAt(t)); Assert.Equal(t / 3, rr.OwnIteration(t)); }
    }
}
