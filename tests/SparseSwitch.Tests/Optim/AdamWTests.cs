using SparseSwitch.Nn;
using SparseSwitch.Optim;
using SparseSwitch.Tensors;
using SparseSwitch.Tests.Support;
using Xunit;

namespace SparseSwitch.Tests.Optim;

public class AdamWTests
{
    /// <summary>PyTorch's AdamW, written out in double precision one scalar at a time.</summary>
    private static void Twin(double[] p, double[] g, double[] m, double[] v, long t, double lr, double b1, double b2, double eps, double wd)
    {
        for (int i = 0; i < p.Length; i++)
        {
            p[i] *= 1 - lr * wd;
            m[i] = b1 * m[i] + (1 - b1) * g[i];
            v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
            double stepSize = lr / (1 - Math.Pow(b1, t));
            double denom = Math.Sqrt(v[i]) / Math.Sqrt(1 - Math.Pow(b2, t)) + eps;
            p[i] -= stepSize * m[i] / denom;
        }
    }

    [Theory]
    [InlineData(1e-3, 0.9, 0.999, 1e-8, 1e-2, 1)]
    [InlineData(3e-2, 0.8, 0.99, 1e-6, 0.1, 37)]
    [InlineData(1e-2, 0.9, 0.999, 1e-8, 0.0, 70)]
    public void MatchesDoublePrecisionTwinOverSeveralSteps(double lr, double b1, double b2, double eps, double wd, int n)
    {
        var rng = new Rng(11);
        var p = new Parameter(n);
        rng.FillNormal(p.Data.Span, 0, 1);
        var pd = p.Data.ToArray().Select(x => (double)x).ToArray();
        var md = new double[n]; var vd = new double[n];
        var opt = new AdamW([("w", p)], lr, b1, b2, eps, wd);
        for (long t = 1; t <= 6; t++)
        {
            rng.FillNormal(p.Grad.Span, 0, t); // scale varies so bias corrections matter
            var gd = p.Grad.ToArray().Select(x => (double)x).ToArray();
            opt.Step();
            Twin(pd, gd, md, vd, t, lr, b1, b2, eps, wd);
            Close.Assert(pd.Select(x => (float)x).ToArray(), p.Data.Span, 1e-6, 1e-5, $"param after step {t}");
        }
        Assert.Equal(6, opt.StepCount);
        var state = opt.StateTensors();
        Assert.Equal(["w.exp_avg", "w.exp_avg_sq"], state.Select(s => s.Name));
        Close.Assert(md.Select(x => (float)x).ToArray(), state[0].Tensor.Span, 1e-6, 1e-5, "exp_avg");
        Close.Assert(vd.Select(x => (float)x).ToArray(), state[1].Tensor.Span, 1e-6, 1e-5, "exp_avg_sq");
    }

    [Fact]
    public void VectorKernelMatchesScalarTwinOnEveryLength()
    {
        var rng = new Rng(3);
        for (int n = 0; n <= 4 * 16 + 5; n++)
        {
            var p = new float[n]; var g = new float[n]; var m = new float[n]; var v = new float[n];
            rng.FillNormal(p, 0, 1); rng.FillNormal(g, 0, 1); rng.FillNormal(m, 0, 0.1f); rng.FillUniform(v, 0, 0.1f);
            var p2 = (float[])p.Clone(); var m2 = (float[])m.Clone(); var v2 = (float[])v.Clone();
            AdamWKernel.Step(p, g, m, v, 0.999f, 0.9f, 0.999f, 1e-8f, 0.01f, 3f);
            AdamWKernel.StepScalar(p2, g, m2, v2, 0.999f, 0.9f, 0.999f, 1e-8f, 0.01f, 3f);
            Close.Assert(p2, p, 0, 1e-6, $"p n={n}");
            Close.Assert(m2, m, 0, 0, $"m n={n}");
            Close.Assert(v2, v, 0, 0, $"v n={n}");
        }
    }

    [Fact]
    public void ParameterWithoutWeightDecayIsNotDecayed()
    {
        var a = new Parameter(3); var b = new Parameter(3);
        a.Data.Fill(1); b.Data.Fill(1); b.WeightDecay = false;
        var opt = new AdamW([("a", a), ("b", b)], lr: 0.1, weightDecay: 0.5);
        opt.Step(); // zero gradients: the Adam part is 0/(0+eps) = 0
        Assert.All(a.Data.ToArray(), x => Assert.Equal(0.95f, x, 6));
        Assert.All(b.Data.ToArray(), x => Assert.Equal(1f, x));
    }
}
