using SparseSwitch.Nn;
using SparseSwitch.Tensors;

namespace SparseSwitch.Optim;

/// <summary>
/// Base of the optimisers: holds the parameters by path (from <see cref="Module.NamedParameters"/>),
/// the learning rate (set it from a schedule before each <see cref="Step"/>) and the step counter.
/// <see cref="StateTensors"/> exposes the optimiser state (momentum buffers, moments) by
/// parameter path for checkpoints; they are live tensors, so loading a checkpoint copies into them.
/// </summary>
public abstract class Optimizer
{
    private readonly (string Path, Parameter Param)[] _params;

    protected Optimizer(IEnumerable<(string Path, Parameter Param)> parameters, double lr)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        _params = parameters.ToArray();
        var seen = new HashSet<string>();
        foreach (var (path, p) in _params)
        {
            if (p is null) throw new ArgumentException($"Parameter '{path}' is null.", nameof(parameters));
            if (!seen.Add(path)) throw new ArgumentException($"Parameter path '{path}' appears twice.", nameof(parameters));
        }
        LearningRate = lr;
    }

    /// <summary>The parameters in the order given, with their paths.</summary>
    public IReadOnlyList<(string Path, Parameter Param)> Parameters => _params;

    private double _lr;

    public double LearningRate
    {
        get => _lr;
        set
        {
            if (!(value >= 0) || double.IsInfinity(value))
                throw new ArgumentOutOfRangeException(nameof(LearningRate), value, "The learning rate must be a finite number ≥ 0.");
            _lr = value;
        }
    }

    /// <summary>Number of steps taken so far (restored from checkpoints with the state tensors).</summary>
    public abstract long StepCount { get; set; }

    /// <summary>Applies one update to every parameter from its current gradient.</summary>
    public abstract void Step();

    /// <summary>Sets every parameter's gradient to zero.</summary>
    public void ZeroGrad()
    {
        foreach (var (_, p) in _params) p.ZeroGrad();
    }

    /// <summary>Optimiser state by name (<c>{parameter path}.{kind}</c>), live tensors.</summary>
    public abstract IReadOnlyList<(string Name, Tensor Tensor)> StateTensors();

    protected static void CheckFinite(double value, string name, double min = double.NegativeInfinity, double max = double.PositiveInfinity)
    {
        if (double.IsNaN(value) || double.IsInfinity(value) || value < min || value > max)
            throw new ArgumentOutOfRangeException(name, value, $"{name} must be a finite number in [{min}, {max}].");
    }
}
