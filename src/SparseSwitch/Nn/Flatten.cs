using SparseSwitch.Tensors;

namespace SparseSwitch.Nn;

/// <summary>[B, d1, d2, ...] → [B, d1·d2·...] (PyTorch's Flatten, start dim 1). Forward and
/// backward return views of their argument (no copy); the views are cached, so steady-state
/// calls allocate nothing.</summary>
public sealed class Flatten : Module
{
    private Tensor? _yView, _ySrc, _dxView, _dxSrc;
    private int[] _inShape = [];

    public override Tensor Forward(Tensor x)
    {
        if (x.Rank < 1) throw new ArgumentException("Flatten: input must have a batch dimension.");
        if (!x.SameShape(_inShape)) _inShape = (int[])x.Shape.Clone();
        int b = x.Dim(0);
        return Buffers.View(ref _yView, ref _ySrc, x, b, b == 0 ? 0 : x.Length / b);
    }

    public override Tensor Backward(Tensor dy)
    {
        if (_inShape.Length == 0) throw new InvalidOperationException("Flatten.Backward called before Forward.");
        if (dy.Length != Tensor.ShapeLength(_inShape))
            throw new ArgumentException($"Flatten.Backward: dy shape {Buffers.ShapeText(dy.Shape)} does not match input {Buffers.ShapeText(_inShape)}.");
        return Buffers.View(ref _dxView, ref _dxSrc, dy, _inShape);
    }
}
