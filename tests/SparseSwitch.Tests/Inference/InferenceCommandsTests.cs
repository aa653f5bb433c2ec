using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using SparseSwitch.Inference;
using SparseSwitch.Tests.Support;
using SparseSwitch.Training;
using Xunit;

namespace SparseSwitch.Tests.Inference;

/// <summary>The <c>profile</c>, <c>infer</c> and model-file <c>export</c> commands on a packed one-epoch
/// LeNet-5 run (synthetic images, three sub-nets).</summary>
[Collection(ConsoleCollection.Name)]
public sealed class InferenceCommandsTests : IClassFixture<InferenceCommandsTests.Packed>
{
    public sealed class Packed : IDisposable
    {
        public string Root { get; } = Directory.CreateTempSubdirectory("ss-infer-").FullName;
        public string Model => Path.Combine(Root, "model.safetensors");

        public Packed()
        {
            var recipe = new TrainRecipe
            {
                Data = "synthetic", TrainLimit = 48, TestLimit = 32, Epochs = 1, BatchSize = 16, Lr = 0.05,
                PruneStart = 0, PruneEnd = 1, UpdateEvery = 1, Seed = 5, Model = "lenet5", Subnets = SubnetList.Parse("0.5,0.2,0.1"),
            };
            string run = Path.Combine(Root, "run");
            TrainingRun.Run(recipe, run);
            ModelPacker.Pack(run).Write(Model);
        }

        public void Dispose() => Directory.Delete(Root, true);
    }

    private readonly Packed _p;
    public InferenceCommandsTests(Packed p) => _p = p;

    private string Copy(string name)
    {
        string f = Path.Combine(_p.Root, name);
        File.Copy(_p.Model, f, true);
        return f;
    }

    private string RawImages(int n, out float[] x)
    {
        var a = ModelArtifact.Read(_p.Model);
        x = new float[n * a.InChannels * a.ImageSize * a.ImageSize];
        new SparseSwitch.Tensors.Rng(9).FillNormal(x, 0, 1);
        string f = Path.Combine(_p.Root, $"images-{n}.f32");
        File.WriteAllBytes(f, System.Runtime.InteropServices.MemoryMarshal.AsBytes(x.AsSpan()).ToArray());
        return f;
    }

    [Fact]
    public void ProfileStoresALatencyTableThatInferSelectsFrom()
    {
        string model = Copy("profiled.safetensors");
        var (code, output, err) = CliRunner.Run("profile", model, "--batch", "1,4", "--rounds", "3", "--threads", "2");
        Assert.True(code == 0, err);
        Assert.Contains("memory:", output);
        Assert.Contains("latency table stored", output);
        var a = ModelArtifact.Read(model);
        Assert.Equal(6, a.Latency.Count);
        Assert.All(a.Latency, e => Assert.True(e.MedianMs > 0 && e.Threads == 2 && e.Machine.Length > 0));

        string raw = RawImages(3, out _);
        (code, output, err) = CliRunner.Run("infer", model, "--input", raw, "--budget-ms", "1000", "--threads", "2");
        Assert.True(code == 0, err);
        int best = Enumerable.Range(0, a.SubnetCount).MaxBy(k => (a.Subnets[k].TestAccuracy, -a.Latency.Single(e => e.Subnet == k && e.BatchSize == 1).MedianMs));
        Assert.Contains($"sub-net {best} ", output);
        Assert.Equal(3, output.Split('\n').Count(l => l.StartsWith("image ")));
        (code, output, _) = CliRunner.Run("infer", model, "--input", raw, "--budget-ms", "0.000001", "--threads", "2");
        Assert.Equal(0, code);
        Assert.Contains("no sub-net fits", output);
        (code, _, err) = CliRunner.Run("infer", model, "--input", raw, "--budget-ms", "1", "--batch", "2", "--threads", "2");
        Assert.Equal(2, code);
        Assert.Contains("no entry for batch 2", err);
        (code, _, err) = CliRunner.Run("infer", model, "--input", raw, "--budget-ms", "1", "--threads", "1");
        Assert.Equal(2, code);
        Assert.Contains("measured with 2 thread(s), this run uses 1", err);
    }

    [Fact]
    public void InferPrintsTheClassesOfTheCompiledSubnet()
    {
        string raw = RawImages(5, out var x);
        var (code, output, err) = CliRunner.Run("infer", _p.Model, "--input", raw, "--subnet", "2", "--batch", "2");
        Assert.True(code == 0, err);
        var a = ModelArtifact.Read(_p.Model);
        var compiled = InferenceModel.Compile(a, new InferenceOptions { Formats = FormatChoice.Density });
        var y = new float[5 * a.NumClasses];
        compiled.Run(2, x, y, 5);
        var lines = output.Split('\n').Where(l => l.StartsWith("image ")).ToArray();
        Assert.Equal(5, lines.Length);
        for (int i = 0; i < 5; i++)
        {
            int cls = Enumerable.Range(0, a.NumClasses).MaxBy(c => y[i * a.NumClasses + c]);
            Assert.StartsWith($"image {i}: {a.ClassNames[cls]}  sub-net 2", lines[i]);
        }
    }

