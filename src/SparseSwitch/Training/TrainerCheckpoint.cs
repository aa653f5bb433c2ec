using System.Globalization;
using SparseSwitch.Nn;
using SparseSwitch.Serialization;
using SparseSwitch.Tensors;

namespace SparseSwitch.Training;

/// <summary>
/// Everything a run needs to continue exactly as if it had not stopped, in one safetensors file.
/// Per parameter — one pass over the flat parameter table — <c>model.{path}</c> (its values),
/// <c>{group}.{path}.momentum_buffer</c> (group <c>optim.shared</c> or <c>optim.bn{k}</c>, see
/// <see cref="OptimizerGroups"/>), and for the prunable ones <c>mask.{k}.{path}</c> (bit-packed U8),
/// <c>nmdense.{k}.{path}</c> (N:M ramp dense groups) and <c>corr.prev.{i}</c> (g′ of the i-th
/// prunable weight); then <c>model.{path}</c> of every buffer (so every batch-norm set),
/// <c>{group}.step</c>, <c>subnet.*</c>, <c>rng.mask</c>, <c>corr.tested</c>/<c>corr.fired</c>,
/// <c>counters</c>, <c>cost</c>, and the recipe as metadata. The names and layout are those of
/// format <see cref="Format"/> as first written, so earlier checkpoints load. The data loader's
/// position follows from the counters: the next epoch, and within it batch iteration − epoch × batches
/// (batches depend only on seed, epoch and index), so a checkpoint taken inside an epoch (a run
/// stopped by Ctrl-C) continues it, with that epoch's running loss in <c>epoch.loss_sum</c> and
/// <c>epoch.loss_count</c>. With distillation, <c>distill.store</c> holds the teacher's stored
/// predictions. The learning-rate schedule is a function of the iteration counter.
/// </summary>
public static class TrainerCheckpoint
{
    public const string Format = "sparseswitch-trainer-1";

    public static void Save(AlternatingTrainer tr, string path)
    {
        var w = new CheckpointWriter();
        w.Meta("format", Format);
        w.Meta("recipe", tr.Recipe.Resolved().ToJson());
        var table = tr.Table;
        var opt = tr.Optimizers;
        var masks = tr.Masks;
        var dense = tr.Updater?.DenseGroups;
        var c = tr.Correction;
        for (int i = 0; i < table.Entries.Count; i++)
        {
            var e = table.Entries[i];
            w.Add(ModelKey(e.Name), table.Slice(table.Data, i));
            if (opt.Momentum is { } mom) w.Add($"{OptimizerGroups.Prefix(opt.GroupOf(i))}.{e.Name}.momentum_buffer", table.Slice(mom, i));
            int prunable = tr.PrunableIndex(i);
            if (prunable < 0) continue;
            if (masks is not null)
                for (int k = 0; k < masks.Subnets; k++)
                {
                    w.AddBytes(MaskKey(k, e.Name), masks.Get(k, prunable).ToBytes());
                    if (dense is not null) w.AddBytes($"nmdense.{k}.{e.Name}", dense[k][prunable].ToBytes());
                }
            w.Add($"corr.prev.{prunable}", c.Previous(prunable));
        }
        foreach (var (name, b) in tr.Model.NamedBuffers()) w.Add(ModelKey(name), b);
        foreach (var (prefix, sgd) in opt.All()) w.Add($"{prefix}.step", new long[] { sgd.StepCount });
        if (tr.Updater is { } up)
        {
            w.Add("subnet.updates", up.Updates);
            w.Add("subnet.change", up.LastChange);
            w.Add("subnet.reached", (ReadOnlySpan<long>)up.Reached.Select(b => b ? 1L : 0L).ToArray());
            w.Add("rng.mask", up.Rng.GetState());
        }
        w.Add("corr.tested", c.Tested);
        w.Add("corr.fired", c.Fired);
        w.Add("counters", new long[] { tr.Iteration, tr.NextEpoch, tr.ForwardPasses, tr.BackwardPasses, c.HasPrevious ? 1 : 0 });
        w.AddDoubles("cost", new double[] { tr.TrainMacsDense, tr.TrainMacsMasked, tr.WallSeconds });
        if (tr.Distillation is { } d) w.Add("distill.store", d.Store);
        if (tr.MidEpoch)
        {
            w.AddDoubles("epoch.loss_sum", tr.EpochLossSum);
            w.Add("epoch.loss_count", tr.EpochLossCount);
        }
        w.Save(path);
    }

