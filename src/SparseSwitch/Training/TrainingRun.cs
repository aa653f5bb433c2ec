using System.Globalization;
using SparseSwitch.Data;
using SparseSwitch.Nn;

namespace SparseSwitch.Training;

/// <summary>The outcome of one approach (one mode of one seed): the last epoch's metrics per sub-net
/// and the whole training cost.</summary>
public sealed record RunSummary(TrainMode Mode, ulong Seed, IReadOnlyList<EpochMetrics> Final,
    long ForwardPasses, long BackwardPasses, double TrainMacsDense, double TrainMacsMasked, double WallSeconds)
{
    /// <summary>The run was stopped before its last epoch (its checkpoint continues it with resume).</summary>
    public bool Stopped { get; init; }
}

/// <summary>
/// Runs a recipe into a run folder: epochs of <see cref="AlternatingTrainer"/>, evaluation and metric
/// rows after each, an atomic checkpoint at each epoch end, progress lines. With resume, continues
/// from the folder's checkpoint (the recipe stored there is used). Mode independent runs one single
/// sub-net trainer per sub-net in sub-folders subnet-0 … subnet-(K−1) and reports them together.
/// A <c>stop</c> request ends the run after the batch in progress with a checkpoint there (the
/// summary says <see cref="RunSummary.Stopped"/>); resume continues from that batch exactly.
/// In a data-parallel job (<c>collective</c> of several ranks) every rank trains and evaluates its
/// share, and rank 0 alone writes the folder (recipe, metrics, log, checkpoints); a resume may use
/// another number of ranks.
/// </summary>
public static class TrainingRun
{
    public static RunSummary Run(TrainRecipe recipe, string outDir, bool resume = false, TextWriter? progress = null,
        (ImageDataset Train, ImageDataset Test)? data = null, Func<TrainingSetup, Module>? modelFactory = null,
        Action<AlternatingTrainer>? onTrainer = null, int? stopAfterEpoch = null, Action<EpochMetrics>? onMetrics = null,
        ITrainingProgress? live = null, CancellationToken stop = default, Distributed.ICollective? collective = null)
    {
        collective ??= Distributed.SingleProcess.Instance;
        bool writer = collective.Rank == 0;
        var folder = new RunFolder(outDir) { ReadOnly = !writer };
        if (resume)
        {
            var saved = folder.ReadRecipe();
            recipe = saved with { Threads = recipe.Threads > 0 ? recipe.Threads : saved.Threads };
        }
        recipe.Validate();
        recipe = recipe.Resolved();
        folder.WriteRecipe(recipe);
        data ??= TrainingSetup.LoadData(recipe);
        if (recipe.Mode != TrainMode.Independent)
            return RunOne(recipe, folder, resume, progress, data.Value, modelFactory, onTrainer, "", stopAfterEpoch, onMetrics, live, stop, collective);

        var subs = recipe.Subnets;
        var parts = new List<RunSummary>();
        if (!resume) folder.ResetMetrics();
        for (int k = 0; k < subs.Count; k++)
        {
            var sub = recipe with { Subnets = new SubnetList([subs[k]]) };
            var subFolder = new RunFolder(Path.Combine(outDir, $"subnet-{k}")) { ReadOnly = !writer };
            bool subResume = resume && File.Exists(subFolder.CheckpointFile);
            if (!subResume) subFolder.WriteRecipe(sub);
            int index = k;
            var part = RunOne(sub, subFolder, subResume, progress, data.Value, modelFactory, onTrainer, $"[{subs[k]}] ", stopAfterEpoch,
                onMetrics is null ? null : m => onMetrics(m with { Subnet = index }), live, stop, collective);
            if (part.Stopped)
                return part with { Mode = TrainMode.Independent, Final = [.. parts.Select((p, j) => p.Final[0] with { Subnet = j })] };
            parts.Add(part);
        }
        var final = parts.Select((p, k) => p.Final[0] with { Subnet = k }).ToList();
        folder.TruncateMetrics(0);
        foreach (var m in final) folder.Append(m);
        return new RunSummary(TrainMode.Independent, recipe.Seed, final, parts.Sum(p => p.ForwardPasses), parts.Sum(p => p.BackwardPasses),
            parts.Sum(p => p.TrainMacsDense), parts.Sum(p => p.TrainMacsMasked), parts.Sum(p => p.WallSeconds));
    }

