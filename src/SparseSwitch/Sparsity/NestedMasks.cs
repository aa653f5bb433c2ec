using SparseSwitch.Nn;
using SparseSwitch.Tensors;

namespace SparseSwitch.Sparsity;

/// <summary>The nested constraint m_sparser ⊆ m_denser (SPEC §2.8): checks and repair.</summary>
public static class NestedMasks
{
    /// <summary>Whether sub-nets listed densest first are nested in every layer.</summary>
    public static bool IsNested(MaskSet set, IReadOnlyList<int> denseToSparse)
    {
        for (int i = 1; i < denseToSparse.Count; i++)
            for (int l = 0; l < set.Layers; l++)
                if (!set.Get(denseToSparse[i], l).IsSubsetOf(set.Get(denseToSparse[i - 1], l))) return false;
        return true;
    }

    /// <summary>Moves <paramref name="child"/> inside <paramref name="parent"/> keeping its count where
    /// possible: its positions inside the parent stay, and the rest is refilled with the parent's
    /// other positions of largest |W|. Returns the resulting count.</summary>
    public static long RestrictTo(BitMask child, BitMask parent, ReadOnlySpan<float> weight)
    {
        child.CheckSameLength(parent, nameof(parent));
        if (weight.Length != child.Length) throw new ArgumentException($"Weight has {weight.Length} elements, mask {child.Length}.", nameof(weight));
        long want = child.Count();
        var cw = child.Words; var pw = parent.Words;
        for (int i = 0; i < cw.Length; i++) cw[i] &= pw[i];
        long have = child.Count();
        if (have < want)
        {
            var cand = parent.Clone();
            var aw = cand.Words;
            for (int i = 0; i < aw.Length; i++) aw[i] &= ~cw[i];
            long pick = Math.Min(want - have, cand.Count());
            MagnitudeSelect.SelectLargest([MagnitudeSelect.AbsKeys(weight)], [cand], pick, [child]);
        }
        return child.Count();
    }

    /// <summary>Makes the sub-nets (listed densest first) nested, layer by layer, by restricting each
    /// sparser mask to the next denser one (<see cref="RestrictTo"/>).</summary>
    public static void Enforce(MaskSet set, IReadOnlyList<int> denseToSparse)
    {
        for (int i = 1; i < denseToSparse.Count; i++)
            for (int l = 0; l < set.Layers; l++)
                RestrictTo(set.Get(denseToSparse[i], l), set.Get(denseToSparse[i - 1], l), set.Parameters[l].Data.Span);
    }

    /// <summary>After sub-net <paramref name="subnet"/>'s mask shrank (a global prune below the next
    /// sparser mask's count), intersects every sparser mask with the next denser one, in order, so the
    /// nesting holds again. Returns the sub-nets whose masks lost positions.</summary>
    public static List<int> ShrinkSparser(MaskSet set, int subnet, IReadOnlyList<int> denseToSparse)
    {
        int pos = -1;
        for (int i = 0; i < denseToSparse.Count; i++) if (denseToSparse[i] == subnet) pos = i;
        if (pos < 0) throw new ArgumentException($"Sub-net {subnet} is not in the nesting order [{string.Join(", ", denseToSparse)}].", nameof(denseToSparse));
        var changed = new List<int>();
        for (int i = pos + 1; i < denseToSparse.Count; i++)
        {
            bool lost = false;
            for (int l = 0; l < set.Layers; l++)
            {
                var cw = set.Get(denseToSparse[i], l).Words; var pw = set.Get(denseToSparse[i - 1], l).Words;
                for (int w = 0; w < cw.Length; w++)
                {
                    ulong kept = cw[w] & pw[w];
                    if (kept != cw[w]) { lost = true; cw[w] = kept; }
                }
            }
            if (lost) changed.Add(denseToSparse[i]);
        }
        return changed;
    }
}
