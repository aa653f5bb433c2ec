using System.Security.Cryptography;
using SparseSwitch.Data;
using SparseSwitch.Export;
using SparseSwitch.Nn;
using SparseSwitch.Tensors;

namespace SparseSwitch.Training;

/// <summary>What <see cref="RunImport.Create"/> made: the run folder, how many tensors the state
/// dict held and the SHA-256 of its file.</summary>
public sealed record ImportedRun(string Folder, TrainRecipe Recipe, int Tensors, string Sha256);

/// <summary>
/// Starts a run from a PyTorch state dict (a safetensors file of the dense architecture, as
/// <see cref="TorchStateDict.Read(string, Module, string?)"/> reads it): the run folder holds the
/// recipe and a checkpoint at epoch 0 — the trainer a fresh run of the recipe would start with,
/// but with the file's weights and running statistics in place of the initialisation (every
/// batch-norm set a copy of the file's), zero momentum and the recipe's initial masks. So
/// <c>train --resume</c> trains it as the recipe says, and <c>convert</c>, <c>pack</c> and
/// <c>export</c> read it as any run folder. Mode independent gets one such folder per sub-net
/// (subnet-k), as a trained run has them. The state dict is read and checked before the data set
/// is, and a folder that already holds a run is refused.
/// </summary>
public static class RunImport
{
    public static ImportedRun Create(TrainRecipe recipe, string stateDict, string outDir,
        (ImageDataset Train, ImageDataset Test)? data = null)
    {
        ArgumentNullException.ThrowIfNull(recipe);
        recipe.Validate();
        if (new[] { "recipe.json", "checkpoint.safetensors", "subnet-0" }.Any(f => Path.Exists(Path.Combine(outDir, f))))
            throw new ArgumentException($"out: {outDir} already holds a run; import into a new folder.");
        var spec = DatasetCatalog.Get(recipe.Data);
        var probe = TrainingSetup.CreateModel(recipe.Model, spec.Channels, spec.Height, spec.NumClasses, TrainingSetup.BatchNormSetsOf(recipe), new Rng(0));
        var file = TorchStateDict.Open(stateDict);
        var state = TorchStateDict.Read(file, probe, stateDict, recipe.Model.Trim().ToLowerInvariant());
        int tensors = file.Names.Count;
        string sha;
        using (var f = File.OpenRead(stateDict)) sha = Convert.ToHexStringLower(SHA256.HashData(f));

        data ??= TrainingSetup.LoadData(recipe);
        var folder = new RunFolder(outDir);
        folder.WriteRecipe(recipe);
        string line = $"imported {Path.GetFullPath(stateDict)} (sha256 {sha}, {tensors} tensors): {recipe.Model} on {recipe.Data}, " +
            $"sub-nets {recipe.SubnetsToTrain}, epoch 0 of {recipe.Epochs}";
        if (recipe.Mode != TrainMode.Independent)
            Start(recipe, folder, state, data.Value, line);
        else
        {
            folder.ResetMetrics();
            folder.Log(line);
            for (int k = 0; k < recipe.Subnets.Count; k++)
            {
                var sub = recipe with { Subnets = new SubnetList([recipe.Subnets[k]]) };
                var subFolder = new RunFolder(Path.Combine(outDir, $"subnet-{k}"));
                subFolder.WriteRecipe(sub);
                Start(sub, subFolder, state, data.Value, line);
            }
        }
        return new ImportedRun(outDir, recipe, tensors, sha);
    }

    /// <summary>The trainer of a fresh run of <paramref name="recipe"/> with the model's weights from
    /// <paramref name="state"/>, saved as the folder's checkpoint.</summary>
    private static void Start(TrainRecipe recipe, RunFolder folder, IReadOnlyDictionary<string, Tensor> state,
        (ImageDataset Train, ImageDataset Test) data, string line)
    {
        using var setup = new TrainingSetup(recipe, data, s =>
        {
            var model = TrainingSetup.CreateModel(recipe.Model, s.Train.Channels, s.Train.Height, s.Train.NumClasses, s.BatchNormSets, s.ModelRng);
            model.LoadStateDict(state);
            return model;
        });
        var trainer = new AlternatingTrainer(setup);
        TrainerCheckpoint.Save(trainer, folder.CheckpointFile);
        folder.ResetMetrics();
        folder.Log(line);
    }
}
