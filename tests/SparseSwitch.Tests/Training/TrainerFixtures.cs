using SparseSwitch.Data;
using SparseSwitch.Nn;
using SparseSwitch.Tensors;
using SparseSwitch.Training;

namespace SparseSwitch.Tests.Training;

/// <summary>A tiny CNN with switchable batch-norm and a small synthetic data set, so trainer tests run in seconds.</summary>
internal static class TrainerFixtures
{
    private static (ImageDataset, ImageDataset)? _data;

    public static (ImageDataset Train, ImageDataset Test) Data =>
        _data ??= Datasets.Load("synthetic", null, seed: 0, syntheticTrainCount: 192, syntheticTestCount: 64);

    /// <summary>conv(3→8, stride 2, stem) → BN → ReLU → conv(8→12, stride 2) → switchable BN → ReLU → GAP → linear(12→10).</summary>
    public static Module SmallCnn(TrainingSetup s)
    {
        var rng = s.ModelRng;
        int sets = s.BatchNormSets;
        var stem = new Conv2d(3, 8, 3, stride: 2, padding: 1, bias: false, rng: rng);
        var conv = new Conv2d(8, 12, 3, stride: 2, padding: 1, bias: false, rng: rng);
        var fc = new Linear(12, 10, rng: rng);
        conv.Weight.Prunable = true;
        fc.Weight.Prunable = true;
        Module bn2 = sets > 1 ? new SwitchableBatchNorm2d(12, sets) : new BatchNorm2d(12);
        return new Sequential(stem, new BatchNorm2d(8), new ReLU(), conv, bn2, new ReLU(), new GlobalAvgPool2d(), new Flatten(), fc);
    }

    public static TrainRecipe Recipe(string subnets = "0.5,0.2,0.1") => new()
    {
        Model = "small-cnn", Data = "synthetic", Subnets = SubnetList.Parse(subnets), Epochs = 2, BatchSize = 16, Lr = 0.05,
        PruneStart = 0, PruneEnd = 1.5, UpdateEvery = 2, Seed = 3, Threads = 0, // leave the process-wide thread count alone
    };

    public static AlternatingTrainer Trainer(TrainRecipe r, out TrainingSetup setup)
    {
        setup = new TrainingSetup(r, Data, SmallCnn);
        return new AlternatingTrainer(setup);
    }
}
