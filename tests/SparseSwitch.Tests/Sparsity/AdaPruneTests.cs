using SparseSwitch.Nn;
using SparseSwitch.Sparsity;
using SparseSwitch.Tensors;
using Xunit;
using Xunit.Abstractions;

namespace SparseSwitch.Tests.Sparsity;

public class AdaPruneTests
{
    private readonly ITestOutputHelper _out;
    public AdaPruneTests(ITestOutputHelper output) => _out = output;

    /// <summary>conv(4→8, 3×3) → BN → ReLU → conv(8→8, 3×3) → ReLU → flatten → linear(8·4·4 → 10); both convs after the stem and the linear are prunable.</summary>
    private static (Sequential Model, Conv2d Conv2, Linear Fc, BatchNorm2d Bn) Net(int seed)
    {
        var rng = new Rng((ulong)seed);
        var conv1 = new Conv2d(4, 8, 3, rng: rng);
        var bn = new BatchNorm2d(8);
        var conv2 = new Conv2d(8, 8, 3, rng: rng);
        var fc = new Linear(8 * 4 * 4, 10, rng: rng);
        conv2.Weight.Prunable = true;
        fc.Weight.Prunable = true;
        var model = new Sequential(conv1, bn, new ReLU(), conv2, new ReLU(), new Flatten(), fc);
        return (model, conv2, fc, bn);
    }

    private static List<Tensor> Batches(int seed, int count, int batch)
    {
        var rng = new Rng((ulong)seed);
        var list = new List<Tensor>();
        for (int i = 0; i < count; i++)
        {
            var t = new Tensor(batch, 4, 8, 8);
            rng.FillNormal(t.Span, 0.3f, 1f);
            list.Add(t);
        }
        return list;
    }

    private static double ModelMse(Module model, List<Tensor> batches, List<float[]> reference)
    {
        double s = 0; long c = 0;
        for (int b = 0; b < batches.Count; b++)
        {
            var y = model.Forward(batches[b]).Span;
            for (int i = 0; i < y.Length; i++) { double d = y[i] - reference[b][i]; s += d * d; c++; }
        }
        return s / c;
    }

    [Fact]
    public void ConvertsToNmAndReconstructionReducesOutputError()
    {
        var calib = Batches(1, 4, 16);
        var results = new Dictionary<int, double>();
        foreach (int steps in new[] { 0, 300 })
        {
            var (model, conv2, fc, bn) = Net(7);
            // Give the BN non-trivial statistics first.
            model.Train(); foreach (var b in calib) model.Forward(b);
            model.Eval();
            var reference = calib.Select(b => model.Forward(b).ToArray()).ToList();
            var report = AdaPrune.Convert(model, 2, 4, calib, new AdaPruneOptions { Steps = steps, LearningRate = 2e-3f, RecalibrateBatchNorm = false });
            Assert.Equal(["3.weight", "6.weight"], report.Layers.Select(l => l.Path));
            foreach (var w in new[] { conv2.Weight, fc.Weight })
            {
                Assert.Null(w.Mask);
                Assert.True(NmMask.IsValid(BitMask.FromFloats(w.Data.Span), w.Shape, 2, 4));
            }
            foreach (var l in report.Layers)
            {
                _out.WriteLine($"steps {steps} {l.Path}: masked {l.MseMasked:g4} final {l.MseFinal:g4}");
                if (steps == 0) Assert.Equal(l.MseMasked, l.MseFinal, 12);
                else Assert.True(l.MseFinal < 0.75 * l.MseMasked, $"{l.Path}: reconstruction {l.MseMasked} → {l.MseFinal}");
            }
            model.Eval();
            results[steps] = ModelMse(model, calib, reference);
        }
        _out.WriteLine($"model output MSE: mask only {results[0]:g4}, with reconstruction {results[300]:g4}");
        Assert.True(results[300] < results[0]);
    }

    [Fact]
    public void RedistributionKeepsEachGroupSum()
    {
        var w = SparsityGen.Weights(3, 6 * 8 * 3 * 3);
        int[] shape = [6, 8, 3, 3];
        var mask = NmMask.Compute(w, shape, 1, 4);
        var v = (float[])w.Clone();
        AdaPrune.RedistributePrunedMass(v, shape, mask, 4);
        var layout = new NmLayout(shape, 4);
        for (int run = 0; run < layout.Runs; run++)
            for (int g = 0; g < layout.GroupsPerRun; g++)
            {
                double before = 0, after = 0;
                for (int c = g * 4; c < g * 4 + 4; c++)
                {
                    int i = layout.Index(run, c);
                    before += w[i];
                    if (mask[i]) after += v[i]; else Assert.Equal(w[i], v[i]);
                }
                Assert.Equal(before, after, 4);
            }
    }

    [Fact]
    public void BatchNormRecalibrationAveragesBatchStatistics()
    {
        var (model, _, _, bn) = Net(3);
        var conv1 = (Conv2d)model[0];
        var calib = Batches(5, 3, 8);
        BatchNormRecalibration.Run(model, calib);
        // Expected: mean over batches of the per-batch channel mean / unbiased variance of conv1's output.
        var mean = new double[8]; var var = new double[8];
        foreach (var b in calib)
        {
            var y = conv1.Forward(b);
            int B = y.Dim(0), hw = y.Dim(2) * y.Dim(3);
            for (int c = 0; c < 8; c++)
            {
                double s = 0, ss = 0;
                for (int i = 0; i < B; i++) for (int j = 0; j < hw; j++) s += y.Span[(i * 8 + c) * hw + j];
                double mu = s / (B * hw);
                for (int i = 0; i < B; i++) for (int j = 0; j < hw; j++) { double d = y.Span[(i * 8 + c) * hw + j] - mu; ss += d * d; }
                mean[c] += mu / calib.Count; var[c] += ss / (B * hw - 1) / calib.Count;
            }
        }
        for (int c = 0; c < 8; c++)
        {
            Assert.Equal(mean[c], bn.RunningMean.Span[c], 4);
            Assert.Equal(var[c], bn.RunningVar.Span[c], 4);
        }
    }

    private sealed class Silent : Module
    {
        public Parameter W = new(4, 4) { Prunable = true };
        public Silent() => RegisterParameter("weight", W);
        public override Tensor Forward(Tensor x) => x;
        public override Tensor Backward(Tensor dy) => dy;
    }

    [Fact]
    public void LayerThatDoesNotReportItsInputIsAClearError()
    {
        var e = Assert.Throws<InvalidOperationException>(() => AdaPrune.Convert(new Silent(), 2, 4, [new Tensor(2, 4)]));
        Assert.Contains("ObserveInput", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => AdaPrune.Convert(new Silent(), 4, 4, [new Tensor(2, 4)]));
        Assert.Throws<ArgumentException>(() => AdaPrune.Convert(new Silent(), 2, 4, []));
    }
}
