using SparseSwitch.Nn;
using SparseSwitch.Tensors;
using Xunit;

namespace SparseSwitch.Tests.Nn;

/// <summary>Layer behaviour other than gradients: masks, state-dict names, switching, modes,
/// validation, determinism and allocation-free steady state.</summary>
public class LayerTests
{
    private static Tensor Random(Rng rng, params int[] shape) => GradCheck.Random(rng, shape);

    private static BitMask Mask(Rng rng, int[] shape)
    {
        var m = new BitMask(Tensor.ShapeLength(shape));
        for (int i = 0; i < m.Length; i++) m[i] = !(rng.NextFloat() < 0.3f);
        return m;
    }

    [Fact]
    public void MaskedConvEqualsDenseConvWithMaskedWeightAndKeepsDenseGradient()
    {
        var rng = new Rng(1);
        var masked = new Conv2d(4, 6, 3, 1, 1, 2, true, 1, rng);
        var dense = new Conv2d(4, 6, 3, 1, 1, 2, true, 1, rng);
        var mask = Mask(rng, masked.Weight.Shape);
        masked.Weight.Mask = mask;
        var before = masked.Weight.Data.Clone();
        for (int i = 0; i < mask.Length; i++) dense.Weight.Data[i] = mask[i] ? masked.Weight.Data[i] : 0f;
        masked.Bias!.Data.Span.CopyTo(dense.Bias!.Data.Span);
        var x = Random(rng, 3, 4, 5, 5);
        var dy = Random(rng, 3, 6, 5, 5);
        Assert.Equal(dense.Forward(x).ToArray(), masked.Forward(x).ToArray());
        Assert.Equal(dense.Backward(dy).ToArray(), masked.Backward(dy).ToArray());
        Assert.Equal(dense.Weight.Grad.ToArray(), masked.Weight.Grad.ToArray());
        Assert.Equal(before.ToArray(), masked.Weight.Data.ToArray()); // pruned weights stay in Data
        // The gradient is not masked: some pruned positions get a non-zero gradient.
        Assert.Contains(Enumerable.Range(0, mask.Length), i => !mask[i] && masked.Weight.Grad[i] != 0f);
    }

    [Fact]
    public void MaskedLinearEqualsDenseLinearWithMaskedWeight()
    {
        var rng = new Rng(2);
        var masked = new Linear(7, 5, true, rng);
        var dense = new Linear(7, 5, true, rng);
        var mask = Mask(rng, masked.Weight.Shape);
        masked.Weight.Mask = mask;
        for (int i = 0; i < mask.Length; i++) dense.Weight.Data[i] = mask[i] ? masked.Weight.Data[i] : 0f;
        masked.Bias!.Data.Span.CopyTo(dense.Bias!.Data.Span);
        var x = Random(rng, 4, 7);
        var dy = Random(rng, 4, 5);
        Assert.Equal(dense.Forward(x).ToArray(), masked.Forward(x).ToArray());
        Assert.Equal(dense.Backward(dy).ToArray(), masked.Backward(dy).ToArray());
        Assert.Equal(dense.Weight.Grad.ToArray(), masked.Weight.Grad.ToArray());
        // Switching the mask off restores the dense product.
        masked.Weight.Mask = null;
        var full = new Linear(7, 5, true, rng);
        masked.Weight.Data.Span.CopyTo(full.Weight.Data.Span);
        masked.Bias.Data.Span.CopyTo(full.Bias!.Data.Span);
        Assert.Equal(full.Forward(x).ToArray(), masked.Forward(x).ToArray());
    }

    [Fact]
    public void MaskOfWrongShapeIsRejected()
    {
        var lin = new Linear(3, 2);
        lin.Weight.Mask = new BitMask(5);
        var e = Assert.Throws<ArgumentException>(() => lin.Forward(new Tensor(1, 3)));
        Assert.Contains("Mask has 5 positions", e.Message);
    }

