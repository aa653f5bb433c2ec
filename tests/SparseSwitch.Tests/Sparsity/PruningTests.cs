using FsCheck;
using FsCheck.Fluent;
using SparseSwitch.Nn;
using SparseSwitch.Sparsity;
using SparseSwitch.Tensors;
using Xunit;

namespace SparseSwitch.Tests.Sparsity;

public class PruningTests
{
    private static Parameter WithTies(int seed, params int[] shape)
    {
        var p = TestParams.Make(seed, shape);
        var w = SparsityGen.Weights(seed, p.Length, ties: true);
        w.CopyTo(p.Data.Span);
        return p;
    }

    [Fact]
    public void GlobalPruningHitsTheTargetCountExactlyAndKeepsTheLargest()
    {
        var gen = from seed in Gen.Choose(0, int.MaxValue)
                  from d in Gen.Choose(1, 1000)
                  from layers in Gen.Choose(1, 4)
                  select (seed, density: d / 1000.0, layers);
        Prop.ForAll(gen.ToArbitrary(), t =>
        {
            var ps = Enumerable.Range(0, t.layers).Select(i => WithTies(t.seed + i, 3 + i * 5, 7)).ToList();
            var masks = ps.Select(p => new BitMask(p.Length)).ToList();
            long kept = GlobalMagnitudePruning.Prune(ps, t.density, masks);
            long total = ps.Sum(p => (long)p.Length);
            long target = (long)Math.Round(t.density * total);
            if (kept != target || masks.Sum(m => m.Count()) != target) return false;
            float minKept = float.PositiveInfinity, maxDropped = float.NegativeInfinity;
            for (int l = 0; l < ps.Count; l++)
                for (int i = 0; i < ps[l].Length; i++)
                {
                    float a = Math.Abs(ps[l].Data.Span[i]);
                    if (masks[l][i]) minKept = Math.Min(minKept, a); else maxDropped = Math.Max(maxDropped, a);
                }
            return maxDropped <= minKept;
        }).Check(SparsityGen.Quick);
    }

    [Fact]
    public void NestedPruningGivesSubsetsAtTheirTargets()
    {
        var gen = from seed in Gen.Choose(0, int.MaxValue)
                  from a in Gen.Choose(10, 1000)
                  from b in Gen.Choose(10, 1000)
                  from c in Gen.Choose(10, 1000)
                  select (seed, ds: new[] { a, b, c }.OrderByDescending(x => x).Select(x => x / 1000.0).ToArray());
        Prop.ForAll(gen.ToArbitrary(), t =>
        {
            var set = TestParams.Set(3, t.seed % 1000);
            int[] order = [0, 1, 2];
            // Sparsest first (all start dense): each inside the denser one, containing the sparser one.
            for (int k = 2; k >= 0; k--) GlobalMagnitudePruning.Prune(set, k, t.ds[k], NestedBounds.For(set, k, order));
            if (!NestedMasks.IsNested(set, order)) return false;
            for (int k = 0; k < 3; k++)
                if (set.Kept(k) != (long)Math.Round(t.ds[k] * set.TotalPrunable)) return false;
            // Prune-and-regrow under the constraint keeps the nesting.
            set.Parameters[0].Grad.Span[0] = 100f;
            for (int k = 0; k < 3; k++) PruneRegrow.Step(set, k, 0.3, RegrowGradient.Dense, NestedBounds.For(set, k, order));
            return NestedMasks.IsNested(set, order);
        }).Check(SparsityGen.Quick.WithMaxTest(60));
    }

    [Fact]
    public void APruneBelowTheSparserMaskShrinksItInside()
    {
        var set = TestParams.Set(3);
        int[] order = [0, 1, 2];
        long total = set.TotalPrunable;
        // Sub-nets 1 and 2 are still dense; sub-net 0 prunes to half anyway, keeping the largest |W|.
        long kept = GlobalMagnitudePruning.Prune(set, 0, 0.5, NestedBounds.For(set, 0, order));
        Assert.Equal((long)Math.Round(0.5 * total), kept);
        Assert.Equal(kept, set.Kept(0));
        Assert.False(NestedMasks.IsNested(set, order));
        Assert.Equal(new[] { 1, 2 }, NestedMasks.ShrinkSparser(set, 0, order));
        Assert.True(NestedMasks.IsNested(set, order));
        Assert.Equal(kept, set.Kept(1));
        Assert.Equal(kept, set.Kept(2));
        // The kept half is the global top-|W| half.
        var plain = TestParams.Set(1);
        GlobalMagnitudePruning.Prune(plain, 0, 0.5);
        for (int l = 0; l < set.Layers; l++) Assert.Equal(0, plain.Get(0, l).HammingDistance(set.Get(0, l)));
        // Nothing left to shrink: a second call changes nothing.
        Assert.Empty(NestedMasks.ShrinkSparser(set, 0, order));
        // Sub-net 1 then prunes further (inside 0, keeping 2 where it can), and 2 follows inside it.
        GlobalMagnitudePruning.Prune(set, 1, 0.2, NestedBounds.For(set, 1, order));
        Assert.Equal(new[] { 2 }, NestedMasks.ShrinkSparser(set, 1, order));
        GlobalMagnitudePruning.Prune(set, 2, 0.1, NestedBounds.For(set, 2, order));
        Assert.Equal((long)Math.Round(0.2 * total), set.Kept(1));
        Assert.Equal((long)Math.Round(0.1 * total), set.Kept(2));
        Assert.True(NestedMasks.IsNested(set, order));
    }

