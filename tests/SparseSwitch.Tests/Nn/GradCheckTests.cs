using SparseSwitch.Nn;
using SparseSwitch.Tensors;
using Xunit;

namespace SparseSwitch.Tests.Nn;

/// <summary>Every layer's backward against central finite differences of Σ y ⊙ r.</summary>
public class GradCheckTests
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Linear(bool bias)
    {
        var rng = new Rng(1);
        var layer = new Linear(5, 4, bias, rng);
        GradCheck.Check(layer, GradCheck.Random(rng, 3, 5), rng, what: "linear");
    }

    [Fact]
    public void LinearWithLeadingDimensions()
    {
        var rng = new Rng(2);
        var layer = new Linear(4, 3, true, rng);
        GradCheck.Check(layer, GradCheck.Random(rng, 2, 3, 4), rng, what: "linear 3-d");
    }

    [Theory]
    //          ic oc k  s  p  g  d  bias  h  w
    [InlineData(3, 4, 3, 1, 1, 1, 1, true, 5, 6)]
    [InlineData(4, 6, 3, 2, 1, 2, 1, true, 6, 5)]
    [InlineData(4, 4, 3, 1, 1, 4, 1, false, 5, 5)]  // depthwise
    [InlineData(2, 4, 3, 2, 0, 2, 1, false, 7, 7)]  // grouped, no padding
    [InlineData(4, 8, 1, 2, 0, 1, 1, false, 6, 6)]  // 1×1 stride 2 (shortcut)
    [InlineData(3, 5, 1, 1, 0, 1, 1, true, 4, 3)]   // 1×1 stride 1: im2col skipped
    [InlineData(3, 2, 3, 1, 2, 1, 2, true, 6, 6)]   // dilation
    [InlineData(2, 3, 5, 3, 2, 1, 1, true, 8, 7)]   // stride 3, k5
    [InlineData(3, 6, 3, 2, 1, 3, 1, true, 7, 6)]   // depthwise, 2 outputs per channel, stride 2
    [InlineData(2, 2, 3, 1, 2, 2, 2, true, 6, 6)]   // depthwise, dilation
    public void Conv2d(int ic, int oc, int k, int s, int p, int g, int d, bool bias, int h, int w)
    {
        var rng = new Rng((ulong)(ic * 1000 + oc * 100 + k * 10 + s));
        var layer = new Conv2d(ic, oc, k, s, p, g, bias, d, rng);
        GradCheck.Check(layer, GradCheck.Random(rng, 3, ic, h, w), rng, what: $"conv {ic}->{oc} k{k} s{s} p{p} g{g} d{d}");
    }

    [Fact]
    public void Conv2dRectangular()
    {
        var rng = new Rng(3);
        var layer = new Conv2d(2, 3, (3, 1), (2, 1), (1, 0), rng: rng);
        GradCheck.Check(layer, GradCheck.Random(rng, 2, 2, 5, 4), rng, what: "conv 3x1");
    }

    [Fact]
    public void BatchNorm2dTrain()
    {
        var rng = new Rng(4);
        var bn = new BatchNorm2d(3);
        rng.FillUniform(bn.Weight.Data.Span, 0.5f, 1.5f);
        rng.FillUniform(bn.Bias.Data.Span, -0.5f, 0.5f);
        var x = GradCheck.Random(rng, 4, 3, 3, 2);
        for (int i = 0; i < x.Length; i++) x[i] = x[i] * 2f + 0.7f;
        GradCheck.Check(bn, x, rng, eps: 1e-2, what: "batchnorm train");
    }

    [Fact]
    public void BatchNorm2dTrainWithFusedRelu()
    {
        var rng = new Rng(17);
        var bn = new BatchNorm2d(2, fuseRelu: true);
        rng.FillUniform(bn.Weight.Data.Span, 0.5f, 1.5f);
        rng.FillUniform(bn.Bias.Data.Span, -0.3f, 0.3f);
        var x = GradCheck.Random(rng, 4, 2, 2, 3);
        // A small step, so that no normalised value of this fixed batch crosses the ReLU kink.
        var y = bn.Forward(x);
        GradCheck.Check(bn, x, rng, eps: 1e-3, atol: 1e-3, rtol: 1e-2, what: "batchnorm+relu train");
        Assert.Contains(y.ToArray(), v => v == 0f);
    }

    [Fact]
    public void BatchNorm2dEval()
    {
        var rng = new Rng(5);
        var bn = new BatchNorm2d(3);
        rng.FillUniform(bn.Weight.Data.Span, 0.5f, 1.5f);
        rng.FillUniform(bn.RunningMean.Span, -0.5f, 0.5f);
        rng.FillUniform(bn.RunningVar.Span, 0.5f, 2f);
        bn.Eval();
        GradCheck.Check(bn, GradCheck.Random(rng, 2, 3, 2, 3), rng, what: "batchnorm eval");
    }

    [Fact]
    public void SwitchableBatchNorm2dActiveSet()
    {
        var rng = new Rng(6);
        var bn = new SwitchableBatchNorm2d(2, 3);
        bn.ActiveSet = 2;
        rng.FillUniform(bn[2].Weight.Data.Span, 0.5f, 1.5f);
        GradCheck.Check(bn, GradCheck.Random(rng, 3, 2, 2, 2), rng, what: "switchable bn");
        Assert.All(bn[0].Weight.Grad.ToArray(), v => Assert.Equal(0f, v));
        Assert.All(bn[1].Weight.Grad.ToArray(), v => Assert.Equal(0f, v));
    }

    [Fact]
    public void ReLU()
    {
        var rng = new Rng(7);
        var x = AwayFromKinks(GradCheck.Random(rng, 2, 3, 4, 5));
        GradCheck.Check(new ReLU(), x, rng, what: "relu");
    }

    [Fact]
    public void AddReLU()
    {
        var rng = new Rng(16);
        var join = new AddReLU();
        var a = GradCheck.Random(rng, 2, 3, 4, 4);
        var b = GradCheck.Random(rng, 2, 3, 4, 4);
        for (int i = 0; i < a.Length; i++) if (Math.Abs(a[i] + b[i]) < 0.05f) a[i] += 0.1f; // away from the kink
        var r = GradCheck.Random(rng, 2, 3, 4, 4);
        join.Forward(a, b);
        var g = join.Backward(r).Clone();
        double Loss() => GradCheck.Dot(join.Forward(a, b), r);
        foreach (var input in new[] { a, b })
            for (int i = 0; i < input.Length; i++)
                GradCheck.Compare(g[i], GradCheck.Numeric(ref input.Span[i], Loss, 1e-2), 1e-3, 1e-2, $"add-relu d[{i}]");
    }

    [Theory]
    [InlineData(2, 2, 0)]
    [InlineData(3, 2, 1)]
    [InlineData(3, 1, 1)]
    public void MaxPool2d(int k, int s, int p)
    {
        var rng = new Rng(8);
        GradCheck.Check(new MaxPool2d(k, s, p), DistinctValues(rng, 2, 2, 6, 7), rng, what: $"maxpool k{k} s{s} p{p}");
    }

    [Theory]
    [InlineData(2, 2, 0)]
    [InlineData(3, 2, 1)]
    [InlineData(3, 1, 1)]
    public void AvgPool2d(int k, int s, int p)
    {
        var rng = new Rng(9);
        GradCheck.Check(new AvgPool2d(k, s, p), GradCheck.Random(rng, 2, 2, 6, 7), rng, what: $"avgpool k{k} s{s} p{p}");
    }

    [Fact]
    public void GlobalAvgPool2d()
    {
        var rng = new Rng(10);
        GradCheck.Check(new GlobalAvgPool2d(), GradCheck.Random(rng, 2, 3, 4, 5), rng, what: "gap");
    }

    [Fact]
    public void Flatten()
    {
        var rng = new Rng(11);
        GradCheck.Check(new Flatten(), GradCheck.Random(rng, 2, 3, 2, 2), rng, what: "flatten");
    }

    [Fact]
    public void DropoutWithFixedMask()
    {
        var rng = new Rng(12);
        var drop = new Dropout(0.4f, new Rng(99));
        var x = GradCheck.Random(rng, 3, 10);
        drop.Forward(x);
        drop.FixedMask = true;
        GradCheck.Check(drop, x, rng, what: "dropout");
    }

    [Theory]
    [InlineData(0f)]
    [InlineData(0.1f)]
    [InlineData(0.3f)]
    public void CrossEntropy(float smoothing)
    {
        var rng = new Rng(13);
        var logits = GradCheck.Random(rng, 4, 6);
        for (int i = 0; i < logits.Length; i++) logits[i] *= 3f;
        int[] targets = [0, 5, 2, 2];
        var ce = new CrossEntropyLoss(smoothing);
        ce.Forward(logits, targets);
        var g = ce.Backward().Clone();
        for (int i = 0; i < logits.Length; i++)
        {
            double n = GradCheck.Numeric(ref logits.Span[i], () => ce.Forward(logits, targets), 1e-2);
            GradCheck.Compare(g[i], n, 1e-4, 1e-2, $"ce(ε={smoothing}) dlogits[{i}]");
        }
    }

    [Fact]
    public void MaskedLinearAndConv()
    {
        var rng = new Rng(14);
        var lin = new Linear(6, 4, true, rng);
        lin.Weight.Mask = RandomMask(rng, lin.Weight.Shape);
        GradCheck.Check(lin, GradCheck.Random(rng, 3, 6), rng, what: "masked linear");
        var conv = new Conv2d(4, 4, 3, 1, 1, 2, true, 1, rng);
        conv.Weight.Mask = RandomMask(rng, conv.Weight.Shape);
        GradCheck.Check(conv, GradCheck.Random(rng, 2, 4, 4, 4), rng, what: "masked conv");
        var depthwise = new Conv2d(3, 6, 3, 1, 1, 3, true, 1, rng);
        depthwise.Weight.Mask = RandomMask(rng, depthwise.Weight.Shape);
        GradCheck.Check(depthwise, GradCheck.Random(rng, 3, 3, 4, 5), rng, what: "masked depthwise conv");
    }

    /// <summary>conv → bn → relu → maxpool → conv(grouped) → bn → relu → gap → flatten → linear → CE,
    /// checked as a whole against finite differences of the loss.</summary>
    [Fact]
    public void SmallNetworkWithCrossEntropy()
    {
        var rng = new Rng(15);
        var net = new Sequential(
            new Conv2d(2, 4, 3, 1, 1, bias: false, rng: rng),
            new BatchNorm2d(4),
            new ReLU(),
            new MaxPool2d(2),
            new Conv2d(4, 4, 3, 1, 1, groups: 2, bias: true, rng: rng),
            new BatchNorm2d(4),
            new ReLU(),
            new GlobalAvgPool2d(),
            new Flatten(),
            new Linear(4, 3, true, rng));
        foreach (var (path, p) in net.NamedParameters())
            if (path.EndsWith("weight") && p.Shape.Length == 1) rng.FillUniform(p.Data.Span, 0.5f, 1.5f);
        var x = GradCheck.Random(rng, 3, 2, 6, 6);
        int[] targets = [1, 0, 2];
        var ce = new CrossEntropyLoss(0.1f);
        double Loss() => ce.Forward(net.Forward(x), targets);

        net.ZeroGrad();
        Loss();
        var dx = net.Backward(ce.Backward()).Clone();
        const double eps = 1e-3, atol = 2e-4, rtol = 2e-2;
        for (int i = 0; i < x.Length; i++)
            GradCheck.Compare(dx[i], GradCheck.Numeric(ref x.Span[i], Loss, eps), atol, rtol, $"net dx[{i}]");
        foreach (var (path, p) in net.NamedParameters())
        {
            var g = p.Grad.Clone();
            for (int i = 0; i < p.Length; i++)
                GradCheck.Compare(g[i], GradCheck.Numeric(ref p.Data.Span[i], Loss, eps), atol, rtol, $"net d{path}[{i}]");
        }
    }

    private static Tensor AwayFromKinks(Tensor x)
    {
        for (int i = 0; i < x.Length; i++) x[i] = x[i] >= 0 ? x[i] + 0.05f : x[i] - 0.05f;
        return x;
    }

    /// <summary>A random permutation of values 0.05 apart, so no window has a near-tie.</summary>
    private static Tensor DistinctValues(Rng rng, params int[] shape)
    {
        var t = new Tensor(shape);
        var idx = Enumerable.Range(0, t.Length).ToArray();
        rng.Shuffle(idx.AsSpan());
        for (int i = 0; i < t.Length; i++) t[i] = (idx[i] - t.Length / 2) * 0.05f;
        return t;
    }

    private static BitMask RandomMask(Rng rng, int[] shape)
    {
        var m = new BitMask(Tensor.ShapeLength(shape));
        for (int i = 0; i < m.Length; i++) m[i] = rng.NextFloat() < 0.5f;
        return m;
    }
}
