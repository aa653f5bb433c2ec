using Spectre.Console;
using SparseSwitch.Cli;
using SparseSwitch.Training;
using Xunit;

namespace SparseSwitch.Tests.Training;

/// <summary>The live display of <c>train</c> on a terminal, rendered to a text console: the epoch's bar
/// with its rate and time left, a row per sub-net with its metrics, the correction's projections.</summary>
public class LiveProgressTests
{
    /// <summary>A 160-column console without colours that renders into <paramref name="text"/>.</summary>
    private static IAnsiConsole TextConsole(StringWriter text)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(text), Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors, Interactive = InteractionSupport.Yes,
        });
        console.Profile.Width = 160;
        return console;
    }

    private static (string Output, RunSummary Summary) Render(TrainRecipe r)
    {
        var text = new StringWriter();
        var console = TextConsole(text);
        string dir = Directory.CreateTempSubdirectory("ss-live-").FullName;
        try
        {
            var live = new LiveProgress(console);
            var summary = live.Run(() => TrainingRun.Run(r, dir, data: TrainerFixtures.Data, modelFactory: TrainerFixtures.SmallCnn, live: live));
            return (text.ToString(), summary);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void AstShowsTheBarARowPerSubnetAndTheProjections()
    {
        var r = TrainerFixtures.Recipe("0.5,0.2") with { Correction = CorrectionMode.EveryIteration };
        var (output, summary) = Render(r);
        Assert.Contains("epoch 2/2", output);
        Assert.Contains("100 % 12/12", output);
        Assert.Contains("img/s", output);
        Assert.Contains("ETA", output);
        foreach (string column in new[] { "sub-net", "train loss (epoch)", "test acc", "best acc", "density" }) Assert.Contains(column, output);
        // Each sub-net's row ends with its final accuracy and density, as the run reports them.
        foreach (var m in summary.Final)
        {
            string acc = (100 * m.TestAccuracy).ToString("F2", System.Globalization.CultureInfo.InvariantCulture) + " %";
            string density = m.DensityPrunable.ToString("F4", System.Globalization.CultureInfo.InvariantCulture);
            Assert.Contains(output.Split('\n'), l => l.Contains($" {m.Spec} ") && l.Contains(acc) && l.Contains(density));
        }
        Assert.Contains("gradient projections", output);
        Assert.Contains("ast: small-cnn on synthetic", output);
    }

    [Fact]
    public void IndependentShowsOneRowPerSubRun()
    {
        var (output, _) = Render(TrainerFixtures.Recipe("0.5,0.2") with { Mode = TrainMode.Independent });
        Assert.Contains("[0.2] epoch 2/2", output);
        Assert.Contains(output.Split('\n'), l => l.Contains("│ [0.5]"));
        Assert.Contains(output.Split('\n'), l => l.Contains("│ [0.2]"));
        Assert.DoesNotContain("gradient projections", output);
    }

    [Fact]
    public void AnExperimentShowsEachRunsRowsWithTheRunNamed()
    {
        var text = new StringWriter();
        var console = TextConsole(text);
        string dir = Directory.CreateTempSubdirectory("ss-live-exp-").FullName;
        try
        {
            var live = new LiveProgress(console);
            var r = TrainerFixtures.Recipe("0.5,0.2") with { Epochs = 1, PruneEnd = 1, Seeds = 1 };
            live.Run(() => ExperimentRunner.Run(r, [TrainMode.Ast, TrainMode.Dense], dir, modelFactory: TrainerFixtures.SmallCnn, data: TrainerFixtures.Data, live: live));
            string output = text.ToString();
            var lines = output.Split('\n');
            Assert.Contains(lines, l => l.Contains("│ run "));
            Assert.Contains(lines, l => l.Contains("ast-seed3") && l.Contains(" 0.2 "));
            Assert.Contains(lines, l => l.Contains("dense-seed3") && l.Contains(" 1 "));  // the dense sub-net, density 1
            Assert.Contains("== dense, seed 3", output);
        }
        finally { Directory.Delete(dir, true); }
    }
}
