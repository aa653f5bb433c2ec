using SparseSwitch.Tensors;

namespace SparseSwitch.Nn;

/// <summary>The weight a layer actually multiplies with: Data when the parameter has no mask,
/// else Data with the masked positions zeroed (+0), written into a reusable buffer (recomputed on
/// every forward, since the optimiser changes Data and the trainer switches masks between steps).</summary>
internal static class EffectiveWeight
{
    public static Tensor Compute(Parameter w, ref Tensor? buffer)
    {
        if (w.Mask is not { } mask) return w.Data;
        if (mask.Length != w.Length)
            throw new ArgumentException($"Mask has {mask.Length} positions, weight shape {Buffers.ShapeText(w.Shape)} has {w.Length} elements.");
        var buf = Buffers.Ensure(ref buffer, w.Shape);
        mask.ApplyTo(w.Data.Span, buf.Span);
        return buf;
    }
}
