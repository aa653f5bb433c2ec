using Microsoft.ML.OnnxRuntime;
using DenseTensor = Microsoft.ML.OnnxRuntime.Tensors.DenseTensor<float>;
using SparseSwitch.Export;
using SparseSwitch.Nn;
using SparseSwitch.Nn.Models;
using SparseSwitch.Optim;
using SparseSwitch.Sparsity;
using SparseSwitch.Tensors;
using Tensor = SparseSwitch.Tensors.Tensor;
using Xunit;
using Xunit.Sdk;

namespace SparseSwitch.Tests.Export;

/// <summary>
/// The exported ONNX models compute what our eval-mode forward computes, checked in ONNX Runtime:
/// every zoo architecture after two training steps (running statistics and batch-norm weights off
/// their defaults), with random 90 %-sparse masks (2:4 masks on one model) and batch-norm set 1.
/// </summary>
public class OnnxExportTests
{
    private const int Batch = 3;

    [Theory]
    [InlineData("mlp")]
    [InlineData("lenet5")]
    [InlineData("lenet5-caffe")]
    [InlineData("resnet20")]
    [InlineData("resnet32-a")]
    [InlineData("wrn32")]
    [InlineData("resnet18")]
    [InlineData("vgg11")]
    [InlineData("vgg16")]
    public void ExportedSubnetGivesOurLogitsInOnnxRuntime(string name)
    {
        var (model, c, size) = Trained(name);
        RandomMasks(model, density: 0.1, new Rng(7));
        SubNets.SetActive(model, 1);
        model.Eval();
        var x = Images(Batch, c, size, seed: 11);
        var ours = Logits(model, x);

        var bytes = ExportBytes(model, c, size);
        using var session = Session(bytes);
        AssertClose(ours, Run(session, x.Span.ToArray(), Batch, c, size), $"{name}, batch {Batch}");
        // Batch-size independent: each image alone gives its row of the batch's logits.
        int classes = ours.Length / Batch, image = c * size * size;
        for (int b = 0; b < Batch; b++)
            AssertClose(ours.AsSpan(b * classes, classes).ToArray(), Run(session, x.Span.Slice(b * image, image).ToArray(), 1, c, size), $"{name}, image {b} alone");
    }

    [Fact]
    public void TwoFourMasksExportAndTheMaskAndSetMatter()
    {
        var (model, c, size) = Trained("resnet20");
        foreach (var p in model.Parameters().Where(p => p.Prunable))
        {
            p.Mask = NmMask.Compute(p.Data.Span, p.Shape, 2, 4);
            Assert.True(NmMask.IsValid(p.Mask, p.Shape, 2, 4));
        }
        SubNets.SetActive(model, 1);
        model.Eval();
        var x = Images(Batch, c, size, seed: 12);
        var ours = Logits(model, x);
        AssertClose(ours, RunOnce(ExportBytes(model, c, size), x.Span.ToArray(), Batch, c, size), "resnet20 2:4");

        // The same weights without their masks, or with batch-norm set 0, compute something else.
        var masks = model.Parameters().Select(p => p.Mask).ToList();
        foreach (var p in model.Parameters()) p.Mask = null;
        AssertDiffers(ours, RunOnce(ExportBytes(model, c, size), x.Span.ToArray(), Batch, c, size), "dense export");
        foreach (var (p, m) in model.Parameters().Zip(masks)) p.Mask = m;
        SubNets.SetActive(model, 0);
        AssertDiffers(ours, RunOnce(ExportBytes(model, c, size), x.Span.ToArray(), Batch, c, size), "batch-norm set 0");
    }

