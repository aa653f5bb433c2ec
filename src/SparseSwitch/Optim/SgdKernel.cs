using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace SparseSwitch.Optim;

/// <summary>
/// The SGD update on one parameter, PyTorch's rule (torch.optim.SGD):
/// d = g + wd·p; buf = first ? d : momentum·buf + (1 − dampening)·d;
/// d = nesterov ? d + momentum·buf : buf (d itself when momentum = 0); p −= lr·d.
/// Spans p, g, buf have the same length; buf is untouched when momentum = 0.
/// </summary>
public static class SgdKernel
{
    public static void Step(Span<float> p, ReadOnlySpan<float> g, Span<float> buf,
        float lr, float momentum, float weightDecay, float dampening, bool nesterov, bool first)
    {
        if (g.Length != p.Length || (momentum != 0 && buf.Length != p.Length))
            throw new ArgumentException("SGD: parameter, gradient and momentum buffer lengths differ.");
        int n = p.Length, i = 0;
        if (Vector512.IsHardwareAccelerated || Vector256.IsHardwareAccelerated)
        {
            ref float rp = ref MemoryMarshal.GetReference(p);
            ref float rg = ref MemoryMarshal.GetReference(g);
            ref float rb = ref MemoryMarshal.GetReference(buf);
            var vlr = Vector512.Create(-lr);
            var vwd = Vector512.Create(weightDecay);
            var vm = Vector512.Create(momentum);
            var vdamp = Vector512.Create(1f - dampening);
            int w = Vector512<float>.Count;
            for (; i <= n - w; i += w)
            {
                var vp = Vector512.LoadUnsafe(ref rp, (nuint)i);
                var d = Vector512.FusedMultiplyAdd(vp, vwd, Vector512.LoadUnsafe(ref rg, (nuint)i));
                if (momentum != 0)
                {
                    var b = first ? d : Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref rb, (nuint)i), vm, d * vdamp);
                    b.StoreUnsafe(ref rb, (nuint)i);
                    d = nesterov ? Vector512.FusedMultiplyAdd(b, vm, d) : b;
                }
                Vector512.FusedMultiplyAdd(d, vlr, vp).StoreUnsafe(ref rp, (nuint)i);
            }
        }
        StepScalar(p[i..], g[i..], momentum != 0 ? buf[i..] : default, lr, momentum, weightDecay, dampening, nesterov, first);
    }

    /// <summary>Plain scalar twin of <see cref="Step"/> (test oracle and tail).</summary>
    public static void StepScalar(Span<float> p, ReadOnlySpan<float> g, Span<float> buf,
        float lr, float momentum, float weightDecay, float dampening, bool nesterov, bool first)
    {
        for (int i = 0; i < p.Length; i++)
        {
            float d = MathF.FusedMultiplyAdd(p[i], weightDecay, g[i]);
            if (momentum != 0)
            {
                float b = first ? d : MathF.FusedMultiplyAdd(buf[i], momentum, d * (1f - dampening));
                buf[i] = b;
                d = nesterov ? MathF.FusedMultiplyAdd(b, momentum, d) : b;
            }
            p[i] = MathF.FusedMultiplyAdd(d, -lr, p[i]);
        }
    }
}
