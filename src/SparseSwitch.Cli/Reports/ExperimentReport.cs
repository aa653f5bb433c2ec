using SparseSwitch.Cli.Reports.Charts;
using SparseSwitch.Training;

namespace SparseSwitch.Cli.Reports;

/// <summary>
/// The page of an experiment folder: AST beside the baselines that ran (independent, joint,
/// dense) — accuracy against density with the spread over seeds, the comparison table, test
/// accuracy over epochs per approach, training cost per approach — and links to each run's own
/// report.
/// </summary>
internal static class ExperimentReport
{
    public static HtmlPage Build(ExperimentData exp)
    {
        var page = new HtmlPage($"SparseSwitch experiment: {Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(exp.Folder)))}");
        Runs(page, exp);
        RunReport.RecipeSection(page, exp.RecipeFields);
        if (exp.Runs.Count == 0)
        {
            page.Section("results", "Results");
            page.Absent("No run of the experiment has finished an epoch yet.");
            return page;
        }
        AccuracyDensity(page, exp);
        Curves(page, exp);
        Cost(page, exp);
        return page;
    }

    public static string Subtitle(ExperimentData exp)
    {
        var r = exp.Recipe;
        var modes = exp.Runs.Select(x => Mode(x.Recipe.Mode)).Distinct();
        return $"{string.Join(", ", modes)}: {r.Model} on {r.Data}, sub-nets {r.Subnets}, {r.Epochs} epochs, " +
            $"{exp.Runs.Select(x => x.Recipe.Seed).Distinct().Count()} seed(s) — {exp.Folder}";
    }

    private static string Mode(TrainMode m) => m.ToString().ToLowerInvariant();

    /// <summary>The colour of an approach, the same in every chart.</summary>
    private static string Color(string approach) => approach switch
    {
        "ast" => Palette.Color(0),
        "independent" => Palette.Color(1),
        "joint" => Palette.Color(2),
        _ => Palette.Color(3),
    };

    private static void Runs(HtmlPage page, ExperimentData exp)
    {
        page.Section("runs", "Runs");
        var rows = exp.Runs.Select(run =>
        {
            string name = Path.GetFileName(Path.TrimEndingDirectorySeparator(run.Folder));
            bool hasReport = File.Exists(Path.Combine(run.Folder, ReportWriter.FileName));
            string link = hasReport ? $"<a href=\"{HtmlPage.Escape(Uri.EscapeDataString(name))}/{ReportWriter.FileName}\">{HtmlPage.Escape(name)}</a>" : HtmlPage.Escape(name);
            int done = run.Final.Max(m => m.Epoch) + 1;
            string acc = string.Join(", ", run.Final.Select(m => $"[{m.Spec}] {Fmt.Pct(m.TestAccuracy)}"));
            return $"<tr><td>{link}</td><td>{Mode(run.Recipe.Mode)}</td><td class=\"n\">{run.Recipe.Seed}</td><td class=\"n\">{done} / {run.Recipe.Epochs}</td><td>{HtmlPage.Escape(acc)}</td></tr>";
        });
        page.Raw("<table><thead><tr><th>run</th><th>approach</th><th>seed</th><th>epochs</th><th>test accuracy % per sub-net</th></tr></thead><tbody>\n" +
            string.Join("\n", rows) + "\n</tbody></table>");
        if (exp.Unfinished.Count > 0) page.Absent($"Not finished an epoch yet (left out): {string.Join(", ", exp.Unfinished)}.");
    }

