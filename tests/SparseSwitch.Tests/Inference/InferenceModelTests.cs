using SparseSwitch.Inference;
using SparseSwitch.Nn;
using SparseSwitch.Nn.Models;
using SparseSwitch.Tensors;
using Xunit;

namespace SparseSwitch.Tests.Inference;

/// <summary>
/// A compiled model's logits equal the masked model's eval-mode logits (its batch-norm set, its
/// masks) for every sub-net, every weight format and both batch classes (one image; groups and a
/// partial last group), on every architecture of the zoo.
/// </summary>
public class InferenceModelTests
{
    internal static (Module Model, List<IReadOnlyDictionary<string, BitMask>?> Masks) Trained(string name, int channels, int size, double[] densities, int seed = 3)
    {
        var rng = new Rng((ulong)seed);
        var model = ModelZoo.Create(name, channels, size, 10, densities.Length, rng);
        model.UseOptions(EngineOptions.Default with { Threads = 2 });
        var loss = new CrossEntropyLoss();
        var x = new Tensor(6, channels, size, size);
        rng.FillNormal(x.Span, 0, 1);
        var masks = new List<IReadOnlyDictionary<string, BitMask>?>();
        for (int k = 0; k < densities.Length; k++)
        {
            var m = new Dictionary<string, BitMask>();
            foreach (var (path, p) in model.NamedParameters())
            {
                if (!p.Prunable) continue;
                var mask = new BitMask(p.Length);
                for (int i = 0; i < p.Length; i++) mask[i] = rng.NextDouble() < densities[k];
                m[path] = mask;
            }
            masks.Add(densities[k] >= 1 ? null : m);
            // A training step per sub-net, so that every batch-norm set has its own statistics.
            Apply(model, masks[k], k);
            model.Train();
            model.ZeroGrad();
            loss.Forward(model.Forward(x), [0, 1, 2, 3, 4, 5]);
            model.Backward(loss.Backward());
        }
        model.Eval();
        return (model, masks);
    }

    internal static void Apply(Module model, IReadOnlyDictionary<string, BitMask>? masks, int k)
    {
        foreach (var (path, p) in model.NamedParameters())
            if (p.Prunable) p.Mask = masks is not null && masks.TryGetValue(path, out var m) ? m : null;
        if (SubNets.CountSets(model) > 1) SubNets.SetActive(model, k);
    }

    internal static float[] Reference(Module model, IReadOnlyDictionary<string, BitMask>? masks, int k, Tensor x)
    {
        Apply(model, masks, k);
        model.Eval();
        return model.Forward(x).Span.ToArray();
    }

    internal static void AssertClose(float[] expected, float[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        float scale = Math.Max(1f, expected.Max(Math.Abs));
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-4f * scale, $"{what}: logit {i}: expected {expected[i]}, got {actual[i]}");
    }

    [Theory]
    [InlineData("resnet20", 3, 16, FormatChoice.Dense)]
    [InlineData("resnet20", 3, 16, FormatChoice.Sparse)]
    [InlineData("resnet20-a", 3, 16, FormatChoice.Sparse)]
    [InlineData("resnet20-a", 3, 16, FormatChoice.Measure)]
    [InlineData("wrn32-a", 3, 8, FormatChoice.Density)]
    [InlineData("vgg11", 3, 32, FormatChoice.Sparse)]
    [InlineData("lenet5", 1, 28, FormatChoice.Dense)]
    [InlineData("lenet5", 1, 28, FormatChoice.Sparse)]
    [InlineData("lenet5-caffe", 1, 28, FormatChoice.Sparse)]
    [InlineData("mlp", 1, 28, FormatChoice.Sparse)]
    [InlineData("mlp", 1, 28, FormatChoice.Dense)]
    public void CompiledLogitsEqualTheMaskedModels(string name, int channels, int size, FormatChoice formats)
    {
        double[] densities = [1.0, 0.3, 0.05];
        var (model, masks) = Trained(name, channels, size, densities);
        var compiled = InferenceModel.Compile(model, channels, size, masks,
            new InferenceOptions { Engine = EngineOptions.Default with { Threads = 2 }, Formats = formats, GroupSize = 4, MeasureRepetitions = 1 });
        var rng = new Rng(11);
        float[]? previous = null;
        // One image, a full group, and a full group with a partial one after it (vgg: fewer, it is slow).
        foreach (int batch in name.StartsWith("vgg") ? new[] { 1, 5 } : new[] { 1, 4, 7 })
        {
            var x = new Tensor(batch, channels, size, size);
            rng.FillNormal(x.Span, 0, 1);
            for (int k = 0; k < densities.Length; k++)
            {
                var expected = Reference(model, masks[k], k, x);
                var actual = new float[batch * 10];
                compiled.Run(k, x.Span, actual, batch);
                AssertClose(expected, actual, $"{name} sub-net {k} batch {batch} {formats}");
                // Sub-nets differ (masks and batch-norm sets are really used).
                if (previous is not null && previous.Length == actual.Length) Assert.False(previous.AsSpan().SequenceEqual(actual), $"{name}: sub-nets {k - 1} and {k} give the same logits");
                previous = actual;
            }
            previous = null;
        }
        if (formats == FormatChoice.Sparse)
        {
            // Sparse forms: CSR in groups, and at one image sliced for Linear layers, CSR for convolutions.
            Assert.All(compiled.Layers(2, batchOfOne: false).Where(l => l.Format is not null && l.Format != WeightFormat.Dense), l => Assert.Equal(WeightFormat.Csr, l.Format));
            Assert.Contains(compiled.Layers(2), l => l.Format == (l.Description.Contains("linear") ? WeightFormat.Sliced : WeightFormat.Csr));
        }
    }

