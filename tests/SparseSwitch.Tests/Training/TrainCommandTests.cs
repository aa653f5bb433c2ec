using System.CommandLine;
using SparseSwitch.Cli;
using SparseSwitch.Cli.Commands;
using SparseSwitch.Training;
using Xunit;

namespace SparseSwitch.Tests.Training;

public class TrainCommandTests
{
    private static int Invoke(params string[] args)
    {
        var root = new RootCommand("test");
        foreach (var c in CommandRegistry.All()) root.Subcommands.Add(c);
        var err = Console.Error;
        Console.SetError(TextWriter.Null);
        try { return SparseSwitch.Cli.Cli.Run(root, args); }
        finally { Console.SetError(err); }
    }

    [Theory]
    [InlineData("--subnets", "4:4")]
    [InlineData("--subnets", "0.1,2:4")]
    [InlineData("--mode", "fancy")]
    [InlineData("--correction", "sometimes")]
    [InlineData("--epochs", "0")]
    [InlineData("--lr", "-1")]
    [InlineData("--schedule", "linear")]
    [InlineData("--prune-end", "99")]
    [InlineData("--batch-size", "abc")]
    [InlineData("--model", "resnet9000")]
    public void Bad_values_exit_with_code_2(string option, string value)
    {
        string dir = Path.Combine(Path.GetTempPath(), "ss-cli-" + Guid.NewGuid().ToString("N"));
        try { Assert.Equal(2, Invoke("train", option, value, "--out", dir, "--epochs", option == "--epochs" ? value : "1", "--prune-end", option == "--prune-end" ? value : "1")); }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }

    [Fact]
    public void Resume_without_a_run_folder_is_a_usage_error()
    {
        Assert.Equal(2, Invoke("train", "--resume"));
        Assert.Equal(2, Invoke("train", "--resume", "--out", Path.Combine(Path.GetTempPath(), "ss-none-" + Guid.NewGuid().ToString("N"))));
    }

    [Fact]
    public void Yaml_recipe_fields_apply_and_unknown_keys_are_rejected()
    {
        string file = Path.Combine(Path.GetTempPath(), "ss-recipe-" + Guid.NewGuid().ToString("N") + ".yaml");
        try
        {
            File.WriteAllText(file, "model: mlp\nsubnets: \"2:4,1:4\"\nbatch-size: 128\ncorrection: every-iteration\nwd: 0.001\nnested: false\n");
            var r = RecipeFile.Load(file);
            Assert.Equal("mlp", r.Model);
            Assert.Equal(SubnetList.Parse("2:4,1:4"), r.Subnets);
            Assert.Equal(128, r.BatchSize);
            Assert.Equal(CorrectionMode.EveryIteration, r.Correction);
            Assert.Equal(0.001, r.WeightDecay);
            File.WriteAllText(file, "epochz: 3\n");
            var e = Assert.Throws<UsageException>(() => RecipeFile.Load(file));
            Assert.Contains("epochz", e.Message);
            File.WriteAllText(file, "epochs: many\n");
            Assert.Contains("integer", Assert.Throws<UsageException>(() => RecipeFile.Load(file)).Message);
            File.WriteAllText(file, "subnets: \"0.1,abc\"\n");
            var bad = Assert.Throws<UsageException>(() => RecipeFile.Load(file)).Message;
            Assert.Contains("subnets", bad);
            Assert.Contains("'abc'", bad);
            Assert.Equal(2, Invoke("train", "--recipe", file));
        }
        finally { File.Delete(file); }
    }

    [Fact]
    public void Recipe_json_round_trips()
    {
        var r = new TrainRecipe { Subnets = SubnetList.Parse("2:4,1:8"), Correction = CorrectionMode.Reference, Mode = TrainMode.Joint, Stagger = 7, SrSte = true };
        Assert.Equal(r, TrainRecipe.FromJson(r.ToJson()));
    }
}