    private static void AccuracyDensity(HtmlPage page, ExperimentData exp)
    {
        page.Section("accuracy-density", "Accuracy against density");
        var chart = new XyChart { Title = "Test accuracy against density", XLabel = "density of the prunable weights", YLabel = "test accuracy %", LogX = null };
        foreach (var g in exp.Table.Rows.GroupBy(r => r.Approach))
        {
            var rows = g.OrderBy(r => r.DensityPrunable).ToList();
            chart.Series.Add(new Series($"{g.Key} ({rows[0].Seeds} seed{(rows[0].Seeds == 1 ? "" : "s")})", rows.Select(r => (r.DensityPrunable, 100 * r.AccuracyMean)).ToList())
            {
                Color = Color(g.Key), Line = rows.Count > 1,
                YError = rows.Select(r => 100 * r.AccuracyStd).ToList(),
                PointLabels = g.Key == "ast" ? rows.Select(r => r.Spec).ToList() : null,
            });
            if (g.Key == "dense") chart.ReferenceLines.Add(new ReferenceLine("dense accuracy", 100 * rows[0].AccuracyMean, Color("dense")));
        }
        page.Chart("accuracy-density", chart.Render(),
            "Mean test accuracy over seeds after the last epoch, with ± one sample standard deviation; AST's points are labelled with their spec. " +
            "Independent trains one run per sub-net, joint all sub-nets on every batch, dense one unpruned model.");
        page.Table(["approach", "sub-net", "accuracy % (mean ± std)", "seeds", "density (prunable)", "density (all)", "inference MACs / image",
                "forward passes", "backward passes", "train MACs dense-eq.", "train MACs masked", "wall s"],
            exp.Table.Rows.Select(r => (IReadOnlyList<string>)[r.Approach, r.Spec, $"{Fmt.Pct(r.AccuracyMean)} ± {Fmt.Pct(r.AccuracyStd)}", r.Seeds.ToString(),
                Fmt.F(r.DensityPrunable, 4), Fmt.F(r.DensityAll, 4), Fmt.Si(r.InferenceMacs), Fmt.F(r.ForwardPasses, 0), Fmt.F(r.BackwardPasses, 0),
                Fmt.Si(r.TrainMacsDense), Fmt.Si(r.TrainMacsMasked), Fmt.F(r.WallSeconds, 1)]),
            "the comparison table (comparison.md); cost columns are per seed for the whole approach (all its sub-nets)");
    }

    private static void Curves(HtmlPage page, ExperimentData exp)
    {
        page.Section("training-curves", "Test accuracy over epochs");
        foreach (var g in exp.Runs.GroupBy(r => Mode(r.Recipe.Mode)))
        {
            var runs = g.ToList();
            var chart = new XyChart { Title = $"{g.Key}: test accuracy", XLabel = "epoch", YLabel = "test accuracy %", IntegerX = true, Width = 520 };
            int k = runs.Min(r => r.Subnets);
            for (int s = 0; s < k; s++)
            {
                // Mean over the seeds that reached each epoch.
                var pts = runs.SelectMany(r => r.Of(s)).GroupBy(m => m.Epoch).OrderBy(e => e.Key)
                    .Select(e => (e.Key + 1.0, 100 * e.Average(m => m.TestAccuracy))).ToList();
                chart.Series.Add(new Series($"[{runs[0].Final[s].Spec}]", pts) { Color = Palette.Color(s) });
            }
            page.Chart($"accuracy-{g.Key}", chart.Render(), $"{g.Key}: each sub-net's test accuracy after each epoch, mean over {runs.Count} seed(s).");
        }
    }

    private static void Cost(HtmlPage page, ExperimentData exp)
    {
        page.Section("cost", "Training cost");
        var approaches = exp.Table.Rows.GroupBy(r => r.Approach).Select(g => g.First()).ToList();
        var chart = new BarChart { Title = "Training multiply-adds per approach", YLabel = "multiply-adds (all sub-nets, per seed)", Categories = approaches.Select(r => r.Approach).ToList() };
        chart.Series.Add(("dense-equivalent", Palette.Color(7), approaches.Select(r => r.TrainMacsDense).ToList()));
        chart.Series.Add(("counting kept weights only", Palette.Color(0), approaches.Select(r => r.TrainMacsMasked).ToList()));
        page.Chart("cost", chart.Render(), "What training all of an approach's sub-nets cost, per seed: as if every layer ran dense, and counting only the weights its masks keep.");
        page.Table(["approach", "wall s per seed", "forward passes", "backward passes", "train MACs dense-eq.", "train MACs masked"],
            approaches.Select(r => (IReadOnlyList<string>)[r.Approach, Fmt.F(r.WallSeconds, 1), Fmt.F(r.ForwardPasses, 0), Fmt.F(r.BackwardPasses, 0),
                Fmt.Si(r.TrainMacsDense), Fmt.Si(r.TrainMacsMasked)]));
    }
}
