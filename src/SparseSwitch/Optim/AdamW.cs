using SparseSwitch.Nn;
using SparseSwitch.Tensors;

namespace SparseSwitch.Optim;

/// <summary>
/// Adam with decoupled weight decay, as PyTorch's torch.optim.AdamW (see <see cref="AdamWKernel"/>).
/// Parameters with <see cref="Parameter.WeightDecay"/> = false are not decayed. The moments are
/// allocated once; a step allocates nothing. Bias corrections use <see cref="StepCount"/>.
/// </summary>
public sealed class AdamW : Optimizer
{
    private readonly Tensor[] _m, _v;

    public double Beta1 { get; }
    public double Beta2 { get; }
    public double Eps { get; }
    public double WeightDecay { get; }
    public override long StepCount { get; set; }

    public AdamW(IEnumerable<(string Path, Parameter Param)> parameters, double lr = 1e-3, double beta1 = 0.9,
        double beta2 = 0.999, double eps = 1e-8, double weightDecay = 1e-2)
        : base(parameters, lr)
    {
        CheckFinite(beta1, nameof(beta1), 0, 1);
        CheckFinite(beta2, nameof(beta2), 0, 1);
        if (beta1 >= 1 || beta2 >= 1) throw new ArgumentOutOfRangeException(beta1 >= 1 ? nameof(beta1) : nameof(beta2), "AdamW betas must be < 1.");
        CheckFinite(eps, nameof(eps), 0);
        CheckFinite(weightDecay, nameof(weightDecay), 0);
        Beta1 = beta1; Beta2 = beta2; Eps = eps; WeightDecay = weightDecay;
        _m = Parameters.Select(p => new Tensor(p.Param.Shape)).ToArray();
        _v = Parameters.Select(p => new Tensor(p.Param.Shape)).ToArray();
    }

    public override void Step()
    {
        long t = StepCount + 1;
        double lr = LearningRate;
        double bc1 = 1 - Math.Pow(Beta1, t), bc2 = 1 - Math.Pow(Beta2, t);
        float stepSize = (float)(lr / bc1), invBc2Sqrt = (float)(1 / Math.Sqrt(bc2));
        var ps = Parameters;
        for (int i = 0; i < ps.Count; i++)
        {
            var p = ps[i].Param;
            float decay = (float)(1 - lr * (p.WeightDecay ? WeightDecay : 0));
            AdamWKernel.Step(p.Data.Span, p.Grad.Span, _m[i].Span, _v[i].Span, decay,
                (float)Beta1, (float)Beta2, (float)Eps, stepSize, invBc2Sqrt);
        }
        StepCount = t;
    }

    /// <summary>The moments, named <c>{path}.exp_avg</c> and <c>{path}.exp_avg_sq</c> (PyTorch's names).</summary>
    public override IReadOnlyList<(string Name, Tensor Tensor)> StateTensors()
    {
        var list = new List<(string, Tensor)>();
        for (int i = 0; i < _m.Length; i++)
        {
            list.Add((Parameters[i].Path + ".exp_avg", _m[i]));
            list.Add((Parameters[i].Path + ".exp_avg_sq", _v[i]));
        }
        return list;
    }
}
