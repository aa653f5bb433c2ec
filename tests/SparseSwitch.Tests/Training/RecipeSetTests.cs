using SparseSwitch.Cli;
using SparseSwitch.Tests.Support;
using SparseSwitch.Training;
using Xunit;

namespace SparseSwitch.Tests.Training;

/// <summary><c>--set key=value</c> over a recipe, and the recipes shipped in <c>recipes/</c>.</summary>
[Collection("Console")]
public class RecipeSetTests
{
    [Fact]
    public void SetOverridesAnyFieldWithTheRecipeFilesChecks()
    {
        var r = RecipeFile.ApplySets(new TrainRecipe(), ["epochs=7", "subnets=2:4,1:8", "correction=every-iteration", "wd=1e-4", "augment=true", "prune-rate-final=0.01"]);
        Assert.Equal(7, r.Epochs);
        Assert.Equal("2:4,1:8", r.Subnets.ToExactString());
        Assert.Equal(CorrectionMode.EveryIteration, r.Correction);
        Assert.Equal(1e-4, r.WeightDecay);
        Assert.True(r.Augment);
        Assert.Equal(0.01, r.PruneRateFinal);
        // Later sets win over earlier ones; no sets leave the recipe as it was.
        Assert.Equal(3, RecipeFile.ApplySets(new TrainRecipe(), ["epochs=9", "epochs=3"]).Epochs);
        var plain = new TrainRecipe();
        Assert.Same(plain, RecipeFile.ApplySets(plain, []));
    }

    [Theory]
    [InlineData("epochs", "not key=value")]
    [InlineData("=3", "not key=value")]
    [InlineData("epoch=3", "unknown key 'epoch'")]
    [InlineData("epochs=three", "'epochs' must be an integer, got 'three'")]
    [InlineData("augment=yes", "'augment' must be true or false, got 'yes'")]
    [InlineData("correction=sideways", "'correction' must be one of")]
    [InlineData("subnets=0.1,banana", "subnets")]
    public void ABadSetNamesTheKeyTheValueAndWhatIsAllowed(string set, string expected)
    {
        var e = Assert.ThrowsAny<Exception>(() => RecipeFile.ApplySets(new TrainRecipe(), [set]));
        Assert.True(e is UsageException or ArgumentException, e.GetType().Name);
        Assert.Contains(expected, e.Message);
        if (set.StartsWith("epoch=")) Assert.Contains("Known keys: ", e.Message);
    }

