using SparseSwitch.Data;
using SparseSwitch.Inference;
using SparseSwitch.Nn;
using SparseSwitch.Tests.Support;
using SparseSwitch.Training;
using Xunit;

namespace SparseSwitch.Tests.Training;

/// <summary>Packing a run folder into the model artifact, and the <c>pack</c> and <c>model-info</c>
/// commands: each sub-net of the packed model computes, bit for bit, the eval-mode logits of the
/// trainer's own model for that sub-net, and the test accuracy and loss the run's metrics report.
/// Three one-epoch runs on 48 synthetic images are made once: LeNet-5 with densities (classifier
/// kept dense), ResNet-20 (option A, switchable batch-norm) with N:M sub-nets, and a dense LeNet-5.</summary>
[Collection(ConsoleCollection.Name)]
public sealed class ModelPackerTests : IClassFixture<ModelPackerTests.Runs>
{
    public sealed class Runs : IDisposable
    {
        public string Root { get; } = Directory.CreateTempSubdirectory("ss-pack-").FullName;
        public Dictionary<string, (string Dir, AlternatingTrainer Trainer)> ByName { get; } = new();

        private static readonly TrainRecipe Tiny = new()
        {
            Data = "synthetic", TrainLimit = 48, TestLimit = 32, Epochs = 1, BatchSize = 16, Lr = 0.05,
            PruneStart = 0, PruneEnd = 1, UpdateEvery = 1, Seed = 3,
        };

        public static readonly Dictionary<string, TrainRecipe> Recipes = new()
        {
            // Nested (the default): one mask event per sub-net still gives three distinct sub-nets.
            ["lenet5-density"] = Tiny with { Model = "lenet5", Subnets = SubnetList.Parse("0.5,0.2,0.1"), ClassifierPrunable = false },
            ["resnet20-a-nm"] = Tiny with { Model = "resnet20-a", Subnets = SubnetList.Parse("2:4,1:4,1:8"), Lr = 0.1 },
            ["lenet5-dense"] = Tiny with { Model = "lenet5", Mode = TrainMode.Dense },
        };

        public Runs()
        {
            foreach (var (name, recipe) in Recipes)
            {
                string dir = Path.Combine(Root, name);
                AlternatingTrainer? trainer = null;
                TrainingRun.Run(recipe, dir, onTrainer: t => trainer = t);
                ByName[name] = (dir, trainer!);
            }
        }

        public void Dispose() => Directory.Delete(Root, true);
    }

    private readonly Runs _runs;

    public ModelPackerTests(Runs runs) => _runs = runs;

    public static TheoryData<string> RunNames => new(Runs.Recipes.Keys);

    [Theory]
    [MemberData(nameof(RunNames))]
    public void EachPackedSubnetComputesTheTrainersLogitsAndTheRunsAccuracy(string name)
    {
        var (dir, trainer) = _runs.ByName[name];
        string file = Path.Combine(_runs.Root, name + ".safetensors");
        ModelPacker.Pack(dir).Write(file);
        var artifact = ModelArtifact.Read(file);
        var recipe = trainer.Recipe;
        var last = new RunFolder(dir).ReadMetrics().Where(m => m.Epoch == recipe.Epochs - 1).OrderBy(m => m.Subnet).ToList();
        Assert.Equal(trainer.K, artifact.SubnetCount);
        Assert.Equal(trainer.K, last.Count);

        var (_, test) = TrainingSetup.LoadData(recipe);
        var x = artifact.Preprocess(test.Pixels, test.Count);
        var module = artifact.CreateModule(trainer.Model.Options);
        var loss = new CrossEntropyLoss((float)recipe.LabelSmoothing);
        var seen = new List<float[]>();
        for (int k = 0; k < trainer.K; k++)
        {
            trainer.Activate(k);
            trainer.Model.Eval();
            var expected = trainer.Model.Forward(x).ToArray();
            trainer.Model.Train();
            artifact.ApplySubnet(module, k);
            var logits = module.Forward(x);
            Assert.Equal(expected, logits.ToArray());
            Assert.DoesNotContain(seen, s => s.AsSpan().SequenceEqual(expected));
            seen.Add(expected);

            var sub = artifact.Subnets[k];
            Assert.Equal(last[k].TestAccuracy, (double)CrossEntropyLoss.CountCorrect(logits, test.Labels) / test.Count);
            Assert.Equal(last[k].TestLoss, (double)loss.Forward(logits, test.Labels));
            Assert.Equal((last[k].TestAccuracy, last[k].TestLoss, last[k].DensityPrunable), (sub.TestAccuracy, sub.TestLoss, sub.Density));
            Assert.Equal(trainer.Subnets[k].ToExactString(), sub.Spec);
            Assert.Equal(trainer.Subnets[k].IsNm ? SubnetKind.Nm : SubnetKind.Density, sub.Kind);
        }
    }

