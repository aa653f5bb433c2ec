using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace SparseSwitch.Tensors;

/// <summary>
/// A batch-norm's output left for the layer that reads it: channel c's value v stands for
/// fma(v − Mean[c], Scale[c], Shift[c]), then max(·, 0) when <see cref="Relu"/> — exactly
/// BatchNorm2d's forward arithmetic, so a consumer that applies it while reading
/// its input (a convolution filling its padded planes, the residual join) gets the bits the
/// batch-norm would have written, without the pass that writes them and the pass that reads
/// them back. The arrays belong to the batch-norm and hold until its next forward. The default
/// value (<see cref="IsEmpty"/>) means "no transform".
/// </summary>
public readonly record struct ChannelAffine(float[] Mean, float[] Scale, float[] Shift, bool Relu)
{
    public bool IsEmpty => Mean is null;
    public int Channels => Mean.Length;

    /// <summary>dst = the transform of x, [B, C, H·W] (the materialised batch-norm output, for
    /// consumers that cannot apply it on the fly).</summary>
    public void ApplyTo(ReadOnlySpan<float> x, int hw, Span<float> dst)
    {
        int c = Channels, planes = x.Length / hw;
        if (x.Length % hw != 0 || planes % c != 0 || dst.Length < x.Length)
            throw new ArgumentException("ChannelAffine.ApplyTo: sizes do not match the channel count.");
        for (int p = 0; p < planes; p++)
        {
            int ch = p % c;
            var src = x.Slice(p * hw, hw);
            var d = dst.Slice(p * hw, hw);
            Elementwise.CenteredAffine(src, Mean[ch], Scale[ch], Shift[ch], d);
            if (Relu) Elementwise.ReluForward(d, d);
        }
    }
}

/// <summary>
/// A batch-norm's input gradient left to the layer that reads it (the convolution whose output
/// the batch-norm normalised, in its backward): channel c's gradient is
/// fma(g, K[c], fma(x − Mean[c], A[c], Shift[c])) with x the batch-norm's input <see cref="X"/> and
/// g = dy, or, when <see cref="Relu"/>, dy where fma(x − Mean[c], FwdScale[c], FwdShift[c]) &gt; 0
/// and 0 elsewhere — BatchNorm2d's backward arithmetic, so the consumer gets the
/// bits Backward would have written. Arrays and X belong to the batch-norm (until its next call).
/// </summary>
public readonly record struct ChannelGradAffine(Tensor X, float[] Mean, float[] K, float[] A, float[] Shift, float[] FwdScale, float[] FwdShift, bool Relu)
{
    public bool IsEmpty => X is null;
    public int Channels => Mean.Length;

    /// <summary>dst = the gradient for dy, [B, C, H·W] (the materialised form).</summary>
    public void ApplyTo(ReadOnlySpan<float> dy, int hw, Span<float> dst)
    {
        var xs = X.Span;
        int c = Channels, planes = dy.Length / hw;
        if (dy.Length % hw != 0 || planes % c != 0 || dst.Length < dy.Length || xs.Length != dy.Length)
            throw new ArgumentException("ChannelGradAffine.ApplyTo: sizes do not match.");
        for (int p = 0; p < planes; p++)
        {
            int ch = p % c;
            var g = dy.Slice(p * hw, hw); var x = xs.Slice(p * hw, hw); var d = dst.Slice(p * hw, hw);
            if (Relu) Elementwise.ScaleAddCenteredAffineRelu(g, K[ch], x, Mean[ch], A[ch], Shift[ch], FwdScale[ch], FwdShift[ch], d);
            else Elementwise.ScaleAddCenteredAffine(g, K[ch], x, Mean[ch], A[ch], Shift[ch], d);
        }
    }
}

/// <summary>One channel of a <see cref="ChannelAffine"/>: fma(v − mean, scale, shift), then
/// max(·, 0) when relu (the same operations as <see cref="Elementwise.CenteredAffine"/> and
/// <see cref="Elementwise.ReluForward"/>).</summary>
internal readonly struct AffineOp(float mean, float scale, float shift, bool relu) : IVectorOp
{
    private readonly Vector512<float> _m = Vector512.Create(mean), _s = Vector512.Create(scale), _t = Vector512.Create(shift);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector512<float> Apply(Vector512<float> v)
    {
        var y = Vector512.FusedMultiplyAdd(v - _m, _s, _t);
        return relu ? Vector512.Max(y, Vector512<float>.Zero) : y;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float Apply(float v)
    {
        float y = MathF.FusedMultiplyAdd(v - mean, scale, shift);
        return relu && !(y > 0f) ? 0f : y;
    }

    public static AffineOp For(in ChannelAffine a, int c) => new(a.Mean[c], a.Scale[c], a.Shift[c], a.Relu);
}

/// <summary>One channel of a <see cref="ChannelGradAffine"/> (the operations of
/// <see cref="Elementwise.ScaleAddCenteredAffine"/> and <see cref="Elementwise.ScaleAddCenteredAffineRelu"/>).</summary>
internal readonly struct GradAffineOp(float mean, float k, float a, float shift, float fwdScale, float fwdShift, bool relu) : IBinaryVectorOp
{
    public static bool ReadsSecond => true;
    private readonly Vector512<float> _m = Vector512.Create(mean), _k = Vector512.Create(k), _a = Vector512.Create(a), _t = Vector512.Create(shift),
        _fs = Vector512.Create(fwdScale), _ft = Vector512.Create(fwdShift);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector512<float> Apply(Vector512<float> g, Vector512<float> x)
    {
        var xc = x - _m;
        if (relu) g &= Vector512.GreaterThan(Vector512.FusedMultiplyAdd(xc, _fs, _ft), Vector512<float>.Zero);
        return Vector512.FusedMultiplyAdd(g, _k, Vector512.FusedMultiplyAdd(xc, _a, _t));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float Apply(float g, float x)
    {
        if (relu && !(MathF.FusedMultiplyAdd(x - mean, fwdScale, fwdShift) > 0f)) g = 0f;
        return MathF.FusedMultiplyAdd(g, k, MathF.FusedMultiplyAdd(x - mean, a, shift));
    }

    public static GradAffineOp For(in ChannelGradAffine t, int c) => new(t.Mean[c], t.K[c], t.A[c], t.Shift[c], t.FwdScale[c], t.FwdShift[c], t.Relu);
}

/// <summary>Per-plane statistics of a batch-norm's input and gradient, taken by whichever layer has
/// the plane in cache (the batch-norm itself, or the convolution or join that writes it).</summary>
public static class PlaneStatistics
{
    /// <summary>(mean, M2 = Σ (x − mean)²) of one plane, from a one-pass sum shifted by its first value.</summary>
    public static (double Mean, double M2) Stats(ReadOnlySpan<float> plane)
    {
        float k = plane[0];
        var (a1, a2) = Elementwise.ShiftedSums(plane, k);
        int hw = plane.Length;
        return (k + a1 / hw, Math.Max(0.0, a2 - a1 * a1 / hw));
    }

    /// <summary>(Σ g, Σ g·(x − μ)) over one plane of channel c of a batch-norm applied as
    /// <paramref name="t"/>, g = dy masked by the fused ReLU: the per-plane terms of its backward sums.</summary>
    public static (double SumG, double SumGCentered) Sums(ReadOnlySpan<float> dy, ReadOnlySpan<float> x, in ChannelAffine t, int c) =>
        t.Relu
            ? Elementwise.SumAndDotCenteredRelu(dy, x, t.Mean[c], t.Scale[c], t.Shift[c])
            : Elementwise.SumAndDotCentered(dy, x, t.Mean[c]);
}
