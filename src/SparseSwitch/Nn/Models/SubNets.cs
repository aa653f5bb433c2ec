namespace SparseSwitch.Nn.Models;

/// <summary>
/// Sub-net plumbing shared by the models: prunability marking and switchable batch-norm.
/// Prunable (SPEC §1): every Conv2d and Linear weight except the stem (the first convolution);
/// the final classifier is prunable unless told otherwise. Batch-norm after a prunable layer
/// holds one set per sub-net when there is more than one; the stem's stays shared.
/// </summary>
public static class SubNets
{
    /// <summary>A batch-norm for a layer after a prunable one: switchable when sets &gt; 1; with
    /// <paramref name="fuseRelu"/> it is followed by a ReLU in the same pass.</summary>
    public static Module BatchNorm(int channels, int sets, bool fuseRelu = false)
    {
        if (sets < 1) throw new ArgumentOutOfRangeException(nameof(sets), sets, "The number of batch-norm sets (sub-nets) must be ≥ 1.");
        return sets == 1 ? new BatchNorm2d(channels, fuseRelu: fuseRelu) : new SwitchableBatchNorm2d(channels, sets, fuseRelu: fuseRelu);
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

    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<Module, SwitchableBatchNorm2d[]> Switchables = new();

    /// <summary>The switchable batch-norms of <paramref name="model"/>, found once per model and
    /// remembered (models do not change structure after construction).</summary>
    public static IReadOnlyList<SwitchableBatchNorm2d> SwitchableLayers(Module model)
    {
        if (!Switchables.TryGetValue(model, out var layers))
        {
            layers = SwitchableBatchNorm2d.FindAll(model).ToArray();
            Switchables.AddOrUpdate(model, layers);
        }
        return layers;
    }

    /// <summary>Switches every switchable batch-norm in <paramref name="model"/> to set
    /// <paramref name="k"/> (sub-net k). Returns how many layers were switched. Allocation-free
    /// after the first call for a model, so the trainer can call it every iteration.</summary>
    public static int SetActive(Module model, int k)
    {
        var layers = SwitchableLayers(model);
        for (int i = 0; i < layers.Count; i++)
            if (k < 0 || k >= layers[i].Sets)
                throw new ArgumentOutOfRangeException(nameof(k), k, $"Sub-net {k} does not exist: a switchable batch-norm has {layers[i].Sets} sets.");
        for (int i = 0; i < layers.Count; i++) layers[i].ActiveSet = k;
        return layers.Count;
    }

    /// <summary>The number of batch-norm sets of the model (1 when nothing is switchable).</summary>
    public static int CountSets(Module model)
    {
        int sets = 1;
        foreach (var (_, m) in model.NamedModules())
            if (m is SwitchableBatchNorm2d bn) sets = Math.Max(sets, bn.Sets);
        return sets;
    }
}
