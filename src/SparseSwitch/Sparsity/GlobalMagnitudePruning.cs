using SparseSwitch.Nn;
using SparseSwitch.Tensors;

namespace SparseSwitch.Sparsity;

/// <summary>
/// Global magnitude pruning (SPEC §2.4): rank |W| — the raw shared weights, not W ⊙ m_k — over all
/// prunable layers together and keep exactly round(density · total) of the largest (ties broken by
/// layer, then index). Layer densities come out non-uniform.
/// </summary>
public static class GlobalMagnitudePruning
{
    /// <summary>Overwrites <paramref name="masks"/> (one per weight) with the global top-|W| mask.
    /// Nested bounds: the result lies inside Within and keeps Include first. Where the target is below
    /// Include's count, only Include's largest |W| are kept, so the sparser masks no longer fit inside
    /// the result; the caller moves them in with <see cref="NestedMasks.ShrinkSparser"/>.
    /// Returns the number of kept weights (the exact target unless Within holds fewer).</summary>
    public static long Prune(IReadOnlyList<Parameter> weights, double density, IReadOnlyList<BitMask> masks, NestedBounds? nested = null)
    {
        if (!(density > 0 && density <= 1)) throw new ArgumentOutOfRangeException(nameof(density), $"Density must be in (0, 1] (got {density}).");
        if (weights.Count != masks.Count) throw new ArgumentException($"{weights.Count} weights but {masks.Count} masks.", nameof(masks));
        for (int l = 0; l < weights.Count; l++)
            if (masks[l].Length != weights[l].Length)
                throw new ArgumentException($"masks[{l}] has {masks[l].Length} positions, weight {l} has {weights[l].Length}.", nameof(masks));
        nested?.Check(weights.Count, masks);
        long total = weights.Sum(w => (long)w.Length);
        long target = (long)Math.Round(density * total);

        var keys = weights.Select(w => MagnitudeSelect.AbsKeys(w.Data.Span)).ToList();
        for (int l = 0; l < keys.Count; l++)
            if (Array.FindIndex(keys[l], k => k > 0x7F80_0000u) is int bad and >= 0)
                throw new ArgumentException($"Weight {l} has NaN at index {bad}; magnitude pruning needs finite or infinite values.", nameof(weights));
        var candidates = new BitMask?[weights.Count];
        long forced = 0, available = 0;
        for (int l = 0; l < weights.Count; l++)
        {
            masks[l].SetAll(false);
            BitMask? c = nested?.Within?[l].Clone();
            if (nested?.Include is { } inc)
            {
                masks[l].CopyFrom(inc[l]);
                forced += inc[l].Count();
                c ??= new BitMask(weights[l].Length, true);
                var cw = c.Words; var iw = inc[l].Words;
                for (int i = 0; i < cw.Length; i++) cw[i] &= ~iw[i];
            }
            candidates[l] = c;
            available += c?.Count() ?? weights[l].Length;
        }
        if (target < forced)
        {
            // The sparser sub-net has not pruned this far yet: keep the target's largest |W| of it.
            var include = nested!.Include!.Select(m => m.Clone()).ToArray();
            foreach (var m in masks) m.SetAll(false);
            MagnitudeSelect.SelectLargest(keys, include, target, masks);
            return target;
        }
        long pick = Math.Min(target - forced, available);
        MagnitudeSelect.SelectLargest(keys, candidates, pick, masks);
        return forced + pick;
    }

    /// <summary>Prunes sub-net k of a mask set to the target density (optionally nested).</summary>
    public static long Prune(MaskSet set, int subnet, double density, NestedBounds? nested = null) =>
        Prune(set.Parameters, density, set.Masks(subnet), nested);
}
