using SparseSwitch.Nn;
using SparseSwitch.Tensors;

namespace SparseSwitch.Sparsity;

/// <summary>Which gradient ranks the inactive positions for regrowth (SPEC §2.5).</summary>
public enum RegrowGradient
{
    /// <summary>The dense gradient of W ⊙ m (what backward computes): any position can regrow (RigL).</summary>
    Dense,
    /// <summary>The gradient masked by the old mask (the reference code): only just-dropped positions can regrow.</summary>
    Masked,
}

/// <summary>
/// Layer-wise prune-and-regrow (SPEC §2.5): with nnz the layer's kept count, drop the
/// r = ⌈p·nnz⌉ kept weights of smallest |W|, then switch on the r inactive positions (after the
/// drop, so just-dropped ones compete) of largest |gradient|. The kept count is unchanged. Ties go
/// to the lower index. Uses <see cref="Parameter.Grad"/> before the trainer masks it.
/// </summary>
public static class PruneRegrow
{
    /// <summary>Updates one layer's mask in place; returns r (the number dropped and regrown).
    /// Nested bounds: positions in <paramref name="include"/> are never dropped, and regrowth stays
    /// inside <paramref name="within"/>.</summary>
    public static int Step(Parameter weight, BitMask mask, double pruneRate, RegrowGradient source,
                           BitMask? within = null, BitMask? include = null)
    {
        if (!(pruneRate >= 0 && pruneRate <= 1)) throw new ArgumentOutOfRangeException(nameof(pruneRate), $"Prune rate must be in [0, 1] (got {pruneRate}).");
        if (mask.Length != weight.Length) throw new ArgumentException($"Mask has {mask.Length} positions, weight {weight.Length}.", nameof(mask));
        if (within is not null) mask.CheckSameLength(within, nameof(within));
        if (include is not null) mask.CheckSameLength(include, nameof(include));

        long nnz = mask.Count();
        int r = (int)Math.Ceiling(pruneRate * nnz);
        if (r == 0) return 0;

        // Drop: the r kept (and droppable) positions of smallest |W|.
        var droppable = mask.Clone();
        if (include is not null) { var d = droppable.Words; var iw = include.Words; for (int i = 0; i < d.Length; i++) d[i] &= ~iw[i]; }
        r = (int)Math.Min(r, droppable.Count());
        var oldMask = mask.Clone();
        var dropped = new BitMask(weight.Length);
        MagnitudeSelect.SelectLargest([MagnitudeSelect.AbsKeys(weight.Data.Span, invert: true)], [droppable], r, [dropped]);
        { var mw = mask.Words; var dw = dropped.Words; for (int i = 0; i < mw.Length; i++) mw[i] &= ~dw[i]; }

        // Regrow: the r inactive positions of largest |g| (g masked by the old mask if asked).
        var inactive = new BitMask(weight.Length, true);
        { var a = inactive.Words; var mw = mask.Words; for (int i = 0; i < a.Length; i++) a[i] &= ~mw[i]; }
        if (within is not null) { var a = inactive.Words; var ww = within.Words; for (int i = 0; i < a.Length; i++) a[i] &= ww[i]; }
        var g = weight.Grad.Span;
        uint[] keys = MagnitudeSelect.AbsKeys(g);
        if (source == RegrowGradient.Masked)
            for (int i = 0; i < keys.Length; i++) if (!oldMask[i]) keys[i] = 0;
        int grow = (int)Math.Min(r, inactive.Count());
        MagnitudeSelect.SelectLargest([keys], [inactive], grow, [mask]);
        return r;
    }

    /// <summary>Prune-and-regrow on every layer of sub-net k; returns the total r.</summary>
    public static long Step(MaskSet set, int subnet, double pruneRate, RegrowGradient source, NestedBounds? nested = null)
    {
        var masks = set.Masks(subnet);
        nested?.Check(set.Layers, masks);
        long total = 0;
        for (int l = 0; l < set.Layers; l++)
            total += Step(set.Parameters[l], masks[l], pruneRate, source, nested?.Within?[l], nested?.Include?[l]);
        return total;
    }
}