    [Fact]
    public void StateDictNamesFollowPyTorch()
    {
        var net = new Sequential(new Conv2d(3, 4, 3, bias: false), new BatchNorm2d(4), new SwitchableBatchNorm2d(4, 2),
            new ReLU(), new GlobalAvgPool2d(), new Flatten(), new Linear(4, 2));
        var keys = net.StateDict().Keys.Order(StringComparer.Ordinal).ToArray();
        string[] expected =
        [
            "0.weight", "1.bias", "1.running_mean", "1.running_var", "1.weight",
            "2.0.bias", "2.0.running_mean", "2.0.running_var", "2.0.weight",
            "2.1.bias", "2.1.running_mean", "2.1.running_var", "2.1.weight",
            "6.bias", "6.weight",
        ];
        Assert.Equal(expected, keys);
    }

    [Fact]
    public void BatchNormKeysMatchTheResNetFixture()
    {
        // The fixture's state dict has no num_batches_tracked; ours must not either.
        var f = SparseSwitch.Serialization.SafeTensors.Load(Support.Paths.Fixture("resnet20_cifar.safetensors"));
        var fixtureBn1 = f.Names.Where(n => n.StartsWith("state.bn1.", StringComparison.Ordinal)).Select(n => n["state.bn1.".Length..]).Order().ToArray();
        var ours = new BatchNorm2d(16).StateDict().Keys.Order().ToArray();
        Assert.Equal(fixtureBn1, ours);
    }

    [Fact]
    public void SwitchableBatchNormKeepsSetsIndependent()
    {
        var rng = new Rng(3);
        var bn = new SwitchableBatchNorm2d(2, 3);
        var x = Random(rng, 4, 2, 3, 3);
        bn.ActiveSet = 1;
        bn.Forward(x);
        Assert.NotEqual(new float[2], bn[1].RunningMean.ToArray());
        Assert.Equal(new float[2], bn[0].RunningMean.ToArray());
        Assert.Equal(new float[2], bn[2].RunningMean.ToArray());
        // Eval with set 0's statistics (identity) differs from set 1's.
        bn.Eval();
        bn.ActiveSet = 0;
        var y0 = bn.Forward(x).ToArray();
        Assert.Equal(x.ToArray().Select(v => v / MathF.Sqrt(1f + 1e-5f)).ToArray(), y0);
        bn.ActiveSet = 1;
        Assert.NotEqual(y0, bn.Forward(x).ToArray());
        Assert.Throws<ArgumentOutOfRangeException>(() => bn.ActiveSet = 3);
    }

    [Fact]
    public void BatchNormStatisticsStayAccurateForALargeMeanAndSmallSpread()
    {
        var rng = new Rng(8);
        var bn = new BatchNorm2d(2);
        var x = new Tensor(8, 2, 5, 5);
        for (int i = 0; i < x.Length; i++) x[i] = 100f + 0.1f * (float)rng.NextNormal();
        var y = bn.Forward(x);
        // Reference: two-pass statistics in double.
        int hw = 25, n = 8 * hw;
        for (int c = 0; c < 2; c++)
        {
            double mean = 0, var = 0;
            for (int b = 0; b < 8; b++) for (int i = 0; i < hw; i++) mean += x[(b * 2 + c) * hw + i];
            mean /= n;
            for (int b = 0; b < 8; b++) for (int i = 0; i < hw; i++) { double d = x[(b * 2 + c) * hw + i] - mean; var += d * d; }
            var /= n;
            for (int b = 0; b < 8; b++)
                for (int i = 0; i < hw; i++)
                {
                    int at = (b * 2 + c) * hw + i;
                    double expected = (x[at] - mean) / Math.Sqrt(var + 1e-5);
                    Assert.True(Math.Abs(y[at] - expected) <= 1e-3 + 1e-3 * Math.Abs(expected), $"y[{at}] = {y[at]}, expected {expected}");
                }
            Assert.Equal(0.9 * 1 + 0.1 * var * n / (n - 1), bn.RunningVar[c], 5);
        }
    }

    [Fact]
    public void SwitchableBatchNormLayersAreFoundAndSwitchedTogether()
    {
        var net = new Sequential(new Conv2d(3, 4, 3, rng: new Rng(9)), new SwitchableBatchNorm2d(4, 3), new ReLU(),
            new Sequential(new SwitchableBatchNorm2d(4, 3)), new BatchNorm2d(4));
        var all = SwitchableBatchNorm2d.FindAll(net);
        Assert.Equal(2, all.Count);
        SwitchableBatchNorm2d.SelectAll(all, 2);
        Assert.All(all, l => Assert.Equal(2, l.ActiveSet));
        Assert.Throws<ArgumentOutOfRangeException>(() => SwitchableBatchNorm2d.SelectAll(all, 3));
    }

