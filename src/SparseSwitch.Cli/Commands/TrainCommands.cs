using System.CommandLine;
using System.Globalization;
using SparseSwitch.Cli.Reports;
using SparseSwitch.Training;

namespace SparseSwitch.Cli.Commands;

/// <summary>
/// <c>train</c>: one run (AST or a baseline) into a run folder; <c>experiment</c>: AST and the
/// baselines over several seeds with a comparison table. Values come from the defaults, then an
/// optional recipe file (YAML or JSON, keys as the long option names), then the options given.
/// </summary>
public static class TrainCommands
{
    /// <summary>Parses kebab-case enum values (inner-group → InnerGroup); errors list the allowed values.</summary>
    public static T ParseEnum<T>(string option, string value) where T : struct, Enum
    {
        string key = value.Replace("-", "").Replace("_", "");
        if (Enum.TryParse<T>(key, ignoreCase: true, out var v) && !int.TryParse(key, out _)) return v;
        var allowed = Enum.GetNames<T>().Select(n => string.Concat(n.Select((ch, i) => i > 0 && char.IsUpper(ch) ? "-" + char.ToLowerInvariant(ch) : char.ToLowerInvariant(ch).ToString())));
        throw new UsageException($"{option}: '{value}' is not one of {string.Join(", ", allowed)}.");
    }

    public static IEnumerable<Command> Build()
    {
        yield return BuildTrain();
        yield return BuildExperiment();
    }

    private static Command BuildTrain()
    {
        var o = new RecipeOptions("seeds");
        var outDir = new Option<string?>("--out") { Description = "Run folder (default runs/<mode>-<time>)." };
        var resume = new Option<bool>("--resume") { Description = "Continue the run in --out from its last checkpoint (its recipe is used)." };
        var stopAfter = new Option<int?>("--stop-after") { Description = "Stop after this epoch (checkpoint written); continue later with --resume." };
        var quiet = new Option<bool>("--quiet") { Description = "Print only the run folder at the end (errors and warnings still go to standard error)." };
        var json = new Option<bool>("--json") { Description = "Print JSON lines for scripts: one per sub-net and epoch (as metrics.jsonl), then {\"done\": true, \"run_folder\": …, \"report\": …}." };
        var cmd = new Command("train", "Train sparse sub-networks (Alternating Sparse Training by default; --mode picks a baseline). " +
            "Without options: AST on the built-in synthetic data (10000 images) with LeNet-5, sub-nets 0.1, 0.05, 0.02, 5 epochs (dense for the first, ramp to the target densities by epoch 3).");
        foreach (var opt in o.All) cmd.Options.Add(opt);
        cmd.Options.Add(outDir);
        cmd.Options.Add(resume);
        cmd.Options.Add(stopAfter);
        cmd.Options.Add(quiet);
        cmd.Options.Add(json);
        cmd.SetAction(p =>
        {
            if (p.GetValue(stopAfter) is < 1) throw new UsageException("--stop-after: must be ≥ 1 (an epoch count).");
            bool asJson = p.GetValue(json), isQuiet = p.GetValue(quiet);
            if (asJson && isQuiet) throw new UsageException("--quiet and --json: choose one.");
            bool isResume = p.GetValue(resume);
            string? dir = p.GetValue(outDir);
            TrainRecipe recipe;
            if (isResume)
            {
                if (dir is null) throw new UsageException("--resume needs --out RUN_DIR (the run folder to continue).");
                if (!File.Exists(Path.Combine(dir, "checkpoint.safetensors")) && !Directory.Exists(Path.Combine(dir, "subnet-0")))
                    throw new UsageException($"--resume: {dir} holds no checkpoint.");
                recipe = new TrainRecipe { Threads = ResumeThreads(o, p) };
            }
            else
            {
                recipe = o.Resolve(p);
                dir ??= Path.Combine("runs", $"{recipe.Mode.ToString().ToLowerInvariant()}-{DateTime.UtcNow:yyyyMMdd-HHmmss}");
            }
            var summary = TrainingRun.Run(recipe, dir, isResume, asJson || isQuiet ? null : Console.Out, stopAfterEpoch: p.GetValue(stopAfter),
                onMetrics: asJson ? m => Console.WriteLine(m.ToJsonLine()) : null);
            string? page = ReportWriter.TryWrite(dir, Console.Error);
            if (asJson)
                Console.WriteLine(System.Text.Json.JsonSerializer.Serialize(new Dictionary<string, object?> { ["done"] = true, ["run_folder"] = dir, ["report"] = page }));
            else if (isQuiet)
                Console.WriteLine(dir);
            else
            {
                Console.WriteLine($"run folder: {dir}");
                foreach (var m in summary.Final)
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"  sub-net {m.Subnet} [{m.Spec}]: accuracy {100 * m.TestAccuracy:F2}%, density {m.DensityPrunable:F4} (prunable) / {m.DensityAll:F4} (all parameters), {m.InferenceMacs:N0} multiply-adds per image"));
                if (page is not null) Console.WriteLine($"report: {page}");
            }
            return 0;
        });
        return cmd;
    }

    private static Command BuildExperiment()
    {
        var o = new RecipeOptions();
        var outDir = new Option<string?>("--out") { Description = "Experiment folder (default runs/experiment-<time>)." };
        var modes = new Option<string?>("--modes") { Description = "Approaches to compare (default ast,independent,joint,dense)." };
        var cmd = new Command("experiment", "Run AST and the baselines (independent, joint, dense) on the same data and budget over several seeds; " +
            "write a comparison table (comparison.md, comparison.csv).");
        foreach (var opt in o.All) cmd.Options.Add(opt);
        cmd.Options.Add(outDir);
        cmd.Options.Add(modes);
        cmd.SetAction(p =>
        {
            var recipe = o.Resolve(p);
            var list = (p.GetValue(modes) ?? "ast,independent,joint,dense").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
                .Select(m => ParseEnum<TrainMode>("--modes", m)).Distinct().ToList();
            if (list.Count == 0) throw new UsageException("--modes: give at least one of ast, independent, joint, dense.");
            string dir = p.GetValue(outDir) ?? Path.Combine("runs", $"experiment-{DateTime.UtcNow:yyyyMMdd-HHmmss}");
            var table = ExperimentRunner.Run(recipe, list, dir, Console.Out, runDone: run => ReportWriter.TryWrite(run, Console.Error));
            Console.WriteLine();
            Console.WriteLine(table.ToMarkdown());
            Console.WriteLine($"experiment folder: {dir}");
            if (ReportWriter.TryWrite(dir, Console.Error) is { } report) Console.WriteLine($"report: {report}");
            return 0;
        });
        return cmd;
    }

    /// <summary>A resumed run keeps its recipe; only the thread count may change.</summary>
    private static int ResumeThreads(RecipeOptions o, ParseResult p)
    {
        if (p.GetValue(o.Recipe) is not null || p.GetValue(o.Set) is { Length: > 0 })
            throw new UsageException("--resume continues with the run's own recipe (recipe.json); --recipe and --set do not apply.");
        var given = o.Given(p).Where(g => g.Key != "threads").Select(g => g.Where).ToList();
        if (given.Count > 0)
            throw new UsageException($"--resume continues with the run's own recipe (recipe.json); only --threads may change, got {string.Join(", ", given)}.");
        var threads = RecipeFile.Apply(new TrainRecipe(), o.Given(p));
        if (threads.Threads < 0) throw new UsageException($"--threads: must be ≥ 1 (or 0 for the machine's processor count), got {threads.Threads}.");
        return threads.Threads;
    }
}
