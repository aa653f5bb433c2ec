using SparseSwitch.Cli.Reports.Charts;
using SparseSwitch.Training;

namespace SparseSwitch.Cli.Reports;

/// <summary>
/// The page of one run folder: summary and recipe, accuracy against density, training curves,
/// per-layer density, mask overlap, gradient-correction projections, training cost, latency of the
/// packed model when it was profiled, and every epoch's numbers. A section whose data the folder
/// does not hold says so in a line.
/// </summary>
internal static class RunReport
{
    public static HtmlPage Build(RunData run)
    {
        var page = new HtmlPage($"SparseSwitch run: {Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(run.Folder)))}");
        Summary(page, run);
        RecipeSection(page, run.RecipeFields);
        if (run.Final.Count == 0)
        {
            page.Section("results", "Results");
            page.Absent("No epoch has finished yet: metrics.jsonl holds no rows. 'sparseswitch report RUN' rebuilds this page once one has.");
        }
        else
        {
            AccuracyDensity(page, run);
            Curves(page, run);
            LayerDensity(page, run);
            Overlap(page, run);
            Correction(page, run);
            Cost(page, run);
        }
        Latency(page, run);
        EpochTable(page, run);
        return page;
    }

    public static string Subtitle(RunData run)
    {
        var r = run.Recipe;
        int done = run.Final.Count == 0 ? 0 : run.Final.Max(m => m.Epoch) + 1;
        string what = r.Mode == TrainMode.Dense ? "one dense model" : $"sub-nets {r.SubnetsToTrain}";
        return $"{r.Mode.ToString().ToLowerInvariant()}: {r.Model} on {r.Data}, {what}, " +
            $"{done} of {r.Epochs} epochs, seed {r.Seed} — {run.Folder}";
    }

    private static string Name(RunData run, int k) => $"[{run.Final[k].Spec}]";

    private static void Summary(HtmlPage page, RunData run)
    {
        page.Section("summary", "Summary");
        if (run.Final.Count == 0) { page.Absent("No finished epoch yet."); return; }
        page.Table(["sub-net", "spec", "test accuracy %", "test loss", "density (prunable)", "density (all weights)", "inference MACs / image", "mask updates"],
            run.Final.Select(m => (IReadOnlyList<string>)[m.Subnet.ToString(), m.Spec, Fmt.Pct(m.TestAccuracy), Fmt.F(m.TestLoss, 4),
                Fmt.F(m.DensityPrunable, 4), Fmt.F(m.DensityAll, 4), Fmt.I(m.InferenceMacs), Fmt.I(m.MaskUpdates)]),
            $"after epoch {run.Final.Max(m => m.Epoch) + 1}");
    }

    internal static void RecipeSection(HtmlPage page, IReadOnlyList<(string Key, string Value)> fields)
    {
        page.Section("recipe", "Recipe");
        var rows = new List<IReadOnlyList<string>>();
        int half = (fields.Count + 1) / 2;
        for (int i = 0; i < half; i++)
            rows.Add(i + half < fields.Count
                ? [fields[i].Key, fields[i].Value, fields[i + half].Key, fields[i + half].Value]
                : [fields[i].Key, fields[i].Value, "", ""]);
        page.Table(["key", "value", "key", "value"], rows, "the resolved recipe (recipe.json)");
    }

    private static void AccuracyDensity(HtmlPage page, RunData run)
    {
        page.Section("accuracy-density", "Accuracy against density");
        if (run.Recipe.Mode == TrainMode.Dense)
        {
            page.Absent($"A dense run: one model at density 1, test accuracy {Fmt.Pct(run.Final[0].TestAccuracy)} %. An experiment's report sets it beside the sparse sub-nets.");
            return;
        }
        var pts = run.Final.OrderBy(m => m.DensityPrunable).ToList();
        var chart = new XyChart { Title = "Test accuracy against density", XLabel = "density of the prunable weights", YLabel = "test accuracy %", LogX = null };
        chart.Series.Add(new Series("sub-nets", pts.Select(m => (m.DensityPrunable, 100 * m.TestAccuracy)).ToList())
        {
            PointLabels = pts.Select(m => m.Spec).ToList(),
        });
        page.Chart("accuracy-density", chart.Render(),
            "Each sub-net after the last epoch, labelled with its spec. An experiment folder's report sets these beside the baselines (independent, joint, dense).");
    }

