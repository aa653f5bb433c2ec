using SparseSwitch.Optim;
using SparseSwitch.Tensors;

namespace SparseSwitch.Training;

/// <summary>When gradient correction (SPEC §2.6) is tested.</summary>
public enum CorrectionMode
{
    /// <summary>Never.</summary>
    Off,
    /// <summary>Only between consecutive iterations of one inner group of K (t mod K ≠ 0): the paper's figure.
    /// With weighted sampling the inner group is the sampling cycle.</summary>
    InnerGroup,
    /// <summary>At every iteration that has a previous gradient (the reference code's condition).</summary>
    EveryIteration,
    /// <summary>The published code's behaviour: g′ is overwritten with the current gradient before
    /// the test, so ⟨g, g′⟩ = ‖g‖² ≥ 0 and nothing ever fires. Kept to compare honestly.</summary>
    Reference,
}

/// <summary>
/// Gradient correction over entries of a <see cref="ParameterTable"/> (the prunable weights): the
/// previous iteration's masked, uncorrected gradient g′ of every entry, kept in one flat buffer laid
/// out like the table, and per-entry counters. Each entry is tested and projected on its own. Call
/// <see cref="Apply"/> once per iteration, after the gradients in the table were masked with the
/// current sub-net's mask.
/// With <see cref="Remask"/> the corrected gradient is multiplied by the current mask again
/// (the projection adds multiples of g′, which lives on the previous sub-net's mask); without it
/// (the default, as the published method states it) ⟨g, g′⟩ ≥ 0 holds exactly after correction.
/// Two variants beyond the method: <see cref="Strength"/> &lt; 1 removes only that fraction of the
/// conflicting component (a partial projection), and <see cref="Average"/> β &gt; 0 makes g′ a moving
/// average of the previous uncorrected gradients, g′ ← β·g′ + (1 − β)·g, instead of the last one.
/// </summary>
public sealed class GradientCorrection
{
    private readonly ParameterTable _table;
    private readonly int[] _entries;
    private Tensor _prev, _scratch;   // laid out like the table; empty when Mode is Off

    public CorrectionMode Mode { get; }
    public bool Remask { get; }
    public int K { get; }

    /// <summary>Fraction of the conflicting component a projection removes (1 = all of it).</summary>
    public double Strength { get; }

    /// <summary>β of the moving average that g′ is (0: g′ is the previous iteration's gradient).</summary>
    public double Average { get; }

    /// <summary>Whether g′ holds the gradient of the previous iteration.</summary>
    public bool HasPrevious { get; private set; }

    /// <summary>Per corrected entry: how many times the test was made.</summary>
    public long[] Tested { get; }
    /// <summary>Per corrected entry: how many times a projection happened.</summary>
    public long[] Fired { get; }

    /// <summary>Per corrected entry, from the last <see cref="Apply"/>: ⟨g, g′⟩ before correction (NaN when not tested).</summary>
    public double[] LastDot { get; }

    /// <param name="entries">The table entries to correct (indices into <see cref="ParameterTable.Entries"/>),
    /// in the order of the counters.</param>
    public GradientCorrection(CorrectionMode mode, bool remask, int k, ParameterTable table, IReadOnlyList<int> entries,
        double strength = 1.0, double average = 0.0)
    {
        if (k < 1) throw new ArgumentOutOfRangeException(nameof(k), "Number of sub-nets must be at least 1.");
        ArgumentNullException.ThrowIfNull(table);
        if (!(strength > 0 && strength <= 1)) throw new ArgumentOutOfRangeException(nameof(strength), $"Correction strength must be in (0, 1], got {strength}.");
        if (!(average >= 0 && average < 1)) throw new ArgumentOutOfRangeException(nameof(average), $"Correction average β must be in [0, 1), got {average}.");
        Mode = mode; Remask = remask; K = k; Strength = strength; Average = average;
        _table = table;
        _entries = entries.ToArray();
        foreach (int e in _entries)
            if ((uint)e >= (uint)table.Entries.Count) throw new ArgumentOutOfRangeException(nameof(entries), $"Table entry {e} outside [0, {table.Entries.Count}).");
        bool buffers = mode != CorrectionMode.Off;
        _prev = buffers ? table.NewBuffer() : new Tensor(0);
        _scratch = buffers ? table.NewBuffer() : new Tensor(0);
        Tested = new long[_entries.Length];
        Fired = new long[_entries.Length];
        LastDot = new double[_entries.Length];
    }

