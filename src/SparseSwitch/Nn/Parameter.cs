using SparseSwitch.Tensors;

namespace SparseSwitch.Nn;

/// <summary>
/// A trainable tensor with its gradient. Backward passes accumulate into <see cref="Grad"/>
/// (+=); zeroing is a separate, explicit step.
/// </summary>
public sealed class Parameter
{
    public Tensor Data { get; }
    public Tensor Grad { get; }

    /// <summary>Whether sparsity masks apply to this parameter (conv/linear weights except the stem).</summary>
    public bool Prunable { get; set; }

    /// <summary>
    /// The active mask (one bit per element of <see cref="Data"/>), or null for dense: the stored
    /// mask itself (e.g. a sub-net's mask in a mask set), not a copy, so changing it changes what
    /// the next forward uses. When set, the layer's forward uses Data ⊙ Mask; backward computes the
    /// gradient with respect to the effective weight Data ⊙ Mask (the "dense gradient" of the
    /// masked product), unmasked — masking the gradient is the trainer's job.
    /// </summary>
    public BitMask? Mask { get; set; }

    /// <summary>Whether weight decay applies (PyTorch applies it to every parameter by default).</summary>
    public bool WeightDecay { get; set; } = true;

    public Parameter(params int[] shape)
    {
        Data = new Tensor(shape);
        Grad = new Tensor(shape);
    }

    public int[] Shape => Data.Shape;
    public int Length => Data.Length;
    public void ZeroGrad() => Grad.Clear();
}
