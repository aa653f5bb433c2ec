using Microsoft.ML.OnnxRuntime;
using SparseSwitch.Nn.Models;
using SparseSwitch.Tensors;
using SparseSwitch.Tests.Support;
using SparseSwitch.Training;
using Xunit;
using DenseTensor = Microsoft.ML.OnnxRuntime.Tensors.DenseTensor<float>;
using Tensor = SparseSwitch.Tensors.Tensor;

namespace SparseSwitch.Tests.Export;

/// <summary><c>sparseswitch export</c> end to end on a tiny AST run: the file it writes computes
/// the chosen sub-net (its masks, its batch-norm set) in ONNX Runtime; wrong sub-nets, formats and
/// sources are usage errors.</summary>
[Collection(ConsoleCollection.Name)]
public sealed class ExportCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ss-export-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    private string TrainRun()
    {
        var run = Path.Combine(_dir, "run");
        var (code, _, err) = CliRunner.Run("train", "--model", "resnet20-a", "--subnets", "0.1,0.05", "--epochs", "1", "--train-limit", "64",
            "--test-limit", "32", "--batch-size", "32", "--prune-start", "0", "--prune-end", "1", "--update-every", "1", "--seed", "6", "--out", run);
        Assert.True(code == 0, err);
        return run;
    }

    [Fact]
    public void ExportWritesTheChosenSubnetAsOnnx()
    {
        var run = TrainRun();
        var file = Path.Combine(_dir, "sub1.onnx");
        var (code, output, err) = CliRunner.Run("export", run, "--subnet", "0.05", "--format", "onnx", "--out", file);
        Assert.True(code == 0, err);
        Assert.Contains($"wrote {file}: resnet20-a sub-net 1 [0.05], batch-norm set 1", output);
        Assert.Empty(Directory.GetFiles(_dir, "*.tmp-*"));

        // By index: the same file.
        var byIndex = Path.Combine(_dir, "by-index.onnx");
        Assert.Equal(0, CliRunner.Run("export", run, "--subnet", "1", "--out", byIndex).Code);
        Assert.Equal(File.ReadAllBytes(file), File.ReadAllBytes(byIndex));

        var proto = Onnx.ModelProto.Parser.ParseFrom(File.ReadAllBytes(file));
        var meta = proto.MetadataProps.ToDictionary(p => p.Key, p => p.Value);
        Assert.Equal(("resnet20-a", "1", "0.05", "1"), (meta["model"], meta["subnet"], meta["subnet_spec"], meta["batch_norm_set"]));

        // Our model with sub-net 1's masks and batch-norm set gives ONNX Runtime's logits.
        var sub = TrainedSubnet.Load(run, 1);
        foreach (var (path, p) in sub.Model.NamedParameters()) p.Mask = sub.Masks.GetValueOrDefault(path);
        SubNets.SetActive(sub.Model, 1);
        sub.Model.Eval();
        var x = new Tensor(2, 3, 32, 32);
        new Rng(9).FillNormal(x.Span, 0, 1);
        var ours = sub.Model.Forward(x).Span.ToArray();
        using var session = new InferenceSession(file);
        using var results = session.Run([NamedOnnxValue.CreateFromTensor("input", new DenseTensor(x.Span.ToArray(), [2, 3, 32, 32]))]);
        var ort = results.Single().AsEnumerable<float>().ToArray();
        Assert.Equal(ours.Length, ort.Length);
        for (int i = 0; i < ours.Length; i++)
            Assert.True(Math.Abs(ours[i] - ort[i]) <= 1e-4 * Math.Max(1, Math.Abs(ours[i])), $"logit {i}: ours {ours[i]}, ONNX Runtime {ort[i]}");

        // Sub-net 0 is another function.
        var other = Path.Combine(_dir, "sub0.onnx");
        Assert.Equal(0, CliRunner.Run("export", run, "--subnet", "0", "--out", other).Code);
        Assert.NotEqual(File.ReadAllBytes(file), File.ReadAllBytes(other));
    }

    [Fact]
    public void ExportWritesTheChosenSubnetAsAPyTorchStateDict()
    {
        var run = TrainRun();
        var file = Path.Combine(_dir, "sub1.safetensors");
        var (code, output, err) = CliRunner.Run("export", run, "--subnet", "0.05", "--format", "torch", "--out", file);
        Assert.True(code == 0, err);
        Assert.Contains($"wrote {file}: PyTorch state dict of resnet20-a sub-net 1 [0.05], batch-norm set 1", output);
        Assert.Empty(Directory.GetFiles(_dir, "*.tmp-*"));

        var written = SparseSwitch.Serialization.SafeTensors.Load(file);
        Assert.Equal(("resnet20-a", "1", "0.05", "1"), (written.Meta("model"), written.Meta("subnet"), written.Meta("subnet_spec"), written.Meta("batch_norm_set")));
        var sub = TrainedSubnet.Load(run, 1);
        var state = sub.Model.StateDict();
        Assert.Equal(SparseSwitch.Export.TorchStateDict.Layout(sub.Model).Select(e => e.Name), written.Names);
        Assert.DoesNotContain(written.Names, n => n.Contains(".bn1.0.", StringComparison.Ordinal) || n.Contains(".1.running_mean", StringComparison.Ordinal));
        foreach (var (path, mask) in sub.Masks)
        {
            var values = written.Float(path).Span;
            for (int i = 0; i < values.Length; i++) Assert.Equal(mask[i] ? state[path].Span[i] : 0f, values[i]);
        }
        Assert.Equal(state["layer2.1.bn2.1.running_var"].Span.ToArray(), written.Float("layer2.1.bn2.running_var").Span.ToArray());
        Assert.Equal(state["layer3.0.bn1.1.weight"].Span.ToArray(), written.Float("layer3.0.bn1.weight").Span.ToArray());
        Assert.Equal(state["bn1.bias"].Span.ToArray(), written.Float("bn1.bias").Span.ToArray());   // the stem's, shared

        // From the packed model file: the same tensors.
        Assert.Equal(0, CliRunner.Run("pack", run).Code);
        var fromModel = Path.Combine(_dir, "sub1-from-model.safetensors");
        Assert.Equal(0, CliRunner.Run("export", Path.Combine(run, "model.safetensors"), "--subnet", "1", "--format", "torch", "--out", fromModel).Code);
        var other = SparseSwitch.Serialization.SafeTensors.Load(fromModel);
        Assert.Equal(written.Names, other.Names);
        foreach (var n in written.Names) Assert.True(written[n].Bytes.Span.SequenceEqual(other[n].Bytes.Span), n);
    }

    [Fact]
    public void ExportRefusesAnUnknownSubnetFormatOrSource()
    {
        var run = TrainRun();
        var file = Path.Combine(_dir, "x.onnx");
        foreach (var (args, expected) in new (string[], string)[]
        {
            (["export", run, "--subnet", "2", "--out", file], "there is no sub-net 2; the run has 0: 0.1, 1: 0.05"),
            (["export", run, "--subnet", "2:4", "--out", file], "the run has no sub-net 2:4"),
            (["export", run, "--subnet", "dense", "--out", file], "'dense' is neither an index nor a sub-net spec"),
            (["export", run, "--format", "tflite", "--out", file], "--format: 'tflite' is not one of onnx, torch"),
            (["export", Path.Combine(_dir, "missing"), "--out", file], "not a run folder"),
        })
        {
            var (code, _, err) = CliRunner.Run(args);
            Assert.Equal(2, code);
            Assert.Contains(expected, err);
        }
        Assert.False(File.Exists(file));
        Assert.Contains("Example: sparseswitch export", CliRunner.Run("export", "--help").Out);
    }
}
