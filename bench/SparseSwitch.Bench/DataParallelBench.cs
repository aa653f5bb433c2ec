using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using SparseSwitch.Nn;
using SparseSwitch.Nn.Models;
using SparseSwitch.Tensors;

namespace SparseSwitch.Bench;

/// <summary>
/// data-parallel: training throughput of `train` as 2 ranks × 1 thread (mpirun -np 2, global batch
/// 2b) against 1 rank × 2 threads (batch 2b), per model, on this machine; the bytes each rank sends
/// per step; and the predicted scaling efficiency on 2–64 machines over 10/25/100 Gbit/s links, from
/// a ring all-reduce's cost against the step time measured here at the per-rank batch b (1 rank ×
/// 1 thread). Options: --models lenet5,resnet20 (default), --batch B (per rank, default 64),
/// --train-limit N (images per epoch; default 32768 for lenet5 and mlp, 8192 for the rest, so that
/// an epoch lasts seconds), --latency-us A (per message, default 10).
/// The throughput of one run is its third epoch's: the first two warm up (the runtime compiles the
/// hot code again, optimised, during the first seconds, on a core that a rank bound to one core
/// shares with its training).
/// </summary>
public sealed class DataParallelBench : IBench
{
    public string Name => "data-parallel";
    public string Description => "2 ranks × 1 thread vs 1 rank × 2 threads; bytes per step; predicted scaling over links";

