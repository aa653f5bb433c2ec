using SparseSwitch.Tensors;

namespace SparseSwitch.Nn;

/// <summary>
/// Max pooling over [B, C, H, W] with a K×K window, stride S (default K) and implicit −∞ padding
/// P (floor mode, as PyTorch). Forward records the arg-max position (first maximum in scan order)
/// per output; backward routes dy there (dx[argmax] += dy). Parallel over image planes.
/// </summary>
public sealed class MaxPool2d : Module
{
    public int Kernel { get; }
    public int Stride { get; }
    public int Padding { get; }

    private Tensor? _y, _dx;
    private Tensor _dy = null!, _x = null!;
    private int[] _argmax = [];
    private ConvGeometry _geo;
    private readonly ParallelRange _forward, _backward;

    public MaxPool2d(int kernel, int? stride = null, int padding = 0)
    {
        if (kernel < 1) throw new ArgumentOutOfRangeException(nameof(kernel), "MaxPool2d kernel must be ≥ 1.");
        int s = stride ?? kernel;
        if (s < 1) throw new ArgumentOutOfRangeException(nameof(stride), "MaxPool2d stride must be ≥ 1.");
        if (padding < 0 || 2 * padding > kernel) throw new ArgumentOutOfRangeException(nameof(padding), "MaxPool2d padding must be in [0, kernel/2].");
        Kernel = kernel; Stride = s; Padding = padding;
        _forward = new ParallelRange(ForwardPlanes);
        _backward = new ParallelRange(BackwardPlanes);
    }

    public override Tensor Forward(Tensor x)
    {
        if (x.Rank != 4) throw new ArgumentException($"MaxPool2d: input shape {Buffers.ShapeText(x.Shape)}, expected [B, C, H, W].");
        _geo = new ConvGeometry(1, x.Dim(2), x.Dim(3), Kernel, Kernel, Stride, Stride, Padding, Padding);
        if (_geo.OH < 1 || _geo.OW < 1) throw new ArgumentException($"MaxPool2d: input {x.Dim(2)}×{x.Dim(3)} is smaller than the window.");
        _x = x;
        var y = Buffers.Ensure(ref _y, x.Dim(0), x.Dim(1), _geo.OH, _geo.OW);
        if (_argmax.Length < y.Length) _argmax = new int[y.Length];
        _forward.Run(x.Dim(0) * x.Dim(1), 8);
        return y;
    }

    private void ForwardPlanes(int chunk, int start, int end)
    {
        var g = _geo;
        int inPlane = g.H * g.W, outPlane = g.OH * g.OW;
        var xs = _x.Span; var ys = _y!.Span;
        for (int pl = start; pl < end; pl++)
        {
            var xp = xs.Slice(pl * inPlane, inPlane);
            for (int oy = 0; oy < g.OH; oy++)
            for (int ox = 0; ox < g.OW; ox++)
            {
                int y0 = oy * g.SH - g.PH, x0 = ox * g.SW - g.PW;
                float best = float.NegativeInfinity;
                int arg = -1;
                for (int ky = Math.Max(0, -y0); ky < g.KH && y0 + ky < g.H; ky++)
                for (int kx = Math.Max(0, -x0); kx < g.KW && x0 + kx < g.W; kx++)
                {
                    int idx = (y0 + ky) * g.W + x0 + kx;
                    float v = xp[idx];
                    if (v > best || float.IsNaN(v) || arg < 0) { best = v; arg = idx; if (float.IsNaN(v)) goto done; }
                }
                done:
                int o = pl * outPlane + oy * g.OW + ox;
                ys[o] = best;
                _argmax[o] = arg;
            }
        }
    }

    public override Tensor Backward(Tensor dy)
    {
        if (_y is null) throw new InvalidOperationException("MaxPool2d.Backward called before Forward.");
        if (!dy.SameShape(_y.Shape))
            throw new ArgumentException($"MaxPool2d.Backward: dy shape {Buffers.ShapeText(dy.Shape)}, expected {Buffers.ShapeText(_y.Shape)}.");
        _dy = dy;
        Buffers.Ensure(ref _dx, _x.Shape);
        _backward.Run(_x.Dim(0) * _x.Dim(1), 8);
        return _dx!;
    }

    private void BackwardPlanes(int chunk, int start, int end)
    {
        int inPlane = _geo.H * _geo.W, outPlane = _geo.OH * _geo.OW;
        var dys = _dy.Span; var dxs = _dx!.Span;
        for (int pl = start; pl < end; pl++)
        {
            var dxp = dxs.Slice(pl * inPlane, inPlane);
            dxp.Clear();
            for (int o = pl * outPlane, e = o + outPlane; o < e; o++) dxp[_argmax[o]] += dys[o];
        }
    }
}
