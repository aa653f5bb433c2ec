namespace SparseSwitch.Nn.Models;

/// <summary>
/// Sub-net plumbing shared by the models: prunability marking and switchable batch-norm.
/// Prunable (SPEC §1): every Conv2d and Linear weight except the stem (the first convolution);
/// the final classifier is prunable unless told otherwise. Batch-norm after a prunable layer
/// holds one set per sub-net when there is more than one; the stem's stays shared.
/// </summary>
public static class SubNets
{
    /// <summary>A batch-norm for a layer after a prunable one: switchable when sets &gt; 1.</summary>
    public static Module BatchNorm(int channels, int sets)
    {
        if (sets < 1) throw new ArgumentOutOfRangeException(nameof(sets), sets, "The number of batch-norm sets (sub-nets) must be ≥ 1.");
        return sets == 1 ? new BatchNorm2d(channels) : new SwitchableBatchNorm2d(channels, sets);
    }

    /// <summary>Marks every Conv2d and Linear weight of <paramref name="model"/> prunable except the
    /// stem's, and the classifier's when <paramref name="pruneClassifier"/> is false.</summary>
    public static void MarkPrunable(Module model, Module? stem, Module? classifier, bool pruneClassifier = true)
    {
        foreach (var (_, m) in model.NamedModules())
        {
            Parameter? w = m switch { Conv2d c => c.Weight, Linear l => l.Weight, _ => null };
            if (w is null) continue;
            w.Prunable = !ReferenceEquals(m, stem) && (pruneClassifier || !ReferenceEquals(m, classifier));
        }
    }

    /// <summary>Switches every switchable batch-norm in <paramref name="model"/> to set
    /// <paramref name="k"/> (sub-net k). Returns how many layers were switched.</summary>
    public static int SetActive(Module model, int k)
    {
        int count = 0;
        foreach (var (path, m) in model.NamedModules())
        {
            if (m is not SwitchableBatchNorm2d bn) continue;
            if (k < 0 || k >= bn.Children.Count)
                throw new ArgumentOutOfRangeException(nameof(k), k, $"Sub-net {k} does not exist: '{path}' has {bn.Children.Count} batch-norm sets.");
            bn.ActiveSet = k;
            count++;
        }
        return count;
    }

    /// <summary>The number of batch-norm sets of the model (1 when nothing is switchable).</summary>
    public static int CountSets(Module model)
    {
        int sets = 1;
        foreach (var (_, m) in model.NamedModules())
            if (m is SwitchableBatchNorm2d bn) sets = Math.Max(sets, bn.Children.Count);
        return sets;
    }
}