    [Theory]
    [InlineData(2, 2, 0, 1f)]
    [InlineData(3, 2, 1, 4f)] // all four overlapping windows contain (1, 1)
    public void MaxPoolPropagatesNaNAndTakesTheFirstMaximum(int k, int s, int p, float gradAtNaN)
    {
        var x = new Tensor(1, 1, 4, 4);
        x.Fill(1f);                  // ties everywhere: the first position in scan order wins
        x[5] = float.NaN;            // (1, 1) lies in the first window of both geometries
        var pool = new MaxPool2d(k, s, p);
        var y = pool.Forward(x);
        Assert.True(float.IsNaN(y[0]));
        if (k == 2) Assert.Equal(1f, y[y.Length - 1]);
        var dy = new Tensor(y.Shape);
        dy.Fill(1f);
        var dx = pool.Backward(dy);
        Assert.Equal(gradAtNaN, dx[5]); // the NaN position receives its windows' gradient
        Assert.Equal(0f, dx[15]);    // the last element never comes first in a window
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void FusedBatchNormReluEqualsBatchNormThenRelu(bool training)
    {
        var rng = new Rng(10);
        var fused = new BatchNorm2d(3, fuseRelu: true);
        var plain = new Sequential(new BatchNorm2d(3), new ReLU());
        var bn = (BatchNorm2d)plain[0];
        rng.FillUniform(fused.Weight.Data.Span, 0.5f, 1.5f);
        rng.FillUniform(fused.Bias.Data.Span, -0.5f, 0.5f);
        fused.Weight.Data.Span.CopyTo(bn.Weight.Data.Span);
        fused.Bias.Data.Span.CopyTo(bn.Bias.Data.Span);
        fused.Train(training);
        plain.Train(training);
        var x = Random(rng, 5, 3, 6, 7);
        var dy = Random(rng, 5, 3, 6, 7);
        Assert.Equal(plain.Forward(x).ToArray(), fused.Forward(x).ToArray());
        Assert.Equal(plain.Backward(dy).ToArray(), fused.Backward(dy).ToArray());
        Assert.Equal(bn.Weight.Grad.ToArray(), fused.Weight.Grad.ToArray());
        Assert.Equal(bn.Bias.Grad.ToArray(), fused.Bias.Grad.ToArray());
        Assert.Equal(bn.RunningVar.ToArray(), fused.RunningVar.ToArray());
        Assert.Contains(fused.Forward(x).ToArray(), v => v == 0f);
    }

    [Fact]
    public void BatchNormRejectsSingleValuePerChannelInTraining()
    {
        var bn = new BatchNorm2d(2);
        Assert.Throws<ArgumentException>(() => bn.Forward(new Tensor(1, 2, 1, 1)));
        bn.Eval();
        bn.Forward(new Tensor(1, 2, 1, 1));
    }

    [Fact]
    public void DropoutIsIdentityInEvalAndScalesKeptValues()
    {
        var drop = new Dropout(0.25f, new Rng(4));
        var x = new Tensor(4000);
        x.Fill(1f);
        var y = drop.Forward(x).ToArray();
        Assert.All(y, v => Assert.True(v == 0f || v == 1f / 0.75f));
        double kept = y.Count(v => v != 0f) / 4000.0;
        Assert.InRange(kept, 0.72, 0.78);
        drop.Eval();
        Assert.Same(x, drop.Forward(x));
    }

    [Fact]
    public void CrossEntropyValidatesTargetsAndCountsCorrect()
    {
        var logits = Tensor.FromArray([1f, 3f, 2f, 5f, 0f, 5f], 2, 3);
        var ce = new CrossEntropyLoss();
        Assert.Throws<ArgumentOutOfRangeException>(() => ce.Forward(logits, [0, 3]));
        Assert.Throws<ArgumentOutOfRangeException>(() => ce.Forward(logits, [-1, 0]));
        Assert.Throws<ArgumentException>(() => ce.Forward(logits, [0]));
        Assert.Equal(2, CrossEntropyLoss.CountCorrect(logits, [1, 0])); // tie → first maximum
        Assert.Equal(0, CrossEntropyLoss.CountCorrect(logits, [2, 2]));
        // Huge logits stay finite (the maximum is subtracted).
        var big = Tensor.FromArray([1000f, 0f, -1000f], 1, 3);
        Assert.Equal(0f, ce.Forward(big, [0]), 6);
        Assert.Equal(2000f, ce.Forward(big, [2]), 1);
    }

    [Fact]
    public void ConvIsDeterministicAcrossRuns()
    {
        var rng = new Rng(5);
        var conv = new Conv2d(3, 5, 3, 2, 1, rng: rng);
        var x = Random(rng, 7, 3, 9, 9);
        var dy = Random(rng, 7, 5, 5, 5);
        conv.Forward(x);
        conv.Backward(dy);
        var g1 = conv.Weight.Grad.ToArray();
        conv.ZeroGrad();
        conv.Forward(x);
        conv.Backward(dy);
        Assert.Equal(g1, conv.Weight.Grad.ToArray());
    }

    [Fact]
    public void SteadyStateStepAllocatesNothingOnTheCallingThread()
    {
        var rng = new Rng(6);
        var net = new Sequential(new Conv2d(3, 4, 3, 1, 1, rng: rng), new BatchNorm2d(4), new ReLU(), new MaxPool2d(2),
            new Conv2d(4, 4, 1, rng: rng), new AvgPool2d(2), new GlobalAvgPool2d(), new Flatten(), new Dropout(0.1f, rng), new Linear(4, 3, rng: rng));
        net[4].Parameters().First().Mask = Mask(rng, [4, 4, 1, 1]);
        var add = new Add();
        var x = Random(rng, 4, 3, 8, 8);
        int[] targets = [0, 1, 2, 0];
        var ce = new CrossEntropyLoss(0.1f);
        void Step()
        {
            ce.Forward(net.Forward(x), targets);
            var dx = net.Backward(ce.Backward());
            add.Forward(dx, x);
        }
        Step(); Step();
        // A per-step allocation shows in every window; the minimum over a few windows ignores a
        // one-time lazy allocation (the worker pool's wait event is created on first contention).
        long least = long.MaxValue;
        for (int window = 0; window < 4; window++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 3; i++) Step();
            least = Math.Min(least, GC.GetAllocatedBytesForCurrentThread() - before);
        }
        Assert.Equal(0, least);
    }

