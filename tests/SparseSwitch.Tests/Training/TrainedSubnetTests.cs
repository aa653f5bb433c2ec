using SparseSwitch.Training;
using Xunit;

namespace SparseSwitch.Tests.Training;

/// <summary>A run folder's sub-net read without the data set (<see cref="TrainedSubnet"/>) has the
/// weights, batch-norm sets and masks the whole trainer restores from the same checkpoint.</summary>
public sealed class TrainedSubnetTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ss-trained-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    private static TrainRecipe Recipe(TrainMode mode, string subnets, string model = "resnet20-a") => new()
    {
        Model = model, Data = "synthetic", TrainLimit = 32, TestLimit = 32, BatchSize = 32, Epochs = 1,
        Subnets = SubnetList.Parse(subnets), Mode = mode, PruneStart = 0, PruneEnd = 1, UpdateEvery = 1, Seed = 5,
    };

    [Fact]
    public void EverySubnetOfAnAstRunHasTheTrainersWeightsAndMasks()
    {
        var recipe = Recipe(TrainMode.Ast, "0.3,0.1");
        TrainingRun.Run(recipe, _dir);
        using var setup = new TrainingSetup(recipe);
        var trainer = new AlternatingTrainer(setup);
        TrainerCheckpoint.Load(trainer, new RunFolder(_dir).CheckpointFile);
        var state = trainer.Model.StateDict();

        Assert.Equal(recipe.Subnets, TrainedSubnet.Subnets(_dir));
        for (int k = 0; k < 2; k++)
        {
            var sub = TrainedSubnet.Load(_dir, k);
            Assert.Equal((k, recipe.Subnets[k], k, 3, 32), (sub.Index, sub.Spec, sub.BatchNormSet, sub.Channels, sub.ImageSize));
            var loaded = sub.Model.StateDict();
            Assert.Equal(state.Keys.Order(), loaded.Keys.Order());
            foreach (var (name, t) in state) Assert.True(t.Span.SequenceEqual(loaded[name].Span), name);
            Assert.Equal(setup.Prunable.Select(p => p.Path).Order(), sub.Masks.Keys.Order());
            foreach (var (path, _) in setup.Prunable)
                Assert.Equal(trainer.Masks![k, path].ToBytes(), sub.Masks[path].ToBytes());
            Assert.All(sub.Model.Parameters(), p => Assert.Null(p.Mask));
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => TrainedSubnet.Load(_dir, 2));
    }

    [Fact]
    public void IndependentRunsReadTheSubnetsFolderAndDenseRunsHaveNoMasks()
    {
        var independent = Path.Combine(_dir, "independent");
        TrainingRun.Run(Recipe(TrainMode.Independent, "0.3,0.1", "lenet5"), independent);
        var sub = TrainedSubnet.Load(independent, 1);
        Assert.Equal((1, 0), (sub.Index, sub.BatchNormSet));
        Assert.Equal(0.1, sub.Spec.Density);
        double kept = sub.Masks.Values.Sum(m => m.Count()), total = sub.Masks.Values.Sum(m => (double)m.Length);
        Assert.Equal(0.1, kept / total, 2);

        var dense = Path.Combine(_dir, "dense");
        TrainingRun.Run(Recipe(TrainMode.Dense, "0.3", "lenet5"), dense);
        var d = TrainedSubnet.Load(dense, 0);
        Assert.Empty(d.Masks);
        Assert.Equal(1.0, d.Spec.Density);

        Assert.Throws<DirectoryNotFoundException>(() => TrainedSubnet.Load(Path.Combine(_dir, "missing"), 0));
        Assert.False(Directory.Exists(Path.Combine(_dir, "missing")));
    }
}
