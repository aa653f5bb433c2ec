using SparseSwitch.Nn;
using SparseSwitch.Optim;

namespace SparseSwitch.Training;

/// <summary>
/// The optimiser split so that a step touches only what the active sub-net used: one SGD for the
/// shared parameters (every weight, the stem's batch-norm, biases) and one per batch-norm set k for
/// the parameters of set k of every switchable batch-norm. Training sub-net k steps the shared
/// group and group k, so weight decay and momentum never move another sub-net's batch-norm (as in
/// PyTorch, where parameters without a gradient are skipped). All groups share one learning rate.
/// </summary>
public sealed class OptimizerGroups
{
    public Sgd Shared { get; }
    public IReadOnlyList<Sgd> PerSet { get; }

    public OptimizerGroups(Module model, int sets, TrainRecipe r)
    {
        var switchable = new HashSet<Parameter>(ReferenceEqualityComparer.Instance);
        var perSet = Enumerable.Range(0, sets).Select(_ => new List<(string, Parameter)>()).ToArray();
        foreach (var (path, m) in model.NamedModules())
        {
            if (m is not SwitchableBatchNorm2d bn) continue;
            if (bn.Sets != sets)
                throw new ArgumentException($"Batch-norm '{path}' has {bn.Sets} sets but the run has {sets} sub-nets.");
            for (int k = 0; k < sets; k++)
                foreach (var (n, p) in bn[k].NamedParameters($"{(path.Length > 0 ? path + "." : "")}{k}."))
                {
                    perSet[k].Add((n, p));
                    switchable.Add(p);
                }
        }
        var shared = model.NamedParameters().Where(x => !switchable.Contains(x.Param)).ToList();
        Shared = Make(shared, r);
        PerSet = perSet.Select(l => Make(l, r)).ToArray();
    }

    private static Sgd Make(IEnumerable<(string, Parameter)> ps, TrainRecipe r) =>
        new(ps, r.Lr, r.Momentum, r.WeightDecay, r.Nesterov);

    /// <summary>Sets the learning rate and steps the shared group and batch-norm set <paramref name="set"/>
    /// (all sets when <paramref name="set"/> is −1).</summary>
    public void Step(double lr, int set)
    {
        Shared.LearningRate = lr;
        Shared.Step();
        for (int k = 0; k < PerSet.Count; k++)
        {
            if (set >= 0 && k != set) continue;
            PerSet[k].LearningRate = lr;
            PerSet[k].Step();
        }
    }

    /// <summary>Every optimiser with a name prefix (checkpoints).</summary>
    public IEnumerable<(string Prefix, Sgd Opt)> All()
    {
        yield return ("optim.shared", Shared);
        for (int k = 0; k < PerSet.Count; k++) yield return ($"optim.bn{k}", PerSet[k]);
    }
}