    [Fact]
    public void RestrictToKeepsCountInsideParent()
    {
        var p = TestParams.Make(3, 200);
        var parent = new BitMask(200); var child = new BitMask(200);
        for (int i = 0; i < 200; i += 2) parent[i] = true;       // 100 kept
        for (int i = 0; i < 30; i++) child[i * 5 + 1] = true;       // 30 kept, partly outside
        long c = NestedMasks.RestrictTo(child, parent, p.Data.Span);
        Assert.Equal(30, c);
        Assert.True(child.IsSubsetOf(parent));
    }

    [Fact]
    public void PruneRegrowKeepsCountDropsSmallestAndRegrowsLargestGradient()
    {
        for (int seed = 0; seed < 20; seed++)
        {
            var p = TestParams.Make(seed, 16, 24);
            var mask = new BitMask(p.Length);
            GlobalMagnitudePruning.Prune([p], 0.3, [mask]);
            var before = mask.Clone();
            long nnz = mask.Count();
            int r = PruneRegrow.Step(p, mask, 0.2, RegrowGradient.Dense);
            Assert.Equal((int)Math.Ceiling(0.2 * nnz), r);
            Assert.Equal(nnz, mask.Count());
            // The drop takes the r old-kept positions of smallest |W| (ties: lower index); every
            // other old-kept position survives, and any position dropped for good has |W| no
            // larger than any survivor's.
            var oldKept = Enumerable.Range(0, p.Length).Where(i => before[i])
                .OrderBy(i => Math.Abs(p.Data.Span[i])).ThenBy(i => i).ToArray();
            var survivors = oldKept[r..];
            Assert.All(survivors, i => Assert.True(mask[i], $"seed {seed}: old-kept position {i} (|W| {Math.Abs(p.Data.Span[i])}) was dropped"));
            float maxDropped = 0, minSurvivor = float.PositiveInfinity;
            for (int i = 0; i < p.Length; i++)
                if (before[i] && !mask[i]) maxDropped = Math.Max(maxDropped, Math.Abs(p.Data.Span[i]));
            foreach (int i in survivors) minSurvivor = Math.Min(minSurvivor, Math.Abs(p.Data.Span[i]));
            Assert.True(maxDropped <= minSurvivor, $"seed {seed}: a dropped weight |W| = {maxDropped} exceeds a survivor's {minSurvivor}");
            // Regrown: the r positions of largest |g| among those not kept after the drop (the
            // just-dropped ones compete).
            var isSurvivor = new bool[p.Length];
            foreach (int i in survivors) isSurvivor[i] = true;
            var grown = Enumerable.Range(0, p.Length).Where(i => mask[i] && !isSurvivor[i]).ToList();
            Assert.Equal(r, grown.Count);
            float minGrown = grown.Min(i => Math.Abs(p.Grad.Span[i]));
            for (int i = 0; i < p.Length; i++)
                if (!isSurvivor[i] && !mask[i])
                    Assert.True(Math.Abs(p.Grad.Span[i]) <= minGrown, $"seed {seed}: position {i} has a larger |g| than a regrown one");
        }
    }

    [Fact]
    public void MaskedGradientOnlyRegrowsJustDroppedPositions()
    {
        var p = TestParams.Make(7, 32, 32);
        var mask = new BitMask(p.Length);
        GlobalMagnitudePruning.Prune([p], 0.2, [mask]);
        var before = mask.Clone();
        PruneRegrow.Step(p, mask, 0.5, RegrowGradient.Masked);
        Assert.True(mask.IsSubsetOf(before));   // every regrown position was kept before
        Assert.Equal(before.Count(), mask.Count());
        var dense = before.Clone();
        PruneRegrow.Step(p, dense, 0.5, RegrowGradient.Dense);
        Assert.False(dense.IsSubsetOf(before));  // the dense gradient explores
    }

