using System.Globalization;
using SparseSwitch.Tensors;

namespace SparseSwitch.Nn;

/// <summary>Children "0", "1", ... run in order; backward runs them in reverse.</summary>
public sealed class Sequential : Module
{
    private readonly List<Module> _layers = new();

    public Sequential(params Module[] layers)
    {
        foreach (var m in layers) Add(m);
    }

    /// <summary>Appends a layer under the next index name; returns this for chaining.</summary>
    public Sequential Add(Module layer)
    {
        ArgumentNullException.ThrowIfNull(layer);
        RegisterModule(_layers.Count.ToString(CultureInfo.InvariantCulture), layer);
        _layers.Add(layer);
        return this;
    }

    public int Count => _layers.Count;
    public Module this[int index] => _layers[index];

    public override Tensor Forward(Tensor x)
    {
        foreach (var m in _layers) x = m.Forward(x);
        return x;
    }

    public override Tensor Backward(Tensor dy)
    {
        for (int i = _layers.Count - 1; i >= 0; i--) dy = _layers[i].Backward(dy);
        return dy;
    }
}
