using SparseSwitch.Nn;
using SparseSwitch.Tensors;

namespace SparseSwitch.Sparsity;

/// <summary>
/// SR-STE (SPEC §3.4) for a set of prunable weights: dense master weights W; each step the forward
/// mask S(W) (row-wise N:M of the current |W|) is recomputed into <see cref="Masks"/> — the masks
/// given to the constructor (e.g. one sub-net's masks of a <see cref="MaskSet"/>) or its own — and
/// each weight's <see cref="Parameter.Mask"/> is pointed at its mask. The backward gradient (with
/// respect to the effective weight) passes straight through to all of W, and
/// <see cref="ApplyDecay"/> adds λ_W·(1 − mask) ⊙ W, decaying the pruned weights. SAD is the
/// Hamming distance between consecutive masks (summed over layers).
/// Per step: <see cref="Refresh"/> before forward; after backward <see cref="ApplyDecay"/>, then the
/// optimiser step (do not mask the gradient).
/// </summary>
public sealed class SrSte
{
    private readonly Parameter[] _params;
    private readonly BitMask[] _current, _previous;
    private readonly float[] _scratch;   // N:M selection's working space, largest weight
    private bool _hasPrevious;

    public int N { get; }
    public int M { get; }
    public float Lambda { get; }
    /// <summary>SAD of the last refresh (0 at the first).</summary>
    public long LastSad { get; private set; }
    /// <summary>SAD per layer of the last refresh.</summary>
    public IReadOnlyList<long> LastSadPerLayer => _sadPerLayer;
    private readonly long[] _sadPerLayer;

    /// <param name="masks">Where S(W) is stored, one mask per weight (null: masks of its own).</param>
    public SrSte(IEnumerable<Parameter> prunable, int n, int m, float lambda = 2e-4f, IReadOnlyList<BitMask>? masks = null)
    {
        NmLayout.Check(n, m);
        if (!(lambda >= 0) || float.IsInfinity(lambda)) throw new ArgumentOutOfRangeException(nameof(lambda), $"λ_W must be a finite value ≥ 0 (got {lambda}).");
        _params = prunable.ToArray();
        if (_params.Length == 0) throw new ArgumentException("SR-STE needs at least one prunable parameter.", nameof(prunable));
        N = n; M = m; Lambda = lambda;
        if (masks is not null)
        {
            if (masks.Count != _params.Length) throw new ArgumentException($"SR-STE has {_params.Length} weights, got {masks.Count} masks.", nameof(masks));
            for (int l = 0; l < _params.Length; l++)
                if (masks[l].Length != _params[l].Length)
                    throw new ArgumentException($"Mask {l} has {masks[l].Length} positions, the weight {_params[l].Length}.", nameof(masks));
        }
        _current = masks?.ToArray() ?? _params.Select(p => new BitMask(p.Length)).ToArray();
        _previous = _params.Select(p => new BitMask(p.Length)).ToArray();
        _scratch = new float[_params.Max(p => p.Length)];
        _sadPerLayer = new long[_params.Length];
    }

    /// <summary>The masks S(W) of the last refresh (the stored masks, live).</summary>
    public IReadOnlyList<BitMask> Masks => _current;

    /// <summary>Recomputes S(W) for every weight, points Parameter.Mask at it, and returns the SAD
    /// against the previous refresh.</summary>
    public long Refresh()
    {
        long sad = 0;
        for (int l = 0; l < _params.Length; l++)
        {
            _previous[l].CopyFrom(_current[l]);
            NmMask.Compute(_params[l].Data.Span, _params[l].Shape, N, M, _current[l], _scratch);
            _sadPerLayer[l] = _hasPrevious ? _current[l].HammingDistance(_previous[l]) : 0;
            sad += _sadPerLayer[l];
            _params[l].Mask = _current[l];
        }
        _hasPrevious = true;
        LastSad = sad;
        return sad;
    }

    /// <summary>Takes <paramref name="masks"/> (one per weight, e.g. from a checkpoint) as the last
    /// refresh's masks, so that the next refresh's SAD is measured against them.</summary>
    public void RestorePrevious(IReadOnlyList<BitMask> masks)
    {
        if (masks.Count != _params.Length) throw new ArgumentException($"SR-STE has {_params.Length} weights, got {masks.Count} masks.", nameof(masks));
        for (int l = 0; l < _params.Length; l++)
        {
            if (masks[l].Length != _current[l].Length)
                throw new ArgumentException($"Mask {l} has {masks[l].Length} positions, the weight {_current[l].Length}.", nameof(masks));
            if (!ReferenceEquals(masks[l], _current[l])) _current[l].CopyFrom(masks[l]);
        }
        _hasPrevious = true;
    }

    /// <summary>Grad += λ_W·(1 − mask) ⊙ W for every weight (the sparse-refined term).</summary>
    public void ApplyDecay()
    {
        if (!_hasPrevious) throw new InvalidOperationException("Call Refresh() before ApplyDecay().");
        for (int l = 0; l < _params.Length; l++)
            AddDecay(_params[l].Data.Span, _current[l], _params[l].Grad.Span, Lambda);
    }

    /// <summary>grad[i] += λ·(1 − m_i)·w[i], m_i = 1 where the mask keeps position i, else 0
    /// (evaluated as written, so kept positions add λ·0·w[i]).</summary>
    public static void AddDecay(ReadOnlySpan<float> w, BitMask mask, Span<float> grad, float lambda)
    {
        if (w.Length != mask.Length || w.Length != grad.Length) throw new ArgumentException("Weight, mask and gradient must have the same length.");
        ReadOnlySpan<ulong> words = mask.Words;
        for (int i = 0; i < w.Length; i++)
        {
            float m = (words[i >> 6] >> (i & 63) & 1) != 0 ? 1f : 0f;
            grad[i] += lambda * (1f - m) * w[i];
        }
    }
}
