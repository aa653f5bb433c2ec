using SparseSwitch.Sparsity;
using SparseSwitch.Tensors;

namespace SparseSwitch.Training;

/// <summary>
/// What a mask-update event does to sub-net k (SPEC §2.3–§2.5, §2.8, §2.9, §3.4), composed from the
/// Sparsity operations (<see cref="GlobalMagnitudePruning"/>, <see cref="PruneRegrow"/>,
/// <see cref="DensitySchedule"/>, <see cref="Erk"/>, <see cref="NestedBounds"/>, <see cref="NmMask"/>,
/// <see cref="SrSte"/>) on the run's <see cref="MaskSet"/>. It is given what it needs — the
/// sub-nets, the recipe, the update clock and the run's length — and knows nothing of the trainer
/// that calls it.
/// <para><b>Unstructured.</b> At ramp event j of n_k: global magnitude pruning of the raw |W| to the
/// cubic target d_k + (d_init − d_k)(1 − j/n_k)³, then per-layer prune-and-regrow at the
/// cosine-decayed rate p_t. After the ramp: prune-and-regrow only (a sub-net whose ramp had no event
/// is pruned straight to d_k at its first event).</para>
/// <para><b>Nested.</b> Sub-nets are listed densest first; every update of m_k stays inside the next
/// denser mask and keeps the next sparser one inside it (<see cref="NestedBounds.For"/>). A ramp
/// prune whose target is below the next sparser mask's count (that sub-net has not pruned as far
/// yet) keeps the target's largest |W| of that mask and shrinks the sparser masks into the result
/// (<see cref="NestedMasks.ShrinkSparser"/>), so every sub-net follows its own ramp.</para>
/// <para><b>N:M.</b> During the ramp a random, shrinking set of groups per layer stays dense: the
/// dense fraction is f = (target − N/M)/(1 − N/M) with the cubic target; at each event sub-net k's
/// dense set only loses randomly chosen groups, and it is kept per sub-net (nothing is lost when
/// sub-nets switch; the reference code picked groups in order and lost them at the next switch).
/// The other groups keep their top-N |W|. From the ramp's last event on every group is exactly N:M,
/// re-selected from |W| at each event.</para>
/// <para><b>SR-STE.</b> One <see cref="SrSte"/> per sub-net recomputes S(W) before every forward of
/// that sub-net; the gradient passes straight through and λ_W(1 − m)⊙W is added.</para>
/// </summary>
public sealed class SubnetMaskUpdater
{
    private readonly MaskSet _masks;
    private readonly Rng _rng;
    private readonly SubnetList _specs;
    private readonly TrainRecipe _r;
    private readonly MaskUpdateClock _clock;
    private readonly long _totalIterations;
    private readonly int[] _denseToSparse;
    private readonly SrSte[]? _srste;
    private readonly long[][] _kept;
    private readonly bool _nested;

    /// <summary>Mask updates (or SR-STE refreshes) per sub-net.</summary>
    public long[] Updates { get; }
    /// <summary>Positions that changed at the last update (SR-STE: SAD of the last refresh), per sub-net.</summary>
    public long[] LastChange { get; }
    /// <summary>Whether sub-net k has reached its final density (end of its ramp).</summary>
    public bool[] Reached { get; }
    /// <summary>N:M ramp: per sub-net and layer, which groups are still dense (null for unstructured).</summary>
    public BitMask[][]? DenseGroups { get; }

    public Rng Rng => _rng;

