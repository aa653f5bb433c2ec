using SparseSwitch.Tensors;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;

namespace SparseSwitch.Nn;

/// <summary>
/// Adaptive average pooling to 1×1 (PyTorch's AdaptiveAvgPool2d(1)): [B, C, H, W] → [B, C, 1, 1],
/// y[b, c] = mean over the H·W plane; dx = dy/(H·W) over the plane. Follow it with
/// <see cref="Flatten"/> for a classifier.
/// </summary>
public sealed class GlobalAvgPool2d : Module
{
    private Tensor? _y, _dx;
    private Tensor _x = null!, _dy = null!;
    private readonly ParallelRange _forward, _backward;

    public GlobalAvgPool2d()
    {
        _forward = new ParallelRange(ForwardPlanes);
        _backward = new ParallelRange(BackwardPlanes);
    }

    private int Plane => _x.Dim(2) * _x.Dim(3);
    private int Grain => Math.Max(1, 16384 / Math.Max(1, Plane));

    public override Tensor Forward(Tensor x)
    {
        if (x.Rank != 4 || x.Dim(2) * x.Dim(3) == 0)
            throw new ArgumentException($"GlobalAvgPool2d: input shape {Buffers.ShapeText(x.Shape)}, expected [B, C, H, W] with H·W > 0.");
        _x = x;
        Buffers.Ensure(ref _y, x.Dim(0), x.Dim(1), 1, 1);
        _forward.Run(x.Dim(0) * x.Dim(1), Options, Grain);
        return _y!;
    }

    private void ForwardPlanes(int chunk, int start, int end)
    {
        int hw = Plane;
        var xs = _x.Span; var ys = _y!.Span;
        for (int pl = start; pl < end; pl++) ys[pl] = TensorPrimitives.Sum(xs.Slice(pl * hw, hw)) / hw;
    }

    public override Tensor Backward(Tensor dy)
    {
        if (_y is null) throw new InvalidOperationException("GlobalAvgPool2d.Backward called before Forward.");
        if (!dy.SameShape(_y.Shape))
            throw new ArgumentException($"GlobalAvgPool2d.Backward: dy shape {Buffers.ShapeText(dy.Shape)}, expected {Buffers.ShapeText(_y.Shape)}.");
        _dy = dy;
        Buffers.Ensure(ref _dx, _x.Shape);
        _backward.Run(_x.Dim(0) * _x.Dim(1), Options, Grain);
        return _dx!;
    }

    private void BackwardPlanes(int chunk, int start, int end)
    {
        int hw = Plane;
        var dys = _dy.Span; var dxs = _dx!.Span;
        for (int pl = start; pl < end; pl++) dxs.Slice(pl * hw, hw).Fill(dys[pl] / hw);
    }
}
