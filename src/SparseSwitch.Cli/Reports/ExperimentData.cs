using SparseSwitch.Training;

namespace SparseSwitch.Cli.Reports;

/// <summary>
/// What a report shows of an experiment folder: its recipe, the run folders inside it (one per
/// approach and seed, named &lt;mode&gt;-seed&lt;s&gt;), and the comparison table recomputed from
/// their metrics as <see cref="ExperimentRunner"/> computes it, so that an experiment stopped part
/// way still gets a table of the runs that finished.
/// </summary>
internal sealed class ExperimentData
{
    public required string Folder { get; init; }
    public required TrainRecipe Recipe { get; init; }
    public required IReadOnlyList<(string Key, string Value)> RecipeFields { get; init; }
    /// <summary>Runs with at least one finished epoch, by approach then seed.</summary>
    public required IReadOnlyList<RunData> Runs { get; init; }
    /// <summary>Run folders found without a finished epoch.</summary>
    public required IReadOnlyList<string> Unfinished { get; init; }
    public required ComparisonTable Table { get; init; }

    /// <summary>True when <paramref name="dir"/> is not itself a run but holds recipe.json and at
    /// least one run folder.</summary>
    public static bool IsExperimentFolder(string dir) =>
        File.Exists(Path.Combine(dir, "recipe.json")) && !File.Exists(Path.Combine(dir, "metrics.jsonl"))
        && Directory.EnumerateDirectories(dir).Any(RunData.IsRunFolder);

    public static ExperimentData Load(string dir)
    {
        var (recipe, fields) = RunData.ReadRecipe(Path.Combine(dir, "recipe.json"));
        var runs = new List<RunData>();
        var unfinished = new List<string>();
        foreach (var sub in Directory.EnumerateDirectories(dir).Where(RunData.IsRunFolder).Order(StringComparer.Ordinal))
        {
            var run = RunData.Load(sub);
            if (run.Final.Count == 0) unfinished.Add(Path.GetFileName(sub));
            else runs.Add(run);
        }
        runs = runs.OrderBy(r => r.Recipe.Mode).ThenBy(r => r.Recipe.Seed).ToList();
        return new ExperimentData
        {
            Folder = dir, Recipe = recipe, RecipeFields = fields, Runs = runs, Unfinished = unfinished,
            Table = ComparisonTable.From(runs.Select(Summary)),
        };
    }

    /// <summary>The run's outcome as the experiment runner summarises it: the last rows, and the
    /// whole training cost (mode independent: the sum of its sub-nets' runs).</summary>
    public static RunSummary Summary(RunData run)
    {
        var f = run.Final;
        var cost = run.Independent ? f : f.Take(1).ToList();
        return new RunSummary(run.Recipe.Mode, run.Recipe.Seed, f, cost.Sum(m => m.ForwardPasses), cost.Sum(m => m.BackwardPasses),
            cost.Sum(m => m.TrainMacsDense), cost.Sum(m => m.TrainMacsMasked), cost.Sum(m => m.WallSeconds));
    }
}
