using System.CommandLine;
using System.Globalization;
using SparseSwitch.Cli.Reports;

namespace SparseSwitch.Cli.Commands;

/// <summary><c>report</c>: rebuilds report.html of a run folder or an experiment folder (train and
/// experiment write it when they end; pack and profile add what they learn only when it is rebuilt).</summary>
public static class ReportCommand
{
    public static Command Build()
    {
        var folder = new Argument<string>("folder") { Description = "A run folder (written by 'train') or an experiment folder (written by 'experiment')." };
        var output = new Option<string?>("--out") { Description = "The HTML file to write (default FOLDER/report.html)." };
        var c = new Command("report", "Write report.html for a run or an experiment: one self-contained page (charts as inline SVG, nothing fetched) " +
            "with accuracy against density (beside the baselines in an experiment), training curves, per-layer density, mask overlap, " +
            "correction projections, the training cost and, once the packed model has been profiled, its latency table.\n\n" +
            "Examples:\n" +
            "  sparseswitch report runs/ast-20250101-120000\n" +
            "  sparseswitch report runs/exp-mnist-density --out exp.html\n" +
            "  sparseswitch pack runs/p1-ast && sparseswitch profile runs/p1-ast/model.safetensors && sparseswitch report runs/p1-ast");
        c.Arguments.Add(folder);
        c.Options.Add(output);
        c.SetAction(p =>
        {
            var result = ReportWriter.Write(p.GetValue(folder)!, p.GetValue(output));
            long bytes = new FileInfo(result.File).Length;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"wrote {result.File} ({(result.Experiment ? "experiment" : "run")}, {result.Charts.Count} charts, {bytes / 1024.0:F0} KiB)"));
            return 0;
        });
        return c;
    }
}
