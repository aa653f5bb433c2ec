using System.Runtime.Intrinsics;

namespace SparseSwitch.Tensors;

/// <summary>
/// Span-in/span-out kernels the layers share: Vector512 bodies with a scalar tail (the scalar
/// loop alone is the twin used when 512-bit vectors are not accelerated, and the test oracle).
/// </summary>
public static class Elementwise
{
    private static readonly int W = Vector512<float>.Count;

    /// <summary>dst[i] = (x[i] − center)·scale + shift (centering first keeps precision when the
    /// values sit far from zero).</summary>
    public static void CenteredAffine(ReadOnlySpan<float> x, float center, float scale, float shift, Span<float> dst)
    {
        if (dst.Length < x.Length) throw new ArgumentException("Elementwise.CenteredAffine: dst is shorter than x.");
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var m = Vector512.Create(center); var s = Vector512.Create(scale); var t = Vector512.Create(shift);
            for (; i <= x.Length - W; i += W)
                Vector512.FusedMultiplyAdd(Vector512.Create(x.Slice(i, W)) - m, s, t).CopyTo(dst.Slice(i, W));
        }
        for (; i < x.Length; i++) dst[i] = MathF.FusedMultiplyAdd(x[i] - center, scale, shift);
    }

    /// <summary>dst[i] = max(x[i], 0).</summary>
    public static void ReluForward(ReadOnlySpan<float> x, Span<float> dst)
    {
        if (dst.Length < x.Length) throw new ArgumentException("Elementwise.ReluForward: dst is shorter than x.");
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
            for (; i <= x.Length - W; i += W)
                Vector512.Max(Vector512.Create(x.Slice(i, W)), Vector512<float>.Zero).CopyTo(dst.Slice(i, W));
        for (; i < x.Length; i++) dst[i] = x[i] > 0f ? x[i] : 0f;
    }

    /// <summary>dx[i] = y[i] &gt; 0 ? dy[i] : 0, where y = relu(x) (the gradient at 0 is 0, as in PyTorch).</summary>
    public static void ReluBackward(ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx)
    {
        if (dy.Length != y.Length || dx.Length < y.Length) throw new ArgumentException("Elementwise.ReluBackward: length mismatch.");
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
            for (; i <= y.Length - W; i += W)
            {
                var keep = Vector512.GreaterThan(Vector512.Create(y.Slice(i, W)), Vector512<float>.Zero);
                (Vector512.Create(dy.Slice(i, W)) & keep).CopyTo(dx.Slice(i, W));
            }
        for (; i < y.Length; i++) dx[i] = y[i] > 0f ? dy[i] : 0f;
    }

    /// <summary>(Σ (x − shift), Σ (x − shift)²) in one pass; lanes summed in double at the end.
    /// With shift near the mean this gives mean and variance without the cancellation of raw
    /// sums.</summary>
    public static (double Sum, double SumSq) ShiftedSums(ReadOnlySpan<float> x, float shift)
    {
        int i = 0;
        double s1 = 0, s2 = 0;
        if (Vector512.IsHardwareAccelerated && x.Length >= W)
        {
            var a1 = Vector512<float>.Zero; var a2 = Vector512<float>.Zero;
            var k = Vector512.Create(shift);
            for (; i <= x.Length - W; i += W)
            {
                var d = Vector512.Create(x.Slice(i, W)) - k;
                a1 += d;
                a2 = Vector512.FusedMultiplyAdd(d, d, a2);
            }
            s1 = Vector512.Sum(a1); s2 = Vector512.Sum(a2);
        }
        for (; i < x.Length; i++) { double d = x[i] - shift; s1 += d; s2 += d * d; }
        return (s1, s2);
    }

    /// <summary>(Σ dy, Σ dy·(x − mean)) in one pass.</summary>
    public static (double SumDy, double SumDyCentered) SumAndDotCentered(ReadOnlySpan<float> dy, ReadOnlySpan<float> x, float mean)
    {
        if (dy.Length != x.Length) throw new ArgumentException("Elementwise.SumAndDotCentered: length mismatch.");
        int i = 0;
        double s1 = 0, s2 = 0;
        if (Vector512.IsHardwareAccelerated && x.Length >= W)
        {
            var a1 = Vector512<float>.Zero; var a2 = Vector512<float>.Zero;
            var m = Vector512.Create(mean);
            for (; i <= x.Length - W; i += W)
            {
                var g = Vector512.Create(dy.Slice(i, W));
                a1 += g;
                a2 = Vector512.FusedMultiplyAdd(g, Vector512.Create(x.Slice(i, W)) - m, a2);
            }
            s1 = Vector512.Sum(a1); s2 = Vector512.Sum(a2);
        }
        for (; i < x.Length; i++) { s1 += dy[i]; s2 += (double)dy[i] * (x[i] - mean); }
        return (s1, s2);
    }

    /// <summary>dst[i] = k·dy[i] + (a·(x[i] − center) + shift).</summary>
    public static void ScaleAddCenteredAffine(ReadOnlySpan<float> dy, float k, ReadOnlySpan<float> x, float center, float a, float shift, Span<float> dst)
    {
        if (dy.Length != x.Length || dst.Length < x.Length) throw new ArgumentException("Elementwise.ScaleAddCenteredAffine: length mismatch.");
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var vk = Vector512.Create(k); var vm = Vector512.Create(center); var va = Vector512.Create(a); var vs = Vector512.Create(shift);
            for (; i <= x.Length - W; i += W)
                Vector512.FusedMultiplyAdd(Vector512.Create(dy.Slice(i, W)), vk,
                    Vector512.FusedMultiplyAdd(Vector512.Create(x.Slice(i, W)) - vm, va, vs)).CopyTo(dst.Slice(i, W));
        }
        for (; i < x.Length; i++) dst[i] = MathF.FusedMultiplyAdd(dy[i], k, MathF.FusedMultiplyAdd(x[i] - center, a, shift));
    }

    /// <summary><see cref="SumAndDotCentered"/> of g = dy·[(x − mean)·scale + shift &gt; 0]: the
    /// gradient through a fused ReLU whose input (x − mean)·scale + shift is recomputed exactly as
    /// <see cref="CenteredAffine"/> computed it, so dy·[y &gt; 0] is never stored.</summary>
    public static (double SumG, double SumGCentered) SumAndDotCenteredRelu(ReadOnlySpan<float> dy, ReadOnlySpan<float> x, float mean, float scale, float shift)
    {
        if (dy.Length != x.Length) throw new ArgumentException("Elementwise.SumAndDotCenteredRelu: length mismatch.");
        int i = 0;
        double s1 = 0, s2 = 0;
        if (Vector512.IsHardwareAccelerated && x.Length >= W)
        {
            var a1 = Vector512<float>.Zero; var a2 = Vector512<float>.Zero;
            var m = Vector512.Create(mean); var sc = Vector512.Create(scale); var t = Vector512.Create(shift);
            for (; i <= x.Length - W; i += W)
            {
                var xc = Vector512.Create(x.Slice(i, W)) - m;
                var g = Vector512.Create(dy.Slice(i, W)) & Vector512.GreaterThan(Vector512.FusedMultiplyAdd(xc, sc, t), Vector512<float>.Zero);
                a1 += g;
                a2 = Vector512.FusedMultiplyAdd(g, xc, a2);
            }
            s1 = Vector512.Sum(a1); s2 = Vector512.Sum(a2);
        }
        for (; i < x.Length; i++)
        {
            float g = MathF.FusedMultiplyAdd(x[i] - mean, scale, shift) > 0f ? dy[i] : 0f;
            s1 += g; s2 += (double)g * (x[i] - mean);
        }
        return (s1, s2);
    }

    /// <summary><see cref="ScaleAddCenteredAffine"/> with dy replaced by g = dy·[(x − center)·scale
    /// + fwdShift &gt; 0] (see <see cref="SumAndDotCenteredRelu"/>).</summary>
    public static void ScaleAddCenteredAffineRelu(ReadOnlySpan<float> dy, float k, ReadOnlySpan<float> x, float center, float a, float shift,
        float scale, float fwdShift, Span<float> dst)
    {
        if (dy.Length != x.Length || dst.Length < x.Length) throw new ArgumentException("Elementwise.ScaleAddCenteredAffineRelu: length mismatch.");
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var vk = Vector512.Create(k); var vm = Vector512.Create(center); var va = Vector512.Create(a); var vs = Vector512.Create(shift);
            var sc = Vector512.Create(scale); var t = Vector512.Create(fwdShift);
            for (; i <= x.Length - W; i += W)
            {
                var xc = Vector512.Create(x.Slice(i, W)) - vm;
                var g = Vector512.Create(dy.Slice(i, W)) & Vector512.GreaterThan(Vector512.FusedMultiplyAdd(xc, sc, t), Vector512<float>.Zero);
                Vector512.FusedMultiplyAdd(g, vk, Vector512.FusedMultiplyAdd(xc, va, vs)).CopyTo(dst.Slice(i, W));
            }
        }
        for (; i < x.Length; i++)
        {
            float g = MathF.FusedMultiplyAdd(x[i] - center, scale, fwdShift) > 0f ? dy[i] : 0f;
            dst[i] = MathF.FusedMultiplyAdd(g, k, MathF.FusedMultiplyAdd(x[i] - center, a, shift));
        }
    }

    /// <summary>dst[i] = max(ta(a[i]) + tb(b[i]), 0) with ta, tb one channel's deferred
    /// batch-norms (or <see cref="CopyOp"/>).</summary>
    internal static void AffineAddRelu<TA, TB>(ReadOnlySpan<float> a, TA ta, ReadOnlySpan<float> b, TB tb, Span<float> dst)
        where TA : struct, IVectorOp where TB : struct, IVectorOp
    {
        if (a.Length != b.Length || dst.Length < a.Length) throw new ArgumentException("Elementwise.AffineAddRelu: length mismatch.");
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
            for (; i <= a.Length - W; i += W)
                Vector512.Max(ta.Apply(Vector512.Create(a.Slice(i, W))) + tb.Apply(Vector512.Create(b.Slice(i, W))), Vector512<float>.Zero).CopyTo(dst.Slice(i, W));
        for (; i < a.Length; i++) { float v = ta.Apply(a[i]) + tb.Apply(b[i]); dst[i] = v > 0f ? v : 0f; }
    }

    /// <summary>dst[i] = max(a[i] + b[i], 0) (the join of a residual block).</summary>
    public static void AddRelu(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> dst)
    {
        if (a.Length != b.Length || dst.Length < a.Length) throw new ArgumentException("Elementwise.AddRelu: length mismatch.");
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
            for (; i <= a.Length - W; i += W)
                Vector512.Max(Vector512.Create(a.Slice(i, W)) + Vector512.Create(b.Slice(i, W)), Vector512<float>.Zero).CopyTo(dst.Slice(i, W));
        for (; i < a.Length; i++) { float v = a[i] + b[i]; dst[i] = v > 0f ? v : 0f; }
    }
}