    [Fact]
    public void ExportSubnetSelectsTheMasksAndSetAndRestoresTheModel()
    {
        var (model, c, size) = Trained("resnet20-a");
        var rng = new Rng(21);
        var subnet = model.NamedParameters().Where(p => p.Param.Prunable).ToDictionary(p => p.Path, p => RandomMask(p.Param.Length, 0.1, rng));
        // The model holds another sub-net: its own masks and set 0.
        RandomMasks(model, density: 0.3, rng);
        var before = model.Parameters().Select(p => p.Mask).ToList();
        SubNets.SetActive(model, 0);
        model.Eval();

        using var stream = new MemoryStream();
        OnnxExporter.ExportSubnet(model, subnet, 1, stream, c, size);

        Assert.Equal(before, model.Parameters().Select(p => p.Mask));
        Assert.All(SubNets.SwitchableLayers(model), l => Assert.Equal(0, l.ActiveSet));
        // Our logits for that sub-net.
        foreach (var (path, p) in model.NamedParameters()) p.Mask = subnet.GetValueOrDefault(path);
        SubNets.SetActive(model, 1);
        var x = Images(Batch, c, size, seed: 13);
        AssertClose(Logits(model, x), RunOnce(stream.ToArray(), x.Span.ToArray(), Batch, c, size), "ExportSubnet");

        var bad = new Dictionary<string, BitMask> { ["no.such.weight"] = new BitMask(4) };
        Assert.Contains("no.such.weight", Assert.Throws<ArgumentException>(() => OnnxExporter.ExportSubnet(model, bad, 0, Stream.Null, c, size)).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => OnnxExporter.ExportSubnet(model, subnet, 2, Stream.Null, c, size));
    }

    [Fact]
    public void GraphHasTheNamedInputAndOutputWithASymbolicBatch()
    {
        var model = ModelZoo.Create("lenet5", 1, 28, 10, 2, new Rng(3));
        var bytes = ExportBytes(model, 1, 28);
        var proto = Onnx.ModelProto.Parser.ParseFrom(bytes);
        Assert.Equal(8, proto.IrVersion);
        Assert.Equal("sparseswitch", proto.ProducerName);
        Assert.Equal(17, Assert.Single(proto.OpsetImport).Version);
        var input = Assert.Single(proto.Graph.Input);
        Assert.Equal("input", input.Name);
        Assert.Equal(["N", "1", "28", "28"], input.Type.TensorType.Shape.Dim.Select(d => d.HasDimParam ? d.DimParam : d.DimValue.ToString()));
        var output = Assert.Single(proto.Graph.Output);
        Assert.Equal("logits", output.Name);
        Assert.Equal(["N", "10"], output.Type.TensorType.Shape.Dim.Select(d => d.HasDimParam ? d.DimParam : d.DimValue.ToString()));

        using var session = Session(bytes);
        Assert.Equal("input", Assert.Single(session.InputNames));
        Assert.Equal([-1, 1, 28, 28], session.InputMetadata["input"].Dimensions);
        Assert.Equal("logits", Assert.Single(session.OutputNames));
        Assert.Equal([-1, 10], session.OutputMetadata["logits"].Dimensions);
    }

    [Fact]
    public void MaskedWeightsAreZeroInTheInitializers()
    {
        var model = ModelZoo.Create("resnet20", 3, 32, 10, 2, new Rng(4));
        RandomMasks(model, density: 0.1, new Rng(5));
        var proto = Onnx.ModelProto.Parser.ParseFrom(ExportBytes(model, 3, 32));
        var initializers = proto.Graph.Initializer.ToDictionary(t => t.Name);
        int checkedWeights = 0;
        foreach (var (path, p) in model.NamedParameters().Where(p => p.Param.Prunable))
        {
            var t = initializers[path];
            Assert.Equal(p.Shape.Select(d => (long)d), t.Dims);
            var values = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(t.RawData.Span);
            var data = p.Data.Span;
            for (int i = 0; i < p.Length; i++)
                Assert.True(values[i] == (p.Mask![i] ? data[i] : 0f), $"{path}[{i}]: {values[i]}, mask {p.Mask[i]}, weight {data[i]}");
            Assert.True(values.ToArray().Count(v => v != 0) <= p.Mask!.Count());
            checkedWeights++;
        }
        Assert.Equal(model.Parameters().Count(p => p.Prunable), checkedWeights);
        // The stem is not masked and is exported as it is.
        Assert.Equal(model.StateDict()["conv1.weight"].Span.ToArray(),
            System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(initializers["conv1.weight"].RawData.Span).ToArray());
    }

    private sealed class Square : Module
    {
        public override Tensor Forward(Tensor x) => x;
        public override Tensor Backward(Tensor dy) => dy;
    }