    [Fact]
    public void LogitsOutWritesTheSubnetsLogits()
    {
        string raw = RawImages(5, out var x);
        string logits = Path.Combine(_p.Root, "logits.f32");
        var (code, output, err) = CliRunner.Run("infer", _p.Model, "--input", raw, "--subnet", "1", "--batch", "2", "--logits-out", logits);
        Assert.True(code == 0, err);
        Assert.Contains($"wrote {logits}: 5 × 10 logits (float32)", output);
        var written = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(File.ReadAllBytes(logits)).ToArray();

        // The masked model's eval-mode logits of sub-net 1.
        var a = ModelArtifact.Read(_p.Model);
        var module = a.CreateModule();
        a.ApplySubnet(module, 1);
        var expected = module.Forward(SparseSwitch.Tensors.Tensor.FromArray(x, 5, a.InChannels, a.ImageSize, a.ImageSize)).Span.ToArray();
        Assert.Equal(expected.Length, written.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - written[i]) <= 1e-5f * Math.Max(1, Math.Abs(expected[i])), $"logit {i}: {expected[i]} vs {written[i]}");

        var (bad, _, badErr) = CliRunner.Run("infer", _p.Model, "--data", "synthetic", "--count", "4", "--evaluate", "--logits-out", logits);
        Assert.Equal(2, bad);
        Assert.Contains("does not go with --evaluate", badErr);
    }

    [Fact]
    public void EvaluateRunsEverySubnetAndComparesWithTheFile()
    {
        var (code, output, err) = CliRunner.Run("infer", _p.Model, "--data", "synthetic", "--count", "32", "--evaluate", "--batch", "8", "--threads", "2");
        Assert.True(code == 0, err);
        var rows = output.Split('\n').Where(l => l.Length > 0 && char.IsDigit(l[0])).ToArray();
        Assert.Equal(3, rows.Length);
        foreach (var row in rows)
        {
            var f = row.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            Assert.True(double.Parse(f[4], System.Globalization.CultureInfo.InvariantCulture) < 1e-4, row); // compiled vs masked model
        }
        Assert.Contains("every sub-net's accuracy equals the model file's", output);
    }

    [Fact]
    public void BadInferInputsAreUsageErrors()
    {
        string raw = RawImages(1, out _);
        string odd = Path.Combine(_p.Root, "odd.f32");
        File.WriteAllBytes(odd, new byte[10]);
        Assert.Contains("exactly one of", CliRunner.Run("infer", _p.Model).Err);
        Assert.Contains("not a whole number", CliRunner.Run("infer", _p.Model, "--input", odd).Err);
        Assert.Contains("sub-nets 0 … 2", CliRunner.Run("infer", _p.Model, "--input", raw, "--subnet", "3").Err);
        Assert.Contains("no latency table", CliRunner.Run("infer", _p.Model, "--input", raw, "--budget-ms", "3").Err);
        Assert.Contains("no such model file", CliRunner.Run("profile", Path.Combine(_p.Root, "missing.safetensors")).Err);
        Assert.Equal(2, CliRunner.Run("profile", _p.Model, "--batch", "0").Code);
        var nan = Path.Combine(_p.Root, "nan.f32");
        var bytes = File.ReadAllBytes(raw);
        BitConverter.GetBytes(float.NaN).CopyTo(bytes, 0);
        File.WriteAllBytes(nan, bytes);
        Assert.Contains("must be finite", CliRunner.Run("infer", _p.Model, "--input", nan).Err);
    }

    [Fact]
    public void ExportFromAModelFileRunsInOnnxRuntimeAsCompiled()
    {
        string onnx = Path.Combine(_p.Root, "subnet1.onnx");
        var (code, output, err) = CliRunner.Run("export", _p.Model, "--subnet", "1", "--out", onnx);
        Assert.True(code == 0, err);
        Assert.Contains("sub-net 1", output);
        var a = ModelArtifact.Read(_p.Model);
        RawImages(4, out var x);
        var compiled = InferenceModel.Compile(a, new InferenceOptions { Formats = FormatChoice.Sparse });
        var ours = new float[4 * a.NumClasses];
        compiled.Run(1, x, ours, 4);
        using var session = new InferenceSession(onnx);
        var input = new DenseTensor<float>(x, [4, a.InChannels, a.ImageSize, a.ImageSize]);
        using var results = session.Run([NamedOnnxValue.CreateFromTensor("input", input)]);
        var ort = results.First().AsEnumerable<float>().ToArray();
        float scale = Math.Max(1f, ours.Max(Math.Abs));
        for (int i = 0; i < ours.Length; i++) Assert.True(Math.Abs(ours[i] - ort[i]) <= 1e-4f * scale, $"logit {i}: {ours[i]} vs {ort[i]}");
        Assert.Equal(2, CliRunner.Run("export", _p.Model, "--subnet", "7", "--out", onnx).Code);
    }
}
