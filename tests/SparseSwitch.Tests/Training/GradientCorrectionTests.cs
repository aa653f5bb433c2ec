using SparseSwitch.Nn;
using SparseSwitch.Optim;
using SparseSwitch.Tensors;
using SparseSwitch.Training;
using Xunit;

namespace SparseSwitch.Tests.Training;

public class GradientCorrectionTests
{
    private static Tensor Random(Rng rng, int n, float lo = -1, float hi = 1)
    {
        var t = new Tensor(n);
        rng.FillUniform(t.Span, lo, hi);
        return t;
    }

    [Fact]
    public void Dot_matches_scalar_oracle_on_every_length()
    {
        var rng = new Rng(1);
        for (int n = 0; n <= 4 * 16 * 4 + 5; n++)
        {
            var a = Random(rng, n); var b = Random(rng, n);
            double fast = CorrectionMath.Dot(a.Span, b.Span), slow = CorrectionMath.DotScalar(a.Span, b.Span);
            Assert.True(Math.Abs(fast - slow) <= 1e-5 * (1 + Math.Abs(slow)) + 1e-6 * n, $"n={n}: {fast} vs {slow}");
        }
    }

    [Fact]
    public void Projection_leaves_no_conflict_and_is_orthogonal_where_it_fires()
    {
        var rng = new Rng(7);
        int firedTotal = 0;
        for (int trial = 0; trial < 300; trial++)
        {
            int n = 1 + rng.NextInt(700);
            var g = Random(rng, n); var p = Random(rng, n);
            var before = g.ToArray();
            bool fired = CorrectionMath.Project(g.Span, p.Span, out double dot);
            double after = CorrectionMath.DotScalar(g.Span, p.Span);
            double scale = Math.Sqrt(CorrectionMath.DotScalar(g.Span, g.Span) * CorrectionMath.DotScalar(p.Span, p.Span)) + 1e-30;
            Assert.Equal(dot < 0, fired);
            if (fired)
            {
                firedTotal++;
                Assert.True(Math.Abs(after) <= 1e-5 * scale, $"trial {trial}: ⟨g,g′⟩ = {after} after projection");
            }
            else
            {
                Assert.Equal(before, g.ToArray());
                Assert.True(after >= 0);
            }
        }
        Assert.InRange(firedTotal, 50, 250); // random pairs conflict about half the time
    }

    [Theory]
    [InlineData(0.5)]
    [InlineData(0.25)]
    public void A_partial_projection_removes_that_fraction_of_the_conflict(double strength)
    {
        var rng = new Rng(11);
        int fired = 0;
        for (int trial = 0; trial < 100; trial++)
        {
            int n = 1 + rng.NextInt(500);
            var g = Random(rng, n); var p = Random(rng, n);
            var orig = g.ToArray();
            var full = Tensor.FromArray(g.ToArray(), n);
            if (!CorrectionMath.Project(g.Span, p.Span, out double dot, strength)) continue;
            fired++;
            Assert.True(CorrectionMath.Project(full.Span, p.Span, out _));
            double after = CorrectionMath.DotScalar(g.Span, p.Span);
            Assert.True(Math.Abs(after - (1 - strength) * dot) <= 1e-4 * Math.Abs(dot), $"trial {trial}: {after} against {(1 - strength) * dot}");
            // g moved the given fraction of the way to the full projection.
            var gs = g.ToArray(); var fs = full.ToArray();
            for (int i = 0; i < n; i++) Assert.Equal(orig[i] + strength * (fs[i] - orig[i]), gs[i], 1e-5);
        }
        Assert.True(fired > 20);
    }

    [Fact]
    public void With_an_average_the_reference_gradient_is_the_moving_average_of_uncorrected_gradients()
    {
        const double beta = 0.75;
        var (gc, grads, _) = Build(CorrectionMode.EveryIteration, false, 3, [40, 17], average: beta);
        var rng = new Rng(5);
        var expected = grads.Select(g => new double[g.Length]).ToArray();
        for (long t = 0; t < 6; t++)
        {
            Fill(rng, grads, 0.6f);
            var raw = grads.Select(g => g.ToArray()).ToArray();
            gc.Apply(t, null);
            for (int l = 0; l < grads.Length; l++)
                for (int i = 0; i < raw[l].Length; i++)
                    expected[l][i] = t == 0 ? raw[l][i] : beta * expected[l][i] + (1 - beta) * raw[l][i];
            for (int l = 0; l < grads.Length; l++)
            {
                var prev = gc.Previous(l).ToArray();
                for (int i = 0; i < prev.Length; i++) Assert.Equal(expected[l][i], prev[i], 1e-5);
            }
        }
        Assert.True(gc.Fired.Sum() > 0);
    }

    [Fact]
    public void Zero_previous_gradient_never_fires()
    {
        var g = Tensor.FromArray([1f, -2f, 3f], 3);
        Assert.False(CorrectionMath.Project(g.Span, new float[3], out _));
    }

    /// <summary>A table of the given layers with an uncorrected parameter after the first, and a
    /// correction over the layers.</summary>
    private static (GradientCorrection gc, Tensor[] grads, Parameter other) Build(CorrectionMode mode, bool remask, int k, int[] sizes,
        double strength = 1.0, double average = 0.0)
    {
        var other = new Parameter(9);
        var layers = sizes.Select(n => new Parameter(n)).ToArray();
        var named = new List<(string, Parameter)> { ("l0", layers[0]), ("other", other) };
        for (int i = 1; i < sizes.Length; i++) named.Add(($"l{i}", layers[i]));
        var table = new ParameterTable(named);
        var entries = Enumerable.Range(0, sizes.Length).Select(i => table.IndexOf($"l{i}")).ToList();
        return (new GradientCorrection(mode, remask, k, table, entries, strength, average), layers.Select(p => p.Grad).ToArray(), other);
    }