    [Fact]
    public void AnUnsupportedModuleIsNamedWithItsPath()
    {
        var model = new Sequential(new Flatten(), new Linear(4, 3), new Sequential(new ReLU(), new Square()));
        var e = Assert.Throws<NotSupportedException>(() => OnnxExporter.Export(model, Stream.Null, 1, 2));
        Assert.Contains("'2.1'", e.Message);
        Assert.Contains(nameof(Square), e.Message);
    }

    // ---- helpers ----

    /// <summary>A zoo model with two batch-norm sets after one SGD step on each set (random data),
    /// so that both sets' running statistics and affine parameters are off their defaults.</summary>
    private static (Module Model, int Channels, int Size) Trained(string name)
    {
        int c = name.StartsWith("mlp") || name.StartsWith("lenet") ? 1 : 3, size = c == 1 ? 28 : 32;
        var model = ModelZoo.Create(name, c, size, 10, 2, new Rng(1));
        var sgd = new Sgd(model.NamedParameters(), lr: 0.1, momentum: 0.9);
        var loss = new CrossEntropyLoss();
        model.Train();
        for (int step = 0; step < 2; step++)
        {
            SubNets.SetActive(model, step);
            var x = Images(2, c, size, seed: (ulong)(100 + step));
            int[] targets = [3, 9];
            model.ZeroGrad();
            loss.Forward(model.Forward(x), targets);
            model.Backward(loss.Backward());
            sgd.Step();
        }
        return (model, c, size);
    }

    private static BitMask RandomMask(int length, double density, Rng rng)
    {
        var m = new BitMask(length);
        for (int i = 0; i < length; i++) m[i] = rng.NextDouble() < density;
        return m;
    }

    private static void RandomMasks(Module model, double density, Rng rng)
    {
        foreach (var p in model.Parameters().Where(p => p.Prunable)) p.Mask = RandomMask(p.Length, density, rng);
    }

    private static Tensor Images(int n, int c, int size, ulong seed)
    {
        var x = new Tensor(n, c, size, size);
        new Rng(seed).FillNormal(x.Span, 0, 1);
        return x;
    }

    private static float[] Logits(Module model, Tensor x) => model.Forward(x).Span.ToArray();

    private static byte[] ExportBytes(Module model, int c, int size)
    {
        using var stream = new MemoryStream();
        OnnxExporter.Export(model, stream, c, size);
        return stream.ToArray();
    }

    private static InferenceSession Session(byte[] model) =>
        new(model, new SessionOptions { IntraOpNumThreads = 1, InterOpNumThreads = 1 });

    private static float[] RunOnce(byte[] model, float[] images, int n, int c, int size)
    {
        using var session = Session(model);
        return Run(session, images, n, c, size);
    }

    private static float[] Run(InferenceSession session, float[] images, int n, int c, int size)
    {
        var input = new DenseTensor(images, [n, c, size, size]);
        using var results = session.Run([NamedOnnxValue.CreateFromTensor("input", input)]);
        var logits = Assert.Single(results);
        Assert.Equal("logits", logits.Name);
        return logits.AsEnumerable<float>().ToArray();
    }

    /// <summary>|ours − ort| ≤ 1e-4·max(1, |ours|) element by element.</summary>
    private static void AssertClose(float[] ours, float[] ort, string what)
    {
        Assert.Equal(ours.Length, ort.Length);
        for (int i = 0; i < ours.Length; i++)
        {
            double tol = 1e-4 * Math.Max(1, Math.Abs(ours[i]));
            if (!(Math.Abs(ours[i] - ort[i]) <= tol))
                throw new XunitException($"{what}: logit {i}: ours {ours[i]}, ONNX Runtime {ort[i]} (tolerance {tol:g3}).");
        }
    }

    private static void AssertDiffers(float[] ours, float[] ort, string what)
    {
        double max = ours.Zip(ort, (a, b) => Math.Abs(a - b) / Math.Max(1, Math.Abs(a))).Max();
        Assert.True(max > 1e-2, $"{what}: the logits should differ, largest relative difference {max:g3}.");
    }
}