    /// <param name="masks">The run's masks, one sub-net per item of <paramref name="subnets"/>.</param>
    /// <param name="recipe">Schedule and options (density ramp, prune rate, regrowth, nesting, SR-STE).</param>
    /// <param name="clock">When each sub-net's masks change (ramp events are numbered by it).</param>
    /// <param name="totalIterations">Global iterations of the whole run (the prune-rate cosine's length).</param>
    /// <param name="rng">Stream for mask choices (ERK initial masks, N:M dense groups).</param>
    public SubnetMaskUpdater(MaskSet masks, SubnetList subnets, TrainRecipe recipe, MaskUpdateClock clock, long totalIterations, Rng rng)
    {
        _masks = masks; _rng = rng;
        _specs = subnets;
        _r = recipe;
        _clock = clock;
        _totalIterations = totalIterations;
        int k = masks.Subnets;
        if (subnets.Count != k) throw new ArgumentException($"{subnets.Count} sub-nets for a mask set of {k}.", nameof(subnets));
        if (clock.K != k) throw new ArgumentException($"The update clock counts {clock.K} sub-nets, the mask set {k}.", nameof(clock));
        Updates = new long[k];
        LastChange = new long[k];
        Reached = new bool[k];
        _kept = Enumerable.Range(0, k).Select(_ => masks.Parameters.Select(p => (long)p.Length).ToArray()).ToArray();
        bool nm = _specs.Any(s => s.IsNm);
        _nested = _r.NestedMasks;
        // A recipe that went through Validate cannot get here; one built in code may.
        if (_nested && nm)
            throw new ArgumentException("nested: applies to unstructured sub-nets (densities), not N:M.");
        if (_nested && !TrainRecipe.CanNest(_specs))
            throw new ArgumentException($"nested: list the sub-nets densest first (got {_specs.ToExactString()}).");
        if (nm && _r.InitDensity < 1)
            throw new ArgumentException("init-density: N:M sub-nets start dense (init-density 1).");
        _denseToSparse = Enumerable.Range(0, k).ToArray();
        if (nm)
            DenseGroups = Enumerable.Range(0, k).Select(s => masks.Parameters.Select(p => new BitMask(new NmLayout(p.Shape, _specs[s].M).Groups, true)).ToArray()).ToArray();
        if (_r.SrSte)
            _srste = _specs.Select((s, k) => new SrSte(masks.Parameters, s.N, s.M, (float)_r.SrSteLambda, masks.Masks(k))).ToArray();
    }

    /// <summary>Kept weights of sub-net k in layer l (cached; refreshed whenever masks change).</summary>
    public long Kept(int k, int layer) => _kept[k][layer];

    /// <summary>Recounts sub-net k's kept weights (after its masks changed outside the updater).</summary>
    public void Recount(int k)
    {
        for (int l = 0; l < _masks.Layers; l++) _kept[k][l] = _masks.Get(k, l).Count();
    }

    /// <summary>Initial masks: dense; ERK-distributed random masks when d_init &lt; 1 (the same for all
    /// sub-nets, so nesting holds); N:M from the start under SR-STE.</summary>
    public void Initialise()
    {
        if (_srste is not null)
        {
            for (int k = 0; k < _masks.Subnets; k++) { RefreshSrSte(k); Updates[k] = 0; Reached[k] = true; }
            return;
        }
        if (_r.InitDensity < 1)
        {
            Erk.RandomMasks(_masks, 0, _r.InitDensity, _rng);
            for (int k = 1; k < _masks.Subnets; k++) _masks.Copy(0, k);
        }
        for (int k = 0; k < _masks.Subnets; k++) Recount(k);
    }

    /// <summary>Updates m_k at sub-net k's own iteration <paramref name="own"/> (global iteration t),
    /// from the current weights and the (unmasked) gradients of the backward pass just made.</summary>
    public void Update(int k, long own, long t)
    {
        var old = _masks.Masks(k).Select(m => m.Clone()).ToArray();
        if (_specs[k].IsNm) UpdateNm(k, own);
        else UpdateUnstructured(k, own, t);
        Recount(k);
        long change = 0;
        for (int l = 0; l < _masks.Layers; l++) change += old[l].HammingDistance(_masks.Get(k, l));
        LastChange[k] = change;
        Updates[k]++;
    }