    private static void Curves(HtmlPage page, RunData run)
    {
        page.Section("training-curves", "Training curves");
        var loss = new XyChart { Title = "Loss", XLabel = "epoch", YLabel = "cross-entropy loss", IntegerX = true };
        var acc = new XyChart { Title = "Test accuracy", XLabel = "epoch", YLabel = "test accuracy %", IntegerX = true };
        var density = new XyChart { Title = "Density", XLabel = "epoch", YLabel = "density of the prunable weights", IntegerX = true };
        for (int k = 0; k < run.Subnets; k++)
        {
            var rows = run.Of(k).ToList();
            string color = Palette.Color(k);
            loss.Series.Add(new Series($"{Name(run, k)} train", rows.Select(m => (m.Epoch + 1.0, m.TrainLoss)).ToList()) { Color = color });
            loss.Series.Add(new Series($"{Name(run, k)} test", rows.Select(m => (m.Epoch + 1.0, m.TestLoss)).ToList()) { Color = color, Dash = "6 3" });
            acc.Series.Add(new Series(Name(run, k), rows.Select(m => (m.Epoch + 1.0, 100 * m.TestAccuracy)).ToList()) { Color = color });
            density.Series.Add(new Series(Name(run, k), rows.Select(m => (m.Epoch + 1.0, m.DensityPrunable)).ToList()) { Color = color });
        }
        page.Chart("loss", loss.Render(), "Mean training loss of each sub-net's mini-batches in the epoch (solid) and test loss after it (dashed).");
        page.Chart("accuracy", acc.Render(), "Test accuracy of each sub-net after each epoch.");
        if (run.Rows.Any(m => m.DensityPrunable < 1))
            page.Chart("density", density.Render(), "Density of each sub-net's prunable weights at the end of each epoch (the pruning ramp).");
    }

    private static void LayerDensity(HtmlPage page, RunData run)
    {
        page.Section("layer-density", "Per-layer density");
        var layers = run.Final.SelectMany(m => m.LayerDensity.Keys).Distinct().ToList();
        if (layers.Count == 0)
        {
            page.Absent("The run has no masks (a dense run): every layer keeps all its weights.");
            return;
        }
        var chart = new BarChart { Title = "Density per layer", YLabel = "density", Categories = layers.Select(Fmt.Layer).ToList() };
        for (int k = 0; k < run.Subnets; k++)
            chart.Series.Add((Name(run, k), Palette.Color(k),
                layers.Select(l => run.Final[k].LayerDensity.TryGetValue(l, out var d) ? d : double.NaN).ToList()));
        page.Chart("layer-density", chart.Render(), "Share of each prunable layer's weights that each sub-net keeps, from its masks at the last epoch's end (the masks the checkpoint holds).");
        page.Details("numbers", () => page.Table(["layer", .. run.Final.Select(m => $"[{m.Spec}]")],
            layers.Select(l => (IReadOnlyList<string>)[l, .. run.Final.Select(m => m.LayerDensity.TryGetValue(l, out var d) ? Fmt.F(d, 4) : "—")])));
    }