    public int Run(BenchOptions options, Harness harness)
    {
        string[] models = ["lenet5", "resnet20"];
        int batch = 64, limit = 0;
        double latency = 10e-6;
        for (int i = 0; i < options.Rest.Count; i++)
        {
            string Value() => i + 1 < options.Rest.Count ? options.Rest[++i] : throw new ArgumentException($"{options.Rest[i]} needs a value.");
            switch (options.Rest[i])
            {
                case "--models": models = Value().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries); break;
                case "--batch": batch = int.Parse(Value(), CultureInfo.InvariantCulture); break;
                case "--train-limit": limit = int.Parse(Value(), CultureInfo.InvariantCulture); break;
                case "--latency-us": latency = double.Parse(Value(), CultureInfo.InvariantCulture) * 1e-6; break;
                default: Console.Error.WriteLine($"data-parallel: unknown option {options.Rest[i]}"); return 2;
            }
        }
        string root = Repo.Root();
        string cli = Path.Combine(root, "src", "SparseSwitch.Cli", "bin", "Release", "net10.0", "SparseSwitch.Cli.dll");
        if (Repo.Exec("dotnet", ["build", "-c", "Release", "-v", "q", "-nologo", Path.Combine(root, "src", "SparseSwitch.Cli")], root) != 0)
        {
            Console.Error.WriteLine("data-parallel: building the CLI failed.");
            return 1;
        }
        if (Repo.Which("mpirun") is null) { Console.Error.WriteLine("data-parallel: no mpirun (apt-get install -y openmpi-bin libopenmpi-dev)."); return 1; }
        string work = Directory.CreateTempSubdirectory("ss-dp-").FullName;
        var predictions = new List<string>();
        try
        {
            foreach (string model in models)
            {
                int images = limit > 0 ? limit : (model is "lenet5" or "mlp" ? 32768 : 8192) / (options.Quick ? 4 : 1);
                string[] common = ["train", "--mode", "dense", "--model", model, "--data", "synthetic", "--epochs", "3", "--train-limit", images.ToString(CultureInfo.InvariantCulture),
                    "--test-limit", "256", "--lr", "0.05", "--quiet"];
                double oneThreadStep = StepSeconds(cli, work, 0, [.. common, "--batch-size", batch.ToString(CultureInfo.InvariantCulture), "--threads", "1"], out _);
                double twoThreads = StepSeconds(cli, work, 0, [.. common, "--batch-size", (2 * batch).ToString(CultureInfo.InvariantCulture), "--threads", "2"], out double imgs2t);
                double twoRanks = StepSeconds(cli, work, 2, [.. common, "--batch-size", (2 * batch).ToString(CultureInfo.InvariantCulture), "--threads", "1"], out double imgs2r);
                long parameters = Parameters(model);
                long bytes = 4 * parameters;
                harness.ReportThroughput($"{model} 2 ranks × 1 thread vs 1 rank × 2 threads (batch {2 * batch})", imgs2r, imgs2t, "img/s", twoRanks, twoThreads,
                    $"{parameters:N0} parameters, {bytes / 1e6:0.###} MB of gradient all-reduced per step (and two 8-byte all-reduces)");
                harness.ReportTime($"{model} step, 1 rank × 1 thread, batch {batch}", oneThreadStep * 1e3, null, "ms");
                harness.ReportThroughput($"{model} 2 ranks × 1 thread vs 2 × (1 rank × 1 thread), batch {batch} per rank", imgs2r, 2 * batch / oneThreadStep, "img/s", twoRanks, oneThreadStep,
                    "the measured weak-scaling efficiency on this machine's loopback");
                predictions.Add(Predict(model, parameters, bytes, oneThreadStep, latency));
            }
        }
        finally { Directory.Delete(work, true); }
        Console.WriteLine();
        Console.WriteLine($"Predicted weak-scaling efficiency E = t / (t + c), t = the step measured above at batch {batch} per rank, c = the ring all-reduce of the");
        Console.WriteLine($"gradient and the two 8-byte all-reduces of the loss and the stop flag (recursive doubling):");
        Console.WriteLine($"c = 2(N − 1)/N · bytes / bandwidth + 2(N − 1) · α + 2 · ⌈log2 N⌉ · α, α = {latency * 1e6:0.#} µs per message (no overlap of communication with the backward).");
        foreach (string p in predictions) Console.WriteLine(p);
        return 0;
    }

    private static string Predict(string model, long parameters, long bytes, double step, double latency)
    {
        int[] machines = [2, 4, 8, 16, 32, 64];
        double[] gbits = [10, 25, 100];
        var sb = new System.Text.StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"\n{model}: {parameters:N0} parameters, {bytes:N0} bytes of gradient per step, step {step * 1e3:0.0} ms");
        sb.AppendLine("| link | " + string.Join(" | ", machines.Select(n => $"N={n}")) + " |");
        sb.AppendLine("|---|" + string.Concat(machines.Select(_ => "---|")));
        foreach (double g in gbits)
        {
            var cells = machines.Select(n =>
            {
                double c = 2.0 * (n - 1) / n * bytes / (g * 1e9 / 8) + 2.0 * (n - 1) * latency + 2 * Math.Ceiling(Math.Log2(n)) * latency;
                return (step / (step + c)).ToString("0.000", CultureInfo.InvariantCulture);
            });
            sb.AppendLine($"| {g:0} Gbit/s | " + string.Join(" | ", cells) + " |");
        }
        return sb.ToString();
    }

    private static long Parameters(string model)
    {
        var (c, side) = (Data.Synthetic.Channels, Data.Synthetic.Side);
        Module m = ModelZoo.Create(model, c, side, 10, 1, new Rng(1));
        return m.NamedParameters().Sum(p => (long)p.Param.Length);
    }

    /// <summary>Runs `train` (ranks 0: one plain process) and returns its last epoch's seconds per
    /// step, with its images per second.</summary>
    private static double StepSeconds(string cli, string work, int ranks, string[] args, out double imagesPerSecond)
    {
        string run = Path.Combine(work, Guid.NewGuid().ToString("N"));
        var psi = new ProcessStartInfo(ranks > 0 ? "mpirun" : "dotnet") { UseShellExecute = false, RedirectStandardOutput = true };
        if (ranks > 0)
        {
            foreach (string a in new[] { "-np", ranks.ToString(CultureInfo.InvariantCulture), "--oversubscribe", "--bind-to", "core", "dotnet" }) psi.ArgumentList.Add(a);
            psi.Environment["OMPI_ALLOW_RUN_AS_ROOT"] = "1";
            psi.Environment["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1";
        }
        psi.ArgumentList.Add(cli);
        foreach (string a in args) psi.ArgumentList.Add(a);
        psi.ArgumentList.Add("--out");
        psi.ArgumentList.Add(run);
        using (var p = Process.Start(psi)!)
        {
            p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            if (p.ExitCode != 0) throw new InvalidOperationException($"data-parallel: {string.Join(' ', psi.ArgumentList)} exited {p.ExitCode}.");
        }
        var rows = File.ReadAllLines(Path.Combine(run, "metrics.jsonl")).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        int last = rows.Max(r => r.GetProperty("epoch").GetInt32());
        JsonElement Row(int e) => rows.First(r => r.GetProperty("epoch").GetInt32() == e);
        double w0 = Row(last - 1).GetProperty("wall_seconds").GetDouble(), w1 = Row(last).GetProperty("wall_seconds").GetDouble();
        long it0 = Row(last - 1).GetProperty("iteration").GetInt64(), it1 = Row(last).GetProperty("iteration").GetInt64();
        var recipe = JsonDocument.Parse(File.ReadAllText(Path.Combine(run, "recipe.json"))).RootElement;
        int globalBatch = recipe.GetProperty("batch-size").GetInt32();
        double seconds = w1 - w0;
        imagesPerSecond = (it1 - it0) * globalBatch / seconds;
        return seconds / (it1 - it0);
    }
}
