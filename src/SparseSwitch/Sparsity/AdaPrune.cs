using SparseSwitch.Nn;
using SparseSwitch.Tensors;

namespace SparseSwitch.Sparsity;

/// <summary>
/// Converts a trained dense or unstructured-sparse model to N:M without training (SPEC §3.5,
/// Hubara et al.). For every prunable weight (its layer = the module that registers it):
/// 1. cache the layer's inputs X and outputs Y of the ORIGINAL model on the calibration batches
///    (eval mode; layers report inputs through <see cref="Module.InputObserver"/>);
/// 2. take the row-wise N:M mask of |W| (SPEC §1 grouping) and, optionally, add each group's pruned
///    mass evenly to its kept weights;
/// 3. fit the kept weights with Adam to minimise the output MSE ‖layer(X) − Y‖² (one calibration
///    batch per step, cycling), re-masking after every step;
/// 4. finally re-estimate batch-norm statistics on the calibration batches.
/// The model's prunable weights end up N:M with the pruned entries set to zero and no mask set.
/// A layer's reconstruction starts from the original weights, so layers are independent.
/// </summary>
public static class AdaPrune
{
    public static AdaPruneReport Convert(Module model, int n, int m, IEnumerable<Tensor> calibrationBatches, AdaPruneOptions? options = null)
    {
        NmLayout.Check(n, m);
        options ??= new AdaPruneOptions();
        options.Check();
        var batches = calibrationBatches.ToList();
        if (batches.Count == 0) throw new ArgumentException("AdaPrune needs at least one calibration batch.", nameof(calibrationBatches));

        var targets = PrunableLayers(model);
        if (targets.Count == 0) throw new ArgumentException($"{model.GetType().Name} has no prunable weight to convert.", nameof(model));

        bool wasTraining = model.Training;
        model.Eval();
        var inputs = targets.Select(_ => new List<Tensor>()).ToArray();
        var outputs = targets.Select(_ => new List<Tensor>()).ToArray();
        bool capturing = false;
        try
        {
            for (int t = 0; t < targets.Count; t++)
            {
                int idx = t;
                targets[t].Layer.InputObserver = (_, x) => { if (capturing) inputs[idx].Add(x.Clone()); };
            }
            foreach (var batch in batches)
            {
                capturing = true;
                model.Forward(batch);
                capturing = false;
                for (int t = 0; t < targets.Count; t++)
                    if (inputs[t].Count != outputs[t].Count + 1)
                        throw new InvalidOperationException(
                            $"Layer '{targets[t].Path}' ({targets[t].Layer.GetType().Name}) reported {inputs[t].Count - outputs[t].Count} inputs in one forward " +
                            "(expected 1): its Forward must call ObserveInput(x) exactly once.");
                for (int t = 0; t < targets.Count; t++)
                    outputs[t].Add(targets[t].Layer.Forward(inputs[t][^1]).Clone());
            }
        }
        finally
        {
            foreach (var t in targets) t.Layer.InputObserver = null;
        }

        var reports = new List<AdaPruneLayerReport>();
        try
        {
            for (int t = 0; t < targets.Count; t++)
            {
                var (path, layer, w) = targets[t];
                var (before, after) = ReconstructLayer(layer, w, inputs[t], outputs[t], n, m, options);
                long kept = BitMask.FromFloats(w.Data.Span).Count();
                reports.Add(new AdaPruneLayerReport(path, before, after, kept, w.Length));
                options.Log?.Invoke($"adaprune {path}: output MSE masked {before:g4} → reconstructed {after:g4} ({kept}/{w.Length} kept)");
                inputs[t].Clear(); outputs[t].Clear();
            }
            if (options.RecalibrateBatchNorm) BatchNormRecalibration.Run(model, batches);
        }
        finally { model.Train(wasTraining); }
        return new AdaPruneReport(reports);
    }

    /// <summary>The prunable weights and the modules that own them (own parameter, not a descendant's).</summary>
    public static List<(string Path, Module Layer, Parameter Weight)> PrunableLayers(Module model)
    {
        var list = new List<(string, Module, Parameter)>();
        foreach (var (mpath, module) in model.NamedModules())
            foreach (var (ppath, p) in module.NamedParameters())
                if (!ppath.Contains('.') && p.Prunable)
                    list.Add((mpath.Length == 0 ? ppath : mpath + "." + ppath, module, p));
        return list;
    }

