using System.Runtime.Intrinsics;

namespace SparseSwitch.Nn;

/// <summary>
/// Span-in/span-out kernels the layers share: Vector512 bodies with a scalar tail (the scalar
/// loop alone is the twin used when 512-bit vectors are not accelerated, and the test oracle).
/// </summary>
public static class Elementwise
{
    private static readonly int W = Vector512<float>.Count;

    /// <summary>dst[i] = x[i]·scale + shift.</summary>
    public static void Affine(ReadOnlySpan<float> x, float scale, float shift, Span<float> dst)
    {
        if (dst.Length < x.Length) throw new ArgumentException("Elementwise.Affine: dst is shorter than x.");
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var s = Vector512.Create(scale); var t = Vector512.Create(shift);
            for (; i <= x.Length - W; i += W)
                Vector512.FusedMultiplyAdd(Vector512.Create(x.Slice(i, W)), s, t).CopyTo(dst.Slice(i, W));
        }
        for (; i < x.Length; i++) dst[i] = MathF.FusedMultiplyAdd(x[i], scale, shift);
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

    /// <summary>Σ (x − mean)², float lanes summed in double at the end.</summary>
    public static double SumSquaredDeviation(ReadOnlySpan<float> x, float mean)
    {
        int i = 0;
        double total = 0;
        if (Vector512.IsHardwareAccelerated && x.Length >= W)
        {
            var acc = Vector512<float>.Zero;
            var m = Vector512.Create(mean);
            for (; i <= x.Length - W; i += W)
            {
                var d = Vector512.Create(x.Slice(i, W)) - m;
                acc = Vector512.FusedMultiplyAdd(d, d, acc);
            }
            total = Vector512.Sum(acc);
        }
        for (; i < x.Length; i++) { double d = x[i] - mean; total += d * d; }
        return total;
    }

    /// <summary>Σ dy·(x − mean).</summary>
    public static double DotCentered(ReadOnlySpan<float> dy, ReadOnlySpan<float> x, float mean)
    {
        if (dy.Length != x.Length) throw new ArgumentException("Elementwise.DotCentered: length mismatch.");
        int i = 0;
        double total = 0;
        if (Vector512.IsHardwareAccelerated && x.Length >= W)
        {
            var acc = Vector512<float>.Zero;
            var m = Vector512.Create(mean);
            for (; i <= x.Length - W; i += W)
                acc = Vector512.FusedMultiplyAdd(Vector512.Create(dy.Slice(i, W)), Vector512.Create(x.Slice(i, W)) - m, acc);
            total = Vector512.Sum(acc);
        }
        for (; i < x.Length; i++) total += (double)dy[i] * (x[i] - mean);
        return total;
    }
}
