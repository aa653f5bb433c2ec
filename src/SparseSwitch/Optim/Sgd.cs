using SparseSwitch.Nn;
using SparseSwitch.Tensors;

namespace SparseSwitch.Optim;

/// <summary>
/// Stochastic gradient descent with momentum, weight decay, dampening and Nesterov momentum, as
/// PyTorch's torch.optim.SGD applies them (see <see cref="SgdKernel"/>). Parameters with
/// <see cref="Parameter.WeightDecay"/> = false get no decay. The momentum buffer of every
/// parameter is allocated once (only when momentum ≠ 0), or given (views into a flat buffer laid
/// out by a <see cref="ParameterTable"/>), and initialised from the first step's update, as
/// PyTorch does; a step allocates nothing.
/// </summary>
public sealed class Sgd : Optimizer
{
    private readonly Tensor?[] _buffers;

    public double Momentum { get; }
    public double WeightDecay { get; }
    public bool Nesterov { get; }
    public double Dampening { get; }
    public override long StepCount { get; set; }

    /// <param name="momentumBuffers">The momentum buffer of each parameter, in order, same shapes
    /// (used only when momentum ≠ 0; null: allocated here).</param>
    public Sgd(IEnumerable<(string Path, Parameter Param)> parameters, double lr, double momentum = 0,
        double weightDecay = 0, bool nesterov = false, double dampening = 0, IReadOnlyList<Tensor>? momentumBuffers = null)
        : base(parameters, lr)
    {
        CheckFinite(momentum, nameof(momentum), 0);
        CheckFinite(weightDecay, nameof(weightDecay), 0);
        CheckFinite(dampening, nameof(dampening), 0, 1);
        if (nesterov && (momentum <= 0 || dampening != 0))
            throw new ArgumentException("Nesterov momentum requires momentum > 0 and dampening = 0 (as in PyTorch).", nameof(nesterov));
        Momentum = momentum; WeightDecay = weightDecay; Nesterov = nesterov; Dampening = dampening;
        if (momentumBuffers is not null)
        {
            if (momentumBuffers.Count != Parameters.Count)
                throw new ArgumentException($"{momentumBuffers.Count} momentum buffers for {Parameters.Count} parameters.", nameof(momentumBuffers));
            for (int i = 0; i < Parameters.Count; i++)
                if (!momentumBuffers[i].SameShape(Parameters[i].Param.Shape))
                    throw new ArgumentException($"The momentum buffer of '{Parameters[i].Path}' has shape [{string.Join(", ", momentumBuffers[i].Shape)}], the parameter [{string.Join(", ", Parameters[i].Param.Shape)}].", nameof(momentumBuffers));
        }
        _buffers = Parameters.Select((p, i) => momentum == 0 ? null : momentumBuffers?[i] ?? new Tensor(p.Param.Shape)).ToArray();
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