    private static void Overlap(HtmlPage page, RunData run)
    {
        page.Section("mask-overlap", "Mask overlap");
        if (run.Subnets < 2 || run.Final.All(m => m.LayerDensity.Count == 0))
        {
            page.Absent("The run has a single sub-net (or no masks): there is no overlap between sub-nets to show.");
            return;
        }
        MaskOverlapMatrix? m;
        try { m = run.Independent ? MaskOverlapMatrix.FromCheckpoints(run.Folder, run.Subnets) : MaskOverlapMatrix.FromMetrics(run.Final); }
        catch (Exception e) when (e is IOException or ArgumentException or InvalidOperationException or KeyNotFoundException)
        {
            page.Absent($"The sub-nets' masks could not be read: {e.Message}");
            return;
        }
        if (m is null)
        {
            page.Absent("The metrics do not hold the overlap between every pair of sub-nets.");
            return;
        }
        var labels = Enumerable.Range(0, run.Subnets).Select(k => Name(run, k)).ToList();
        var heat = new HeatMap
        {
            Title = "Share of the row's kept weights that the column keeps",
            RowLabels = labels, ColumnLabels = labels, Values = m.Share, RowAxis = "sub-net", ColumnAxis = "also kept by",
        };
        page.Chart("mask-overlap", heat.Render(),
            $"Over the prunable weights, from {m.Source}. A cell of 1.00 off the diagonal means the row's mask lies inside the column's (nested).");
        var pairs = new List<IReadOnlyList<string>>();
        for (int i = 0; i < run.Subnets; i++)
            for (int j = i + 1; j < run.Subnets; j++)
                pairs.Add([$"{labels[i]} – {labels[j]}", Fmt.F(m.Jaccard(i, j), 4), Fmt.F(m.Containment(i, j), 4)]);
        page.Table(["pair", "Jaccard |a∩b|/|a∪b|", "containment |a∩b|/min(|a|,|b|)"], pairs);

        var epochs = run.Of(0).Count();
        if (!run.Independent && epochs > 1)
        {
            var chart = new XyChart { Title = "Jaccard index over epochs", XLabel = "epoch", YLabel = "Jaccard index", IntegerX = true };
            int s = 0;
            for (int i = 0; i < run.Subnets; i++)
                for (int j = i + 1; j < run.Subnets; j++, s++)
                    chart.Series.Add(new Series($"{labels[i]} – {labels[j]}",
                        run.Of(i).Select(r => (r.Epoch + 1.0, r.Overlap.Length > j ? r.Overlap[j] : double.NaN)).ToList())
                    { Color = Palette.Color(s), Dash = Palette.Dash(s) });
            page.Chart("overlap-epochs", chart.Render(), "Jaccard index of each pair of sub-nets' masks at the end of each epoch.");
        }
    }

    private static void Correction(HtmlPage page, RunData run)
    {
        page.Section("correction", "Gradient-correction projections");
        if (run.Recipe.Correction == CorrectionMode.Off)
        {
            page.Absent("Gradient correction is off in this run (correction: off): no projections.");
            return;
        }
        var rows = run.Of(0).ToList();
        if (run.Independent || rows.All(m => m.CorrectionTests == 0))
        {
            page.Absent("The run logged no correction tests (correction acts between sub-nets trained together: AST with two or more sub-nets).");
            return;
        }
        var layers = rows.SelectMany(m => m.LayerProjections.Keys).Distinct().ToList();
        var chart = new XyChart { Title = "Projections per epoch, by layer", XLabel = "epoch", YLabel = "projections fired in the epoch", IntegerX = true };
        for (int l = 0; l < layers.Count; l++)
        {
            long prev = 0;
            var pts = new List<(double, double)>();
            foreach (var m in rows)
            {
                long now = m.LayerProjections.TryGetValue(layers[l], out var v) ? v : prev;
                pts.Add((m.Epoch + 1.0, now - prev));
                prev = now;
            }
            chart.Series.Add(new Series(Fmt.Layer(layers[l]), pts) { Color = Palette.Color(l), Dash = Palette.Dash(l) });
        }
        page.Chart("correction", chart.Render(),
            $"How often the correction ({Fmt.Kebab(run.Recipe.Correction.ToString())}) projected a layer's gradient away from a conflict, per epoch.");
        long pf = 0, pt = 0;
        var table = new List<IReadOnlyList<string>>();
        foreach (var m in rows)
        {
            long f = m.Projections - pf, t = m.CorrectionTests - pt;
            table.Add([(m.Epoch + 1).ToString(), Fmt.I(t), Fmt.I(f), t == 0 ? "—" : Fmt.Pct((double)f / t, 1)]);
            (pf, pt) = (m.Projections, m.CorrectionTests);
        }
        page.Table(["epoch", "tests", "projections", "projected %"], table, "all prunable layers together");
    }

