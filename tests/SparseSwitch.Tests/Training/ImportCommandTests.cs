using SparseSwitch.Export;
using SparseSwitch.Inference;
using SparseSwitch.Nn;
using SparseSwitch.Nn.Models;
using SparseSwitch.Serialization;
using SparseSwitch.Tensors;
using SparseSwitch.Tests.Support;
using SparseSwitch.Training;
using Xunit;

namespace SparseSwitch.Tests.Training;

/// <summary><c>sparseswitch import</c>: a PyTorch state dict becomes a run folder at epoch 0 that
/// <c>train --resume</c> continues exactly as a fresh run starting from those weights, that
/// <c>pack</c>, <c>export</c> and <c>convert</c> read; a state dict our exporter wrote comes back
/// with the sub-net's logits; hostile files are usage errors naming the tensor.</summary>
[Collection(ConsoleCollection.Name)]
public sealed class ImportCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ss-import-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    private static readonly string[] Tiny =
        ["--train-limit", "64", "--test-limit", "32", "--batch-size", "32", "--epochs", "1", "--prune-start", "0", "--prune-end", "1", "--update-every", "1"];

    /// <summary>A dense model's PyTorch state dict with random weights and running statistics, as a file.</summary>
    private string StateDict(string model, ulong seed, string name = "state.safetensors")
    {
        var m = ModelZoo.Create(model, 3, 32, 10, 1, new Rng(seed));
        var rng = new Rng(seed + 1);
        foreach (var (path, t) in m.StateDict())
            if (path.EndsWith("running_mean", StringComparison.Ordinal)) rng.FillNormal(t.Span, 0, 0.1f);
            else if (path.EndsWith("running_var", StringComparison.Ordinal)) for (int i = 0; i < t.Length; i++) t.Span[i] = 0.5f + rng.NextFloat();
        string file = Path.Combine(_dir, name);
        File.WriteAllBytes(file, TorchStateDict.SerializeSubnet(m, new Dictionary<string, BitMask>(), 0));
        return file;
    }

    private static (int Code, string Out, string Err) Import(string state, string run, params string[] options) =>
        CliRunner.Run(["import", state, .. options, "--out", run]);

    [Fact]
    public void AnImportedRunResumesAsAFreshRunFromThoseWeights()
    {
        string state = StateDict("resnet20-a", 11);
        string run = Path.Combine(_dir, "imported");
        var (code, output, err) = Import(state, run, ["--model", "resnet20-a", "--subnets", "0.5,0.2", "--seed", "4", .. Tiny]);
        Assert.True(code == 0, err);
        Assert.Contains($"into {run}: resnet20-a on synthetic, ast, sub-nets 0.5, 0.2, epoch 0 of 1", output);
        Assert.Contains("imported", File.ReadAllText(Path.Combine(run, "log.txt")));
        (code, _, err) = CliRunner.Run("train", "--resume", "--out", run);
        Assert.True(code == 0, err);

        // The same recipe run from scratch, its model built with the file's weights.
        var recipe = new RunFolder(run).ReadRecipe();
        string reference = Path.Combine(_dir, "reference");
        TrainingRun.Run(recipe, reference, modelFactory: s =>
        {
            var m = TrainingSetup.CreateModel(recipe.Model, 3, 32, 10, s.BatchNormSets, s.ModelRng);
            m.LoadStateDict(TorchStateDict.Read(state, m));
            return m;
        });
        var a = SafeTensors.Load(Path.Combine(run, "checkpoint.safetensors"));
        var b = SafeTensors.Load(Path.Combine(reference, "checkpoint.safetensors"));
        Assert.Equal(b.Names, a.Names);
        foreach (var n in a.Names.Where(n => n != "cost"))   // cost holds the wall time
            Assert.True(a[n].Bytes.Span.SequenceEqual(b[n].Bytes.Span), $"checkpoint tensor {n} differs");
        Assert.Equal(File.ReadAllLines(Path.Combine(reference, "metrics.csv")).Select(DropTimes), File.ReadAllLines(Path.Combine(run, "metrics.csv")).Select(DropTimes));

        // The weights did move from the file's.
        var file = SafeTensors.Load(state);
        Assert.False(a["model.linear.weight"].Bytes.Span.SequenceEqual(file["linear.weight"].Bytes.Span));
    }

    /// <summary>A metrics row less the columns that differ between two runs of the same training:
    /// the run folder and the wall time.</summary>
    private static string DropTimes(string csv) =>
        string.Join(",", csv.Split(',').Where((_, i) => !VaryingColumns.Contains(i)));

    private static readonly HashSet<int> VaryingColumns = EpochMetrics.CsvHeader.Split(',')
        .Select((c, i) => (c, i)).Where(x => x.c is "run" or "wall_seconds").Select(x => x.i).ToHashSet();

    [Fact]
    public void PackOfAnImportedRunHasTheFilesLogitsInEverySubnet()
    {
        string state = StateDict("resnet20-a", 12);
        string run = Path.Combine(_dir, "imported");
        var (code, _, err) = Import(state, run, ["--model", "resnet20-a", "--subnets", "0.5,0.2,0.1", .. Tiny]);
        Assert.True(code == 0, err);
        (code, _, err) = CliRunner.Run("pack", run);
        Assert.True(code == 0, err);
        var artifact = ModelArtifact.Read(Path.Combine(run, "model.safetensors"));
        Assert.Equal(3, artifact.SubnetCount);

        var dense = ModelZoo.Create("resnet20-a", 3, 32, 10, 1, new Rng(0));
        dense.LoadStateDict(TorchStateDict.Read(state, dense));
        dense.Eval();
        var x = new Tensor(4, 3, 32, 32);
        new Rng(3).FillNormal(x.Span, 0, 1);
        var expected = dense.Forward(x).Span.ToArray();
        var module = artifact.CreateModule();
        for (int k = 0; k < 3; k++)
        {
            // At epoch 0 the masks are full (init density 1) and every batch-norm set is the file's.
            Assert.Equal(1.0, artifact.Subnets[k].Density);
            artifact.ApplySubnet(module, k);
            Assert.Equal(expected, module.Forward(x).Span.ToArray());
            Assert.InRange(artifact.Subnets[k].TestAccuracy, 0, 1);
            Assert.Equal(artifact.Subnets[0].TestAccuracy, artifact.Subnets[k].TestAccuracy);
            Assert.Equal(artifact.Subnets[0].TestLoss, artifact.Subnets[k].TestLoss);
        }
        Assert.True(artifact.Subnets[0].TestLoss > 0);
    }

    [Fact]
    public void AnExportedSubnetImportedBackGivesItsLogits()
    {
        string trained = Path.Combine(_dir, "trained");
        var (code, _, err) = CliRunner.Run(["train", "--model", "resnet20-a", "--subnets", "0.3,0.1", "--seed", "5", "--out", trained, .. Tiny]);
        Assert.True(code == 0, err);
        string exported = Path.Combine(_dir, "sub1.safetensors");
        Assert.Equal(0, CliRunner.Run("export", trained, "--subnet", "1", "--format", "torch", "--out", exported).Code);
        string run = Path.Combine(_dir, "back");
        (code, _, err) = Import(exported, run, ["--model", "resnet20-a", "--mode", "dense", .. Tiny]);
        Assert.True(code == 0, err);

        var sub = TrainedSubnet.Load(trained, 1);
        foreach (var (path, p) in sub.Model.NamedParameters()) p.Mask = sub.Masks.GetValueOrDefault(path);
        SubNets.SetActive(sub.Model, 1);
        sub.Model.Eval();
        var back = TrainedSubnet.Load(run, 0);
        back.Model.Eval();
        var x = new Tensor(3, 3, 32, 32);
        new Rng(8).FillNormal(x.Span, 0, 1);
        var expected = sub.Model.Forward(x).Span.ToArray();
        var actual = back.Model.Forward(x).Span.ToArray();
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-5f * Math.Max(1, Math.Abs(expected[i])), $"logit {i}: {expected[i]} vs {actual[i]}");
        // The zeros of the sub-net's masks are in the imported weights.
        foreach (var (path, mask) in sub.Masks)
            Assert.Equal(mask.Count(), back.Model.StateDict()[path].Span.ToArray().Count(v => v != 0));
    }

    [Fact]
    public void ConvertAndIndependentRunsTakeAnImport()
    {
        string state = StateDict("lenet5", 13);
        string dense = Path.Combine(_dir, "dense");
        Assert.Equal(0, Import(state, dense, ["--model", "lenet5", "--mode", "dense", .. Tiny]).Code);
        var (code, output, err) = CliRunner.Run("convert", dense, "--pattern", "2:4", "--steps", "2", "--calibration", "8");
        Assert.True(code == 0, err);
        Assert.Contains("before conversion", output);

        string independent = Path.Combine(_dir, "independent");
        (code, _, err) = Import(state, independent, ["--model", "lenet5", "--mode", "independent", "--subnets", "0.5,0.2", .. Tiny]);
        Assert.True(code == 0, err);
        foreach (var k in new[] { 0, 1 })
        {
            var sub = TrainedSubnet.Load(independent, k);
            Assert.Equal(SafeTensors.Load(state).Float("fc1.weight").Span.ToArray(), sub.Model.StateDict()["fc1.weight"].Span.ToArray());
        }
        (code, _, err) = CliRunner.Run("train", "--resume", "--out", independent);
        Assert.True(code == 0, err);
        Assert.Equal(2, File.ReadAllLines(Path.Combine(independent, "metrics.jsonl")).Length);
    }

    [Fact]
    public void HostileStateDictsAreUsageErrorsNamingTheTensor()
    {
        var good = SafeTensors.Load(StateDict("lenet5", 14));
        string Write(string name, Func<string, bool> keep, params (string Name, SafeDType DType, long[] Shape, byte[] Bytes)[] extra)
        {
            var entries = good.Names.Where(keep).Select(n => (n, good[n].DType, good[n].Shape, good[n].Bytes)).ToList();
            foreach (var (n, d, s, b) in extra)
            {
                entries.RemoveAll(e => e.n == n);
                entries.Add((n, d, s, b));
            }
            string path = Path.Combine(_dir, name);
            SafeTensors.SaveRaw(path, entries);
            return path;
        }
        string garbage = Path.Combine(_dir, "garbage.safetensors");
        File.WriteAllText(garbage, "not a safetensors file");
        string resnet = StateDict("resnet20", 15, "resnet.safetensors");
        var cases = new (string File, string Expected)[]
        {
            (Write("unknown.safetensors", _ => true, ("fc9.weight", SafeDType.F32, [1], new byte[4])), "unexpected tensor 'fc9.weight'"),
            (Write("missing.safetensors", n => n != "fc2.bias"), "missing tensor 'fc2.bias' [84]"),
            (Write("shape.safetensors", _ => true, ("conv1.weight", SafeDType.F32, [6, 1, 5, 5], new byte[600])), "tensor 'conv1.weight' has shape [6, 1, 5, 5], this lenet5 model expects [6, 3, 5, 5]"),
            (Write("dtype.safetensors", _ => true, ("fc3.bias", SafeDType.F64, [10], new byte[80])), "tensor 'fc3.bias' is F64, expected F32"),
            (garbage, "garbage.safetensors"),
            (resnet, "unexpected tensors 'bn1.weight'"),   // another architecture
            (Path.Combine(_dir, "absent.safetensors"), "no such file"),
        };
        foreach (var (file, expected) in cases)
        {
            string run = Path.Combine(_dir, "run-" + Path.GetFileNameWithoutExtension(file));
            var (code, _, err) = Import(file, run, "--model", "lenet5");
            Assert.True(code == 2, $"{file}: exit {code}, {err}");
            Assert.Contains(expected, err);
            Assert.False(Directory.Exists(run), $"{run} was created");
        }

        // An existing run is not overwritten.
        string existing = Path.Combine(_dir, "existing");
        Assert.Equal(0, Import(Path.Combine(_dir, "state.safetensors"), existing, ["--model", "lenet5", .. Tiny]).Code);
        var before = File.ReadAllBytes(Path.Combine(existing, "checkpoint.safetensors"));
        var (c2, _, e2) = Import(Path.Combine(_dir, "state.safetensors"), existing, "--model", "lenet5", "--seed", "9");
        Assert.Equal(2, c2);
        Assert.Contains("already holds a run", e2);
        Assert.Equal(before, File.ReadAllBytes(Path.Combine(existing, "checkpoint.safetensors")));

        // Recipe errors are train's.
        var (c3, _, e3) = Import(Path.Combine(_dir, "state.safetensors"), Path.Combine(_dir, "r"), "--model", "lenet5", "--epochs", "0");
        Assert.Equal(2, c3);
        Assert.Contains("epochs: must be ≥ 1", e3);
        Assert.Contains("Example: sparseswitch import", CliRunner.Run("import", "--help").Out);
    }
}
