using FsCheck;
using FsCheck.Fluent;
using SparseSwitch.Sparsity;
using Xunit;

namespace SparseSwitch.Tests.Sparsity;

public class NmMaskTests
{
    [Fact]
    public void EveryGroupKeepsExactlyNOfTheLargest()
    {
        var gen = from seed in Gen.Choose(0, int.MaxValue)
                  from m in Gen.Elements(2, 3, 4, 5, 8, 16)
                  from n in Gen.Choose(1, m - 1)
                  from conv in Gen.Elements(false, true)
                  from outs in Gen.Choose(1, 6)
                  from ins in Gen.Choose(1, 37)
                  from k in Gen.Choose(1, 3)
                  select (seed, n, m, shape: conv ? new[] { outs, ins, k, k } : new[] { outs, ins });
        Prop.ForAll(gen.ToArbitrary(), t =>
        {
            var (seed, n, m, shape) = t;
            int len = shape.Aggregate(1, (a, b) => a * b);
            var w = SparsityGen.Weights(seed, len, ties: true);
            var mask = NmMask.Compute(w, shape, n, m);
            if (!NmMask.IsValid(mask, shape, n, m)) return false;
            // Kept = top-N: every kept |w| ≥ every dropped |w| in its group.
            var layout = new NmLayout(shape, m);
            for (int run = 0; run < layout.Runs; run++)
                for (int g = 0; g < layout.GroupsPerRun; g++)
                {
                    float minKept = float.PositiveInfinity, maxDropped = float.NegativeInfinity;
                    for (int c = g * m; c < Math.Min(layout.In, g * m + m); c++)
                    {
                        int idx = layout.Index(run, c);
                        if (mask[idx]) minKept = Math.Min(minKept, Math.Abs(w[idx]));
                        else maxDropped = Math.Max(maxDropped, Math.Abs(w[idx]));
                    }
                    if (maxDropped > minKept) return false;
                }
            return true;
        }).Check(SparsityGen.Quick);
    }

    [Fact]
    public void ParallelRankKernelMatchesScalarTwin()
    {
        int[][] shapes = [[64, 200], [48, 37, 3, 3], [5, 7], [300, 130], [16, 64, 1, 5]];
        foreach (var shape in shapes)
            foreach (var (n, m) in new[] { (1, 2), (2, 4), (1, 4), (3, 8), (5, 16) })
            {
                int len = shape.Aggregate(1, (a, b) => a * b);
                var w = SparsityGen.Weights(len + n * 7 + m, len, ties: true);
                var fast = NmMask.Compute(w, shape, n, m);
                var slow = NmMask.ComputeScalar(w, shape, n, m);
                Assert.Equal(0, fast.HammingDistance(slow));
            }
    }

    [Fact]
    public void ConvGroupsRunAlongInputChannels()
    {
        // [out=1, in=4, kh=1, kw=2]: groups are (c0..c3) at position 0 and at position 1.
        float[] w = [9, 1, 8, 2, 7, 3, 6, 4]; // storage (c, p): c0p0=9 c0p1=1 c1p0=8 c1p1=2 ...
        var mask = NmMask.Compute(w, [1, 4, 1, 2], 2, 4);
        Assert.Equal(new[] { true, false, true, false, false, true, false, true }, Enumerable.Range(0, 8).Select(i => mask[i]));
    }

    [Fact]
    public void InvalidSettingsAreRejected()
    {
        var w = new float[16];
        Assert.Throws<ArgumentOutOfRangeException>(() => NmMask.Compute(w, [4, 4], 4, 4));
        Assert.Throws<ArgumentOutOfRangeException>(() => NmMask.Compute(w, [4, 4], 0, 4));
        Assert.Throws<ArgumentOutOfRangeException>(() => NmMask.Compute(w, [4, 4], 5, 4));
        Assert.Throws<ArgumentException>(() => NmMask.Compute(w, [4, 5], 2, 4));
    }
}