    /// <summary>Restores a trainer built from the same recipe to the saved state.</summary>
    public static void Load(AlternatingTrainer tr, string path)
    {
        var r = Open(path, tr.Recipe);
        var table = tr.Table;
        var opt = tr.Optimizers;
        var masks = tr.Masks;
        var dense = tr.Updater?.DenseGroups;
        var c = tr.Correction;
        for (int i = 0; i < table.Entries.Count; i++)
        {
            var e = table.Entries[i];
            r.ReadInto(ModelKey(e.Name), table.Slice(table.Data, i));
            if (opt.Momentum is { } mom) r.ReadInto($"{OptimizerGroups.Prefix(opt.GroupOf(i))}.{e.Name}.momentum_buffer", table.Slice(mom, i));
            int prunable = tr.PrunableIndex(i);
            if (prunable < 0) continue;
            if (masks is not null)
                for (int k = 0; k < masks.Subnets; k++)
                {
                    r.ReadMask(MaskKey(k, e.Name), masks.Get(k, prunable));
                    if (dense is not null) r.ReadMask($"nmdense.{k}.{e.Name}", dense[k][prunable]);
                }
            r.ReadInto($"corr.prev.{prunable}", c.Previous(prunable));
        }
        foreach (var (name, b) in tr.Model.NamedBuffers()) r.ReadInto(ModelKey(name), b);
        foreach (var (prefix, sgd) in opt.All()) sgd.StepCount = r.Longs($"{prefix}.step")[0];
        if (tr.Updater is { } up)
        {
            for (int k = 0; k < masks!.Subnets; k++) up.Recount(k);
            up.RestoreSrSte();
            r.Longs("subnet.updates").CopyTo(up.Updates, 0);
            r.Longs("subnet.change").CopyTo(up.LastChange, 0);
            var reached = r.Longs("subnet.reached");
            for (int k = 0; k < reached.Length; k++) up.Reached[k] = reached[k] != 0;
            up.Rng.SetState(r.ULongs("rng.mask"));
        }
        var counters = r.Longs("counters");
        c.Restore(counters[4] != 0, r.Longs("corr.tested"), r.Longs("corr.fired"));
        tr.Iteration = counters[0];
        tr.NextEpoch = (int)counters[1];
        tr.ForwardPasses = counters[2];
        tr.BackwardPasses = counters[3];
        var cost = r.Doubles("cost");
        tr.TrainMacsDense = cost[0];
        tr.TrainMacsMasked = cost[1];
        tr.WallSeconds = cost[2];
        if (tr.Distillation is { } d) r.ReadInto("distill.store", d.Store);
        if (tr.MidEpoch)
        {
            if (!r.Contains("epoch.loss_sum") || tr.BatchInEpoch >= tr.BatchesPerEpoch)
                throw new SafeTensorsFormatException($"{path}: iteration {tr.Iteration} is inside epoch {tr.NextEpoch}, but the checkpoint lacks that epoch's running loss.");
            r.Doubles("epoch.loss_sum").CopyTo(tr.EpochLossSum, 0);
            r.Longs("epoch.loss_count").CopyTo(tr.EpochLossCount, 0);
        }
    }

    /// <summary>The trained model of a checkpoint without a trainer: loads every parameter and buffer
    /// into <paramref name="model"/> (built as the recipe builds it) and returns each sub-net's masks
    /// of the <paramref name="prunable"/> parameters ([sub-net][parameter]; none in mode dense) and
    /// the number of epochs the checkpoint covers.</summary>
    public static (BitMask[][] Masks, int Epochs) ReadModel(string path, TrainRecipe recipe, Module model,
        IReadOnlyList<(string Path, Parameter Param)> prunable)
    {
        var r = Open(path, recipe);
        foreach (var (name, t) in model.StateDict()) r.ReadInto(ModelKey(name), t);
        int subnets = recipe.Mode == TrainMode.Dense ? 0 : recipe.SubnetsToTrain.Count;
        var masks = new BitMask[subnets][];
        for (int k = 0; k < subnets; k++)
        {
            masks[k] = prunable.Select(p => new BitMask(p.Param.Length)).ToArray();
            for (int l = 0; l < prunable.Count; l++) r.ReadMask(MaskKey(k, prunable[l].Path), masks[k][l]);
        }
        return (masks, (int)r.Longs("counters")[1]);
    }

    /// <summary>Opens a checkpoint after checking its format and that <paramref name="recipe"/> wrote it.</summary>
    private static CheckpointReader Open(string path, TrainRecipe recipe)
    {
        var r = new CheckpointReader(path);
        string format = r.Meta("format");
        if (format != Format) throw new SafeTensorsFormatException($"{path}: checkpoint format '{format}', expected '{Format}'.");
        var saved = TrainRecipe.FromJson(r.Meta("recipe"));
        if (saved.Resolved() with { Threads = recipe.Threads } != recipe.Resolved() with { Threads = recipe.Threads })
            throw new ArgumentException($"{path}: the checkpoint was written by a different recipe than the run folder's recipe.json.");
        return r;
    }

    private static string ModelKey(string path) => "model." + path;
    private static string MaskKey(int subnet, string path) => $"mask.{subnet}.{path}";

    public static string Describe(string path)
    {
        var r = new CheckpointReader(path);
        var counters = r.Longs("counters");
        return string.Create(CultureInfo.InvariantCulture, $"iteration {counters[0]}, next epoch {counters[1]}");
    }
}
