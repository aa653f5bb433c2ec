using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace SparseSwitch.Optim;

/// <summary>
/// The AdamW update on one parameter, PyTorch's rule (torch.optim.AdamW), for step t ≥ 1:
/// p *= 1 − lr·wd; m = β1·m + (1 − β1)·g; v = β2·v + (1 − β2)·g²;
/// p −= (lr / (1 − β1^t)) · m / (√v / √(1 − β2^t) + eps).
/// The caller passes stepSize = lr/(1 − β1^t) and invBc2Sqrt = 1/√(1 − β2^t).
/// </summary>
public static class AdamWKernel
{
    public static void Step(Span<float> p, ReadOnlySpan<float> g, Span<float> m, Span<float> v,
        float decay, float beta1, float beta2, float eps, float stepSize, float invBc2Sqrt)
    {
        if (g.Length != p.Length || m.Length != p.Length || v.Length != p.Length)
            throw new ArgumentException("AdamW: parameter, gradient and moment lengths differ.");
        int n = p.Length, i = 0;
        if (Vector512.IsHardwareAccelerated || Vector256.IsHardwareAccelerated)
        {
            ref float rp = ref MemoryMarshal.GetReference(p);
            ref float rg = ref MemoryMarshal.GetReference(g);
            ref float rm = ref MemoryMarshal.GetReference(m);
            ref float rv = ref MemoryMarshal.GetReference(v);
            var vdecay = Vector512.Create(decay);
            var vb1 = Vector512.Create(beta1); var vc1 = Vector512.Create(1f - beta1);
            var vb2 = Vector512.Create(beta2); var vc2 = Vector512.Create(1f - beta2);
            var veps = Vector512.Create(eps); var vstep = Vector512.Create(-stepSize);
            var vinv = Vector512.Create(invBc2Sqrt);
            int w = Vector512<float>.Count;
            for (; i <= n - w; i += w)
            {
                var vg = Vector512.LoadUnsafe(ref rg, (nuint)i);
                var vp = Vector512.LoadUnsafe(ref rp, (nuint)i) * vdecay;
                var mm = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref rm, (nuint)i), vb1, vg * vc1);
                var vv = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref rv, (nuint)i), vb2, vg * vg * vc2);
                mm.StoreUnsafe(ref rm, (nuint)i);
                vv.StoreUnsafe(ref rv, (nuint)i);
                var denom = Vector512.FusedMultiplyAdd(Vector512.Sqrt(vv), vinv, veps);
                Vector512.FusedMultiplyAdd(mm / denom, vstep, vp).StoreUnsafe(ref rp, (nuint)i);
            }
        }
        StepScalar(p[i..], g[i..], m[i..], v[i..], decay, beta1, beta2, eps, stepSize, invBc2Sqrt);
    }

    /// <summary>Plain scalar twin of <see cref="Step"/>.</summary>
    public static void StepScalar(Span<float> p, ReadOnlySpan<float> g, Span<float> m, Span<float> v,
        float decay, float beta1, float beta2, float eps, float stepSize, float invBc2Sqrt)
    {
        for (int i = 0; i < p.Length; i++)
        {
            float gi = g[i];
            float pi = p[i] * decay;
            float mi = MathF.FusedMultiplyAdd(m[i], beta1, gi * (1f - beta1));
            float vi = MathF.FusedMultiplyAdd(v[i], beta2, gi * gi * (1f - beta2));
            m[i] = mi; v[i] = vi;
            float denom = MathF.FusedMultiplyAdd(MathF.Sqrt(vi), invBc2Sqrt, eps);
            p[i] = MathF.FusedMultiplyAdd(mi / denom, -stepSize, pi);
        }
    }
}