    /// <summary>Fills every layer's gradient with random values masked by a random mask.</summary>
    private static BitMask[] Fill(Rng rng, Tensor[] grads, float maskDensity)
    {
        var masks = new BitMask[grads.Length];
        for (int i = 0; i < grads.Length; i++)
        {
            rng.FillUniform(grads[i].Span, -1, 1);
            var m = new BitMask(grads[i].Length);
            for (int j = 0; j < m.Length; j++) m[j] = rng.NextFloat() < maskDensity;
            m.ApplyTo(grads[i].Span);
            masks[i] = m;
        }
        return masks;
    }

    [Theory]
    [InlineData(CorrectionMode.EveryIteration)]
    [InlineData(CorrectionMode.InnerGroup)]
    public void After_correction_every_layer_has_nonnegative_inner_product_with_previous(CorrectionMode mode)
    {
        int[] sizes = [5, 64, 333];
        var (gc, grads, other) = Build(mode, remask: false, k: 3, sizes);
        var rng = new Rng(11);
        Tensor[]? previousUncorrected = null;
        long fired = 0;
        for (long t = 0; t < 60; t++)
        {
            var masks = Fill(rng, grads, 0.6f);
            rng.FillUniform(other.Grad.Span, -1, 1);
            var otherBefore = other.Grad.ToArray();
            var uncorrected = grads.Select(g => g.Clone()).ToArray();
            fired += gc.Apply(t, masks);
            Assert.Equal(otherBefore, other.Grad.ToArray());
            bool tested = previousUncorrected != null && (mode == CorrectionMode.EveryIteration || t % 3 != 0);
            for (int i = 0; i < sizes.Length; i++)
            {
                if (!tested) { Assert.Equal(uncorrected[i].ToArray(), grads[i].ToArray()); continue; }
                double d = CorrectionMath.DotScalar(grads[i].Span, previousUncorrected![i].Span);
                double scale = Math.Sqrt(CorrectionMath.DotScalar(grads[i].Span, grads[i].Span) *
                                         CorrectionMath.DotScalar(previousUncorrected[i].Span, previousUncorrected[i].Span)) + 1e-30;
                Assert.True(d >= -1e-5 * scale, $"t={t} layer {i}: ⟨g,g′⟩ = {d}");
                if (gc.LastDot[i] < 0) Assert.True(Math.Abs(d) <= 1e-5 * scale, $"t={t} layer {i}: projected but ⟨g,g′⟩ = {d}");
            }
            // g′ for the next iteration is the uncorrected gradient.
            for (int i = 0; i < sizes.Length; i++) Assert.Equal(uncorrected[i].ToArray(), gc.Previous(i).ToArray());
            previousUncorrected = uncorrected;
        }
        Assert.True(fired > 0);
        Assert.Equal(fired, gc.Fired.Sum());
        long expectedTests = mode == CorrectionMode.EveryIteration ? 59 : 40; // t=1..59, or t mod 3 ≠ 0
        Assert.All(gc.Tested, n => Assert.Equal(expectedTests, n));
    }

    [Fact]
    public void Reference_mode_never_fires_and_never_changes_the_gradient()
    {
        int[] sizes = [17, 200];
        var (gc, grads, _) = Build(CorrectionMode.Reference, false, 3, sizes);
        var rng = new Rng(5);
        for (long t = 0; t < 40; t++)
        {
            var masks = Fill(rng, grads, 0.5f);
            var before = grads.Select(g => g.ToArray()).ToArray();
            Assert.Equal(0, gc.Apply(t, masks));
            for (int i = 0; i < sizes.Length; i++) Assert.Equal(before[i], grads[i].ToArray());
        }
        Assert.All(gc.Fired, f => Assert.Equal(0, f));
        Assert.All(gc.Tested, n => Assert.Equal(40, n));
    }

    [Fact]
    public void Remask_keeps_the_corrected_gradient_inside_the_current_mask()
    {
        var (gc, grads, _) = Build(CorrectionMode.EveryIteration, remask: true, 2, [4]);
        var g = grads[0];
        Tensor.FromArray([1f, 1f, 0f, 0f], 4).Span.CopyTo(g.Span);
        gc.Apply(0, [BitMask.FromFloats([1f, 1f, 0f, 0f])]);
        var m1 = BitMask.FromFloats([1f, 0f, 1f, 0f]);
        Tensor.FromArray([-2f, 0f, 1f, 0f], 4).Span.CopyTo(g.Span); // ⟨g1, g0⟩ = −2 < 0
        Assert.Equal(1, gc.Apply(1, [m1]));
        // g − (−2/2)·g0 = [−1, 1, 1, 0], re-masked → [−1, 0, 1, 0]
        Assert.Equal([-1f, 0f, 1f, 0f], g.ToArray());
        Assert.Equal([-2f, 0f, 1f, 0f], gc.Previous(0).ToArray());
    }

    [Fact]
    public void Off_mode_keeps_no_buffers_and_changes_nothing()
    {
        var (gc, grads, _) = Build(CorrectionMode.Off, false, 2, [3, 5]);
        Fill(new Rng(2), grads, 0.5f);
        var before = grads.Select(g => g.ToArray()).ToArray();
        Assert.Equal(0, gc.Apply(1, null));
        Assert.Equal(before, grads.Select(g => g.ToArray()).ToArray());
        Assert.Equal(0, gc.Previous(1).Length);
    }
}
