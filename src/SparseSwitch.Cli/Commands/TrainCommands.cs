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
    private sealed class Options
    {
        public readonly Option<string?> Recipe = new("--recipe") { Description = "Recipe file (YAML or JSON; keys are the option names, e.g. 'batch-size: 128'). Options given on the command line override it." };
        public readonly Option<string?> Model = new("--model") { Description = "Model: lenet5 (default), mlp, resnet20/32/44/56, wrn32, resnet18, vgg11/16, ..." };
        public readonly Option<string?> Data = new("--data") { Description = "Data set: synthetic (built in, default), mnist, cifar10." };
        public readonly Option<string?> DataDir = new("--data-dir") { Description = "Folder holding the data set files (default: searched)." };
        public readonly Option<int?> TrainLimit = new("--train-limit") { Description = "Use only the first N training images (synthetic: how many to draw; default 10000)." };
        public readonly Option<int?> TestLimit = new("--test-limit") { Description = "Use only the first N test images (synthetic default 2000)." };
        public readonly Option<string?> Subnets = new("--subnets") { Description = "Sub-nets: densities (default 0.1,0.05,0.02) or N:M patterns (2:4,1:4,1:8)." };
        public readonly Option<string?> Mode = new("--mode") { Description = "ast (default), independent, joint or dense." };
        public readonly Option<int?> Epochs = new("--epochs") { Description = "Training epochs (default 5)." };
        public readonly Option<int?> BatchSize = new("--batch-size") { Description = "Mini-batch size (default 32)." };
        public readonly Option<double?> Lr = new("--lr") { Description = "Base learning rate (default 0.02, right for the quick-start LeNet-5; ResNets with batch-norm take 0.1)." };
        public readonly Option<double?> Momentum = new("--momentum") { Description = "SGD momentum (default 0.9)." };
        public readonly Option<double?> Wd = new("--wd") { Description = "Weight decay (default 5e-4)." };
        public readonly Option<string?> Schedule = new("--schedule") { Description = "Learning-rate schedule: cosine (default), step, constant." };
        public readonly Option<double?> Warmup = new("--warmup") { Description = "Linear warm-up, epochs (default 0)." };
        public readonly Option<double?> PruneStart = new("--prune-start") { Description = "Epoch where the density ramp starts (default 1)." };
        public readonly Option<double?> PruneEnd = new("--prune-end") { Description = "Epoch where the density ramp ends (default 3)." };
        public readonly Option<int?> UpdateEvery = new("--update-every") { Description = "ΔT: mask update period in the sub-net's own iterations (default 10)." };
        public readonly Option<int?> Stagger = new("--stagger") { Description = "Offset between sub-nets' update clocks, own iterations (default ΔT/K)." };
        public readonly Option<double?> PruneRate = new("--prune-rate") { Description = "Initial prune-and-regrow fraction, cosine-decayed to 0.005 (default 0.5)." };
        public readonly Option<string?> Regrow = new("--regrow") { Description = "Regrowth gradient: dense (default) or masked (as the reference code)." };
        public readonly Option<double?> InitDensity = new("--init-density") { Description = "Initial density (1 = start dense; below 1: ERK random masks)." };
        public readonly Option<string?> Correction = new("--correction") { Description = "Gradient correction: inner-group (default), every-iteration, reference (the published no-op), off." };
        public readonly Option<bool?> Remask = new("--remask") { Description = "Re-mask the gradient after correction." };
        public readonly Option<bool?> Nested = new("--nested") { Description = "Nested sub-nets: each sparser mask inside the denser one." };
        public readonly Option<bool?> SrSte = new("--srste") { Description = "Train N:M sub-nets with SR-STE." };
        public readonly Option<bool?> Augment = new("--augment") { Description = "Random crop (pad 4) and horizontal flip." };
        public readonly Option<double?> LabelSmoothing = new("--label-smoothing") { Description = "Label smoothing of the loss (default 0)." };
        public readonly Option<ulong?> Seed = new("--seed") { Description = "Seed for initialisation, data order, augmentation and mask choices (default 1)." };
        public readonly Option<int?> Threads = new("--threads") { Description = "Kernel threads (default: processor count)." };
        public readonly Option<int?> Seeds = new("--seeds") { Description = "experiment: number of seeds (seed, seed+1, ...; default 2)." };
        public readonly Option<string[]> Set = new("--set")
        {
            Description = "Set any recipe field: --set key=value (repeatable; the keys of a recipe file, e.g. --set epochs=3 --set prune-rate-final=0.01). Applied after --recipe; the named options above win over it.",
            AllowMultipleArgumentsPerToken = false,
        };

        public IEnumerable<Option> All() =>
        [
            Recipe, Model, Data, DataDir, TrainLimit, TestLimit, Subnets, Mode, Epochs, BatchSize, Lr, Momentum, Wd, Schedule, Warmup,
            PruneStart, PruneEnd, UpdateEvery, Stagger, PruneRate, Regrow, InitDensity, Correction, Remask, Nested, SrSte, Augment,
            LabelSmoothing, Seed, Threads, Seeds, Set,
        ];

        public TrainRecipe Resolve(ParseResult p)
        {
            var r = new TrainRecipe();
            if (p.GetValue(Recipe) is { } file) r = RecipeFile.Load(file);
            if (p.GetValue(Set) is { Length: > 0 } sets) r = RecipeFile.ApplySets(r, sets);
            return r with
            {
                Model = p.GetValue(Model) ?? r.Model,
                Data = p.GetValue(Data)?.ToLowerInvariant() ?? r.Data,
                DataDir = p.GetValue(DataDir) ?? r.DataDir,
                TrainLimit = p.GetValue(TrainLimit) ?? r.TrainLimit,
                TestLimit = p.GetValue(TestLimit) ?? r.TestLimit,
                Subnets = p.GetValue(Subnets) is { } s ? ParseSubnets(s) : r.Subnets,
                Mode = p.GetValue(Mode) is { } m ? ParseEnum<TrainMode>("--mode", m) : r.Mode,
                Epochs = p.GetValue(Epochs) ?? r.Epochs,
                BatchSize = p.GetValue(BatchSize) ?? r.BatchSize,
                Lr = p.GetValue(Lr) ?? r.Lr,
                Momentum = p.GetValue(Momentum) ?? r.Momentum,
                WeightDecay = p.GetValue(Wd) ?? r.WeightDecay,
                Schedule = p.GetValue(Schedule) ?? r.Schedule,
                WarmupEpochs = p.GetValue(Warmup) ?? r.WarmupEpochs,
                PruneStart = p.GetValue(PruneStart) ?? r.PruneStart,
                PruneEnd = p.GetValue(PruneEnd) ?? r.PruneEnd,
                UpdateEvery = p.GetValue(UpdateEvery) ?? r.UpdateEvery,
                Stagger = p.GetValue(Stagger) ?? r.Stagger,
                PruneRate = p.GetValue(PruneRate) ?? r.PruneRate,
                Regrow = p.GetValue(Regrow) is { } g ? ParseEnum<RegrowSource>("--regrow", g) : r.Regrow,
                InitDensity = p.GetValue(InitDensity) ?? r.InitDensity,
                Correction = p.GetValue(Correction) is { } c ? ParseEnum<CorrectionMode>("--correction", c) : r.Correction,
                Remask = p.GetValue(Remask) ?? r.Remask,
                Nested = p.GetValue(Nested) ?? r.Nested,
                SrSte = p.GetValue(SrSte) ?? r.SrSte,
                Augment = p.GetValue(Augment) ?? r.Augment,
                LabelSmoothing = p.GetValue(LabelSmoothing) ?? r.LabelSmoothing,
                Seed = p.GetValue(Seed) ?? r.Seed,
                Threads = p.GetValue(Threads) ?? r.Threads,
                Seeds = p.GetValue(Seeds) ?? r.Seeds,
            };
        }
    }

    /// <summary>Parses --subnets once into the value the run takes; errors say what is allowed.</summary>
    public static SubnetList ParseSubnets(string value)
    {
        try { return SubnetList.Parse(value); }
        catch (ArgumentException e) { throw new UsageException("--" + e.Message); }
    }

    /// <summary>Parses kebab-case enum values (inner-group → InnerGroup); errors list the allowed values.</summary>
    public static T ParseEnum<T>(string option, string value) where T : struct, Enum
    {
        string key = value.Replace("-", "").Replace("_", "");
        if (Enum.TryParse<T>(key, ignoreCase: true, out var v) && !int.TryParse(key, out _)) return v;
        var allowed = Enum.GetNames<T>().Select(n => string.Concat(n.Select((ch, i) => i > 0 && char.IsUpper(ch) ? "-" + char.ToLowerInvariant(ch) : char.ToLowerInvariant(ch).ToString())));
        throw new UsageException($"{option}: '{value}' is not one of {string.Join(", ", allowed)}.");
    }

    /// <summary>The recipe options of <c>train</c> (less <c>--seeds</c>) and what resolves and checks
    /// them into a recipe, for other commands that start a run (<c>import</c>).</summary>
    internal static (IReadOnlyList<Option> Options, Func<ParseResult, TrainRecipe> Resolve) RecipeOptions()
    {
        var o = new Options();
        return (o.All().Where(x => x != o.Seeds).ToList(), p => Resolve(o, p));
    }

    public static IEnumerable<Command> Build()
    {
        yield return BuildTrain();
        yield return BuildExperiment();
    }

    private static Command BuildTrain()
    {
        var o = new Options();
        var outDir = new Option<string?>("--out") { Description = "Run folder (default runs/<mode>-<time>)." };
        var resume = new Option<bool>("--resume") { Description = "Continue the run in --out from its last checkpoint (its recipe is used)." };
        var stopAfter = new Option<int?>("--stop-after") { Description = "Stop after this epoch (checkpoint written); continue later with --resume." };
        var quiet = new Option<bool>("--quiet") { Description = "Print only the run folder at the end (errors and warnings still go to standard error)." };
        var json = new Option<bool>("--json") { Description = "Print JSON lines for scripts: one per sub-net and epoch (as metrics.jsonl), then {\"done\": true, \"run_folder\": …, \"report\": …}." };
        var cmd = new Command("train", "Train sparse sub-networks (Alternating Sparse Training by default; --mode picks a baseline). " +
            "Without options: AST on the built-in synthetic data (10000 images) with LeNet-5, sub-nets 0.1, 0.05, 0.02, 5 epochs (dense for the first, ramp to the target densities by epoch 3).");
        foreach (var opt in o.All()) cmd.Options.Add(opt);
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
                recipe = new TrainRecipe { Threads = p.GetValue(o.Threads) ?? 0 };
            }
            else
            {
                recipe = Resolve(o, p);
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
        var o = new Options();
        var outDir = new Option<string?>("--out") { Description = "Experiment folder (default runs/experiment-<time>)." };
        var modes = new Option<string?>("--modes") { Description = "Approaches to compare (default ast,independent,joint,dense)." };
        var cmd = new Command("experiment", "Run AST and the baselines (independent, joint, dense) on the same data and budget over several seeds; " +
            "write a comparison table (comparison.md, comparison.csv).");
        foreach (var opt in o.All()) cmd.Options.Add(opt);
        cmd.Options.Add(outDir);
        cmd.Options.Add(modes);
        cmd.SetAction(p =>
        {
            var recipe = Resolve(o, p);
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

    private static TrainRecipe Resolve(Options o, ParseResult p)
    {
        var r = o.Resolve(p);
        try { r.Validate(); }
        catch (ArgumentException e) { throw new UsageException(e.Message.StartsWith("--", StringComparison.Ordinal) ? e.Message : "--" + e.Message); }
        return r;
    }
}
