using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Spectre.Console;
using SparseSwitch.Cli.Reports;
using SparseSwitch.Distributed;
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
        var iterationLog = new Option<bool>("--iteration-log") { Description = "Also write every iteration's training loss to RUN/iterations.csv (t, sub-net, spec, loss)." };
        var distributed = new Option<bool>("--distributed")
        {
            Description = "Data-parallel training over MPI (Open MPI): start as 'mpirun -np N sparseswitch train --out RUN ...'. Every rank trains its share of each batch " +
                "(--batch-size is the global batch) and the gradients are summed before each step; rank 0 writes the run folder. Implied when started by mpirun.",
        };
        var cmd = new Command("train", "Train sparse sub-networks (Alternating Sparse Training by default; --mode picks a baseline). " +
            "Without options: AST on the built-in synthetic data (10000 images) with LeNet-5, sub-nets 0.1, 0.05, 0.02, 5 epochs (dense for the first, ramp to the target densities by epoch 3).");
        foreach (var opt in o.All) cmd.Options.Add(opt);
        cmd.Options.Add(outDir);
        cmd.Options.Add(resume);
        cmd.Options.Add(stopAfter);
        cmd.Options.Add(quiet);
        cmd.Options.Add(json);
        cmd.Options.Add(distributed);
        cmd.Options.Add(iterationLog);
        cmd.SetAction(p =>
        {
            if (p.GetValue(stopAfter) is < 1) throw new UsageException("--stop-after: must be ≥ 1 (an epoch count).");
            bool isDistributed = p.GetValue(distributed) || MpiCollective.LaunchedByMpi;
            if (isDistributed && p.GetValue(outDir) is null)
                throw new UsageException("--distributed needs --out RUN_DIR (every rank must name the same run folder).");
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
            using var comm = isDistributed ? new MpiCollective() : null;
            if (comm is { Rank: > 0 }) return Follow(comm, stop => TrainingRun.Run(recipe, dir, isResume, stopAfterEpoch: p.GetValue(stopAfter), stop: stop, collective: comm).Stopped);
            using var signal = new StopSignal(Console.Error);
            var live = Live(asJson, isQuiet);
            using var log = p.GetValue(iterationLog) ? new IterationLog(dir) : null;
            RunSummary Train() => TrainingRun.Run(recipe, dir, isResume, asJson || isQuiet || live is not null ? null : Console.Out,
                stopAfterEpoch: p.GetValue(stopAfter), onMetrics: asJson ? m => Console.WriteLine(m.ToJsonLine()) : null, live: live, stop: signal.Token,
                collective: comm, onTrainer: log is null ? null : log.Attach);
            RunSummary summary;
            try { summary = live is null ? Train() : live.Run(Train); }
            catch (Exception e) when (comm is { Size: > 1 }) { return AbortJob(comm, e); }
            string? page = ReportWriter.TryWrite(dir, Console.Error);
            if (summary.Stopped) return Stopped(asJson, isQuiet, "run_folder", dir, $"sparseswitch train --resume --out {dir}");
            if (asJson)
                Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object?> { ["done"] = true, ["run_folder"] = dir, ["report"] = page }));
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
        var resume = new Option<bool>("--resume") { Description = "Continue the experiment in --out: its recipe and modes are used; each run continues from its checkpoint, finished runs are read back." };
        var quiet = new Option<bool>("--quiet") { Description = "Print only the experiment folder at the end (errors and warnings still go to standard error)." };
        var json = new Option<bool>("--json") { Description = "Print JSON lines for scripts: one per run, sub-net and epoch (as each run's metrics.jsonl; \"run\" names the run), " +
            "{\"run_done\": …} after each run, then {\"done\": true, \"experiment_folder\": …, \"comparison\": …, \"report\": …}." };
        var cmd = new Command("experiment", "Run AST and the baselines (independent, joint, dense) on the same data and budget over several seeds; " +
            "write a comparison table (comparison.md, comparison.csv).");
        foreach (var opt in o.All) cmd.Options.Add(opt);
        cmd.Options.Add(outDir);
        cmd.Options.Add(modes);
        cmd.Options.Add(resume);
        cmd.Options.Add(quiet);
        cmd.Options.Add(json);
        cmd.SetAction(p =>
        {
            bool asJson = p.GetValue(json), isQuiet = p.GetValue(quiet), isResume = p.GetValue(resume);
            if (asJson && isQuiet) throw new UsageException("--quiet and --json: choose one.");
            if (MpiCollective.LaunchedByMpi)
                throw new UsageException("experiment does not run under mpirun (every rank would run it all); start each run with 'mpirun -np N sparseswitch train --out RUN ...'.");
            string? dir = p.GetValue(outDir);
            TrainRecipe recipe;
            List<TrainMode> list;
            if (isResume)
            {
                if (dir is null) throw new UsageException("--resume needs --out EXPERIMENT_DIR (the experiment folder to continue).");
                string saved = Path.Combine(dir, "recipe.json");
                if (!File.Exists(saved)) throw new UsageException($"--resume: {dir} holds no experiment (no recipe.json).");
                if (p.GetValue(modes) is not null) throw new UsageException("--resume continues the experiment's own modes; --modes does not apply.");
                recipe = TrainRecipe.FromJson(File.ReadAllText(saved)) with { Threads = ResumeThreads(o, p) };
                list = ReadModes(dir);
            }
            else
            {
                recipe = o.Resolve(p);
                list = (p.GetValue(modes) ?? "ast,independent,joint,dense").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
                    .Select(m => ParseEnum<TrainMode>("--modes", m)).Distinct().ToList();
                if (list.Count == 0) throw new UsageException("--modes: give at least one of ast, independent, joint, dense.");
                dir ??= Path.Combine("runs", $"experiment-{DateTime.UtcNow:yyyyMMdd-HHmmss}");
                Directory.CreateDirectory(dir);
                RunFolder.WriteAtomically(Path.Combine(dir, "modes.txt"), string.Join(",", list.Select(m => m.ToString().ToLowerInvariant())));
            }
            using var signal = new StopSignal(Console.Error);
            var live = Live(asJson, isQuiet);
            void RunDone(string run)
            {
                ReportWriter.TryWrite(run, Console.Error);
                if (asJson) Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object?> { ["run_done"] = run }));
            }
            ComparisonTable? Experiment() => ExperimentRunner.Run(recipe, list, dir, asJson || isQuiet || live is not null ? null : Console.Out, runDone: RunDone,
                resume: isResume, onMetrics: asJson ? m => Console.WriteLine(m.ToJsonLine()) : null, live: live, stop: signal.Token);
            var table = live is null ? Experiment() : live.Run(Experiment);
            if (table is null) return Stopped(asJson, isQuiet, "experiment_folder", dir, $"sparseswitch experiment --resume --out {dir}");
            string? report = ReportWriter.TryWrite(dir, Console.Error);
            if (asJson)
                Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object?>
                {
                    ["done"] = true, ["experiment_folder"] = dir, ["comparison"] = Path.Combine(dir, "comparison.md"), ["report"] = report,
                }));
            else if (isQuiet)
                Console.WriteLine(dir);
            else
            {
                Console.WriteLine();
                Console.WriteLine(table.ToMarkdown());
                Console.WriteLine($"experiment folder: {dir}");
                if (report is not null) Console.WriteLine($"report: {report}");
            }
            return 0;
        });
        return cmd;
    }

    /// <summary>A rank other than 0 of a data-parallel run: it trains its share silently (rank 0 reports
    /// and writes); a stop request reaches it like rank 0, and every rank stops after the same batch.</summary>
    private static int Follow(MpiCollective comm, Func<CancellationToken, bool> train)
    {
        using var signal = new StopSignal(TextWriter.Null);
        try { return train(signal.Token) ? StoppedExitCode : 0; }
        catch (Exception e) { return AbortJob(comm, e); }
    }

    /// <summary>An error on one rank of a data-parallel job ends every rank (MPI_Abort), so that none
    /// waits forever in a collective for a rank that is gone.</summary>
    private static int AbortJob(MpiCollective comm, Exception e)
    {
        Console.Error.WriteLine($"error on rank {comm.Rank} of {comm.Size}: {e.Message}");
        Console.Error.Flush();
        comm.Abort(e is UsageException or ArgumentException ? 2 : 1);
        return 1;
    }

    /// <summary>Exit code of a run stopped by Ctrl-C or SIGTERM (128 + SIGINT, as shells report it).</summary>
    public const int StoppedExitCode = 130;

    /// <summary>Reports a run or experiment stopped by a signal, in the chosen output, and how to continue it.</summary>
    private static int Stopped(bool asJson, bool isQuiet, string folderKey, string dir, string resume)
    {
        if (asJson) Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object?> { ["stopped"] = true, [folderKey] = dir, ["resume"] = resume }));
        else if (isQuiet) Console.WriteLine(dir);
        Console.Error.WriteLine($"stopped; continue with: {resume}");
        return StoppedExitCode;
    }

    /// <summary>The live display, on a terminal unless the output is for scripts.</summary>
    private static LiveProgress? Live(bool asJson, bool isQuiet) => asJson || isQuiet || !LiveOutput ? null : new LiveProgress(AnsiConsole.Console);

    /// <summary>Live progress goes to a terminal; redirected output gets plain lines.</summary>
    private static bool LiveOutput =>
        !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive && Environment.GetEnvironmentVariable("TERM") is not (null or "dumb");

    /// <summary>The modes an experiment folder was started with (modes.txt; else its run folders).</summary>
    private static List<TrainMode> ReadModes(string dir)
    {
        string file = Path.Combine(dir, "modes.txt");
        if (File.Exists(file))
            return File.ReadAllText(file).Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
                .Select(m => ParseEnum<TrainMode>("modes.txt", m)).ToList();
        var found = Enum.GetValues<TrainMode>().Where(m => Directory.EnumerateDirectories(dir, $"{m.ToString().ToLowerInvariant()}-seed*").Any()).ToList();
        return found.Count > 0 ? found : throw new UsageException($"--resume: {dir} holds no runs to continue.");
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