    private void UpdateUnstructured(int k, long own, long t)
    {
        var clock = _clock;
        bool ramp = clock.IsRampEventOwn(k, own);
        var nested = _nested ? NestedBounds.For(_masks, k, _denseToSparse) : null;
        if (ramp || !Reached[k])
        {
            int j = ramp ? (int)clock.RampEventIndex(k, own) : 1;
            int n = ramp ? (int)clock.RampEvents(k) : 1;
            double target = DensitySchedule.Cubic(_specs[k].Density, _r.InitDensity, j, n);
            if (j >= n) Reached[k] = true;
            GlobalMagnitudePruning.Prune(_masks, k, target, nested);
            // A denser sub-net's ramp may reach below a sparser one that has not pruned as far yet:
            // that one is pushed down inside it rather than holding the denser one back.
            if (nested is not null)
                foreach (int s in NestedMasks.ShrinkSparser(_masks, k, _denseToSparse)) Recount(s);
        }
        double rate = DensitySchedule.PruneRateCosine(t, _totalIterations, _r.PruneRate, _r.PruneRateFinal);
        PruneRegrow.Step(_masks, k, rate, _r.Regrow == RegrowSource.Dense ? RegrowGradient.Dense : RegrowGradient.Masked, nested);
    }

    private void UpdateNm(int k, long own)
    {
        var clock = _clock;
        var spec = _specs[k];
        double f = 0;
        if (clock.IsRampEventOwn(k, own) && !Reached[k])
        {
            int j = (int)clock.RampEventIndex(k, own), n = (int)clock.RampEvents(k);
            double target = DensitySchedule.Cubic(spec.FinalDensity, 1.0, j, n);
            f = Math.Clamp((target - spec.FinalDensity) / (1 - spec.FinalDensity), 0, 1);
            if (j >= n) { Reached[k] = true; f = 0; }
        }
        else Reached[k] = true;
        for (int l = 0; l < _masks.Layers; l++)
        {
            var p = _masks.Parameters[l];
            var dense = DenseGroups![k][l];
            ShrinkDense(dense, (long)Math.Round(f * dense.Length));
            var mask = _masks.Get(k, l);
            NmMask.Compute(p.Data.Span, p.Shape, spec.N, spec.M, mask);
            if (dense.Count() > 0) SetDenseGroups(mask, dense, p.Shape, spec.M);
        }
    }

    /// <summary>Turns off randomly chosen dense groups until <paramref name="keep"/> remain.</summary>
    private void ShrinkDense(BitMask dense, long keep)
    {
        long count = dense.Count();
        if (count <= keep) return;
        var on = new List<int>();
        for (int g = 0; g < dense.Length; g++) if (dense[g]) on.Add(g);
        var arr = on.ToArray();
        _rng.Shuffle(arr.AsSpan());
        for (long q = 0; q < count - keep; q++) dense[arr[q]] = false;
    }

    /// <summary>Switches on every position of the dense groups (group g = run · groupsPerRun + index).</summary>
    private static void SetDenseGroups(BitMask mask, BitMask dense, int[] shape, int m)
    {
        var layout = new NmLayout(shape, m);
        for (int run = 0; run < layout.Runs; run++)
            for (int g = 0; g < layout.GroupsPerRun; g++)
            {
                if (!dense[run * layout.GroupsPerRun + g]) continue;
                int c0 = g * m, c1 = Math.Min(layout.In, c0 + m);
                for (int c = c0; c < c1; c++) mask[layout.Index(run, c)] = true;
            }
    }

    /// <summary>SR-STE: recomputes S(W) into sub-net k's masks (the parameters' masks point at them).</summary>
    public void RefreshSrSte(int k)
    {
        var s = _srste![k];
        s.Refresh();
        Recount(k);
        LastChange[k] = s.LastSad;
        Updates[k]++;
    }

    /// <summary>SR-STE: g += λ_W·(1 − m_k)⊙W (the gradient is not masked).</summary>
    public void AddSrSteDecay(int k) => _srste![k].ApplyDecay();

    /// <summary>After the mask set was loaded from a checkpoint: under SR-STE each sub-net's stored
    /// masks are its last refresh's, so the next refresh's SAD is measured against them.</summary>
    public void RestoreSrSte()
    {
        if (_srste is null) return;
        for (int k = 0; k < _masks.Subnets; k++) _srste[k].RestorePrevious(_masks.Masks(k));
    }
}
