using SparseSwitch.Nn;
using SparseSwitch.Optim;
using SparseSwitch.Tensors;

namespace SparseSwitch.Training;

/// <summary>
/// The optimiser split so that a step touches only what the active sub-net used: one SGD for the
/// shared parameters (every weight, the stem's batch-norm, biases) and one per batch-norm set k for
/// the parameters of set k of every switchable batch-norm. Training sub-net k steps the shared
/// group and group k, so weight decay and momentum never move another sub-net's batch-norm (as in
/// PyTorch, where parameters without a gradient are skipped). All groups share one learning rate.
/// The momentum buffers of every group live in one flat buffer laid out by the parameter table
/// (<see cref="Momentum"/>); <see cref="GroupOf"/> says which group steps each table entry.
/// </summary>
public sealed class OptimizerGroups
{
    private readonly int[] _groupOf;   // per table entry: −1 shared, else the batch-norm set

    public Sgd Shared { get; }
    public IReadOnlyList<Sgd> PerSet { get; }
    /// <summary>All momentum buffers, laid out like the table's Data (null without momentum).</summary>
    public Tensor? Momentum { get; }

    public OptimizerGroups(Module model, ParameterTable table, int sets, TrainRecipe r)
    {
        var setOf = new Dictionary<Parameter, int>(ReferenceEqualityComparer.Instance);
        foreach (var (path, m) in model.NamedModules())
        {
            if (m is not SwitchableBatchNorm2d bn) continue;
            if (bn.Sets != sets)
                throw new ArgumentException($"Batch-norm '{path}' has {bn.Sets} sets but the run has {sets} sub-nets.");
            for (int k = 0; k < sets; k++)
                foreach (var p in bn[k].Parameters()) setOf[p] = k;
        }
        Momentum = r.Momentum != 0 ? table.NewBuffer() : null;
        _groupOf = new int[table.Entries.Count];
        var members = Enumerable.Range(0, sets + 1).Select(_ => new List<int>()).ToArray();   // [0] shared, [k + 1] set k
        for (int i = 0; i < table.Entries.Count; i++)
        {
            _groupOf[i] = setOf.TryGetValue(table.Entries[i].Param, out int k) ? k : -1;
            members[_groupOf[i] + 1].Add(i);
        }
        Sgd Make(List<int> entries) => new(entries.Select(i => (table.Entries[i].Name, table.Entries[i].Param)), r.Lr, r.Momentum, r.WeightDecay, r.Nesterov,
            momentumBuffers: Momentum is { } mom ? entries.Select(i => table.Slice(mom, i)).ToList() : null);
        Shared = Make(members[0]);
        PerSet = members.Skip(1).Select(Make).ToArray();
    }

    /// <summary>The group that steps table entry <paramref name="entry"/>: −1 for the shared group,
    /// else its batch-norm set.</summary>
    public int GroupOf(int entry) => _groupOf[entry];

    /// <summary>The checkpoint name prefix of a group (−1: shared).</summary>
    public static string Prefix(int group) => group < 0 ? "optim.shared" : $"optim.bn{group}";

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

    /// <summary>Every optimiser with its checkpoint name prefix.</summary>
    public IEnumerable<(string Prefix, Sgd Opt)> All()
    {
        yield return (Prefix(-1), Shared);
        for (int k = 0; k < PerSet.Count; k++) yield return (Prefix(k), PerSet[k]);
    }
}
