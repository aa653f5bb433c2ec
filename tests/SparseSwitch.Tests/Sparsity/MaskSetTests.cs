using SparseSwitch.Nn;
using SparseSwitch.Optim;
using SparseSwitch.Serialization;
using SparseSwitch.Sparsity;
using SparseSwitch.Tensors;
using Xunit;

namespace SparseSwitch.Tests.Sparsity;

internal static class TestParams
{
    public static Parameter Make(int seed, params int[] shape)
    {
        var p = new Parameter(shape) { Prunable = true };
        var rng = new Rng((ulong)seed);
        rng.FillNormal(p.Data.Span, 0, 1);
        rng.FillNormal(p.Grad.Span, 0, 1);
        return p;
    }

    public static MaskSet Set(int k, int seed = 1) => new(new[]
    {
        ("conv.weight", Make(seed, 8, 4, 3, 3)),
        ("fc1.weight", Make(seed + 1, 16, 32)),
        ("fc2.weight", Make(seed + 2, 10, 16)),
    }, k, otherParameters: 100);
}

public class MaskSetTests
{
    [Fact]
    public void OverATableEachSubnetIsOneFlatMaskAndMaskingIsOnePass()
    {
        var conv = TestParams.Make(1, 8, 4, 3, 3);
        var bias = new Parameter(8);
        var fc = TestParams.Make(2, 10, 16);
        new Rng(3).FillNormal(bias.Grad.Span, 0, 1);
        var table = new ParameterTable([("conv.weight", conv), ("conv.bias", bias), ("fc.weight", fc)]);
        var set = new MaskSet(table, 2);
        Assert.Same(table, set.Table);
        Assert.Equal(["conv.weight", "fc.weight"], set.Paths);
        Assert.Equal(8, set.OtherParameters);
        GlobalMagnitudePruning.Prune(set, 1, 0.25);
        var flat = set.Flat(1);
        Assert.Equal(table.TotalLength, flat.Length);
        // The sub-net's masks are views on its flat mask; the bias is all kept; padding is clear.
        Assert.Equal(set.Kept(1) + 8, flat.Count());
        int fcOffset = table.Entries[2].Offset;
        for (int i = 0; i < fc.Length; i++) Assert.Equal(set.Get(1, 1)[i], flat[fcOffset + i]);
        var g = table.Grad.ToArray();
        set.MaskGradients(1);
        var fcGrad = fc.Grad.ToArray();
        for (int i = 0; i < fc.Length; i++) Assert.Equal(set.Get(1, 1)[i] ? g[fcOffset + i] : 0f, fcGrad[i]);
        Assert.Equal(g.AsSpan(table.Entries[1].Offset, 8).ToArray(), bias.Grad.ToArray());
        set.Copy(1, 0);
        Assert.Equal(0, set.Flat(0).HammingDistance(flat));
        set.Activate(0);
        Assert.Same(set.Get(0, 0), conv.Mask);
    }

    /// <summary>A conv (8×4×3×3), a bias (no mask, a random gradient) and an fc (10×<paramref name="fcIn"/>)
    /// over one table, with three sub-nets: 0 and 1 the global top-|W| at densities d0 and d1, 2 a
    /// random share of the positions, so that some of its weights lie outside the denser masks.</summary>
    private static (ParameterTable Table, MaskSet Set) ThreeOverlappingSubnets(int fcIn, double d0, double d1, double randomShare)
    {
        var conv = TestParams.Make(1, 8, 4, 3, 3);
        var bias = new Parameter(8);
        var fc = TestParams.Make(2, 10, fcIn);
        new Rng(3).FillNormal(bias.Grad.Span, 0, 1);
        var table = new ParameterTable([("conv.weight", conv), ("conv.bias", bias), ("fc.weight", fc)]);
        var set = new MaskSet(table, 3);
        GlobalMagnitudePruning.Prune(set, 0, d0);
        GlobalMagnitudePruning.Prune(set, 1, d1);
        var rng = new Rng(9);
        for (int l = 0; l < set.Layers; l++)
            for (int i = 0; i < set.Get(2, l).Length; i++) set.Get(2, l)[i] = rng.NextDouble() < randomShare;
        return (table, set);
    }