    [Fact]
    public void OnTheCommandLineSetComesAfterTheRecipeAndBeforeTheNamedOptions()
    {
        string dir = Directory.CreateTempSubdirectory("ss-set-").FullName;
        try
        {
            string recipe = Path.Combine(dir, "r.yaml");
            File.WriteAllText(recipe, "epochs: 4\nbatch-size: 16\ntrain-limit: 64\ntest-limit: 32\nprune-end: 1\n");
            string run = Path.Combine(dir, "run");
            var (code, _, err) = CliRunner.Run("train", "--recipe", recipe, "--set", "epochs=2", "--set", "batch-size=8", "--batch-size", "32", "--out", run);
            Assert.True(code == 0, err);
            var resolved = TrainRecipe.FromJson(File.ReadAllText(Path.Combine(run, "recipe.json")));
            Assert.Equal(2, resolved.Epochs);        // --set over the file
            Assert.Equal(32, resolved.BatchSize);    // the named option over --set
            Assert.Equal(64, resolved.TrainLimit);   // the file where nothing else says
            var (bad, _, msg) = CliRunner.Run("train", "--set", "momentum=1.5", "--out", Path.Combine(dir, "bad"));
            Assert.Equal(2, bad);
            Assert.Contains("momentum", msg);
            Assert.False(Directory.Exists(Path.Combine(dir, "bad")), "a refused recipe must not start a run folder");
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void EveryRecipeFieldIsAnOptionOfTrainWithItsDescriptionAndDefault()
    {
        var train = SparseSwitch.Cli.Commands.CommandRegistry.All().Single(c => c.Name == "train");
        var names = train.Options.Select(o => o.Name).ToHashSet();
        var fields = typeof(TrainRecipe).GetProperties().Where(p => p.CanWrite)
            .Select(p => System.Text.Json.JsonNamingPolicy.KebabCaseLower.ConvertName(p.Name)).ToList();
        Assert.True(fields.Count > 25, $"{fields.Count} fields");
        foreach (string f in fields.Where(f => f != "seeds"))
        {
            var option = train.Options.SingleOrDefault(o => o.Name == "--" + f);
            Assert.True(option is not null, $"recipe field '{f}' has no option --{f}");
            Assert.False(string.IsNullOrWhiteSpace(option!.Description), f);
        }
        Assert.DoesNotContain("--seeds", names);
        Assert.Contains("--wd", train.Options.Single(o => o.Name == "--weight-decay").Aliases);
        Assert.Contains("(default 32)", train.Options.Single(o => o.Name == "--batch-size").Description);
        var experiment = SparseSwitch.Cli.Commands.CommandRegistry.All().Single(c => c.Name == "experiment");
        Assert.Contains(experiment.Options, o => o.Name == "--seeds");
    }

    [Theory]
    [InlineData("--lr", "abc", "--lr: must be a number, got 'abc'.")]
    [InlineData("--mode", "sideways", "--mode: must be one of ast, independent, joint, dense, got 'sideways'.")]
    [InlineData("--subnets", "0.1,2:4", "--subnets: '0.1,2:4' mixes densities and N:M patterns")]
    [InlineData("--prune-rate-final", "2", "prune-rate-final: must be in [0, 1], got 2.")]
    [InlineData("--wd", "-1", "--wd: must be ≥ 0, got -1.")]
    [InlineData("--augment", "maybe", "--augment: must be true or false, got 'maybe'.")]
    public void ABadOptionNamesItselfTheValueAndWhatIsAllowed(string option, string value, string expected)
    {
        string dir = Directory.CreateTempSubdirectory("ss-opt-").FullName;
        try
        {
            var (code, _, err) = CliRunner.Run("train", option, value, "--out", Path.Combine(dir, "run"));
            Assert.Equal(2, code);
            Assert.Contains(expected, err);
            Assert.False(Directory.Exists(Path.Combine(dir, "run")));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void ResumeRefusesRecipeOptionsOtherThanThreads()
    {
        string dir = Directory.CreateTempSubdirectory("ss-res-").FullName;
        try
        {
            string run = Path.Combine(dir, "run");
            var (code, _, err) = CliRunner.Run("train", "--epochs", "2", "--prune-start", "0", "--prune-end", "1", "--train-limit", "64", "--test-limit", "32",
                "--batch-size", "16", "--stop-after", "1", "--out", run);
            Assert.True(code == 0, err);
            var (bad, _, msg) = CliRunner.Run("train", "--resume", "--out", run, "--lr", "0.5");
            Assert.Equal(2, bad);
            Assert.Contains("only --threads may change, got --lr", msg);
            var (ok, _, err2) = CliRunner.Run("train", "--resume", "--out", run, "--threads", "1");
            Assert.True(ok == 0, err2);
        }
        finally { Directory.Delete(dir, true); }
    }

    private static string RecipesFolder()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (Directory.Exists(Path.Combine(d.FullName, "recipes")) && File.Exists(Path.Combine(d.FullName, "README.md")))
                return Path.Combine(d.FullName, "recipes");
        throw new DirectoryNotFoundException("recipes/ not found above the test assembly.");
    }

    [Fact]
    public void EveryShippedRecipeLoadsValidatesAndIsListedInTheReadme()
    {
        string folder = RecipesFolder();
        var files = Directory.GetFiles(folder, "*.yaml").OrderBy(f => f, StringComparer.Ordinal).ToList();
        Assert.True(files.Count >= 4, $"{files.Count} recipes in {folder}");
        string readme = File.ReadAllText(Path.Combine(Path.GetDirectoryName(folder)!, "README.md"));
        foreach (string f in files)
        {
            var r = RecipeFile.Load(f);
            r.Validate();
            Assert.Contains(SparseSwitch.Nn.Models.ModelZoo.Names, n => n == r.Model);
            Assert.Contains("recipes/" + Path.GetFileName(f), readme);
        }
    }
}

/// <summary><c>train --json</c> and <c>--quiet</c>: output for scripts.</summary>
[Collection("Console")]
public class TrainOutputTests
{
    [Fact]
    public void JsonPrintsOneParsableLinePerSubnetAndEpochThenTheResult()
    {
        string dir = Directory.CreateTempSubdirectory("ss-json-").FullName;
        try
        {
            string run = Path.Combine(dir, "run");
            var (code, stdout, err) = CliRunner.Run("train", "--epochs", "2", "--prune-end", "1", "--train-limit", "96", "--test-limit", "32", "--json", "--out", run);
            Assert.True(code == 0, err);
            var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal(2 * 3 + 1, lines.Length);
            var docs = lines.Select(l => System.Text.Json.JsonDocument.Parse(l).RootElement).ToList();
            for (int i = 0; i < 6; i++)
            {
                Assert.Equal(i / 3, docs[i].GetProperty("epoch").GetInt32());
                Assert.Equal(i % 3, docs[i].GetProperty("subnet").GetInt32());
            }
            Assert.True(docs[^1].GetProperty("done").GetBoolean());
            Assert.Equal(run, docs[^1].GetProperty("run_folder").GetString());
            Assert.True(File.Exists(docs[^1].GetProperty("report").GetString()));
            // The lines are the run's metrics.
            Assert.Equal(File.ReadAllLines(Path.Combine(run, "metrics.jsonl")).Where(l => l.Length > 0), lines[..6]);

            string quietRun = Path.Combine(dir, "quiet");
            var (q, quietOut, qerr) = CliRunner.Run("train", "--epochs", "1", "--prune-start", "0", "--prune-end", "1", "--train-limit", "64", "--test-limit", "32", "--quiet", "--out", quietRun);
            Assert.True(q == 0, qerr);
            Assert.Equal(quietRun, quietOut.Trim());
            Assert.Equal(2, CliRunner.Run("train", "--quiet", "--json", "--out", Path.Combine(dir, "both")).Code);
        }
        finally { Directory.Delete(dir, true); }
    }
}