    private static RunSummary RunOne(TrainRecipe recipe, RunFolder folder, bool resume, TextWriter? progress,
        (ImageDataset Train, ImageDataset Test) data, Func<TrainingSetup, Module>? modelFactory, Action<AlternatingTrainer>? onTrainer, string tag, int? stopAfterEpoch,
        Action<EpochMetrics>? onMetrics, ITrainingProgress? live, CancellationToken stop, Distributed.ICollective collective)
    {
        using var setup = new TrainingSetup(recipe, data, modelFactory, collective);
        var tr = new AlternatingTrainer(setup);
        onTrainer?.Invoke(tr);
        if (live is not null) tr.OnIteration += live.Iteration;
        List<EpochMetrics> last = [];
        if (resume)
        {
            TrainerCheckpoint.Load(tr, folder.CheckpointFile);
            folder.TruncateMetrics(tr.NextEpoch);
            last = folder.ReadMetrics().Where(m => m.Epoch == tr.NextEpoch - 1).ToList();
            Say(progress, live, folder, tr.MidEpoch
                ? $"{tag}resumed in epoch {tr.NextEpoch + 1} after batch {tr.BatchInEpoch}/{tr.BatchesPerEpoch} (iteration {tr.Iteration})"
                : $"{tag}resumed at epoch {tr.NextEpoch} (iteration {tr.Iteration})");
        }
        else
        {
            folder.ResetMetrics();
            Say(progress, live, folder, $"{tag}{recipe.Mode.ToString().ToLowerInvariant()}: {recipe.Model} on {recipe.Data} ({setup.Train.Count} train / {setup.Test.Count} test), " +
                $"sub-nets {tr.Subnets}, {recipe.Epochs} epochs × {tr.BatchesPerEpoch} iterations, seed {recipe.Seed}");
        }
        if (!resume && tr.Masks is not null && !recipe.SrSte)
            for (int k = 0; k < tr.K; k++)
                if (tr.Clock.RampEvents(k) == 0 && tr.Subnets[k].FinalDensity < recipe.InitDensity)
                    Say(progress, live, folder, $"{tag}warning: sub-net [{tr.Subnets[k]}] gets no mask update between epochs {recipe.PruneStart.ToString(System.Globalization.CultureInfo.InvariantCulture)} " +
                        $"and {recipe.PruneEnd.ToString(System.Globalization.CultureInfo.InvariantCulture)} (update-every {recipe.UpdateEvery} of its own iterations, " +
                        $"{tr.BatchesPerEpoch} iterations per epoch): it will not reach its density; lower --update-every or lengthen the ramp.");
        bool stopped = false;
        while (tr.NextEpoch < Math.Min(recipe.Epochs, stopAfterEpoch ?? int.MaxValue))
        {
            if (stop.IsCancellationRequested) { stopped = true; break; }
            live?.EpochStarted(folder.Path, tag, tr.Subnets, tr.NextEpoch, recipe.Epochs, tr.BatchInEpoch, tr.BatchesPerEpoch, recipe.BatchSize);
            var trainLoss = tr.RunEpoch(stop);
            if (trainLoss is null)
            {
                if (!folder.ReadOnly) TrainerCheckpoint.Save(tr, folder.CheckpointFile);
                stopped = true;
                break;
            }
            last = tr.EpochReport(folder.Path, trainLoss);
            foreach (var m in last) folder.Append(m);
            if (!folder.ReadOnly) TrainerCheckpoint.Save(tr, folder.CheckpointFile);
            if (onMetrics is not null) foreach (var m in last) onMetrics(m);
            var c = CultureInfo.InvariantCulture;
            string line = $"{tag}epoch {tr.NextEpoch}/{recipe.Epochs} ({tr.WallSeconds:F1} s): " + string.Join("  ", last.Select(m =>
                string.Create(c, $"[{m.Spec}] loss {m.TrainLoss:F3} acc {100 * m.TestAccuracy:F2}% density {m.DensityPrunable:F4}")));
            (long, long)? projections = tr.Correction.Mode != CorrectionMode.Off ? (tr.Correction.Fired.Sum(), tr.Correction.Tested.Sum()) : null;
            if (projections is var (fired, tested)) line += $"  projections {fired}/{tested}";
            progress?.WriteLine(line);
            folder.Log(line);
            live?.EpochEnded(tag, tr.NextEpoch - 1, recipe.Epochs, last, projections, tr.WallSeconds);
            // An epoch leaves garbage on the large object heap (its mask updates' scratch, the
            // checkpoint's bytes, the metrics), which only a full collection frees; the budget that
            // starts one grows with what lives there (the data set), so without this the process
            // grows by that garbage epoch after epoch. Collected here, its space serves the next epoch.
            GC.Collect();
        }
        if (!stopped && tr.NextEpoch >= recipe.Epochs && recipe.Mode != TrainMode.Dense)
            foreach (var m in last)
            {
                // A ramp too short for the update period never reaches its target: say so.
                double target = tr.Subnets[m.Subnet].FinalDensity;
                if (m.DensityPrunable > target * 1.05 + 1e-3)
                    Say(progress, live, folder, string.Create(System.Globalization.CultureInfo.InvariantCulture,
                        $"{tag}warning: sub-net [{m.Spec}] ended at density {m.DensityPrunable:F4}, above its target {target:F4}: its ramp had too few mask updates " +
                        $"(update-every {recipe.UpdateEvery} of its own iterations between epochs {recipe.PruneStart} and {recipe.PruneEnd}); lower --update-every or lengthen the ramp."));
            }
        if (stopped)
            Say(progress, live, folder, tr.MidEpoch
                ? $"{tag}stopped in epoch {tr.NextEpoch + 1} after batch {tr.BatchInEpoch}/{tr.BatchesPerEpoch} (iteration {tr.Iteration}); checkpoint written, resume continues from there"
                : $"{tag}stopped after epoch {tr.NextEpoch} (iteration {tr.Iteration}); checkpoint written, resume continues from there");
        return new RunSummary(recipe.Mode, recipe.Seed, last, tr.ForwardPasses, tr.BackwardPasses, tr.TrainMacsDense, tr.TrainMacsMasked, tr.WallSeconds)
        {
            Stopped = stopped,
        };
    }

    private static void Say(TextWriter? progress, ITrainingProgress? live, RunFolder folder, string line)
    {
        progress?.WriteLine(line);
        live?.Message(line);
        folder.Log(line);
    }
}
