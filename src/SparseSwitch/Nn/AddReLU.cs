using SparseSwitch.Tensors;

namespace SparseSwitch.Nn;

/// <summary>
/// The join of a residual block fused into one pass: y = relu(main + shortcut). Backward gives
/// g = dy where y &gt; 0, else 0; g is the gradient for both inputs (pass it to both branches).
/// Not a <see cref="Module"/> (two inputs); no parameters. Parallel over element ranges.
/// </summary>
public sealed class AddReLU
{
    private const int Grain = 32768;
    private Tensor? _y, _g;
    private Tensor _a = null!, _b = null!, _dy = null!;
    private readonly ParallelRange _forward, _backward;

    public AddReLU()
    {
        _forward = new ParallelRange((_, s, e) => Elementwise.AddRelu(_a.Span[s..e], _b.Span[s..e], _y!.Span[s..e]));
        _backward = new ParallelRange((_, s, e) => Elementwise.ReluBackward(_y!.Span[s..e], _dy.Span[s..e], _g!.Span[s..e]));
    }

    /// <summary>y = max(main + shortcut, 0) (owned buffer, reused across calls).</summary>
    public Tensor Forward(Tensor main, Tensor shortcut)
    {
        if (!main.SameShape(shortcut.Shape))
            throw new ArgumentException($"AddReLU: shapes {Buffers.ShapeText(main.Shape)} and {Buffers.ShapeText(shortcut.Shape)} differ.");
        _a = main; _b = shortcut;
        Buffers.Ensure(ref _y, main.Shape);
        _forward.Run(main.Length, Grain);
        return _y!;
    }

    /// <summary>The gradient for both inputs: dy masked by y &gt; 0 (owned buffer).</summary>
    public Tensor Backward(Tensor dy)
    {
        if (_y is null) throw new InvalidOperationException("AddReLU.Backward called before Forward.");
        if (!dy.SameShape(_y.Shape))
            throw new ArgumentException($"AddReLU.Backward: dy shape {Buffers.ShapeText(dy.Shape)}, expected {Buffers.ShapeText(_y.Shape)}.");
        _dy = dy;
        Buffers.Ensure(ref _g, dy.Shape);
        _backward.Run(dy.Length, Grain);
        return _g!;
    }
}
