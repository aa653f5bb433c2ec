using SparseSwitch.Tensors;

namespace SparseSwitch.Nn;

/// <summary>y = max(x, 0); dx = dy where y &gt; 0, else 0. Any shape. Parallel over contiguous
/// element ranges.</summary>
public sealed class ReLU : Module
{
    private const int Grain = 32768;
    private Tensor? _y, _dx;
    private Tensor _x = null!, _dy = null!;
    private readonly ParallelRange _forward, _backward;

    public ReLU()
    {
        _forward = new ParallelRange((_, s, e) => Elementwise.ReluForward(_x.Span[s..e], _y!.Span[s..e]));
        _backward = new ParallelRange((_, s, e) => Elementwise.ReluBackward(_y!.Span[s..e], _dy.Span[s..e], _dx!.Span[s..e]));
    }

    public override Tensor Forward(Tensor x)
    {
        _x = x;
        Buffers.Ensure(ref _y, x.Shape);
        _forward.Run(x.Length, Options, Grain);
        return _y!;
    }

    public override Tensor Backward(Tensor dy)
    {
        if (_y is null) throw new InvalidOperationException("ReLU.Backward called before Forward.");
        if (!dy.SameShape(_y.Shape))
            throw new ArgumentException($"ReLU.Backward: dy shape {Buffers.ShapeText(dy.Shape)}, expected {Buffers.ShapeText(_y.Shape)}.");
        _dy = dy;
        Buffers.Ensure(ref _dx, dy.Shape);
        _backward.Run(dy.Length, Options, Grain);
        return _dx!;
    }
}
