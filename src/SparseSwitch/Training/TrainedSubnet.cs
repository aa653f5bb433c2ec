using SparseSwitch.Data;
using SparseSwitch.Nn;
using SparseSwitch.Tensors;

namespace SparseSwitch.Training;

/// <summary>
/// One sub-net of a training run, read from its run folder (recipe.json and
/// checkpoint.safetensors) without its data set: the model of the recipe with the checkpoint's
/// weights and every batch-norm set (no masks set on it), the sub-net's masks by parameter path
/// (empty for a dense run) and the batch-norm set that goes with them. The input shape is the data
/// set's (<see cref="DatasetCatalog"/>). A run of mode independent keeps sub-net k in its folder
/// subnet-k, with one batch-norm set.
/// </summary>
public sealed record TrainedSubnet(
    TrainRecipe Recipe, Module Model, int Index, SubnetSpec Spec, int BatchNormSet,
    IReadOnlyDictionary<string, BitMask> Masks, int Channels, int ImageSize)
{
    /// <summary>The sub-nets the run at <paramref name="runDir"/> trains (index = sub-net number).</summary>
    public static SubnetList Subnets(string runDir) => RunFolder.Open(runDir).ReadRecipe().SubnetsToTrain;

    /// <summary>Sub-net <paramref name="index"/> (0-based) of the run at <paramref name="runDir"/>.</summary>
    public static TrainedSubnet Load(string runDir, int index)
    {
        var folder = RunFolder.Open(runDir);
        var recipe = folder.ReadRecipe();
        var subnets = recipe.SubnetsToTrain;
        if (index < 0 || index >= subnets.Count)
            throw new ArgumentOutOfRangeException(nameof(index), index,
                $"{runDir}: sub-net {index} does not exist; the run has {string.Join(", ", subnets.Select((s, k) => $"{k}: {s}"))}.");
        int k = index;
        if (recipe.Mode == TrainMode.Independent)
        {
            folder = RunFolder.Open(Path.Combine(runDir, $"subnet-{index}"));
            recipe = folder.ReadRecipe();
            k = 0;
        }
        var data = DatasetCatalog.Get(recipe.Data);
        var model = TrainingSetup.CreateModel(recipe.Model, data.Channels, data.Height, data.NumClasses,
            TrainingSetup.BatchNormSetsOf(recipe), new Rng(recipe.Seed));
        var prunable = TrainingSetup.MarkPrunable(model, recipe);
        var (masks, _) = TrainerCheckpoint.ReadModel(folder.RequireCheckpoint(), recipe, model, prunable);
        var subnetMasks = masks.Length == 0 ? new Dictionary<string, BitMask>()
            : prunable.Select((p, l) => (p.Path, Mask: masks[k][l])).ToDictionary(e => e.Path, e => e.Mask);
        return new TrainedSubnet(recipe, model, index, subnets[index], k, subnetMasks, data.Channels, data.Height);
    }
}
