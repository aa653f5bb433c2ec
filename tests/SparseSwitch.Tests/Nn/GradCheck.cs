using SparseSwitch.Nn;
using SparseSwitch.Tensors;
using Xunit.Sdk;

namespace SparseSwitch.Tests.Nn;

/// <summary>
/// Central finite differences for a module: the scalar loss L = Σ y ⊙ r (r random, accumulated in
/// double) is differentiated numerically, (L(v + ε) − L(v − ε))/2ε, for every input element and
/// every element of the named parameters, and compared with the module's backward (dx and the
/// accumulated parameter gradients) as |a − n| ≤ atol + rtol·|n|.
/// </summary>
internal static class GradCheck
{
    public const double DefaultEps = 1e-2, DefaultAtol = 1e-3, DefaultRtol = 1e-2;

    public static void Check(Module m, Tensor x, Rng rng, double eps = DefaultEps, double atol = DefaultAtol,
        double rtol = DefaultRtol, IReadOnlyList<int>? skipInputs = null, string what = "")
    {
        var y0 = m.Forward(x);
        var r = new Tensor(y0.Shape);
        rng.FillUniform(r.Span, -1f, 1f);
        double Loss() => Dot(m.Forward(x), r);

        m.ZeroGrad();
        m.Forward(x);
        var dx = m.Backward(r).Clone();
        var grads = m.NamedParameters().Select(p => (p.Path, p.Param, Grad: p.Param.Grad.Clone())).ToList();

        var skip = skipInputs is null ? new HashSet<int>() : skipInputs.ToHashSet();
        var xs = x.Span;
        for (int i = 0; i < x.Length; i++)
        {
            if (skip.Contains(i)) continue;
            double n = Numeric(ref xs[i], Loss, eps);
            Compare(dx.Span[i], n, atol, rtol, $"{what} dx[{i}]");
        }
        foreach (var (path, p, g) in grads)
        {
            for (int i = 0; i < p.Length; i++)
            {
                if (p.Mask is { } mask && !mask[i]) continue; // Data there does not reach the output
                double n = Numeric(ref p.Data.Span[i], Loss, eps);
                Compare(g.Span[i], n, atol, rtol, $"{what} d{path}[{i}]");
            }
        }
    }

    /// <summary>(f(v + ε) − f(v − ε))/2ε with v restored afterwards.</summary>
    public static double Numeric(ref float v, Func<double> f, double eps)
    {
        float orig = v;
        v = (float)(orig + eps);
        double plus = f();
        v = (float)(orig - eps);
        double minus = f();
        double step = (double)(float)(orig + eps) - (float)(orig - eps);
        v = orig;
        return (plus - minus) / step;
    }

    public static double Dot(Tensor a, Tensor b)
    {
        var x = a.Span; var y = b.Span;
        if (x.Length != y.Length) throw new XunitException($"Dot: lengths {x.Length} and {y.Length}.");
        double s = 0;
        for (int i = 0; i < x.Length; i++) s += (double)x[i] * y[i];
        return s;
    }

    public static void Compare(double analytic, double numeric, double atol, double rtol, string what)
    {
        if (!(Math.Abs(analytic - numeric) <= atol + rtol * Math.Abs(numeric)))
            throw new XunitException($"{what}: backward gives {analytic:g6}, finite differences {numeric:g6} (atol {atol}, rtol {rtol}).");
    }

    public static Tensor Random(Rng rng, params int[] shape)
    {
        var t = new Tensor(shape);
        rng.FillUniform(t.Span, -1f, 1f);
        return t;
    }
}
