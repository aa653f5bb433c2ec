using SparseSwitch.Nn;
using SparseSwitch.Sparsity;
using SparseSwitch.Tensors;

namespace SparseSwitch.Training;

/// <summary>
/// The K masks of every prunable weight (bit-packed <see cref="BitMask"/>s, mask[k][layer]) and one
/// 0/1 float buffer per layer that <see cref="Activate"/> fills with sub-net k's mask and hangs on
/// <see cref="Parameter.Mask"/>, so the layers compute with W ⊙ m_k. The weights themselves are
/// never zeroed (another sub-net may use them).
/// </summary>
public sealed class SubnetMasks
{
    private readonly BitMask[][] _masks;
    private readonly Tensor[] _active;
    private readonly long[][] _kept;

    public IReadOnlyList<(string Path, Parameter Param)> Layers { get; }
    public int K => _masks.Length;
    public int ActiveSubnet { get; private set; } = -1;

    public SubnetMasks(IReadOnlyList<(string Path, Parameter Param)> layers, int k)
    {
        Layers = layers;
        _masks = Enumerable.Range(0, k).Select(_ => layers.Select(l => new BitMask(l.Param.Length, true)).ToArray()).ToArray();
        _active = layers.Select(l => new Tensor(l.Param.Shape)).ToArray();
        _kept = Enumerable.Range(0, k).Select(_ => layers.Select(l => (long)l.Param.Length).ToArray()).ToArray();
    }

    public BitMask this[int k, int layer] => _masks[k][layer];

    /// <summary>The float mask of the active sub-net for layer i (null before any activation).</summary>
    public Tensor ActiveFloat(int layer) => _active[layer];

    /// <summary>Switches every prunable layer to m_k (unpacks the bits into the float buffers).</summary>
    public void Activate(int k)
    {
        for (int i = 0; i < Layers.Count; i++)
        {
            _masks[k][i].WriteFloats(_active[i].Span);
            Layers[i].Param.Mask = _active[i];
        }
        ActiveSubnet = k;
    }

    /// <summary>Removes the masks (dense forward), e.g. for a dense baseline.</summary>
    public void Deactivate()
    {
        foreach (var (_, p) in Layers) p.Mask = null;
        ActiveSubnet = -1;
    }

    /// <summary>Recounts the kept weights of sub-net k after its masks changed.</summary>
    public void Recount(int k)
    {
        for (int i = 0; i < Layers.Count; i++) _kept[k][i] = _masks[k][i].Count();
    }

    public long Kept(int k, int layer) => _kept[k][layer];
    public long KeptTotal(int k) => _kept[k].Sum();
    public long TotalWeights => Layers.Sum(l => (long)l.Param.Length);

    /// <summary>g ← g ⊙ m_k for every prunable layer's gradient.</summary>
    public void MaskGradients(int k)
    {
        for (int i = 0; i < Layers.Count; i++) _masks[k][i].ApplyTo(Layers[i].Param.Grad.Span);
    }

    /// <summary>|m_a ∩ m_b| / |m_a ∪ m_b| over all prunable layers.</summary>
    public double Overlap(int a, int b)
    {
        long inter = 0, union = 0;
        for (int i = 0; i < Layers.Count; i++)
        {
            long x = _masks[a][i].IntersectionCount(_masks[b][i]);
            inter += x;
            union += _kept[a][i] + _kept[b][i] - x;
        }
        return union == 0 ? 1.0 : (double)inter / union;
    }
}
