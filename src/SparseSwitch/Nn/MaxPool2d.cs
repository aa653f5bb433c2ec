using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using SparseSwitch.Tensors;

using SparseSwitch.Tensors.Conv;

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
        _forward.Run(x.Dim(0) * x.Dim(1), Options, 8);
        return y;
    }

    private void ForwardPlanes(int chunk, int start, int end)
    {
        var g = _geo;
        int inPlane = g.H * g.W, outPlane = g.OH * g.OW;
        var xs = _x.Span; var ys = _y!.Span;
        var arg = _argmax.AsSpan();
        for (int pl = start; pl < end; pl++)
        {
            var xp = xs.Slice(pl * inPlane, inPlane);
            var yp = ys.Slice(pl * outPlane, outPlane);
            var ap = arg.Slice(pl * outPlane, outPlane);
            if (g.KH == 2 && g.SH == 2 && g.PH == 0) Plane2x2(g, xp, yp, ap);
            else PlaneGeneral(g, xp, yp, ap);
        }
    }

    /// <summary>2×2 windows, stride 2, no padding (LeNet, VGG): four loads per output, no
    /// window clipping. Scan order and NaN handling as in <see cref="PlaneGeneral"/>.</summary>
    private static void Plane2x2(in ConvGeometry g, ReadOnlySpan<float> xp, Span<float> yp, Span<int> ap)
    {
        int w = g.W;
        if (xp.Length < (2 * g.OH - 1) * w + 2 * g.OW || yp.Length < g.OH * g.OW || ap.Length < yp.Length)
            throw new ArgumentException("MaxPool2d: plane buffers too short.");
        ref float x0 = ref MemoryMarshal.GetReference(xp);
        ref float y0 = ref MemoryMarshal.GetReference(yp);
        ref int a0 = ref MemoryMarshal.GetReference(ap);
        int planeOut = g.OH * g.OW;
        for (int oy = 0; oy < g.OH; oy++)
        {
            int top = 2 * oy * w;
            int ox0 = 0;
            // 16 outputs at a time; the last block may run past the row end (its extra lanes land
            // on the next row's outputs, rewritten later) but never past this plane's buffers.
            if (Avx512F.IsSupported)
                while (ox0 < g.OW && oy * g.OW + ox0 + 16 <= planeOut && top + 2 * ox0 + w + 32 <= xp.Length)
                {
                    Window16(ref x0, top + 2 * ox0, w, ref Unsafe.Add(ref y0, oy * g.OW + ox0), ref Unsafe.Add(ref a0, oy * g.OW + ox0));
                    ox0 += 16;
                }
            for (int ox = ox0; ox < g.OW; ox++)
            {
                int i = top + 2 * ox;
                int best = i;
                float v = Unsafe.Add(ref x0, i);
                if (!float.IsNaN(v))
                {
                    float c = Unsafe.Add(ref x0, i + 1);
                    if (c > v || float.IsNaN(c)) { v = c; best = i + 1; }
                    if (!float.IsNaN(v))
                    {
                        c = Unsafe.Add(ref x0, i + w);
                        if (c > v || float.IsNaN(c)) { v = c; best = i + w; }
                        if (!float.IsNaN(v))
                        {
                            c = Unsafe.Add(ref x0, i + w + 1);
                            if (c > v || float.IsNaN(c)) { v = c; best = i + w + 1; }
                        }
                    }
                }
                int o = oy * g.OW + ox;
                Unsafe.Add(ref y0, o) = v;
                Unsafe.Add(ref a0, o) = best;
            }
        }
    }

    private static readonly Vector512<int> EvenLanes = Vector512.Create(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    private static readonly Vector512<int> OddLanes = Vector512.Create(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    private static readonly Vector512<int> Twice = Vector512.Create(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);

    /// <summary>16 adjacent 2×2 windows starting at input index i (row stride w): the same
    /// first-maximum-in-scan-order rule as the scalar loop (a NaN wins and stops the scan).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Window16(ref float x0, int i, int w, ref float y, ref int arg)
    {
        var t0 = Vector512.LoadUnsafe(ref x0, (nuint)i);
        var t1 = Vector512.LoadUnsafe(ref x0, (nuint)(i + 16));
        var b0 = Vector512.LoadUnsafe(ref x0, (nuint)(i + w));
        var b1 = Vector512.LoadUnsafe(ref x0, (nuint)(i + w + 16));
        var v = Avx512F.PermuteVar16x32x2(t0, EvenLanes, t1);
        var first = Vector512.Create(i) + Twice;     // index of each window's top-left value
        var idx = first;
        Take(ref v, ref idx, Avx512F.PermuteVar16x32x2(t0, OddLanes, t1), first + Vector512.Create(1));
        Take(ref v, ref idx, Avx512F.PermuteVar16x32x2(b0, EvenLanes, b1), first + Vector512.Create(w));
        Take(ref v, ref idx, Avx512F.PermuteVar16x32x2(b0, OddLanes, b1), first + Vector512.Create(w + 1));
        v.StoreUnsafe(ref y);
        idx.StoreUnsafe(ref arg);

        static void Take(ref Vector512<float> v, ref Vector512<int> idx, Vector512<float> c, Vector512<int> at)
        {
            // take c where v is not NaN and (c > v or c is NaN), as the scalar scan
            var take = Vector512.Equals(v, v) & (Vector512.GreaterThan(c, v) | ~Vector512.Equals(c, c));
            v = Vector512.ConditionalSelect(take, c, v);
            idx = Vector512.ConditionalSelect(take.AsInt32(), at, idx);
        }
    }

    /// <summary>Any window: the first maximum in scan order (a NaN wins and stops the scan, as
    /// in PyTorch); padding never wins (−∞ is not stored).</summary>
    private static void PlaneGeneral(in ConvGeometry g, ReadOnlySpan<float> xp, Span<float> yp, Span<int> ap)
    {
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
            int o = oy * g.OW + ox;
            yp[o] = best;
            ap[o] = arg;
        }
    }

    public override Tensor Backward(Tensor dy)
    {
        if (_y is null) throw new InvalidOperationException("MaxPool2d.Backward called before Forward.");
        if (!dy.SameShape(_y.Shape))
            throw new ArgumentException($"MaxPool2d.Backward: dy shape {Buffers.ShapeText(dy.Shape)}, expected {Buffers.ShapeText(_y.Shape)}.");
        _dy = dy;
        Buffers.Ensure(ref _dx, _x.Shape);
        _backward.Run(_x.Dim(0) * _x.Dim(1), Options, 8);
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
            var a = _argmax.AsSpan(pl * outPlane, outPlane);
            var d = dys.Slice(pl * outPlane, outPlane);
            for (int o = 0; o < a.Length; o++) dxp[a[o]] += d[o];
        }
    }
}
