using SparseSwitch.Sparsity;
using SparseSwitch.Training;
using Xunit;

namespace SparseSwitch.Tests.Training;

public class NmConversionTests
{
    [Fact]
    public void ConvertsATrainedRunToValidNmAndReconstructionReducesEveryLayersError()
    {
        var dir = Path.Combine(Path.GetTempPath(), "ss-convert-" + Guid.NewGuid().ToString("N"));
        try
        {
            var recipe = new TrainRecipe { Model = "mlp", Data = "synthetic", TrainLimit = 600, TestLimit = 200, Mode = TrainMode.Dense, Epochs = 1, Subnets = SubnetList.Parse("1"), Seed = 3 };
            TrainingRun.Run(recipe, dir);
            var (dense, results, model) = NmConversion.Run(dir, 2, 4, calibrationImages: 64, new AdaPruneOptions { Steps = 30 });
            Assert.InRange(dense, 0.12, 1.0); // above chance (10 classes): the run learned something
            Assert.Equal(3, results.Count);
            foreach (var r in results)
            {
                // At most 2 of every 4 non-zero (ValidNm) and, since 784, 300 and 100 inputs all
                // divide by 4, density exactly 1/2: together, exactly 2 kept in every group.
                Assert.True(r.ValidNm, $"{r.Variant}: some group keeps more than 2 of 4");
                Assert.Equal(0.5, r.Density);
            }
            // The model returned (the AdaPrune variant), group by group.
            var layers = AdaPrune.PrunableLayers(model);
            Assert.Equal(3, layers.Count);
            foreach (var (path, _, w) in layers) AssertExactlyNPerGroup(w.Data.Span, w.Shape, 2, 4, path);
            var adaprune = results[^1].Report!;
            Assert.NotEmpty(adaprune.Layers);
            foreach (var layer in adaprune.Layers)
                Assert.True(layer.MseFinal <= layer.MseMasked, $"{layer.Path}: reconstruction raised the output error {layer.MseMasked} → {layer.MseFinal}");
            Assert.All(model.Parameters().Where(p => p.Prunable), p => Assert.Null(p.Mask));
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }

    /// <summary>Every group of <paramref name="m"/> consecutive input channels ([out, kh, kw, in]
    /// order for a conv weight [out, in, kh, kw]) holds exactly <paramref name="n"/> non-zeros.</summary>
    internal static void AssertExactlyNPerGroup(ReadOnlySpan<float> w, int[] shape, int n, int m, string what)
    {
        int outs = shape[0], ins = shape[1], k = shape.Length == 4 ? shape[2] * shape[3] : 1;
        Assert.True(ins % m == 0, $"{what}: {ins} input channels do not divide into groups of {m}");
        for (int o = 0; o < outs; o++)
            for (int s = 0; s < k; s++)
                for (int g = 0; g < ins; g += m)
                {
                    int kept = 0;
                    for (int c = g; c < g + m; c++)
                        if (w[(o * ins + c) * k + s] != 0f) kept++;
                    Assert.True(kept == n, $"{what}: output {o}, kernel position {s}, inputs {g}..{g + m - 1} keep {kept}, not {n}");
                }
    }

    [Fact]
    public void TheGroupCheckCountsAlongInputChannels()
    {
        // A [2, 4] linear weight with 2 of 4 kept in row 0 but 3 in row 1; a [1, 4, 1, 2] conv
        // weight whose groups run along input channels at each kernel position.
        Assert.ThrowsAny<Xunit.Sdk.XunitException>(() => AssertExactlyNPerGroup([1, 0, 2, 0, 1, 1, 1, 0], [2, 4], 2, 4, "linear"));
        Assert.ThrowsAny<Xunit.Sdk.XunitException>(() => AssertExactlyNPerGroup([1, 0, 1, 0, 0, 0, 0, 0], [2, 4], 2, 4, "linear"));
        AssertExactlyNPerGroup([1, 0, 2, 0, 0, 1, 1, 0], [2, 4], 2, 4, "linear");
        // conv [out=1, in=4, kh=1, kw=2]: index (c * 2 + s); position 0 keeps c0, c1; position 1 keeps c2, c3.
        AssertExactlyNPerGroup([1, 0, 1, 0, 0, 1, 0, 1], [1, 4, 1, 2], 2, 4, "conv");
        Assert.ThrowsAny<Xunit.Sdk.XunitException>(() => AssertExactlyNPerGroup([1, 1, 1, 0, 1, 0, 0, 1], [1, 4, 1, 2], 2, 4, "conv"));
    }

    [Fact]
    public void MissingCheckpointIsAClearError()
    {
        var dir = Path.Combine(Path.GetTempPath(), "ss-convert-missing-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            var e = Assert.Throws<FileNotFoundException>(() => NmConversion.Run(dir, 2, 4, 16, new AdaPruneOptions()));
            Assert.Contains("checkpoint", e.Message);
            Assert.ThrowsAny<ArgumentException>(() => NmConversion.Run(dir, 4, 4, 16, new AdaPruneOptions()));
        }
        finally { Directory.Delete(dir, true); }
    }
}