    [Theory]
    [InlineData("resnet20-a", 3, 16, FormatChoice.Sparse)]
    [InlineData("resnet20", 3, 16, FormatChoice.Measure)]
    [InlineData("lenet5-caffe", 1, 28, FormatChoice.Sparse)]
    [InlineData("mlp", 1, 28, FormatChoice.Sparse)]
    public void NmSubnetsInTheirPackedFormGiveTheMaskedModelsLogits(string name, int channels, int size, FormatChoice formats)
    {
        var (model, _) = Trained(name, channels, size, [1.0, 1.0, 1.0]);
        NmPattern?[] patterns = [null, new NmPattern(2, 4), new NmPattern(1, 8)];
        var masks = new List<IReadOnlyDictionary<string, BitMask>?> { null };
        foreach (var p in patterns.Skip(1))
            masks.Add(model.NamedParameters().Where(e => e.Param.Prunable)
                .ToDictionary(e => e.Path, e => SparseSwitch.Sparsity.NmMask.Compute(e.Param.Data.Span, e.Param.Shape, p!.Value.N, p.Value.M)));
        var compiled = InferenceModel.Compile(model, channels, size, masks,
            new InferenceOptions { Engine = EngineOptions.Default with { Threads = 2 }, Formats = formats, GroupSize = 4, MeasureRepetitions = 1,
                SparseForm = formats == FormatChoice.Sparse ? WeightFormat.NmPacked : null }, patterns);
        var x = new Tensor(5, channels, size, size);
        new Rng(8).FillNormal(x.Span, 0, 1);
        for (int k = 0; k < 3; k++)
            foreach (int batch in new[] { 1, 5 })
            {
                var xb = x.View(0, batch, channels, size, size);
                var expected = Reference(model, masks[k], k, xb);
                var actual = new float[batch * 10];
                compiled.Run(k, xb.Span, actual, batch);
                AssertClose(expected, actual, $"{name} sub-net {k} batch {batch}");
            }
        if (formats == FormatChoice.Sparse)
            foreach (int k in new[] { 1, 2 })
                Assert.All(compiled.Layers(k).Where(l => l.Format is not null && l.Format != WeightFormat.Dense), l => Assert.Equal(WeightFormat.NmPacked, l.Format));
        else
            Assert.All(compiled.Layers(1).Where(l => l.MeasuredMs.Count > 0), l => Assert.Contains(WeightFormat.NmPacked, l.MeasuredMs.Keys));
    }

    [Theory]
    [InlineData(FormatChoice.Sparse)]
    [InlineData(FormatChoice.Dense)]
    public void AnMlpInItsAutomaticGroupsGivesTheMaskedModelsLogits(FormatChoice formats)
    {
        // Groups of 64 (the MLP's automatic size): Linear layers with ReLU through 16 × 16 transposed blocks and their edges.
        double[] densities = [1.0, 0.3, 0.05];
        var (model, masks) = Trained("mlp", 1, 28, densities);
        var compiled = InferenceModel.Compile(model, 1, 28, masks,
            new InferenceOptions { Engine = EngineOptions.Default with { Threads = 2 }, Formats = formats });
        Assert.Equal(64, compiled.Options.GroupSize);
        var x = new Tensor(70, 1, 28, 28);
        new Rng(21).FillNormal(x.Span, 0, 1);
        for (int k = 0; k < densities.Length; k++)
        {
            var expected = Reference(model, masks[k], k, x);
            var actual = new float[70 * 10];
            compiled.Run(k, x.Span, actual, 70);
            AssertClose(expected, actual, $"mlp sub-net {k} {formats}");
        }
    }

    [Theory]
    [InlineData(32 * 32 * 32, 16)]   // wide ResNet-32: 128 KiB an image
    [InlineData(16 * 32 * 32, 32)]   // ResNet-20
    [InlineData(1024, 64)]           // an MLP: capped at 64
    [InlineData(128 * 32 * 32, 8)]   // larger than the budget at 8: never below 8
    public void TheAutomaticGroupSizeKeepsAGroupsLargestActivationWithinItsBudget(int largest, int expected)
    {
        Assert.Equal(expected, InferenceModel.AutomaticGroupSize(largest));
        var compiled = InferenceModel.Compile(new Linear(largest / 64 + 1, 10, rng: new Rng(1)), largest / 64 + 1, 1, [null]);
        Assert.InRange(compiled.Options.GroupSize, 8, 64);
    }

    [Fact]
    public void WrongSizesAndSubnetsAreRefused()
    {
        var (model, masks) = Trained("lenet5", 1, 28, [1.0, 0.2]);
        var compiled = InferenceModel.Compile(model, 1, 28, masks, new InferenceOptions { Formats = FormatChoice.Density });
        var x = new float[2 * 784];
        Assert.Throws<ArgumentOutOfRangeException>(() => compiled.Run(2, x, new float[20], 2));
        Assert.Throws<ArgumentException>(() => compiled.Run(0, x, new float[19], 2));
        Assert.Throws<ArgumentException>(() => compiled.Run(0, x.AsSpan(1), new float[20], 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => compiled.Run(0, x, new float[20], 0));
        // The batch taken from the input's length.
        var y1 = new float[20];
        var y2 = new float[20];
        compiled.Run(1, x, y1);
        compiled.Run(1, x, y2, 2);
        Assert.Equal(y2, y1);
        Assert.Throws<ArgumentException>(() => compiled.Run(0, x.AsSpan(1), new float[20]));
        Assert.Throws<ArgumentException>(() => compiled.Run(0, ReadOnlySpan<float>.Empty, new float[10]));
    }
}
