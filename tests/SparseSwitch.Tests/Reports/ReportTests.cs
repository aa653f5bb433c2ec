using System.Text.RegularExpressions;
using System.Xml;
using System.Xml.Linq;
using SparseSwitch.Cli.Reports;
using SparseSwitch.Inference;
using SparseSwitch.Tests.Support;
using SparseSwitch.Training;
using Xunit;

namespace SparseSwitch.Tests.Reports;

/// <summary>report.html of real (tiny) runs and experiments made here: written when train and
/// experiment end and by 'sparseswitch report', one self-contained well-formed page with one SVG per
/// chart that shows the folder's numbers; and the report command's errors.</summary>
[Collection(ConsoleCollection.Name)]
public sealed class ReportTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ss-report-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    private static readonly string[] Tiny = ["--model", "lenet5", "--train-limit", "96", "--test-limit", "32", "--batch-size", "32", "--seed", "3"];

    private string Train(string name, params string[] args)
    {
        string run = Path.Combine(_dir, name);
        var (code, output, err) = CliRunner.Run(["train", .. Tiny, .. args, "--out", run]);
        Assert.True(code == 0, err);
        Assert.Contains($"report: {Path.Combine(run, ReportWriter.FileName)}", output);
        Assert.Empty(err);
        return run;
    }

    /// <summary>Parses the page as XML (it is written to be well-formed) and checks it is one file
    /// that fetches nothing: no address, no script, no stylesheet link, no image source.</summary>
    private static XDocument Page(string file)
    {
        string html = File.ReadAllText(file);
        Assert.StartsWith("<!DOCTYPE html>", html);
        Assert.DoesNotContain("http://", html);
        Assert.DoesNotContain("https://", html);
        Assert.DoesNotContain("<script", html);
        Assert.DoesNotContain("<link", html);
        Assert.DoesNotContain("src=", html);
        Assert.DoesNotContain("url(", html);
        using var reader = XmlReader.Create(new StringReader(html), new XmlReaderSettings { DtdProcessing = DtdProcessing.Ignore });
        return XDocument.Load(reader);
    }

    private static List<XElement> Figures(XDocument doc) => doc.Descendants("figure").ToList();

    /// <summary>The chart ids of the page, checking that each figure holds exactly one SVG and that
    /// there is no SVG outside a figure.</summary>
    private static List<string> Charts(XDocument doc, string file)
    {
        var figures = Figures(doc);
        Assert.All(figures, f => Assert.Single(f.Elements("svg")));
        Assert.Equal(figures.Count, doc.Descendants("svg").Count());
        Assert.Equal(figures.Count, Regex.Matches(File.ReadAllText(file), "<svg").Count);
        return figures.Select(f => f.Attribute("id")!.Value["chart-".Length..]).ToList();
    }

    private static string Section(XDocument doc, string id)
    {
        // The text between this section's heading and the next one.
        var h = doc.Descendants("h2").Single(e => e.Attribute("id")?.Value == id);
        return string.Concat(h.ElementsAfterSelf().TakeWhile(e => e.Name != "h2").Select(e => e.Value));
    }

    [Fact]
    public void TrainWritesAReportOfTheRunWithEveryChartAndTheRunsNumbers()
    {
        string run = Train("ast", "--subnets", "0.5,0.2", "--epochs", "2", "--prune-start", "0", "--prune-end", "1", "--update-every", "1", "--correction", "inner-group");
        string file = Path.Combine(run, ReportWriter.FileName);
        var doc = Page(file);
        Assert.Equal(["accuracy-density", "loss", "accuracy", "density", "layer-density", "mask-overlap", "overlap-epochs", "correction"], Charts(doc, file));

        var final = new RunFolder(run).ReadMetrics().Where(m => m.Epoch == 1).ToList();
        string summary = Section(doc, "summary");
        foreach (var m in final) Assert.Contains(Fmt.Pct(m.TestAccuracy) + Fmt.F(m.TestLoss, 4) + Fmt.F(m.DensityPrunable, 4), summary);
        string svgText = string.Concat(Figures(doc).Select(f => f.Value));
        foreach (var layer in final[0].LayerDensity.Keys) Assert.Contains(Fmt.Layer(layer), svgText);
        Assert.Contains("[0.5]", svgText);
        Assert.Contains("[0.2]", svgText);
        Assert.Contains("No model file in the folder", Section(doc, "latency"));
        // The recipe as resolved, and the per-epoch cost.
        Assert.Contains("lenet5", Section(doc, "recipe"));
        Assert.Contains("total", Section(doc, "cost"));
    }

    [Fact]
    public void ReportRebuildsThePageAndAddsTheLatencyOfAProfiledModel()
    {
        string run = Train("packed", "--subnets", "0.5,0.2", "--epochs", "1", "--prune-start", "0", "--prune-end", "1");
        string file = Path.Combine(run, ReportWriter.FileName);
        File.Delete(file);
        var before = Directory.GetFiles(run).Order().ToList();
        var (code, output, err) = CliRunner.Run("report", run);
        Assert.True(code == 0, err);
        Assert.Contains($"wrote {file} (run, ", output);
        Assert.Equal([.. before, file], Directory.GetFiles(run).Order());

        // A packed model with a latency table (as 'profile' stores it): the header alone describes it.
        var model = Path.Combine(run, "model.safetensors");
        ModelPacker.Pack(run).WithLatency([new(0, 1, 1, 0.125, "test machine"), new(1, 1, 1, 0.06, "test machine"),
            new(0, 8, 1, 0.75, "test machine"), new(1, 8, 1, 0.5, "test machine")]).Write(model);
        Assert.Equal(ModelArtifact.Read(model).Info.ToJson(), ModelArtifact.ReadInfo(model)!.ToJson());
        Assert.Null(ModelArtifact.ReadInfo(Path.Combine(run, "checkpoint.safetensors")));

        string other = Path.Combine(_dir, "elsewhere.html");
        (code, output, err) = CliRunner.Run("report", run, "--out", other);
        Assert.True(code == 0, err);
        var doc = Page(other);
        Assert.Contains("latency-model", Charts(doc, other));
        string latency = Section(doc, "latency");
        foreach (var ms in new[] { "0.125", "0.060", "0.750", "0.500" }) Assert.Contains(ms, latency);
        Assert.Contains("test machine", latency);
        Assert.Contains("16000", latency);   // images/s of sub-net 1 at batch 8: 8 / 0.5 ms
    }

    [Fact]
    public void AnIndependentRunsOverlapComesFromItsSubnetsCheckpointsAndADenseRunSaysWhatItLacks()
    {
        string ind = Train("ind", "--mode", "independent", "--subnets", "0.5,0.2", "--epochs", "1", "--prune-start", "0", "--prune-end", "1");
        string file = Path.Combine(ind, ReportWriter.FileName);
        var doc = Page(file);
        Assert.Contains("mask-overlap", Charts(doc, file));
        Assert.Contains("subnet-k/checkpoint.safetensors", Section(doc, "mask-overlap"));
        Assert.Contains("subnet-1 [0.2]", Section(doc, "cost"));
        Assert.Contains("correction is off in this run", Section(doc, "correction"));   // the default

        string dense = Train("dense", "--mode", "dense", "--epochs", "1", "--correction", "inner-group");
        file = Path.Combine(dense, ReportWriter.FileName);
        doc = Page(file);
        Assert.Equal(["loss", "accuracy"], Charts(doc, file));
        Assert.Contains("dense run", Section(doc, "layer-density"));
        Assert.Contains("single sub-net", Section(doc, "mask-overlap"));
        Assert.Contains("no correction tests", Section(doc, "correction"));
    }

    [Fact]
    public void TheOverlapDerivedFromTheMetricsMatchesTheMasksCounted()
    {
        string run = Train("overlap", "--subnets", "0.5,0.3,0.1", "--epochs", "2", "--prune-start", "0", "--prune-end", "1", "--update-every", "1");
        var final = RunData.Load(run).Final;
        var fromMetrics = MaskOverlapMatrix.FromMetrics(final)!;
        var counted = MaskOverlapMatrix.FromCheckpoints(run, 3);
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++)
            {
                Assert.Equal(counted.Share[i, j], fromMetrics.Share[i, j], 9);
                Assert.Equal(final[i].Overlap[j], counted.Jaccard(i, j), 9);
            }
    }

    [Fact]
    public void ExperimentWritesAReportBesideTheBaselinesAndOneInEachRun()
    {
        string dir = Path.Combine(_dir, "exp");
        var (code, output, err) = CliRunner.Run(["experiment", .. Tiny, "--modes", "ast,dense", "--seeds", "1", "--subnets", "0.5,0.2",
            "--epochs", "1", "--prune-start", "0", "--prune-end", "1", "--out", dir]);
        Assert.True(code == 0, err);
        string file = Path.Combine(dir, ReportWriter.FileName);
        Assert.Contains($"report: {file}", output);
        foreach (var run in new[] { "ast-seed3", "dense-seed3" }) Assert.True(File.Exists(Path.Combine(dir, run, ReportWriter.FileName)), run);
        var doc = Page(file);
        Assert.Equal(["accuracy-density", "accuracy-ast", "accuracy-dense", "cost"], Charts(doc, file));
        Assert.Equal(["ast-seed3/report.html", "dense-seed3/report.html"], doc.Descendants("a").Select(a => a.Attribute("href")!.Value).Where(h => !h.StartsWith('#')));
        // The comparison table holds what comparison.csv holds.
        string table = Section(doc, "accuracy-density");
        foreach (var row in File.ReadAllLines(Path.Combine(dir, "comparison.csv")).Skip(1).Select(l => l.Split(',')))
            Assert.Contains($"{row[0]}{row[2]}{Fmt.Pct(double.Parse(row[4], System.Globalization.CultureInfo.InvariantCulture))} ± ", table);
        Assert.Contains("dense accuracy", Figures(doc)[0].Value);
    }

    [Fact]
    public void AStoppedRunGetsAReportOfItsEpochsAndResumingRewritesIt()
    {
        string run = Train("stopped", "--subnets", "0.5,0.2", "--epochs", "2", "--prune-start", "0", "--prune-end", "1", "--stop-after", "1");
        string file = Path.Combine(run, ReportWriter.FileName);
        Assert.Contains("1 of 2 epochs", Page(file).Descendants("p").First(p => p.Attribute("class")?.Value == "sub").Value);
        var (code, output, err) = CliRunner.Run("train", "--resume", "--out", run);
        Assert.True(code == 0, err);
        Assert.Contains($"report: {file}", output);
        var doc = Page(file);
        Assert.Contains("2 of 2 epochs", doc.Descendants("p").First(p => p.Attribute("class")?.Value == "sub").Value);
        Assert.Contains("overlap-epochs", Charts(doc, file));
    }

    [Fact]
    public void AReportThatCannotBeWrittenIsAWarningAndTheRunStands()
    {
        string run = Path.Combine(_dir, "blocked");
        Directory.CreateDirectory(Path.Combine(run, ReportWriter.FileName));   // a folder where the page would go
        var (code, output, err) = CliRunner.Run(["train", .. Tiny, "--mode", "dense", "--epochs", "1", "--out", run]);
        Assert.Equal(0, code);
        Assert.Contains($"run folder: {run}", output);
        Assert.Contains($"warning: {Path.Combine(run, ReportWriter.FileName)} not written", err);
        Assert.True(File.Exists(new RunFolder(run).CheckpointFile));
        Assert.Empty(Directory.GetFiles(run, ReportWriter.FileName + ".tmp-*"));
    }

    [Fact]
    public void ReportRefusesWhatIsNotARunOrExperimentFolder()
    {
        string missing = Path.Combine(_dir, "missing");
        var (code, _, err) = CliRunner.Run("report", missing);
        Assert.Equal(2, code);
        Assert.Contains($"{missing}: no such folder", err);

        string empty = Directory.CreateDirectory(Path.Combine(_dir, "empty")).FullName;
        (code, _, err) = CliRunner.Run("report", empty);
        Assert.Equal(2, code);
        Assert.Contains($"{empty}: not a run or experiment folder: it holds no recipe.json", err);

        File.WriteAllText(Path.Combine(empty, "recipe.json"), new TrainRecipe().ToJson());
        (code, _, err) = CliRunner.Run("report", empty);
        Assert.Equal(2, code);
        Assert.Contains("recipe.json but no metrics.jsonl", err);

        string aFile = Path.Combine(empty, "recipe.json");
        (code, _, err) = CliRunner.Run("report", aFile);
        Assert.Equal(2, code);
        Assert.Contains($"{aFile}: is a file", err);

        File.WriteAllText(Path.Combine(empty, "metrics.jsonl"), "");
        (code, _, err) = CliRunner.Run("report", empty, "--out", Path.Combine(_dir, "no-such-dir", "r.html"));
        Assert.Equal(2, code);
        Assert.Contains("--out", err);

        // A run folder with no finished epoch yet gets a page that says so; a damaged metrics file
        // is a failure naming the file and line.
        (code, _, err) = CliRunner.Run("report", empty);
        Assert.True(code == 0, err);
        Assert.Contains("No epoch has finished yet", File.ReadAllText(Path.Combine(empty, ReportWriter.FileName)));
        File.WriteAllText(Path.Combine(empty, "metrics.jsonl"), "\n{\"epoch\": \"three\"}\n");
        (code, _, err) = CliRunner.Run("report", empty);
        Assert.Equal(1, code);
        Assert.Contains("metrics.jsonl, line 2", err);
    }
}
