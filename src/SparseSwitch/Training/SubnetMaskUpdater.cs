using SparseSwitch.Nn;
using SparseSwitch.Sparsity;
using SparseSwitch.Tensors;

namespace SparseSwitch.Training;

/// <summary>
/// What a mask-update event does to sub-net k (SPEC §2.3–§2.5, §2.8, §2.9, §3.4).
/// <para><b>Unstructured.</b> At ramp event j of n_k: global magnitude pruning of the raw |W| to the
/// cubic target d_k + (d_init − d_k)(1 − j/n_k)³ (exact count: round(target × prunable weights)), then
/// per-layer prune-and-regrow at the cosine-decayed rate p_t. After the ramp: prune-and-regrow only
/// (a sub-net whose ramp had no event is pruned straight to d_k at its first event).</para>
/// <para><b>Nested.</b> Sub-nets are ordered densest first; m_k is chosen inside m_{k−1} (pruning and
/// regrowth candidates), and after m_k changes every sparser m_j is cut to m_{j−1} and topped up
/// from m_{j−1} by |W| to its previous per-layer count.</para>
/// <para><b>N:M.</b> During the ramp a random, shrinking set of groups per layer stays dense: the
/// dense fraction f = (target − N/M)/(1 − N/M) with the cubic target; at each event the dense set of
/// sub-net k only loses randomly chosen groups (it is kept per sub-net, so nothing is lost when
/// sub-nets switch). The other groups keep their top-N |W|. From the ramp's last event on every group
/// is exactly N:M, re-selected from |W| at each event.</para>
/// <para><b>SR-STE.</b> The N:M mask is recomputed from |W| before every forward of sub-net k; the
/// gradient passes straight through and λ_W(1 − m)⊙W is added; the Hamming distance between
/// consecutive masks is recorded.</para>
/// </summary>
public sealed class SubnetMaskUpdater
{
    private readonly AlternatingTrainer _trainer;
    private readonly SubnetMasks _masks;
    private readonly Rng _rng;
    private readonly IReadOnlyList<SubnetSpec> _specs;
    private readonly TrainRecipe _r;

    /// <summary>Mask updates (or SR-STE refreshes) per sub-net.</summary>
    public long[] Updates { get; }
    /// <summary>Positions that changed at the last update, per sub-net.</summary>
    public long[] LastChange { get; }
    /// <summary>Whether sub-net k has reached its final density (end of its ramp).</summary>
    public bool[] Reached { get; }
    /// <summary>N:M ramp: per sub-net and layer, which groups are still dense (null for unstructured).</summary>
    public BitMask[][]? DenseGroups { get; }

    public Rng Rng => _rng;

    public SubnetMaskUpdater(AlternatingTrainer trainer, SubnetMasks masks, Rng rng)
    {
        _trainer = trainer; _masks = masks; _rng = rng;
        _specs = trainer.Subnets;
        _r = trainer.Recipe;
        int k = masks.K;
        Updates = new long[k];
        LastChange = new long[k];
        Reached = new bool[k];
        if (_specs.Any(s => s.IsNm) && _r.Nested)
            throw new ArgumentException("nested: the nested option applies to unstructured sub-nets (densities), not N:M.");
        if (_r.Nested)
            for (int i = 1; i < _specs.Count; i++)
                if (!(_specs[i].Density < _specs[i - 1].Density))
                    throw new ArgumentException($"nested: list the sub-nets densest first (got {_specs[i - 1]} before {_specs[i]}).");
        if (_specs.Any(s => s.IsNm) && _r.InitDensity < 1)
            throw new ArgumentException("init-density: N:M sub-nets start dense (init-density 1).");
        if (_specs.Any(s => s.IsNm))
            DenseGroups = Enumerable.Range(0, k).Select(_ => masks.Layers.Select(l => new BitMask(GroupCount(l.Param, _specs[0].M), true)).ToArray()).ToArray();
    }

    private static int GroupCount(Parameter p, int m) => new NmLayout(p.Shape, m).Groups;

    /// <summary>Initial masks: dense, ERK-distributed random masks when d_init &lt; 1 (the same for all
    /// sub-nets, so nesting holds), or — for SR-STE — N:M from the start.</summary>
    public void Initialise()
    {
        if (_r.SrSte)
        {
            for (int k = 0; k < _masks.K; k++) { RefreshSrSte(k); Updates[k] = 0; LastChange[k] = 0; Reached[k] = true; }
            return;
        }
        if (_r.InitDensity < 1)
        {
            var dens = MaskOpsAdapter.ErkDensities(_masks.Layers.Select(l => l.Param.Shape).ToList(), _r.InitDensity);
            for (int i = 0; i < _masks.Layers.Count; i++)
            {
                int len = _masks.Layers[i].Param.Length;
                int keep = (int)Math.Round(dens[i] * len);
                var perm = Enumerable.Range(0, len).ToArray();
                _rng.Shuffle(perm.AsSpan());
                for (int k = 0; k < _masks.K; k++)
                {
                    var m = _masks[k, i];
                    m.SetAll(false);
                    for (int q = 0; q < keep; q++) m[perm[q]] = true;
                }
            }
        }
        for (int k = 0; k < _masks.K; k++) _masks.Recount(k);
    }

    /// <summary>Updates m_k at sub-net k's own iteration <paramref name="own"/> (global iteration t),
    /// using the current weights and the gradients of the backward pass just made.</summary>
    public void Update(int k, long own, long t)
    {
        var old = Snapshot(k);
        if (_specs[k].IsNm) UpdateNm(k, own);
        else UpdateUnstructured(k, own, t, old);
        _masks.Recount(k);
        long change = 0;
        for (int i = 0; i < _masks.Layers.Count; i++) change += old[i].HammingDistance(_masks[k, i]);
        LastChange[k] = change;
        Updates[k]++;
    }