    /// <summary>Steps 2–3 for one layer whose Forward reads <paramref name="weight"/> (as Data ⊙ Mask)
    /// and its input only. On return weight.Data is N:M (pruned entries 0) and weight.Mask is null.
    /// Returns the output MSE after masking and after reconstruction.</summary>
    public static (double MseMasked, double MseFinal) ReconstructLayer(Module layer, Parameter weight, IReadOnlyList<Tensor> inputs,
        IReadOnlyList<Tensor> targets, int n, int m, AdaPruneOptions options)
    {
        NmLayout.Check(n, m);
        options.Check();
        if (inputs.Count == 0 || inputs.Count != targets.Count)
            throw new ArgumentException($"Need as many cached outputs as inputs, at least one (got {inputs.Count} and {targets.Count}).");

        // Start from the effective weight of the original model (an unstructured mask is baked in).
        var w = weight.Data.Span;
        weight.Mask?.ApplyTo(w);
        var mask = NmMask.Compute(w, weight.Shape, n, m);
        if (options.Redistribute) RedistributePrunedMass(w, weight.Shape, mask, m);
        mask.ApplyTo(w);
        weight.Mask = null;   // Data holds W ⊙ m exactly from here on

        double before = Mse(layer, inputs, targets);
        if (options.Steps > 0)
        {
            var m1 = new float[w.Length]; var m2 = new float[w.Length];
            var layerParams = layer.Parameters().ToList();
            Tensor? dyBuffer = null;
            for (int step = 1; step <= options.Steps; step++)
            {
                int b = (step - 1) % inputs.Count;
                foreach (var p in layerParams) p.ZeroGrad();
                var y = layer.Forward(inputs[b]);
                var dy = Tensor.Ensure(ref dyBuffer, y.Shape);
                var ys = y.Span; var ts = targets[b].Span; var ds = dy.Span;
                float scale = 2f / ys.Length;
                for (int i = 0; i < ys.Length; i++) ds[i] = scale * (ys[i] - ts[i]);
                layer.Backward(dy);
                AdamKept(weight.Data.Span, weight.Grad.Span, m1, m2, mask, step, options);
            }
            foreach (var p in layerParams) p.ZeroGrad();
        }
        return (before, Mse(layer, inputs, targets));
    }

    /// <summary>One Adam step on the kept entries; pruned entries stay exactly 0 (re-masking).</summary>
    private static void AdamKept(Span<float> w, ReadOnlySpan<float> g, float[] m1, float[] m2, BitMask mask, int step, AdaPruneOptions o)
    {
        float b1 = o.Beta1, b2 = o.Beta2;
        float c1 = 1f - MathF.Pow(b1, step), c2 = 1f - MathF.Pow(b2, step);
        for (int i = 0; i < w.Length; i++)
        {
            if (!mask[i]) { w[i] = 0f; continue; }
            m1[i] = b1 * m1[i] + (1 - b1) * g[i];
            m2[i] = b2 * m2[i] + (1 - b2) * g[i] * g[i];
            w[i] -= o.LearningRate * (m1[i] / c1) / (MathF.Sqrt(m2[i] / c2) + o.Epsilon);
        }
    }

    /// <summary>Adds each N:M group's pruned (signed) sum evenly to its kept weights, so the group's
    /// sum is unchanged.</summary>
    public static void RedistributePrunedMass(Span<float> w, ReadOnlySpan<int> shape, BitMask mask, int m)
    {
        var layout = new NmLayout(shape, m);
        for (int run = 0; run < layout.Runs; run++)
            for (int g = 0; g < layout.GroupsPerRun; g++)
            {
                int c0 = g * m, c1 = Math.Min(layout.In, c0 + m), kept = 0;
                double pruned = 0;
                for (int c = c0; c < c1; c++)
                {
                    int idx = layout.Index(run, c);
                    if (mask[idx]) kept++; else pruned += w[idx];
                }
                if (kept == 0) continue;
                float share = (float)(pruned / kept);
                for (int c = c0; c < c1; c++)
                {
                    int idx = layout.Index(run, c);
                    if (mask[idx]) w[idx] += share;
                }
            }
    }

    private static double Mse(Module layer, IReadOnlyList<Tensor> inputs, IReadOnlyList<Tensor> targets)
    {
        double s = 0; long count = 0;
        for (int b = 0; b < inputs.Count; b++)
        {
            var y = layer.Forward(inputs[b]).Span; var t = targets[b].Span;
            for (int i = 0; i < y.Length; i++) { double d = y[i] - t[i]; s += d * d; }
            count += y.Length;
        }
        return s / count;
    }
}
