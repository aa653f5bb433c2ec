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
                Assert.True(r.ValidNm, $"{r.Variant}: some group keeps more than 2 of 4");
                Assert.InRange(r.Density, 0.45, 0.5 + 1e-9); // 784, 300, 100 inputs all divide by 4
            }
            var adaprune = results[^1].Report!;
            Assert.NotEmpty(adaprune.Layers);
            foreach (var layer in adaprune.Layers)
                Assert.True(layer.MseFinal <= layer.MseMasked, $"{layer.Path}: reconstruction raised the output error {layer.MseMasked} → {layer.MseFinal}");
            Assert.All(model.Parameters().Where(p => p.Prunable), p => Assert.Null(p.Mask));
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
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