    private BitMask[] Snapshot(int k) => Enumerable.Range(0, _masks.Layers.Count).Select(i => _masks[k, i].Clone()).ToArray();

    private BitMask[] Row(int k) => Enumerable.Range(0, _masks.Layers.Count).Select(i => _masks[k, i]).ToArray();

    private void UpdateUnstructured(int k, long own, long t, BitMask[] old)
    {
        var clock = _trainer.Clock;
        var spec = _specs[k];
        bool ramp = clock.IsRampEventOwn(k, own);
        BitMask[]? parent = _r.Nested && k > 0 ? Row(k - 1) : null;
        if (ramp || !Reached[k])
        {
            long j = ramp ? clock.RampEventIndex(k, own) : 1;
            long n = ramp ? clock.RampEvents(k) : 1;
            double target = MaskOpsAdapter.CubicDensity(_r.InitDensity, spec.Density, j, n);
            if (j >= n) Reached[k] = true;
            long keep = (long)Math.Round(target * _masks.TotalWeights);
            if (parent is not null) keep = Math.Min(keep, parent.Sum(m => m.Count()));
            MaskOpsAdapter.GlobalMagnitude(_masks.Layers.Select(l => (ReadOnlyMemory<float>)l.Param.Data.ToArray()).ToList(), keep, Row(k), parent);
        }
        double rate = MaskOpsAdapter.PruneRate(_r.PruneRate, _r.PruneRateFinal, t, _trainer.TotalIterations);
        for (int i = 0; i < _masks.Layers.Count; i++)
        {
            var p = _masks.Layers[i].Param;
            ReadOnlySpan<float> score = p.Grad.Span;
            float[]? masked = null;
            if (_r.Regrow == RegrowSource.Masked)
            {
                masked = p.Grad.ToArray();
                old[i].ApplyTo(masked);
                score = masked;
            }
            MaskOpsAdapter.PruneAndRegrow(p.Data.Span, score, _masks[k, i], rate, parent?[i]);
        }
        if (_r.Nested) EnforceNesting(k);
    }

    /// <summary>Cuts every sparser sub-net j &gt; k to its parent j − 1, topping up by |W| inside the parent.</summary>
    private void EnforceNesting(int k)
    {
        for (int j = k + 1; j < _masks.K; j++)
        {
            bool changed = false;
            for (int i = 0; i < _masks.Layers.Count; i++)
            {
                var child = _masks[j, i];
                var parent = _masks[j - 1, i];
                if (child.IsSubsetOf(parent)) continue;
                changed = true;
                long want = Math.Min(child.Count(), parent.Count());
                var w = _masks.Layers[i].Param.Data.Span;
                for (int q = 0; q < child.Length; q++) if (child[q] && !parent[q]) child[q] = false;
                long have = child.Count();
                var cand = new List<int>();
                for (int q = 0; q < child.Length; q++) if (parent[q] && !child[q]) cand.Add(q);
                var ids = cand.ToArray();
                var keys = new float[ids.Length];
                for (int q = 0; q < ids.Length; q++) keys[q] = -MathF.Abs(w[ids[q]]);
                Array.Sort(keys, ids);
                for (int q = 0; q < want - have && q < ids.Length; q++) child[ids[q]] = true;
            }
            if (changed) _masks.Recount(j);
        }
    }

    private void UpdateNm(int k, long own)
    {
        var clock = _trainer.Clock;
        var spec = _specs[k];
        bool ramp = clock.IsRampEventOwn(k, own);
        double f = 0;
        if (ramp && !Reached[k])
        {
            long j = clock.RampEventIndex(k, own), n = clock.RampEvents(k);
            double target = MaskOpsAdapter.CubicDensity(1.0, spec.FinalDensity, j, n);
            f = Math.Clamp((target - spec.FinalDensity) / (1 - spec.FinalDensity), 0, 1);
            if (j >= n) { Reached[k] = true; f = 0; }
        }
        else Reached[k] = true;
        for (int i = 0; i < _masks.Layers.Count; i++)
        {
            var p = _masks.Layers[i].Param;
            var dense = DenseGroups![k][i];
            ShrinkDense(dense, (long)Math.Round(f * dense.Length));
            var mask = _masks[k, i];
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

    /// <summary>SR-STE: recomputes m_k as top-N |W| per group and records the change.</summary>
    public void RefreshSrSte(int k)
    {
        var spec = _specs[k];
        long change = 0;
        for (int i = 0; i < _masks.Layers.Count; i++)
        {
            var p = _masks.Layers[i].Param;
            var fresh = NmMask.Compute(p.Data.Span, p.Shape, spec.N, spec.M);
            change += fresh.HammingDistance(_masks[k, i]);
            _masks[k, i].CopyFrom(fresh);
        }
        _masks.Recount(k);
        LastChange[k] = change;
        Updates[k]++;
    }

    /// <summary>SR-STE: g += λ_W·(1 − m_k)⊙W for every prunable layer (the gradient is not masked).</summary>
    public void AddSrSteDecay(int k)
    {
        float lambda = (float)_r.SrSteLambda;
        if (lambda == 0) return;
        for (int i = 0; i < _masks.Layers.Count; i++)
        {
            var p = _masks.Layers[i].Param;
            var g = p.Grad.Span;
            var w = p.Data.Span;
            var m = _masks.ActiveFloat(i).Span;
            for (int q = 0; q < g.Length; q++) g[q] += lambda * (1f - m[q]) * w[q];
        }
    }
}
