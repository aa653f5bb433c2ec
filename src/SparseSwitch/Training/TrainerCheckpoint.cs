using System.Globalization;
using SparseSwitch.Sparsity;
using SparseSwitch.Tensors;

namespace SparseSwitch.Training;

/// <summary>
/// Everything a run needs to continue exactly as if it had not stopped, in one safetensors file:
/// <c>model.*</c> (every parameter and buffer, so every batch-norm set), <c>optim.*</c> (momentum
/// buffers and step counts of every optimiser group), <c>mask.{k}.{layer}</c> (bit-packed U8, <see cref="MaskSet.ToEntries"/>),
/// <c>nmdense.{k}.{layer}</c> (N:M ramp dense groups), <c>corr.*</c> (g′ buffers and counters),
/// <c>rng.mask</c>, <c>counters</c>, <c>cost</c>, <c>subnet.*</c>, and the recipe as metadata. The
/// data loader's position is the next epoch (checkpoints are taken at epoch ends; batches depend only
/// on seed, epoch and index). The learning-rate schedule is a function of the iteration counter.
/// </summary>
public static class TrainerCheckpoint
{
    public const string Format = "sparseswitch-trainer-1";

    public static void Save(AlternatingTrainer tr, string path)
    {
        var w = new CheckpointWriter();
        w.Meta("format", Format);
        w.Meta("recipe", tr.Recipe.ToJson());
        foreach (var (name, t) in tr.Model.StateDict()) w.Add("model." + name, t);
        foreach (var (prefix, opt) in tr.Optimizers.All())
        {
            foreach (var (name, t) in opt.StateTensors()) w.Add($"{prefix}.{name}", t);
            w.Add($"{prefix}.step", new long[] { opt.StepCount });
        }
        if (tr.Masks is { } masks)
        {
            w.AddRaw(masks.ToEntries("mask."));
            var up = tr.Updater!;
            if (up.DenseGroups is { } dg)
                for (int k = 0; k < masks.Subnets; k++)
                    for (int i = 0; i < masks.Layers; i++)
                        w.AddBytes($"nmdense.{k}.{masks.Paths[i]}", dg[k][i].ToBytes());
            w.Add("subnet.updates", up.Updates);
            w.Add("subnet.change", up.LastChange);
            w.Add("subnet.reached", (ReadOnlySpan<long>)up.Reached.Select(b => b ? 1L : 0L).ToArray());
            w.Add("rng.mask", up.Rng.GetState());
        }
        var c = tr.Correction;
        for (int i = 0; i < c.Count; i++) w.Add($"corr.prev.{i}", c.Previous[i]);
        w.Add("corr.tested", c.Tested);
        w.Add("corr.fired", c.Fired);
        w.Add("counters", new long[] { tr.Iteration, tr.NextEpoch, tr.ForwardPasses, tr.BackwardPasses, c.HasPrevious ? 1 : 0 });
        w.AddDoubles("cost", new double[] { tr.TrainMacsDense, tr.TrainMacsMasked, tr.WallSeconds });
        w.Save(path);
    }

    /// <summary>Restores a trainer built from the same recipe to the saved state.</summary>
    public static void Load(AlternatingTrainer tr, string path)
    {
        var r = new CheckpointReader(path);
        string format = r.Meta("format");
        if (format != Format) throw new SparseSwitch.Serialization.SafeTensorsFormatException($"{path}: checkpoint format '{format}', expected '{Format}'.");
        var saved = TrainRecipe.FromJson(r.Meta("recipe"));
        if (saved with { Threads = tr.Recipe.Threads } != tr.Recipe with { Threads = tr.Recipe.Threads })
            throw new ArgumentException($"{path}: the checkpoint was written by a different recipe; resume with the run folder's recipe.");
        foreach (var (name, t) in tr.Model.StateDict()) r.ReadInto("model." + name, t);
        foreach (var (prefix, opt) in tr.Optimizers.All())
        {
            foreach (var (name, t) in opt.StateTensors()) r.ReadInto($"{prefix}.{name}", t);
            opt.StepCount = r.Longs($"{prefix}.step")[0];
        }
        if (tr.Masks is { } masks)
        {
            masks.LoadEntries(r.File, "mask.");
            var up = tr.Updater!;
            for (int k = 0; k < masks.Subnets; k++) up.Recount(k);
            up.RestoreSrSte();
            if (up.DenseGroups is { } dg)
                for (int k = 0; k < masks.Subnets; k++)
                    for (int i = 0; i < masks.Layers; i++)
                        dg[k][i].CopyFrom(BitMask.FromBytes(r.Bytes($"nmdense.{k}.{masks.Paths[i]}"), dg[k][i].Length));
            r.Longs("subnet.updates").CopyTo(up.Updates, 0);
            r.Longs("subnet.change").CopyTo(up.LastChange, 0);
            var reached = r.Longs("subnet.reached");
            for (int k = 0; k < reached.Length; k++) up.Reached[k] = reached[k] != 0;
            up.Rng.SetState(r.ULongs("rng.mask"));
        }
        var counters = r.Longs("counters");
        var c = tr.Correction;
        var prev = Enumerable.Range(0, c.Count).Select(i =>
        {
            var t = c.Previous[i].Clone();
            r.ReadInto($"corr.prev.{i}", t);
            return t;
        }).ToList();
        c.Restore(prev, counters[4] != 0, r.Longs("corr.tested"), r.Longs("corr.fired"));
        tr.Iteration = counters[0];
        tr.NextEpoch = (int)counters[1];
        tr.ForwardPasses = counters[2];
        tr.BackwardPasses = counters[3];
        var cost = r.Doubles("cost");
        tr.TrainMacsDense = cost[0];
        tr.TrainMacsMasked = cost[1];
        tr.WallSeconds = cost[2];
    }

    public static string Describe(string path)
    {
        var r = new CheckpointReader(path);
        var counters = r.Longs("counters");
        return string.Create(CultureInfo.InvariantCulture, $"iteration {counters[0]}, next epoch {counters[1]}");
    }
}