    [Fact]
    public void LayersRejectWrongShapes()
    {
        Assert.Throws<ArgumentException>(() => new Conv2d(3, 4, 3).Forward(new Tensor(1, 2, 5, 5)));
        Assert.Throws<ArgumentException>(() => new Conv2d(3, 4, 5).Forward(new Tensor(1, 3, 2, 2)));
        Assert.Throws<ArgumentException>(() => new Linear(3, 4).Forward(new Tensor(2, 5)));
        Assert.Throws<ArgumentException>(() => new BatchNorm2d(3).Forward(new Tensor(2, 4, 2, 2)));
        Assert.Throws<ArgumentException>(() => new Conv2d(4, 6, 3, groups: 4));
        Assert.Throws<ArgumentException>(() => new Add().Forward(new Tensor(2, 3), new Tensor(3, 2)));
        var lin = new Linear(3, 4);
        lin.Forward(new Tensor(2, 3));
        Assert.Throws<ArgumentException>(() => lin.Backward(new Tensor(2, 3)));
    }

    [Fact]
    public void DefaultInitIsUniformWithinOneOverSqrtFanIn()
    {
        var conv = new Conv2d(8, 16, 3, rng: new Rng(7));
        float bound = 1f / MathF.Sqrt(8 * 9);
        var w = conv.Weight.Data.ToArray();
        Assert.All(w, v => Assert.InRange(v, -bound, bound));
        Assert.True(w.Max() > 0.9f * bound && w.Min() < -0.9f * bound);
        Assert.All(conv.Bias!.Data.ToArray(), v => Assert.InRange(v, -bound, bound));
    }
}