    [Fact]
    public void ErkDensitiesHitTheBudgetAndCapAtOne()
    {
        var shapes = new List<int[]> { new[] { 16, 3, 3, 3 }, new[] { 32, 16, 3, 3 }, new[] { 64, 32, 3, 3 }, new[] { 10, 64 } };
        foreach (double d in new[] { 0.02, 0.1, 0.5, 0.9, 1.0 })
        {
            var dens = Erk.Densities(shapes, d);
            double kept = 0, total = 0;
            for (int l = 0; l < shapes.Count; l++)
            {
                double n = shapes[l].Aggregate(1.0, (a, b) => a * b);
                kept += dens[l] * n; total += n;
                Assert.InRange(dens[l], 0, 1 + 1e-12);
            }
            Assert.Equal(d, kept / total, 9);
            // Smaller layers are denser (ERK ∝ Σdims/Πdims).
            Assert.True(dens[0] >= dens[1] && dens[1] >= dens[2]);
        }
        var capped = Erk.Densities(shapes, 0.5);
        Assert.Equal(1.0, capped[0]);
        // Non-capped layers keep the ERK ratio: d_l / s_l constant.
        double S(int[] s) => s.Sum() / s.Aggregate(1.0, (a, b) => a * b);
        Assert.Equal(capped[1] / S(shapes[1]), capped[2] / S(shapes[2]), 9);
        Assert.Throws<ArgumentOutOfRangeException>(() => Erk.Densities(shapes, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => Erk.Densities(shapes, 1.2));
    }

    [Fact]
    public void SchedulesFollowTheirFormulas()
    {
        Assert.Equal(1.0, DensitySchedule.Cubic(0.1, 1.0, 0, 10), 12);
        Assert.Equal(0.1, DensitySchedule.Cubic(0.1, 1.0, 10, 10), 12);
        Assert.Equal(0.1, DensitySchedule.Cubic(0.1, 1.0, 15, 10), 12);
        Assert.Equal(0.1 + 0.9 * 0.125, DensitySchedule.Cubic(0.1, 1.0, 5, 10), 12);
        Assert.Equal(0.05 + 0.45 * Math.Pow(0.7, 3), DensitySchedule.Cubic(0.05, 0.5, 3, 10), 12);
        Assert.Equal(0.5, DensitySchedule.PruneRateCosine(0, 100), 12);
        Assert.Equal(0.005, DensitySchedule.PruneRateCosine(100, 100), 12);
        Assert.Equal((0.5 + 0.005) / 2, DensitySchedule.PruneRateCosine(50, 100), 12);
        Assert.Throws<ArgumentOutOfRangeException>(() => DensitySchedule.Cubic(0, 1, 0, 10));
        Assert.Throws<ArgumentOutOfRangeException>(() => DensitySchedule.Cubic(0.1, 1, 0, 0));
    }

    [Fact]
    public void SrSteDecaysPrunedWeightsAndTracksSad()
    {
        var p = TestParams.Make(5, 8, 16);
        var sr = new SrSte([p], 2, 4, lambda: 0.5f);
        Assert.Equal(0, sr.Refresh());
        Assert.True(NmMask.IsValid(sr.Masks[0], p.Shape, 2, 4));
        Assert.Same(sr.Masks[0], p.Mask);
        var g0 = p.Grad.ToArray();
        sr.ApplyDecay();
        for (int i = 0; i < p.Length; i++)
            Assert.Equal(g0[i] + (sr.Masks[0][i] ? 0f : 0.5f * p.Data.Span[i]), p.Grad.Span[i], 6);
        // Swap one group's kept and pruned magnitudes: the mask changes in 4 positions.
        var w = p.Data.Span;
        int a = -1, b = -1;
        for (int i = 0; i < 4; i++) { if (sr.Masks[0][i] && a < 0) a = i; if (!sr.Masks[0][i] && b < 0) b = i; }
        (w[a], w[b]) = (w[b] * 0.1f, w[a] * 10f + 10f);
        long sad = sr.Refresh();
        Assert.True(sad >= 2 && sad % 2 == 0);
        Assert.Equal(sad, sr.LastSadPerLayer[0]);
    }
}

public class PruningInputTests
{
    [Fact]
    public void NaNWeightsAreReported()
    {
        var p = TestParams.Make(1, 4, 4);
        p.Data.Span[5] = float.NaN;
        var e = Assert.Throws<ArgumentException>(() => GlobalMagnitudePruning.Prune([p], 0.5, [new BitMask(16)]));
        Assert.Contains("NaN at index 5", e.Message);
    }
}
