using SparseSwitch.Nn;
using SparseSwitch.Optim;
using SparseSwitch.Tensors;
using SparseSwitch.Tests.Support;
using Xunit;

namespace SparseSwitch.Tests.Optim;

public class SgdTests
{
    [Fact]
    public void VectorKernelMatchesScalarTwinOnEveryLength()
    {
        var rng = new Rng(7);
        for (int n = 0; n <= 4 * 16 + 5; n++)
        foreach (bool nesterov in new[] { false, true })
        foreach (bool first in new[] { false, true })
        {
            var p = new float[n]; var g = new float[n]; var b = new float[n];
            rng.FillNormal(p, 0, 1); rng.FillNormal(g, 0, 1); rng.FillNormal(b, 0, 1);
            var p2 = (float[])p.Clone(); var b2 = (float[])b.Clone();
            SgdKernel.Step(p, g, b, 0.1f, 0.9f, 1e-3f, 0f, nesterov, first);
            SgdKernel.StepScalar(p2, g, b2, 0.1f, 0.9f, 1e-3f, 0f, nesterov, first);
            Close.Assert(p2, p, 0, 0, $"p n={n}");
            Close.Assert(b2, b, 0, 0, $"buf n={n}");
        }
    }

    [Fact]
    public void ParameterWithoutWeightDecayIsNotDecayed()
    {
        var a = new Parameter(5); var b = new Parameter(5);
        a.Data.Fill(2); b.Data.Fill(2); b.WeightDecay = false;
        var opt = new Sgd([("a", a), ("b", b)], lr: 0.5, momentum: 0.9, weightDecay: 0.1);
        opt.Step(); // zero gradients: only decay moves a
        Assert.All(a.Data.ToArray(), v => Assert.Equal(2f - 0.5f * 0.1f * 2f, v, 6));
        Assert.All(b.Data.ToArray(), v => Assert.Equal(2f, v));
        Assert.Equal(1, opt.StepCount);
    }

    [Fact]
    public void DampeningScalesLaterMomentumUpdates()
    {
        // PyTorch: buf = g on the first step; buf = m·buf + (1 − dampening)·g afterwards.
        var p = new Parameter(1);
        var opt = new Sgd([("p", p)], lr: 1, momentum: 0.5, dampening: 0.25);
        p.Grad[0] = 1; opt.Step();
        Assert.Equal(-1f, p.Data[0], 6);
        opt.Step();
        Assert.Equal(-1f - (0.5f * 1f + 0.75f * 1f), p.Data[0], 6);
        var state = opt.StateTensors();
        Assert.Equal("p.momentum_buffer", state[0].Name);
        Assert.Equal(1.25f, state[0].Tensor[0], 6);
    }

    [Fact]
    public void BadSettingsAreRejected()
    {
        var p = new Parameter(1);
        Assert.Throws<ArgumentOutOfRangeException>(() => new Sgd([("p", p)], lr: -1));
        Assert.Throws<ArgumentException>(() => new Sgd([("p", p)], lr: 0.1, nesterov: true));
        Assert.Throws<ArgumentException>(() => new Sgd([("p", p), ("p", p)], lr: 0.1));
    }
}
