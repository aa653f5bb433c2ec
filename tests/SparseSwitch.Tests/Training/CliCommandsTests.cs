using SparseSwitch.Serialization;
using SparseSwitch.Tests.Support;
using SparseSwitch.Training;
using Xunit;

namespace SparseSwitch.Tests.Training;

/// <summary>The commands of the tool end to end, in process, on tiny synthetic settings: what
/// they print, the files they write and their exit codes (usage errors are covered by
/// <see cref="TrainCommandTests"/> and the data commands' own tests).</summary>
[Collection(ConsoleCollection.Name)]
public sealed class CliCommandsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ss-cli-cmd-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    private static readonly string[] Tiny = ["--train-limit", "96", "--test-limit", "32", "--batch-size", "32", "--seed", "4"];

    [Fact]
    public void InfoPrintsTheVersionSimdSupportAndThreads()
    {
        var (code, output, err) = CliRunner.Run("info");
        Assert.Equal(0, code);
        Assert.Empty(err);
        Assert.Matches(@"^SparseSwitch \d+\.\d+", output);
        Assert.Contains($"Vector512 hardware acceleration: {System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated}", output);
        Assert.Contains($"Threads: {SparseSwitch.Tensors.EngineOptions.Default.Threads}", output);
    }

    [Fact]
    public void TrainWritesARunFolderWithRecipeMetricsLogAndCheckpoint()
    {
        var run = Path.Combine(_dir, "run");
        var (code, output, err) = CliRunner.Run(["train", "--model", "lenet5", "--subnets", "0.5,0.2", "--epochs", "2",
            "--prune-start", "0", "--prune-end", "1", "--update-every", "1", .. Tiny, "--out", run]);
        Assert.True(code == 0, err);
        Assert.Contains($"run folder: {run}", output);
        Assert.Contains("sub-net 0 [0.5]: accuracy", output);
        Assert.Contains("sub-net 1 [0.2]: accuracy", output);

        var folder = new RunFolder(run);
        var recipe = folder.ReadRecipe();
        Assert.Equal(("lenet5", "0.5,0.2", 2, 96, 32, 4UL), (recipe.Model, recipe.Subnets.ToExactString(), recipe.Epochs, recipe.TrainLimit, recipe.TestLimit, recipe.Seed));
        // One metrics row per epoch and sub-net, in JSON lines and CSV alike; at the end each sub-net
        // is at its density.
        var rows = folder.ReadMetrics();
        Assert.Equal([(0, 0), (0, 1), (1, 0), (1, 1)], rows.Select(m => (m.Epoch, m.Subnet)));
        Assert.All(rows, m => Assert.InRange(m.TestAccuracy, 0, 1));
        Assert.Equal(0.5, rows[2].DensityPrunable, 2);
        Assert.Equal(0.2, rows[3].DensityPrunable, 2);
        var csv = File.ReadAllLines(folder.MetricsCsv);
        Assert.Equal(EpochMetrics.CsvHeader, csv[0]);
        Assert.Equal(5, csv.Length);
        Assert.Contains("epoch 2/2", File.ReadAllText(folder.LogFile));
        Assert.Equal("iteration 6, next epoch 2", TrainerCheckpoint.Describe(folder.CheckpointFile));
    }

    [Fact]
    public void ConvertTurnsATrainedRunInto2Of4AndWritesTheWeights()
    {
        var run = Path.Combine(_dir, "dense");
        Assert.Equal(0, CliRunner.Run(["train", "--model", "mlp", "--mode", "dense", "--epochs", "1", .. Tiny, "--out", run]).Code);
        var weights = Path.Combine(_dir, "mlp-2of4.safetensors");
        var (code, output, err) = CliRunner.Run("convert", run, "--pattern", "2:4", "--calibration", "16", "--steps", "5", "--out", weights);
        Assert.True(code == 0, err);
        foreach (var variant in new[] { "mask only", "mask + redistribution", "AdaPrune (reconstruction)" })
            Assert.Matches($@"2:4 {System.Text.RegularExpressions.Regex.Escape(variant)} +test accuracy .*prunable density 0\.5000, N:M valid True", output);
        Assert.Contains($"wrote {weights}", output);

        // A PyTorch-style state dict of the MLP: 1., 3., 5. weights and biases, exactly 2 of every 4 kept.
        var f = SafeTensors.Load(weights);
        Assert.Equal("2:4", f.Meta("pattern"));
        Assert.Equal(["1.bias", "1.weight", "3.bias", "3.weight", "5.bias", "5.weight"], f.Names.Order());
        foreach (var name in new[] { "1.weight", "3.weight", "5.weight" })
            NmConversionTests.AssertExactlyNPerGroup(f.Float(name).Span, f.Float(name).Shape, 2, 4, name);
    }

    [Fact]
    public void ConvertRefusesABadPatternAndAFolderWithoutACheckpoint()
    {
        var (code, _, err) = CliRunner.Run("convert", _dir, "--pattern", "2-4");
        Assert.Equal(2, code);
        Assert.Contains("--pattern", err);
        (code, _, err) = CliRunner.Run("convert", _dir);
        Assert.Equal(1, code);
        Assert.Contains("no checkpoint", err);
    }

    [Fact]
    public void ExperimentWritesAComparisonTable()
    {
        var dir = Path.Combine(_dir, "exp");
        var (code, output, err) = CliRunner.Run(["experiment", "--model", "lenet5", "--modes", "dense,ast", "--seeds", "1", "--subnets", "0.5",
            "--epochs", "1", "--prune-start", "0", "--prune-end", "1", .. Tiny, "--out", dir]);
        Assert.True(code == 0, err);
        Assert.Contains($"experiment folder: {dir}", output);
        Assert.True(File.Exists(Path.Combine(dir, "comparison.md")));
        Assert.True(File.Exists(Path.Combine(dir, "comparison.csv")));
        Assert.True(File.Exists(new RunFolder(Path.Combine(dir, "dense-seed4")).CheckpointFile));
        Assert.True(File.Exists(new RunFolder(Path.Combine(dir, "ast-seed4")).CheckpointFile));
    }

    [Fact]
    public void ExperimentJsonQuietAndResume()
    {
        var dir = Path.Combine(_dir, "exp-json");
        string[] args = ["experiment", "--model", "lenet5", "--modes", "dense,ast", "--seeds", "1", "--subnets", "0.5",
            "--epochs", "2", "--prune-start", "0", "--prune-end", "1", .. Tiny, "--out", dir];
        var (code, output, err) = CliRunner.Run([.. args, "--json"]);
        Assert.True(code == 0, err);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => System.Text.Json.JsonDocument.Parse(l).RootElement).ToList();
        var metrics = lines.Where(l => l.TryGetProperty("epoch", out _)).ToList();
        Assert.Equal(2 + 2, metrics.Count);  // dense and one AST sub-net, 2 epochs each
        Assert.Equal(2, lines.Count(l => l.TryGetProperty("run_done", out _)));
        var done = lines[^1];
        Assert.True(done.GetProperty("done").GetBoolean());
        Assert.Equal(dir, done.GetProperty("experiment_folder").GetString());
        string table = File.ReadAllText(Path.Combine(dir, "comparison.md"));

        // Resumed: finished runs are read back, not trained again; a run without a checkpoint is trained.
        Directory.Delete(Path.Combine(dir, "ast-seed4"), true);
        File.Delete(Path.Combine(dir, "comparison.md"));
        (code, output, err) = CliRunner.Run("experiment", "--resume", "--out", dir, "--quiet");
        Assert.True(code == 0, err);
        Assert.Equal(dir, output.Trim());
        Assert.Equal(StripTimes(table), StripTimes(File.ReadAllText(Path.Combine(dir, "comparison.md"))));

        (code, _, err) = CliRunner.Run("experiment", "--resume", "--out", Path.Combine(_dir, "nothing-here"));
        Assert.Equal(2, code);
        Assert.Contains("holds no experiment", err);
        (code, _, err) = CliRunner.Run("experiment", "--resume", "--out", dir, "--epochs", "5");
        Assert.Equal(2, code);
        Assert.Contains("only --threads may change", err);
    }

    /// <summary>A comparison table without its last column, the wall time (it differs from run to run).</summary>
    private static string StripTimes(string markdown) =>
        string.Join("\n", markdown.Split('\n').Select(l => System.Text.RegularExpressions.Regex.Replace(l, @"\|[^|]*\|\s*$", "|")));

    [Fact]
    public void DataListAndDataInfoPrintWhatTheyDescribe()
    {
        var (code, output, _) = CliRunner.Run("data", "list");
        Assert.Equal(0, code);
        foreach (var name in new[] { "mnist", "cifar10", "synthetic" }) Assert.Contains(name, output);
        Assert.Contains("built in (no download)", output);

        // A tiny MNIST-shaped folder: 2 train and 1 test images.
        static byte[] Idx(int n, bool labels)
        {
            var dims = labels ? new[] { n } : new[] { n, 28, 28 };
            var head = new byte[4 + 4 * dims.Length];
            head[2] = 8; head[3] = (byte)dims.Length;
            for (int d = 0; d < dims.Length; d++) System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(head.AsSpan(4 + 4 * d), dims[d]);
            var body = new byte[dims.Aggregate(1, (a, d) => a * d)];
            for (int i = 0; i < body.Length; i++) body[i] = (byte)(labels ? 7 : i % 256);
            return [.. head, .. body];
        }
        File.WriteAllBytes(Path.Combine(_dir, "train-images-idx3-ubyte"), Idx(2, false));
        File.WriteAllBytes(Path.Combine(_dir, "train-labels-idx1-ubyte"), Idx(2, true));
        File.WriteAllBytes(Path.Combine(_dir, "t10k-images-idx3-ubyte"), Idx(1, false));
        File.WriteAllBytes(Path.Combine(_dir, "t10k-labels-idx1-ubyte"), Idx(1, true));
        (code, output, var err) = CliRunner.Run("data", "info", _dir);
        Assert.True(code == 0, err);
        Assert.Equal(SparseSwitch.Data.DatasetInspector.Describe(_dir), output);
        Assert.Contains("train: 2 images, 1×28×28", output);
        Assert.Contains("test: 1 images", output);
    }
}
