using SparseSwitch.Nn;
using SparseSwitch.Tensors;

namespace SparseSwitch.Sparsity;

/// <summary>
/// Re-estimates batch-norm running statistics as the plain average of per-batch statistics over
/// the given batches (PyTorch's cumulative average): before each train-mode forward every
/// batch-norm's running mean and variance are zeroed, so afterwards they hold μ·(batch statistic)
/// with μ the layer's momentum. For a switchable batch-norm only the active set is touched.
/// </summary>
public static class BatchNormRecalibration
{
    public static void Run(Module model, IReadOnlyList<Tensor> batches)
    {
        if (batches.Count == 0) throw new ArgumentException("Batch-norm re-estimation needs at least one batch.", nameof(batches));
        var bns = new List<BatchNorm2d>();
        var skip = new HashSet<Module>();
        foreach (var (_, m) in model.NamedModules())
        {
            if (m is SwitchableBatchNorm2d s)
            {
                for (int k = 0; k < s.Sets; k++) skip.Add(s[k]);
                bns.Add(s.Active);
            }
            else if (m is BatchNorm2d bn && !skip.Contains(bn)) bns.Add(bn);
        }
        if (bns.Count == 0) return;
        foreach (var bn in bns)
            if (!(bn.Momentum > 0)) throw new InvalidOperationException($"Batch-norm momentum must be > 0 to re-estimate statistics (got {bn.Momentum}).");
        var sumMean = bns.Select(b => new double[b.Channels]).ToArray();
        var sumVar = bns.Select(b => new double[b.Channels]).ToArray();
        bool wasTraining = model.Training;
        model.Train();
        try
        {
            foreach (var batch in batches)
            {
                foreach (var bn in bns) { bn.RunningMean.Clear(); bn.RunningVar.Clear(); }
                model.Forward(batch);
                for (int i = 0; i < bns.Count; i++)
                {
                    var rm = bns[i].RunningMean.Span; var rv = bns[i].RunningVar.Span;
                    for (int c = 0; c < rm.Length; c++) { sumMean[i][c] += rm[c] / bns[i].Momentum; sumVar[i][c] += rv[c] / bns[i].Momentum; }
                }
            }
        }
        finally { model.Train(wasTraining); }
        for (int i = 0; i < bns.Count; i++)
        {
            var rm = bns[i].RunningMean.Span; var rv = bns[i].RunningVar.Span;
            for (int c = 0; c < rm.Length; c++) { rm[c] = (float)(sumMean[i][c] / batches.Count); rv[c] = (float)(sumVar[i][c] / batches.Count); }
        }
    }
}
