using SparseSwitch.Tensors;

namespace SparseSwitch.Sparsity;

/// <summary>
/// The nested constraint (SPEC §2.8) for one mask update, per layer in <see cref="MaskSet.Paths"/>
/// order: the new mask must lie <see cref="Within"/> the next denser sub-net's masks and must
/// <see cref="Include"/> the next sparser sub-net's masks (either may be null). Where the target
/// count cannot honour both, the constraint wins: the result keeps all of Include, or at most all
/// of Within, and the update reports the count it reached.
/// </summary>
public sealed record NestedBounds(IReadOnlyList<BitMask>? Within, IReadOnlyList<BitMask>? Include)
{
    /// <summary>Bounds for sub-net k of a set whose sub-nets are ordered densest first
    /// (<paramref name="denseToSparse"/> lists sub-net indices, densest first).</summary>
    public static NestedBounds For(MaskSet set, int subnet, IReadOnlyList<int> denseToSparse)
    {
        int pos = -1;
        for (int i = 0; i < denseToSparse.Count; i++) if (denseToSparse[i] == subnet) pos = i;
        if (pos < 0) throw new ArgumentException($"Sub-net {subnet} is not in the nesting order [{string.Join(", ", denseToSparse)}].", nameof(denseToSparse));
        return new NestedBounds(
            pos > 0 ? set.Masks(denseToSparse[pos - 1]) : null,
            pos + 1 < denseToSparse.Count ? set.Masks(denseToSparse[pos + 1]) : null);
    }

    internal void Check(int layers, IReadOnlyList<BitMask> masks)
    {
        if (Within is not null && Within.Count != layers) throw new ArgumentException($"Nested 'Within' has {Within.Count} layers, expected {layers}.");
        if (Include is not null && Include.Count != layers) throw new ArgumentException($"Nested 'Include' has {Include.Count} layers, expected {layers}.");
        for (int l = 0; l < layers; l++)
        {
            Within?[l].CheckSameLength(masks[l], "Within");
            Include?[l].CheckSameLength(masks[l], "Include");
            if (Within is not null && Include is not null && !Include[l].IsSubsetOf(Within[l]))
                throw new ArgumentException($"Nested bounds of layer {l}: the sparser mask is not inside the denser one.");
        }
    }
}
