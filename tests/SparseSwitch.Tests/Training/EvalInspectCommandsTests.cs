using System.Globalization;
using System.Security.Cryptography;
using SparseSwitch.Tensors;
using SparseSwitch.Tests.Support;
using SparseSwitch.Training;
using Xunit;

namespace SparseSwitch.Tests.Training;

/// <summary><c>eval</c> (a run is tested as training tests it, so its accuracy and loss are those of
/// the last epoch's metrics; a model file through its compiled sub-nets) and <c>inspect</c>
/// (per-layer density, N:M conformance, checksums), on one-epoch runs on synthetic images.</summary>
[Collection(ConsoleCollection.Name)]
public sealed class EvalInspectCommandsTests : IClassFixture<EvalInspectCommandsTests.Runs>
{
    public sealed class Runs : IDisposable
    {
        public string Root { get; } = Directory.CreateTempSubdirectory("ss-eval-").FullName;
        public string Nm => Path.Combine(Root, "nm");
        public string Density => Path.Combine(Root, "density");
        public string Independent => Path.Combine(Root, "independent");

        private static readonly TrainRecipe Tiny = new()
        {
            Data = "synthetic", TrainLimit = 48, TestLimit = 40, Epochs = 1, BatchSize = 16, Lr = 0.05,
            PruneStart = 0, PruneEnd = 1, UpdateEvery = 1, Seed = 7,
        };

        public Runs()
        {
            TrainingRun.Run(Tiny with { Model = "resnet20-a", Subnets = SubnetList.Parse("2:4,1:4"), Lr = 0.1 }, Nm);
            TrainingRun.Run(Tiny with { Model = "lenet5", Subnets = SubnetList.Parse("0.5,0.2,0.1") }, Density);
            TrainingRun.Run(Tiny with { Model = "lenet5", Mode = TrainMode.Independent, Subnets = SubnetList.Parse("0.3,0.1") }, Independent);
        }

        public void Dispose() => Directory.Delete(Root, true);
    }

    private readonly Runs _r;
    public EvalInspectCommandsTests(Runs r) => _r = r;

