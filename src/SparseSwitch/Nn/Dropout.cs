using SparseSwitch.Tensors;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;

namespace SparseSwitch.Nn;

/// <summary>
/// Inverted dropout: in training y = x ⊙ m with m[i] = 1/(1 − p) with probability 1 − p, else 0;
/// dx = dy ⊙ m. In eval mode (or p = 0) y = x and dx = dy (the same tensors are returned).
/// <see cref="FixedMask"/> reuses the last mask (for gradient checks and replays).
/// </summary>
public sealed class Dropout : Module
{
    public float P { get; }
    public bool FixedMask { get; set; }

    private readonly Rng _rng;
    private Tensor? _y, _dx, _mask;
    private bool _applied;

    public Dropout(float p, Rng rng)
    {
        if (!(p >= 0f && p < 1f)) throw new ArgumentOutOfRangeException(nameof(p), $"Dropout probability must be in [0, 1), got {p}.");
        P = p;
        _rng = rng ?? throw new ArgumentNullException(nameof(rng));
    }

    public override Tensor Forward(Tensor x)
    {
        _applied = Training && P > 0f;
        if (!_applied) return x;
        bool reuse = FixedMask && _mask is not null && _mask.SameShape(x.Shape);
        var mask = Buffers.Ensure(ref _mask, x.Shape).Span;
        if (!reuse)
        {
            float keep = 1f / (1f - P);
            for (int i = 0; i < mask.Length; i++) mask[i] = _rng.NextFloat() < P ? 0f : keep;
        }
        var y = Buffers.Ensure(ref _y, x.Shape);
        TensorPrimitives.Multiply(x.Span, mask, y.Span);
        return y;
    }

    public override Tensor Backward(Tensor dy)
    {
        if (!_applied) return dy;
        if (!dy.SameShape(_mask!.Shape))
            throw new ArgumentException($"Dropout.Backward: dy shape {Buffers.ShapeText(dy.Shape)}, expected {Buffers.ShapeText(_mask.Shape)}.");
        var dx = Buffers.Ensure(ref _dx, dy.Shape);
        TensorPrimitives.Multiply(dy.Span, _mask.Span, dx.Span);
        return dx;
    }
}