    private static void Cost(HtmlPage page, RunData run)
    {
        page.Section("cost", "Training cost");
        var parts = run.Independent
            ? Enumerable.Range(0, run.Subnets).Select(k => ($"subnet-{k} {Name(run, k)}", run.Of(k).ToList())).ToList()
            : [("", run.Of(0).ToList())];
        var rows = new List<IReadOnlyList<string>>();
        double wall = 0, dense = 0, masked = 0;
        long fwd = 0, bwd = 0;
        foreach (var (name, list) in parts)
        {
            EpochMetrics? prev = null;
            foreach (var m in list)
            {
                double dw = m.WallSeconds - (prev?.WallSeconds ?? 0), dd = m.TrainMacsDense - (prev?.TrainMacsDense ?? 0), dm = m.TrainMacsMasked - (prev?.TrainMacsMasked ?? 0);
                rows.Add([.. run.Independent ? [name] : Array.Empty<string>(), (m.Epoch + 1).ToString(), Fmt.I(m.Iteration - (prev?.Iteration ?? 0)), Fmt.F(dw, 2),
                    Fmt.I(m.ForwardPasses - (prev?.ForwardPasses ?? 0)), Fmt.I(m.BackwardPasses - (prev?.BackwardPasses ?? 0)), Fmt.Si(dd), Fmt.Si(dm), dd > 0 ? Fmt.F(dm / dd, 3) : "—"]);
                prev = m;
            }
            if (prev is not null)
            {
                wall += prev.WallSeconds; dense += prev.TrainMacsDense; masked += prev.TrainMacsMasked;
                fwd += prev.ForwardPasses; bwd += prev.BackwardPasses;
            }
        }
        rows.Add([.. run.Independent ? ["all"] : Array.Empty<string>(), "total", "", Fmt.F(wall, 2), Fmt.I(fwd), Fmt.I(bwd), Fmt.Si(dense), Fmt.Si(masked), dense > 0 ? Fmt.F(masked / dense, 3) : "—"]);
        page.Table([.. run.Independent ? ["run"] : Array.Empty<string>(), "epoch", "iterations", "wall s", "forward passes", "backward passes",
            "train MACs dense-equivalent", "train MACs masked", "masked / dense"], rows,
            "per epoch; MACs are multiply-adds of the convolution and linear layers (training ≈ 3 × forward); inference MACs per image are in the summary");
    }