    /// <summary>Number of corrected entries.</summary>
    public int Count => _entries.Length;

    /// <summary>The table entry corrected as number <paramref name="i"/>.</summary>
    public int EntryOf(int i) => _entries[i];

    /// <summary>g′ of corrected entry <paramref name="i"/>, a live view with the parameter's shape
    /// (checkpointed; empty, shape [0], when <see cref="Mode"/> is Off).</summary>
    public Tensor Previous(int i) => Mode == CorrectionMode.Off ? _prev : _table.Slice(_prev, _entries[i]);

    /// <summary>Whether iteration <paramref name="t"/> is tested under this mode.</summary>
    public bool TestsAt(long t) => Mode switch
    {
        CorrectionMode.Off => false,
        CorrectionMode.InnerGroup => HasPrevious && t % K != 0,
        CorrectionMode.EveryIteration => HasPrevious,
        CorrectionMode.Reference => true,
        _ => false,
    };

    /// <summary>
    /// Corrects the masked gradients of iteration <paramref name="t"/> in the table in place and
    /// stores their uncorrected values as the next g′. <paramref name="masks"/>[i] is the current
    /// sub-net's mask of corrected entry i (null: dense). Returns the number of entries projected.
    /// </summary>
    public int Apply(long t, IReadOnlyList<BitMask>? masks)
    {
        if (masks is not null && masks.Count != _entries.Length) throw new ArgumentException($"Expected {_entries.Length} masks, got {masks.Count}.", nameof(masks));
        if (Mode == CorrectionMode.Off) return 0;
        bool test = TestsAt(t);
        int fired = 0;
        var grad = _table.Grad.Span;
        var prev = _prev.Span;
        var scratch = _scratch.Span;
        for (int i = 0; i < _entries.Length; i++)
        {
            var e = _table.Entries[_entries[i]];
            var g = grad.Slice(e.Offset, e.Length);
            var gPrev = prev.Slice(e.Offset, e.Length);
            LastDot[i] = double.NaN;
            if (Mode == CorrectionMode.Reference)
            {
                // The defect reproduced: g′ := g, then the test ⟨g, g′⟩ < 0 can never hold.
                g.CopyTo(gPrev);
                Tested[i]++;
                if (CorrectionMath.Project(g, gPrev, out LastDot[i])) { Fired[i]++; fired++; }
                continue;
            }
            // Keep the uncorrected g: it becomes the next g′.
            g.CopyTo(scratch.Slice(e.Offset, e.Length));
            if (test)
            {
                Tested[i]++;
                if (CorrectionMath.Project(g, gPrev, out LastDot[i], Strength))
                {
                    Fired[i]++; fired++;
                    if (Remask && masks is not null) masks[i].ApplyTo(g);
                }
            }
        }
        if (Mode != CorrectionMode.Reference)
        {
            if (Average > 0 && HasPrevious)
            {
                // g′ ← β·g′ + (1 − β)·g over the corrected entries (the rest of the buffer is unused).
                float beta = (float)Average;
                foreach (int entry in _entries)
                {
                    var e = _table.Entries[entry];
                    var gPrev = prev.Slice(e.Offset, e.Length);
                    System.Numerics.Tensors.TensorPrimitives.Multiply(gPrev, beta, gPrev);
                    System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(scratch.Slice(e.Offset, e.Length), 1f - beta, gPrev, gPrev);
                }
            }
            else (_prev, _scratch) = (_scratch, _prev);
        }
        HasPrevious = true;
        return fired;
    }

    /// <summary>Restores the flags and counters (checkpoint resume); g′ is restored by writing
    /// into <see cref="Previous"/>.</summary>
    public void Restore(bool hasPrevious, ReadOnlySpan<long> tested, ReadOnlySpan<long> fired)
    {
        HasPrevious = hasPrevious;
        tested.CopyTo(Tested);
        fired.CopyTo(Fired);
    }

    /// <summary>Forgets g′ (e.g. between independent runs).</summary>
    public void Reset() => HasPrevious = false;
}
