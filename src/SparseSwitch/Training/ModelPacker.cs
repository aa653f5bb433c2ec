using System.Text.Json;
using SparseSwitch.Data;
using SparseSwitch.Inference;
using SparseSwitch.Tensors;

namespace SparseSwitch.Training;

/// <summary>
/// Makes the deployable <see cref="ModelArtifact"/> of a run folder: the model is built as the
/// run's recipe builds it, its weights, batch-norm sets and masks come from the checkpoint
/// (<see cref="TrainerCheckpoint.ReadModel"/>), each sub-net's test accuracy and loss from the
/// metrics of the checkpoint's last epoch (a run at epoch 0, made by <see cref="RunImport"/>, has
/// none: its sub-nets are evaluated on the recipe's test set), the input normalisation as the run's data pipeline
/// applies it. A mode-independent run is K models: pack one of its subnet-k folders.
/// </summary>
public static class ModelPacker
{
    public static ModelArtifact Pack(string runFolder, DateTimeOffset? created = null)
    {
        if (!Directory.Exists(runFolder)) throw new DirectoryNotFoundException($"{runFolder}: no such run folder.");
        var folder = new RunFolder(runFolder);
        if (!File.Exists(folder.RecipeFile))
            throw new FileNotFoundException($"{runFolder}: not a run folder (no recipe.json); give the --out folder of a 'sparseswitch train' run.");
        TrainRecipe recipe;
        try
        {
            recipe = folder.ReadRecipe();
            recipe.Validate();
        }
        catch (Exception e) when (e is JsonException or ArgumentException)
        {
            throw new FileFormatException($"{folder.RecipeFile}: not a valid recipe: {e.Message}", e);
        }
        var subnets = recipe.SubnetsToTrain;
        if (!File.Exists(folder.CheckpointFile))
            throw new FileNotFoundException(recipe.Mode == TrainMode.Independent && subnets.Count > 1
                ? $"{runFolder}: mode independent trains one model per sub-net, in the folders subnet-0 … subnet-{subnets.Count - 1}; pack one of those."
                : $"{runFolder}: no checkpoint.safetensors: the run has not finished an epoch yet.");

        var data = DatasetCatalog.Get(recipe.Data);
        var model = TrainingSetup.CreateModel(recipe.Model, data.Channels, data.Height, data.NumClasses, TrainingSetup.BatchNormSetsOf(recipe), new Rng(0));
        var prunable = TrainingSetup.MarkPrunable(model, recipe);
        var (masks, epochs) = TrainerCheckpoint.ReadModel(folder.CheckpointFile, recipe, model, prunable);

        // A run that has trained no epoch yet (made by 'import') has no metrics: its sub-nets are tested now.
        var scores = epochs == 0 ? RunEvaluation.Checkpoint(recipe, folder.CheckpointFile) : null;
        List<EpochMetrics> last;
        try { last = epochs == 0 ? [] : folder.ReadMetrics().Where(m => m.Epoch == epochs - 1).ToList(); }
        catch (JsonException e) { throw new FileFormatException($"{folder.MetricsJsonl}: a line is not a metrics row: {e.Message}", e); }
        var infos = new List<SubnetInfo>();
        var maskDicts = new List<IReadOnlyDictionary<string, BitMask>>();
        for (int k = 0; k < subnets.Count; k++)
        {
            double loss, accuracy;
            if (scores is not null) (loss, accuracy) = (scores[k].Loss, scores[k].Accuracy);
            else
            {
                var row = last.FirstOrDefault(m => m.Subnet == k)
                    ?? throw new FileFormatException($"{folder.MetricsJsonl}: no metrics of sub-net {k} for epoch {epochs - 1} (the checkpoint's last).");
                (loss, accuracy) = (row.TestLoss, row.TestAccuracy);
            }
            var own = masks.Length == 0 ? Array.Empty<BitMask>() : masks[k];
            long total = own.Sum(m => (long)m.Length);
            double density = total == 0 ? 1 : (double)own.Sum(m => m.Count()) / total;
            infos.Add(new SubnetInfo(subnets[k].ToExactString(), subnets[k].IsNm ? SubnetKind.Nm : SubnetKind.Density, density, accuracy, loss));
            maskDicts.Add(own.Select((m, l) => (prunable[l].Path, m)).ToDictionary(x => x.Path, x => x.m));
        }
        var norm = TrainingSetup.InputNormalization(recipe, () => TrainingSetup.LoadData(recipe).Train);
        var info = new ModelInfo
        {
            Architecture = recipe.Model.Trim().ToLowerInvariant(),
            InChannels = data.Channels, ImageSize = data.Height, NumClasses = data.NumClasses, ClassNames = data.ClassNames,
            Mean = norm.Mean, Std = norm.Std,
            MaskedParameters = masks.Length == 0 ? [] : prunable.Select(p => p.Path).ToList(),
            Subnets = infos, Data = data.Name, Recipe = recipe.ToJson(), Created = created ?? DateTimeOffset.UtcNow,
        };
        try { return new ModelArtifact(info, model.StateDict(), maskDicts); }
        catch (ArgumentException e) { throw new FileFormatException($"{runFolder}: the run cannot be packed: {e.Message}", e); }
    }
}
