using SparseSwitch.Tensors;

using SparseSwitch.Tensors.Conv;

namespace SparseSwitch.Nn;

/// <summary>
/// Average pooling over [B, C, H, W] with a K×K window, stride S (default K), zero padding P;
/// the divisor is always K² (PyTorch's default count_include_pad = true, floor mode).
/// Backward spreads dy/K² over each window. Parallel over image planes.
/// </summary>
public sealed class AvgPool2d : Module
{
    public int Kernel { get; }
    public int Stride { get; }
    public int Padding { get; }

    private Tensor? _y, _dx;
    private Tensor _dy = null!, _x = null!;
    private ConvGeometry _geo;
    private readonly ParallelRange _forward, _backward;

    public AvgPool2d(int kernel, int? stride = null, int padding = 0)
    {
        if (kernel < 1) throw new ArgumentOutOfRangeException(nameof(kernel), "AvgPool2d kernel must be ≥ 1.");
        int s = stride ?? kernel;
        if (s < 1) throw new ArgumentOutOfRangeException(nameof(stride), "AvgPool2d stride must be ≥ 1.");
        if (padding < 0 || 2 * padding > kernel) throw new ArgumentOutOfRangeException(nameof(padding), "AvgPool2d padding must be in [0, kernel/2].");
        Kernel = kernel; Stride = s; Padding = padding;
        _forward = new ParallelRange(ForwardPlanes);
        _backward = new ParallelRange(BackwardPlanes);
    }

    public override Tensor Forward(Tensor x)
    {
        if (x.Rank != 4) throw new ArgumentException($"AvgPool2d: input shape {Buffers.ShapeText(x.Shape)}, expected [B, C, H, W].");
        _geo = new ConvGeometry(1, x.Dim(2), x.Dim(3), Kernel, Kernel, Stride, Stride, Padding, Padding);
        if (_geo.OH < 1 || _geo.OW < 1) throw new ArgumentException($"AvgPool2d: input {x.Dim(2)}×{x.Dim(3)} is smaller than the window.");
        _x = x;
        var y = Buffers.Ensure(ref _y, x.Dim(0), x.Dim(1), _geo.OH, _geo.OW);
        _forward.Run(x.Dim(0) * x.Dim(1), Options, 8);
        return y;
    }

    private void ForwardPlanes(int chunk, int start, int end)
    {
        var g = _geo;
        int inPlane = g.H * g.W, outPlane = g.OH * g.OW;
        float inv = 1f / (g.KH * g.KW);
        var xs = _x.Span; var ys = _y!.Span;
        for (int pl = start; pl < end; pl++)
        {
            var xp = xs.Slice(pl * inPlane, inPlane);
            for (int oy = 0; oy < g.OH; oy++)
            for (int ox = 0; ox < g.OW; ox++)
            {
                int y0 = oy * g.SH - g.PH, x0 = ox * g.SW - g.PW;
                float s = 0f;
                for (int ky = Math.Max(0, -y0); ky < g.KH && y0 + ky < g.H; ky++)
                for (int kx = Math.Max(0, -x0); kx < g.KW && x0 + kx < g.W; kx++)
                    s += xp[(y0 + ky) * g.W + x0 + kx];
                ys[pl * outPlane + oy * g.OW + ox] = s * inv;
            }
        }
    }

    public override Tensor Backward(Tensor dy)
    {
        if (_y is null) throw new InvalidOperationException("AvgPool2d.Backward called before Forward.");
        if (!dy.SameShape(_y.Shape))
            throw new ArgumentException($"AvgPool2d.Backward: dy shape {Buffers.ShapeText(dy.Shape)}, expected {Buffers.ShapeText(_y.Shape)}.");
        _dy = dy;
        Buffers.Ensure(ref _dx, _x.Shape);
        _backward.Run(_x.Dim(0) * _x.Dim(1), Options, 8);
        return _dx!;
    }

    private void BackwardPlanes(int chunk, int start, int end)
    {
        var g = _geo;
        int inPlane = g.H * g.W, outPlane = g.OH * g.OW;
        float inv = 1f / (g.KH * g.KW);
        var dys = _dy.Span; var dxs = _dx!.Span;
        for (int pl = start; pl < end; pl++)
        {
            var dxp = dxs.Slice(pl * inPlane, inPlane);
            dxp.Clear();
            for (int oy = 0; oy < g.OH; oy++)
            for (int ox = 0; ox < g.OW; ox++)
            {
                int y0 = oy * g.SH - g.PH, x0 = ox * g.SW - g.PW;
                float d = dys[pl * outPlane + oy * g.OW + ox] * inv;
                for (int ky = Math.Max(0, -y0); ky < g.KH && y0 + ky < g.H; ky++)
                for (int kx = Math.Max(0, -x0); kx < g.KW && x0 + kx < g.W; kx++)
                    dxp[(y0 + ky) * g.W + x0 + kx] += d;
            }
        }
    }
}
