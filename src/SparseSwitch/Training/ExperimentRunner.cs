namespace SparseSwitch.Training;

/// <summary>
/// Runs AST and the baselines on the same data set, model, sub-nets and epoch budget over several
/// seeds (seed, seed + 1, …), each into experiment/&lt;mode&gt;-seed&lt;s&gt;, and writes
/// comparison.md and comparison.csv (see <see cref="ComparisonTable"/>). The data set is loaded once
/// and shared, so every approach sees the same images. <c>runDone</c> is called with each run's
/// folder as soon as that run has finished. With <c>resume</c>, every run whose folder holds a
/// checkpoint continues from it (a finished run is read back, not trained again). A <c>stop</c>
/// request ends the run in progress with a checkpoint and the experiment without a table (null).
/// </summary>
public static class ExperimentRunner
{
    public static ComparisonTable? Run(TrainRecipe recipe, IReadOnlyList<TrainMode> modes, string outDir, TextWriter? progress = null,
        Func<TrainingSetup, SparseSwitch.Nn.Module>? modelFactory = null, (SparseSwitch.Data.ImageDataset Train, SparseSwitch.Data.ImageDataset Test)? data = null,
        Action<string>? runDone = null, bool resume = false, Action<EpochMetrics>? onMetrics = null,
        ITrainingProgress? live = null, CancellationToken stop = default)
    {
        recipe.Validate();
        recipe = recipe.Resolved();
        Directory.CreateDirectory(outDir);
        if (!resume) RunFolder.WriteAtomically(Path.Combine(outDir, "recipe.json"), recipe.ToJson());
        data ??= TrainingSetup.LoadData(recipe);
        var summaries = new List<RunSummary>();
        for (int s = 0; s < recipe.Seeds; s++)
        {
            ulong seed = recipe.Seed + (ulong)s;
            foreach (var mode in modes)
            {
                var r = recipe with { Mode = mode, Seed = seed };
                string dir = Path.Combine(outDir, $"{mode.ToString().ToLowerInvariant()}-seed{seed}");
                string title = $"== {mode.ToString().ToLowerInvariant()}, seed {seed}";
                progress?.WriteLine(title);
                live?.Message(title);
                bool again = resume && (File.Exists(Path.Combine(dir, "checkpoint.safetensors")) || Directory.Exists(Path.Combine(dir, "subnet-0")));
                var summary = TrainingRun.Run(r, dir, again, progress, data, modelFactory, onMetrics: onMetrics, live: live, stop: stop);
                if (summary.Stopped) return null;
                summaries.Add(summary);
                runDone?.Invoke(dir);
            }
        }
        var table = ComparisonTable.From(summaries);
        RunFolder.WriteAtomically(Path.Combine(outDir, "comparison.md"), table.ToMarkdown());
        RunFolder.WriteAtomically(Path.Combine(outDir, "comparison.csv"), table.ToCsv());
        return table;
    }
}
