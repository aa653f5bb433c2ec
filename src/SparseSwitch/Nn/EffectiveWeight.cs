using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using SparseSwitch.Tensors;

namespace SparseSwitch.Nn;

/// <summary>The weight a layer actually multiplies with: Data when the parameter has no mask,
/// else Data ⊙ Mask computed into a reusable buffer (recomputed on every forward, since the
/// optimiser changes Data and the trainer switches masks between steps).</summary>
internal static class EffectiveWeight
{
    public static Tensor Compute(Parameter w, ref Tensor? buffer)
    {
        if (w.Mask is not { } mask) return w.Data;
        if (!mask.SameShape(w.Shape))
            throw new ArgumentException($"Mask shape {Buffers.ShapeText(mask.Shape)} does not match weight shape {Buffers.ShapeText(w.Shape)}.");
        var buf = Buffers.Ensure(ref buffer, w.Shape);
        TensorPrimitives.Multiply(w.Data.Span, mask.Span, buf.Span);
        return buf;
    }
}