    [Fact]
    public void TheArtifactDescribesTheRun()
    {
        var (dir, trainer) = _runs.ByName["lenet5-density"];
        var created = new DateTimeOffset(2025, 6, 1, 8, 0, 0, TimeSpan.Zero);
        var artifact = ModelPacker.Pack(dir, created);
        var recipe = trainer.Recipe;
        Assert.Equal(("lenet5", 3, 32, 10, "synthetic", created), (artifact.Architecture, artifact.InChannels, artifact.ImageSize, artifact.NumClasses, artifact.Info.Data, artifact.Created));
        Assert.Equal(Synthetic.ClassNames, artifact.ClassNames);
        var norm = Normalization.Compute(TrainingSetup.LoadData(recipe).Train);
        Assert.Equal(norm.Mean, artifact.Normalization.Mean);
        Assert.Equal(norm.Std, artifact.Normalization.Std);
        Assert.Equal(recipe, TrainRecipe.FromJson(artifact.Recipe));
        // The classifier was kept dense: it is not masked.
        Assert.Equal(trainer.Setup.Prunable.Select(p => p.Path), artifact.MaskedParameters);
        Assert.DoesNotContain("fc3.weight", artifact.MaskedParameters);
        for (int k = 0; k < trainer.K; k++)
            for (int l = 0; l < trainer.Setup.Prunable.Count; l++)
                Assert.Equal(trainer.Masks!.Get(k, l).ToBytes(), artifact.Masks(k)[trainer.Setup.Prunable[l].Path].ToBytes());
        Assert.Empty(ModelPacker.Pack(_runs.ByName["lenet5-dense"].Dir).MaskedParameters);
    }

    /// <summary>A folder with the given files of the LeNet-5 run (changed as asked).</summary>
    private string Variant(string name, Action<string> change)
    {
        string dir = Path.Combine(_runs.Root, "variant-" + name);
        Directory.CreateDirectory(dir);
        foreach (var f in Directory.GetFiles(_runs.ByName["lenet5-density"].Dir)) File.Copy(f, Path.Combine(dir, Path.GetFileName(f)), true);
        change(dir);
        return dir;
    }

    [Fact]
    public void WhatIsNotAPackableRunIsRefusedClearly()
    {
        var e1 = Assert.Throws<DirectoryNotFoundException>(() => ModelPacker.Pack(Path.Combine(_runs.Root, "nothing-here")));
        Assert.Contains("no such run folder", e1.Message);
        Assert.False(Directory.Exists(Path.Combine(_runs.Root, "nothing-here")));

        var noRecipe = Variant("no-recipe", d => File.Delete(Path.Combine(d, "recipe.json")));
        Assert.Contains("not a run folder (no recipe.json)", Assert.Throws<FileNotFoundException>(() => ModelPacker.Pack(noRecipe)).Message);

        var badRecipe = Variant("bad-recipe", d => File.WriteAllText(Path.Combine(d, "recipe.json"), "{ \"epochs\": "));
        Assert.Contains("recipe.json: not a valid recipe", Assert.Throws<FileFormatException>(() => ModelPacker.Pack(badRecipe)).Message);

        var noCheckpoint = Variant("no-checkpoint", d => File.Delete(Path.Combine(d, "checkpoint.safetensors")));
        Assert.Contains("no checkpoint.safetensors", Assert.Throws<FileNotFoundException>(() => ModelPacker.Pack(noCheckpoint)).Message);

        var independent = Path.Combine(_runs.Root, "variant-independent");
        new RunFolder(independent).WriteRecipe(Runs.Recipes["lenet5-density"] with { Mode = TrainMode.Independent });
        Assert.Contains("subnet-0 … subnet-2; pack one of those", Assert.Throws<FileNotFoundException>(() => ModelPacker.Pack(independent)).Message);

        var noMetrics = Variant("no-metrics", d => File.WriteAllText(Path.Combine(d, "metrics.jsonl"), ""));
        Assert.Contains("no metrics of sub-net 0 for epoch 0", Assert.Throws<FileFormatException>(() => ModelPacker.Pack(noMetrics)).Message);

        var otherRecipe = Variant("other-recipe", d => new RunFolder(d).WriteRecipe(Runs.Recipes["lenet5-density"] with { Seed = 99 }));
        Assert.Contains("written by a different recipe", Assert.Throws<ArgumentException>(() => ModelPacker.Pack(otherRecipe)).Message);

        var damaged = Variant("damaged", d =>
        {
            var bytes = File.ReadAllBytes(Path.Combine(d, "checkpoint.safetensors"));
            bytes[^5] ^= 1;
            File.WriteAllBytes(Path.Combine(d, "checkpoint.safetensors"), bytes);
        });
        Assert.Contains("damaged", Assert.ThrowsAny<FileFormatException>(() => ModelPacker.Pack(damaged)).Message);
    }

    [Fact]
    public void PackAndModelInfoPrintTheSummary()
    {
        var dir = Variant("cli", _ => { });
        var (code, output, err) = CliRunner.Run("pack", dir);
        Assert.True(code == 0, err);
        string file = Path.Combine(dir, "model.safetensors");
        Assert.True(File.Exists(file));
        Assert.Contains("lenet5: input 3×32×32, 10 classes", output);
        Assert.Contains("sub-net 2 [0.1] (density): density 0.1", output);
        Assert.Contains($"{file}: {new FileInfo(file).Length:N0} bytes", output);

        string other = Path.Combine(_runs.Root, "cli-out.safetensors");
        (code, var packed, err) = CliRunner.Run("pack", dir, "--out", other);
        Assert.True(code == 0, err);
        (code, var info, err) = CliRunner.Run("model-info", other);
        Assert.True(code == 0, err);
        Assert.Equal(packed, info);

        (code, _, err) = CliRunner.Run("pack", Path.Combine(_runs.Root, "nothing-here"));
        Assert.Equal(1, code);
        Assert.StartsWith("error: ", err);
        (code, _, err) = CliRunner.Run("model-info", Path.Combine(dir, "checkpoint.safetensors"));
        Assert.Equal(1, code);
        Assert.Contains("training checkpoint", err);
        (code, var help, _) = CliRunner.Run("pack", "--help");
        Assert.Equal(0, code);
        Assert.Contains("Example:", help);
    }
}
