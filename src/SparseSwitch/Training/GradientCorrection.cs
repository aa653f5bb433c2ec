using SparseSwitch.Tensors;

namespace SparseSwitch.Training;

/// <summary>When gradient correction (SPEC §2.6) is tested.</summary>
public enum CorrectionMode
{
    /// <summary>Never.</summary>
    Off,
    /// <summary>Only between consecutive iterations of one inner group of K (t mod K ≠ 0): the paper's figure.</summary>
    InnerGroup,
    /// <summary>At every iteration that has a previous gradient (the reference code's condition).</summary>
    EveryIteration,
    /// <summary>The published code's behaviour: g′ is overwritten with the current gradient before
    /// the test, so ⟨g, g′⟩ = ‖g‖² ≥ 0 and nothing ever fires. Kept to compare honestly.</summary>
    Reference,
}

/// <summary>
/// Gradient correction state for a list of prunable weight tensors: the previous iteration's masked,
/// uncorrected gradient g′ per tensor and per-tensor counters. Call <see cref="Apply"/> once per
/// iteration, after the gradients were masked with the current sub-net's mask.
/// With <see cref="Remask"/> the corrected gradient is multiplied by the current mask again
/// (the projection adds multiples of g′, which lives on the previous sub-net's mask); without it
/// (the default, as the published method states it) ⟨g, g′⟩ ≥ 0 holds exactly after correction.
/// </summary>
public sealed class GradientCorrection
{
    private readonly Tensor[] _prev;
    private readonly Tensor[] _scratch;

    public CorrectionMode Mode { get; }
    public bool Remask { get; }
    public int K { get; }

    /// <summary>Whether <c>_prev</c> holds the gradient of the previous iteration.</summary>
    public bool HasPrevious { get; private set; }

    /// <summary>Per tensor: how many times the test was made.</summary>
    public long[] Tested { get; }
    /// <summary>Per tensor: how many times a projection happened.</summary>
    public long[] Fired { get; }

    /// <summary>Per tensor, from the last <see cref="Apply"/>: ⟨g, g′⟩ before correction (NaN when not tested).</summary>
    public double[] LastDot { get; }

    public GradientCorrection(CorrectionMode mode, bool remask, int k, IReadOnlyList<int[]> shapes)
    {
        if (k < 1) throw new ArgumentOutOfRangeException(nameof(k), "Number of sub-nets must be at least 1.");
        Mode = mode; Remask = remask; K = k;
        bool buffers = mode != CorrectionMode.Off;
        _prev = shapes.Select(s => buffers ? new Tensor(s) : new Tensor(0)).ToArray();
        _scratch = shapes.Select(s => buffers ? new Tensor(s) : new Tensor(0)).ToArray();
        Tested = new long[shapes.Count];
        Fired = new long[shapes.Count];
        LastDot = new double[shapes.Count];
    }

    public int Count => _prev.Length;

    /// <summary>The stored g′ tensors (checkpointed).</summary>
    public IReadOnlyList<Tensor> Previous => _prev;

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
    /// Corrects the masked gradients of iteration <paramref name="t"/> in place and stores their
    /// uncorrected values as the next g′. <paramref name="grads"/>[i] and <paramref name="masks"/>[i]
    /// belong to tensor i (a null mask means dense). Returns the number of tensors projected.
    /// </summary>
    public int Apply(long t, IReadOnlyList<Tensor> grads, IReadOnlyList<BitMask?> masks)
    {
        if (grads.Count != _prev.Length) throw new ArgumentException($"Expected {_prev.Length} gradients, got {grads.Count}.");
        if (Mode == CorrectionMode.Off) return 0;
        bool test = TestsAt(t);
        int fired = 0;
        for (int i = 0; i < _prev.Length; i++)
        {
            var g = grads[i].Span;
            LastDot[i] = double.NaN;
            if (Mode == CorrectionMode.Reference)
            {
                // The defect reproduced: g′ := g, then the test ⟨g, g′⟩ < 0 can never hold.
                g.CopyTo(_prev[i].Span);
                Tested[i]++;
                if (CorrectionMath.Project(g, _prev[i].Span, out LastDot[i])) { Fired[i]++; fired++; }
                continue;
            }
            // Keep the uncorrected g: it becomes the next g′.
            g.CopyTo(_scratch[i].Span);
            if (test)
            {
                Tested[i]++;
                if (CorrectionMath.Project(g, _prev[i].Span, out LastDot[i]))
                {
                    Fired[i]++; fired++;
                    if (Remask && masks[i] is { } m) m.ApplyTo(g);
                }
            }
            (_prev[i], _scratch[i]) = (_scratch[i], _prev[i]);
        }
        HasPrevious = true;
        return fired;
    }

    /// <summary>Restores g′ and counters (checkpoint resume).</summary>
    public void Restore(IReadOnlyList<Tensor> previous, bool hasPrevious, ReadOnlySpan<long> tested, ReadOnlySpan<long> fired)
    {
        if (Mode == CorrectionMode.Off) { HasPrevious = hasPrevious; tested.CopyTo(Tested); fired.CopyTo(Fired); return; }
        for (int i = 0; i < _prev.Length; i++) previous[i].Span.CopyTo(_prev[i].Span);
        HasPrevious = hasPrevious;
        tested.CopyTo(Tested);
        fired.CopyTo(Fired);
    }

    /// <summary>Forgets g′ (e.g. between independent runs).</summary>
    public void Reset() => HasPrevious = false;
}