    [Theory]
    [InlineData(new double[] { 1, 1, 1 })]
    [InlineData(new double[] { 1, 1, 2 })]
    public void CoverageScalingMultipliesEachGradientByTheShareOfTheSubnetsHoldingItsWeight(double[] weights)
    {
        var (table, set) = ThreeOverlappingSubnets(fcIn: 16, d0: 0.6, d1: 0.3, randomShare: 0.2);
        double total = weights.Sum();
        for (int k = 0; k < 3; k++)
        {
            new Rng((ulong)(20 + k)).FillNormal(table.Grad.Span, 0, 1);
            set.MaskGradients(k);
            var before = table.Grad.ToArray();
            set.ScaleByCoverage(k, weights, table.Grad.Span);
            var after = table.Grad.ToArray();
            int checkedPartial = 0;
            for (int l = 0; l < set.Layers; l++)
            {
                int offset = table.Entries[table.IndexOf(set.Paths[l])].Offset;
                for (int i = 0; i < set.Get(k, l).Length; i++)
                {
                    double held = Enumerable.Range(0, 3).Where(j => set.Get(j, l)[i]).Sum(j => weights[j]);
                    float expected = set.Get(k, l)[i] ? (float)(before[offset + i] * (float)(total / held)) : 0f;
                    Assert.Equal(expected, after[offset + i]);
                    if (set.Get(k, l)[i] && held < total) checkedPartial++;
                }
            }
            Assert.True(checkedPartial > 0);
            // The bias (not prunable) and the padding are untouched.
            int b = table.Entries[1].Offset;
            Assert.Equal(before.AsSpan(b, 8).ToArray(), after.AsSpan(b, 8).ToArray());
        }
    }

    [Theory]
    [InlineData(0f)]
    [InlineData(0.25f)]
    [InlineData(1f)]
    public void MaskingWithAnOthersScaleKeepsOwnGradientsScalesOthersAndZeroesTheRest(float alpha)
    {
        var (table, set) = ThreeOverlappingSubnets(fcIn: 17, d0: 0.5, d1: 0.2, randomShare: 0.1);   // fc: 170 elements, the last word partial
        for (int k = 0; k < 3; k++)
        {
            new Rng((ulong)(30 + k)).FillNormal(table.Grad.Span, 0, 1);
            var before = table.Grad.ToArray();
            set.MaskGradients(k, alpha);
            var after = table.Grad.ToArray();
            int lent = 0, none = 0;
            for (int l = 0; l < set.Layers; l++)
            {
                int offset = table.Entries[table.IndexOf(set.Paths[l])].Offset;
                for (int i = 0; i < set.Get(k, l).Length; i++)
                {
                    bool others = Enumerable.Range(0, 3).Any(j => j != k && set.Get(j, l)[i]);
                    float expected = set.Get(k, l)[i] ? before[offset + i] : others ? before[offset + i] * alpha : 0f;
                    Assert.Equal(expected, after[offset + i]);
                    if (!set.Get(k, l)[i]) { if (others) lent++; else none++; }
                }
            }
            Assert.True(none > 0 && (k == 0 || lent > 0), $"sub-net {k}: {lent} lent, {none} held by none");
            int b = table.Entries[1].Offset;
            Assert.Equal(before.AsSpan(b, 8).ToArray(), after.AsSpan(b, 8).ToArray());   // the bias has no mask
            // A scale of 0 is plain masking.
            if (alpha == 0)
            {
                before.CopyTo(table.Grad.Span);
                set.MaskGradients(k);
                Assert.Equal(after, table.Grad.ToArray());
            }
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => set.MaskGradients(0, 1.5f));
        Assert.Throws<ArgumentOutOfRangeException>(() => set.MaskGradients(0, float.NaN));
    }