    [Fact]
    public void EvaluatingARunGivesItsLastEpochsMetrics()
    {
        foreach (var run in new[] { _r.Nm, _r.Density, _r.Independent })
        {
            var metrics = new RunFolder(run).ReadMetrics();
            var scores = RunEvaluation.Evaluate(run);
            Assert.Equal(metrics.Count, scores.Count);
            foreach (var s in scores)
            {
                var row = metrics.Single(m => m.Subnet == s.Subnet);
                Assert.Equal((row.TestAccuracy, row.TestLoss, 40), (s.Accuracy, s.Loss, s.Images));
                Assert.Equal(row.Spec, s.Spec.ToString());
            }
        }
        var (code, output, err) = CliRunner.Run("eval", _r.Density);
        Assert.True(code == 0, err);
        Assert.Contains("40 test images of synthetic", output);
        var rows = output.Split('\n').Where(l => l.Length > 0 && char.IsDigit(l[0])).Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)).ToList();
        Assert.Equal(3, rows.Count);
        foreach (var f in rows) Assert.Equal(f[2], f[4]);   // accuracy now = at the last epoch
    }

    [Fact]
    public void EvaluatingAModelFileRunsEveryCompiledSubnet()
    {
        string model = Path.Combine(_r.Root, "density.safetensors");
        Assert.Equal(0, CliRunner.Run("pack", _r.Density, "--out", model).Code);
        var (code, output, err) = CliRunner.Run("eval", model, "--threads", "2");
        Assert.True(code == 0, err);
        Assert.Contains("lenet5, 2000 test images of synthetic", output);   // the file's data set, its whole test split
        var rows = output.Split('\n').Where(l => l.Length > 0 && char.IsDigit(l[0])).Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)).ToList();
        Assert.Equal(["0.5", "0.2", "0.1"], rows.Select(r => r[1]));
        foreach (var r in rows) Assert.True(double.Parse(r[4], CultureInfo.InvariantCulture) < 1e-4, string.Join(" ", r));
    }

    [Fact]
    public void EvalErrorsAreUsageErrors()
    {
        foreach (var (args, expected) in new (string[], string)[]
        {
            (["eval", Path.Combine(_r.Root, "missing")], "no such run folder or model file"),
            (["eval", _r.Root], "not a run folder (no recipe.json)"),
            (["eval", _r.Nm, "--data", "mnist"], "mnist has 10 classes of 1×28×28 images; the run's model was built for synthetic (10 classes of 3×32×32)"),
            (["eval", _r.Nm, "--data", "imagenet"], "Unknown data set 'imagenet'"),
            (["eval", _r.Nm, "--batch", "0"], "--batch: must be ≥ 1"),
        })
        {
            var (code, _, err) = CliRunner.Run(args);
            Assert.True(code == 2, $"{string.Join(" ", args)}: exit {code}, {err}");
            Assert.Contains(expected, err);
        }
        Assert.Contains("Examples:", CliRunner.Run("eval", "--help").Out);
    }

    [Fact]
    public void InspectShowsDensityConformanceAndChecksums()
    {
        var (code, output, err) = CliRunner.Run("inspect", _r.Nm);
        Assert.True(code == 0, err);
        Assert.Contains($"{_r.Nm}: run folder, resnet20-a on synthetic, ast, iteration 3, next epoch 1 of 1 epochs", output);
        Assert.Contains("0 [2:4]: density 0.5000 of the masked weights", output);
        var layers = output.Split('\n').Where(l => l.StartsWith("  layer", StringComparison.Ordinal) || l.StartsWith("  linear", StringComparison.Ordinal)).ToList();
        Assert.Equal(19, layers.Count);   // 18 block convolutions and the classifier
        // Sub-net 0 (2:4) has reached its pattern; sub-net 1 (1:4) trained one iteration and is still
        // on its ramp: some groups keep more than one. Counted here group by group.
        var sub1 = TrainedSubnet.Load(_r.Nm, 1);
        var shapes = sub1.Model.StateDict();
        foreach (var l in layers)
        {
            string path = l.Trim().Split(' ')[0];
            var mask = sub1.Masks[path];
            int[] shape = shapes[path].Shape;
            int outs = shape[0], ins = shape[1], positions = shape.Length == 4 ? shape[2] * shape[3] : 1;
            long groups = 0, over = 0;
            for (int o = 0; o < outs; o++)
                for (int p = 0; p < positions; p++)
                    for (int c0 = 0; c0 < ins; c0 += 4, groups++)
                    {
                        int kept = 0;
                        for (int c = c0; c < Math.Min(ins, c0 + 4); c++) if (mask[(o * ins + c) * positions + p]) kept++;
                        if (kept > 1) over++;
                    }
            string density = ((double)mask.Count() / mask.Length).ToString("F4", CultureInfo.InvariantCulture);
            string second = over == 0 ? $"{density} N:M ok" : $"{density} {over}/{groups} > 1";
            Assert.Matches($@"0\.5000 N:M ok +{System.Text.RegularExpressions.Regex.Escape(second)}", l);
        }
        Assert.Contains(layers, l => l.Contains(" > 1"));
        foreach (var file in Directory.GetFiles(_r.Nm))
        {
            string sha = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(file)));
            Assert.Contains($"  {sha}  {Path.GetFileName(file)} (", output);
        }
        Assert.Contains("checkpoint.safetensors (", output);
        Assert.Contains("content checksum verified", output);

        (code, output, err) = CliRunner.Run("inspect", _r.Density);
        Assert.True(code == 0, err);
        Assert.DoesNotContain("N:M", output.Split('\n').Where(l => l.StartsWith("  conv", StringComparison.Ordinal) || l.StartsWith("  fc", StringComparison.Ordinal)).Aggregate("", string.Concat));
        Assert.Contains("  fc1.weight", output);
        Assert.DoesNotContain("  conv1.weight", output);   // the stem is not masked

        (code, output, err) = CliRunner.Run("inspect", _r.Independent);
        Assert.True(code == 0, err);
        Assert.Contains("subnet-0: iteration 3, next epoch 1; subnet-1: iteration 3, next epoch 1 of 1 epochs", output);
        Assert.Contains(Path.Combine("subnet-1", "checkpoint.safetensors"), output);
    }

    [Fact]
    public void InspectOfAModelFileAndOfDamagedOrMissingSources()
    {
        string model = Path.Combine(_r.Root, "nm.safetensors");
        Assert.Equal(0, CliRunner.Run("pack", _r.Nm, "--out", model).Code);
        var (code, output, err) = CliRunner.Run("inspect", model);
        Assert.True(code == 0, err);
        Assert.Contains($"{model}: model file, resnet20-a on synthetic", output);
        Assert.Contains(Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(model))), output);
        Assert.Equal(19, output.Split('\n').Count(l => l.Contains("0.5000 N:M ok")));

        // A checkpoint whose content no longer matches its recorded checksum.
        string damaged = Path.Combine(_r.Root, "damaged");
        Directory.CreateDirectory(damaged);
        foreach (var f in Directory.GetFiles(_r.Density)) File.Copy(f, Path.Combine(damaged, Path.GetFileName(f)));
        var bytes = File.ReadAllBytes(Path.Combine(damaged, "checkpoint.safetensors"));
        bytes[^5] ^= 0x40;
        File.WriteAllBytes(Path.Combine(damaged, "checkpoint.safetensors"), bytes);
        (code, _, err) = CliRunner.Run("inspect", damaged);
        Assert.Equal(1, code);
        Assert.Contains("checkpoint.safetensors", err);

        Assert.Equal(2, CliRunner.Run("inspect", Path.Combine(_r.Root, "missing")).Code);
        Assert.Contains("not a run folder", CliRunner.Run("inspect", _r.Root).Err);
    }

    [Fact]
    public void NmConformanceCountsGroupsOverN()
    {
        // Linear [2, 10], 2:4: groups of 4 along each row, the last of 2 inputs.
        int[] shape = [2, 10];
        var mask = new BitMask(20);
        foreach (int i in new[] { 0, 1, 4, 5, 8, 9, 10, 11, 14, 15, 18 }) mask[i] = true;
        var c = NmConformance.Of(mask, shape, 2, 4);
        Assert.Equal((6L, 0L, 5L), (c.Groups, c.OverN, c.ExactlyN));   // row 1's tail group keeps 1 of 2
        Assert.True(c.Conforms);
        mask[2] = true;
        c = NmConformance.Of(mask, shape, 2, 4);
        Assert.Equal((1L, 4L), (c.OverN, c.ExactlyN));
        Assert.False(c.Conforms);
        // Conv [out, in, kh, kw]: groups run along the input channels at one kernel position.
        var conv = new BitMask(1 * 4 * 2 * 1);
        conv[0] = conv[2] = true;   // channels 0 and 1 at position 0
        Assert.Equal((2L, 0L, 1L), (NmConformance.Of(conv, [1, 4, 2, 1], 2, 4).Groups, NmConformance.Of(conv, [1, 4, 2, 1], 2, 4).OverN, NmConformance.Of(conv, [1, 4, 2, 1], 2, 4).ExactlyN));
    }
}
