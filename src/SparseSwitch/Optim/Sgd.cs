using SparseSwitch.Nn;
using SparseSwitch.Tensors;

namespace SparseSwitch.Optim;

/// <summary>
/// Stochastic gradient descent with momentum, weight decay, dampening and Nesterov momentum, as
/// PyTorch's torch.optim.SGD applies them (see <see cref="SgdKernel"/>). Parameters with
/// <see cref="Parameter.WeightDecay"/> = false get no decay. The momentum buffer of every
/// parameter is allocated once (only when momentum ≠ 0) and initialised from the first step's
/// update, as PyTorch does; a step allocates nothing.
/// </summary>
public sealed class Sgd : Optimizer
{
    private readonly Tensor?[] _buffers;

    public double Momentum { get; }
    public double WeightDecay { get; }
    public bool Nesterov { get; }
    public double Dampening { get; }
    public override long StepCount { get; set; }

    public Sgd(IEnumerable<(string Path, Parameter Param)> parameters, double lr, double momentum = 0,
        double weightDecay = 0, bool nesterov = false, double dampening = 0)
        : base(parameters, lr)
    {
        CheckFinite(momentum, nameof(momentum), 0);
        CheckFinite(weightDecay, nameof(weightDecay), 0);
        CheckFinite(dampening, nameof(dampening), 0, 1);
        if (nesterov && (momentum <= 0 || dampening != 0))
            throw new ArgumentException("Nesterov momentum requires momentum > 0 and dampening = 0 (as in PyTorch).", nameof(nesterov));
        Momentum = momentum; WeightDecay = weightDecay; Nesterov = nesterov; Dampening = dampening;
        _buffers = Parameters.Select(p => momentum != 0 ? new Tensor(p.Param.Shape) : null).ToArray();
    }

    public override void Step()
    {
        var ps = Parameters;
        float lr = (float)LearningRate, m = (float)Momentum, damp = (float)Dampening;
        bool first = StepCount == 0;
        for (int i = 0; i < ps.Count; i++)
        {
            var p = ps[i].Param;
            float wd = p.WeightDecay ? (float)WeightDecay : 0f;
            SgdKernel.Step(p.Data.Span, p.Grad.Span, _buffers[i] is { } b ? b.Span : default, lr, m, wd, damp, Nesterov, first);
        }
        StepCount++;
    }

    /// <summary>The momentum buffers, named <c>{path}.momentum_buffer</c> (empty without momentum).</summary>
    public override IReadOnlyList<(string Name, Tensor Tensor)> StateTensors()
    {
        var list = new List<(string, Tensor)>();
        for (int i = 0; i < _buffers.Length; i++)
            if (_buffers[i] is { } b) list.Add((Parameters[i].Path + ".momentum_buffer", b));
        return list;
    }
}
