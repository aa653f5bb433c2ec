using SparseSwitch.Data;

namespace SparseSwitch.Training;

/// <summary>One sub-net's test loss and accuracy on a number of test images.</summary>
public sealed record SubnetScore(int Subnet, SubnetSpec Spec, double Loss, double Accuracy, int Images);

/// <summary>
/// Tests every sub-net of a run folder's checkpoint as the trainer does at an epoch end: the model
/// of the recipe with the checkpoint's weights, each sub-net with its masks and batch-norm set, the
/// recipe's test set (its limit, its input normalisation) or another data set's test split. A run of
/// mode independent is tested one subnet-k folder at a time.
/// </summary>
public static class RunEvaluation
{
    /// <summary>Every sub-net of the run at <paramref name="runDir"/>; with <paramref name="data"/>,
    /// on that data set's whole test split (from <paramref name="dataDir"/>, else searched) instead
    /// of the recipe's.</summary>
    public static IReadOnlyList<SubnetScore> Evaluate(string runDir, string? data = null, string? dataDir = null)
    {
        var folder = RunFolder.Open(runDir);
        var recipe = folder.ReadRecipe();
        if (data is not null)
        {
            var spec = DatasetCatalog.Get(data);
            var own = DatasetCatalog.Get(recipe.Data);
            if ((spec.Channels, spec.Height, spec.Width, spec.NumClasses) != (own.Channels, own.Height, own.Width, own.NumClasses))
                throw new ArgumentException($"data: {spec.Name} has {spec.NumClasses} classes of {spec.Channels}×{spec.Height}×{spec.Width} images; " +
                    $"the run's model was built for {own.Name} ({own.NumClasses} classes of {own.Channels}×{own.Height}×{own.Width}).");
            recipe = recipe with { Data = spec.Name, DataDir = dataDir, TestLimit = 0 };
        }
        if (recipe.Mode != TrainMode.Independent)
        {
            folder.RequireCheckpoint();
            return Checkpoint(recipe, folder.CheckpointFile);
        }
        var scores = new List<SubnetScore>();
        for (int k = 0; k < recipe.Subnets.Count; k++)
        {
            var sub = RunFolder.Open(Path.Combine(runDir, $"subnet-{k}"));
            var subRecipe = sub.ReadRecipe();
            if (data is not null) subRecipe = subRecipe with { Data = recipe.Data, DataDir = dataDir, TestLimit = 0 };
            var s = Checkpoint(subRecipe, sub.RequireCheckpoint())[0];
            scores.Add(s with { Subnet = k });
        }
        return scores;
    }

    /// <summary>Every sub-net of one checkpoint written by <paramref name="recipe"/>, on the recipe's test set.</summary>
    internal static IReadOnlyList<SubnetScore> Checkpoint(TrainRecipe recipe, string checkpoint)
    {
        using var setup = new TrainingSetup(recipe);
        var trainer = new AlternatingTrainer(setup);
        TrainerCheckpoint.Load(trainer, checkpoint);
        return Enumerable.Range(0, trainer.K).Select(k =>
        {
            var (loss, accuracy) = trainer.Evaluate(k);
            return new SubnetScore(k, trainer.Subnets[k], loss, accuracy, setup.Test.Count);
        }).ToList();
    }
}