    private static void Latency(HtmlPage page, RunData run)
    {
        page.Section("latency", "Latency of the packed model");
        foreach (var p in run.ModelProblems) page.Absent($"A model file could not be read: {p}");
        if (run.Models.Count == 0)
        {
            page.Absent("No model file in the folder. 'sparseswitch pack RUN' writes RUN/model.safetensors, 'sparseswitch profile RUN/model.safetensors' " +
                "measures its sub-nets, and 'sparseswitch report RUN' then shows the latency here.");
            return;
        }
        foreach (var (file, info) in run.Models)
        {
            if (info.Latency.Count == 0)
            {
                page.Absent($"{file} ({info.Architecture}, {info.Subnets.Count} sub-nets) has not been profiled: 'sparseswitch profile {Path.Combine(run.Folder, file)}' measures it.");
                continue;
            }
            var batches = info.Latency.Select(e => e.BatchSize).Distinct().Order().ToList();
            var rows = new List<IReadOnlyList<string>>();
            foreach (var g in info.Latency.GroupBy(e => (e.Subnet, e.Threads)).OrderBy(g => g.Key.Subnet).ThenBy(g => g.Key.Threads))
            {
                var s = g.Key.Subnet < info.Subnets.Count ? info.Subnets[g.Key.Subnet] : null;
                var byBatch = g.ToDictionary(e => e.BatchSize, e => e.MedianMs);
                double last = byBatch.TryGetValue(batches[^1], out var ms) ? ms : double.NaN;
                rows.Add([g.Key.Subnet.ToString(), s?.Spec ?? "?", s is null ? "—" : Fmt.F(s.Density, 4), s is null ? "—" : Fmt.Pct(s.TestAccuracy),
                    g.Key.Threads.ToString(), .. batches.Select(b => byBatch.TryGetValue(b, out var v) ? Fmt.F(v, 3) : "—"),
                    double.IsFinite(last) && last > 0 ? Fmt.F(batches[^1] * 1000 / last, 0) : "—"]);
            }
            page.Table(["sub-net", "spec", "density", "test accuracy %", "threads", .. batches.Select(b => $"batch {b} ms"), $"images/s at batch {batches[^1]}"], rows,
                $"{file}: median milliseconds of a forward pass of the compiled sub-net, measured on {string.Join("; ", info.Latency.Select(e => e.Machine).Distinct())}");

            int threads = info.Latency.Min(e => e.Threads), b0 = batches[0];
            var entries = info.Latency.Where(e => e.BatchSize == b0 && e.Threads == threads && e.Subnet < info.Subnets.Count).OrderBy(e => e.MedianMs).ToList();
            if (entries.Count == 0) continue;
            var chart = new XyChart { Title = $"Accuracy against latency (batch {b0}, {threads} thread{(threads == 1 ? "" : "s")})", XLabel = "median ms per forward pass", YLabel = "test accuracy %", LogX = null };
            chart.Series.Add(new Series(file, entries.Select(e => (e.MedianMs, 100 * info.Subnets[e.Subnet].TestAccuracy)).ToList())
            {
                Line = false, PointLabels = entries.Select(e => info.Subnets[e.Subnet].Spec).ToList(),
            });
            page.Chart("latency-" + Path.GetFileNameWithoutExtension(file), chart.Render(), $"Each sub-net of {file}: what a budget in milliseconds buys.");
        }
    }

    private static void EpochTable(HtmlPage page, RunData run)
    {
        page.Section("epochs", "Every epoch");
        if (run.Rows.Count == 0) { page.Absent("No rows."); return; }
        page.Details($"{run.Rows.Count} rows (metrics.jsonl, one per epoch and sub-net)", () =>
            page.Table(["epoch", "sub-net", "spec", "iteration", "lr", "train loss", "test loss", "test accuracy %", "density (prunable)", "density (all)",
                    "projections", "tests", "mask updates", "mask change", "wall s"],
                run.Rows.OrderBy(m => m.Epoch).ThenBy(m => m.Subnet).Select(m => (IReadOnlyList<string>)[(m.Epoch + 1).ToString(), m.Subnet.ToString(), m.Spec,
                    Fmt.I(m.Iteration), Fmt.F(m.Lr, 5), Fmt.F(m.TrainLoss, 4), Fmt.F(m.TestLoss, 4), Fmt.Pct(m.TestAccuracy), Fmt.F(m.DensityPrunable, 4),
                    Fmt.F(m.DensityAll, 4), Fmt.I(m.Projections), Fmt.I(m.CorrectionTests), Fmt.I(m.MaskUpdates), Fmt.I(m.MaskChange), Fmt.F(m.WallSeconds, 2)])));
        if (run.Log.Length > 0) page.Details("log.txt", () => page.Preformatted(run.Log));
    }
}