    [Fact]
    public void ActivatePointsAtTheStoredMasksAndMaskGradientsMultiplies()
    {
        var set = TestParams.Set(3);
        GlobalMagnitudePruning.Prune(set, 1, 0.3);
        GlobalMagnitudePruning.Prune(set, 2, 0.1);
        for (int k = 0; k < 3; k++)
        {
            set.Activate(k);
            Assert.Equal(k, set.Active);
            for (int l = 0; l < set.Layers; l++)
            {
                var p = set.Parameters[l];
                Assert.Same(set.Get(k, l), p.Mask);
            }
        }
        var g0 = set.Parameters.Select(p => p.Grad.ToArray()).ToList();
        set.MaskGradients(2);
        for (int l = 0; l < set.Layers; l++)
            for (int i = 0; i < g0[l].Length; i++)
                Assert.Equal(set.Get(2, l)[i] ? g0[l][i] : 0f, set.Parameters[l].Grad.Span[i]);
        set.Deactivate();
        Assert.All(set.Parameters, p => Assert.Null(p.Mask));
    }

    [Fact]
    public void SaveAndLoadRoundTripBitPacked()
    {
        var set = TestParams.Set(2);
        GlobalMagnitudePruning.Prune(set, 0, 0.5);
        GlobalMagnitudePruning.Prune(set, 1, 0.05);
        var path = Path.Combine(Path.GetTempPath(), $"masks-{Guid.NewGuid():N}.safetensors");
        try
        {
            set.Save(path);
            var file = SafeTensors.Load(path);
            Assert.Equal(SafeDType.U8, file["masks.1.fc1.weight"].DType);
            Assert.Equal((16 * 32 + 7) / 8, file["masks.1.fc1.weight"].Bytes.Length);
            var other = TestParams.Set(2);
            other.Load(path);
            for (int k = 0; k < 2; k++)
                for (int l = 0; l < set.Layers; l++) Assert.Equal(0, other.Get(k, l).HammingDistance(set.Get(k, l)));
            var three = TestParams.Set(3);
            Assert.Throws<InvalidDataException>(() => three.Load(path));
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void InvalidArgumentsGiveClearErrors()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => TestParams.Set(0));
        var set = TestParams.Set(2);
        var e = Assert.Throws<ArgumentException>(() => set[0, "nope.weight"]);
        Assert.Contains("nope.weight", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => set.Activate(2));
        Assert.Throws<ArgumentOutOfRangeException>(() => GlobalMagnitudePruning.Prune(set, 0, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => GlobalMagnitudePruning.Prune(set, 0, 1.01));
        Assert.Throws<ArgumentOutOfRangeException>(() => set.SetNm(0, 4, 4));
        Assert.Throws<ArgumentException>(() => new MaskSet(new[] { ("a", TestParams.Make(1, 4)), ("a", TestParams.Make(2, 4)) }, 1));
    }

    [Fact]
    public void StatisticsCountPrunableAndAllWeights()
    {
        var set = TestParams.Set(2);
        GlobalMagnitudePruning.Prune(set, 1, 0.25);
        var r = MaskStats.Density(set, 1);
        long total = 8 * 4 * 9 + 16 * 32 + 10 * 16;
        Assert.Equal(total, r.TotalPrunable);
        Assert.Equal((long)Math.Round(0.25 * total), r.KeptPrunable);
        Assert.Equal(r.KeptPrunable + 100, r.KeptAll);
        Assert.Equal(total + 100, r.TotalAll);
        Assert.Equal(r.KeptPrunable, r.Layers.Sum(l => l.Kept));
        var o = MaskStats.Overlap(set, 0, 1);
        Assert.Equal(r.KeptPrunable, o.Intersection);          // sub-net 0 is dense
        Assert.Equal(total, o.Union);
        Assert.Equal(1.0, o.Containment);
        Assert.Equal((double)(r.KeptPrunable + 100) / (total + 100), o.IouAllWeights, 12);
    }
}

public class MaskSetPatternTests
{
    [Fact]
    public void NmAndTransposablePatternsPerLayer()
    {
        var set = TestParams.Set(2);
        set.SetNm(0, 2, 4);
        set.SetTransposable(1, 2, 4);
        for (int l = 0; l < set.Layers; l++)
        {
            var shape = set.Parameters[l].Shape;
            Assert.True(NmMask.IsValid(set.Get(0, l), shape, 2, 4));
            Assert.True(NmMask.IsValid(set.Get(1, l), shape, 2, 4));
        }
    }
}
