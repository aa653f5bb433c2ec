using SparseSwitch.Tensors;

namespace SparseSwitch.Nn;

/// <summary>
/// K independent <see cref="BatchNorm2d"/> sets (affine parameters and running statistics), one
/// per sub-net, registered as children "0" … "K−1" (state-dict paths <c>bn1.0.weight</c>, ...).
/// Forward and backward go to the set chosen by <see cref="ActiveSet"/>; keep it unchanged
/// between a forward and its backward.
/// </summary>
public sealed class SwitchableBatchNorm2d : Module, IDeferrableNorm
{
    private readonly BatchNorm2d[] _sets;
    private int _active;

    public SwitchableBatchNorm2d(int channels, int sets, float eps = 1e-5f, float momentum = 0.1f, bool fuseRelu = false)
    {
        if (sets < 1) throw new ArgumentOutOfRangeException(nameof(sets), "SwitchableBatchNorm2d needs at least one set.");
        _sets = new BatchNorm2d[sets];
        for (int k = 0; k < sets; k++)
            _sets[k] = RegisterModule(k.ToString(System.Globalization.CultureInfo.InvariantCulture), new BatchNorm2d(channels, eps, momentum, fuseRelu));
    }

    public int Sets => _sets.Length;
    public int Channels => _sets[0].Channels;
    public BatchNorm2d this[int set] => _sets[set];
    public BatchNorm2d Active => _sets[_active];

    public int ActiveSet
    {
        get => _active;
        set
        {
            if ((uint)value >= (uint)_sets.Length)
                throw new ArgumentOutOfRangeException(nameof(value), $"Batch-norm set {value} does not exist (this layer has {_sets.Length}).");
            _active = value;
        }
    }

    /// <summary>Every switchable batch-norm layer under <paramref name="root"/> (itself included),
    /// in registration order. Cache the list: switching sub-nets then allocates nothing.</summary>
    public static IReadOnlyList<SwitchableBatchNorm2d> FindAll(Module root) =>
        root.NamedModules().Select(m => m.Module).OfType<SwitchableBatchNorm2d>().ToList();

    /// <summary>Selects set <paramref name="set"/> in every layer of the list (sub-net switch).</summary>
    public static void SelectAll(IReadOnlyList<SwitchableBatchNorm2d> layers, int set)
    {
        for (int i = 0; i < layers.Count; i++) layers[i].ActiveSet = set;
    }

    public override Tensor Forward(Tensor x) => _sets[_active].Forward(x);
    public ChannelAffine ForwardDeferred(Tensor x, ReadOnlySpan<double> planeStats = default) => _sets[_active].ForwardDeferred(x, planeStats);
    public ChannelGradAffine BackwardDeferred(Tensor dy, ReadOnlySpan<double> planeSums = default) => _sets[_active].BackwardDeferred(dy, planeSums);
    public override Tensor Backward(Tensor dy) => _sets[_active].Backward(dy);
}
