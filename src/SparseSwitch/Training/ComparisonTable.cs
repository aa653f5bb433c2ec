using System.Globalization;
using System.Text;

namespace SparseSwitch.Training;

/// <summary>
/// Side-by-side results of the approaches: one row per (approach, sub-net) with the test accuracy
/// mean ± sample standard deviation over seeds, the final density (prunable layers and all
/// conv/linear weights), inference multiply-adds, and the whole approach's training cost per seed
/// (forward and backward passes, dense-equivalent and masked training multiply-adds, wall time),
/// averaged over seeds. An approach's cost covers all its sub-nets (independent: the sum of its K runs).
/// </summary>
public sealed class ComparisonTable
{
    public sealed record Row(string Approach, int Subnet, string Spec, int Seeds, double AccuracyMean, double AccuracyStd,
        double DensityPrunable, double DensityAll, double InferenceMacs, double ForwardPasses, double BackwardPasses,
        double TrainMacsDense, double TrainMacsMasked, double WallSeconds);

    public IReadOnlyList<Row> Rows { get; }

    public ComparisonTable(IReadOnlyList<Row> rows) => Rows = rows;

    public static ComparisonTable From(IEnumerable<RunSummary> runs)
    {
        var rows = new List<Row>();
        foreach (var g in runs.GroupBy(r => r.Mode).OrderBy(g => g.Key))
        {
            var list = g.ToList();
            int k = list.Min(r => r.Final.Count);
            for (int s = 0; s < k; s++)
            {
                var acc = list.Select(r => r.Final[s].TestAccuracy).ToArray();
                double mean = acc.Average();
                double std = acc.Length > 1 ? Math.Sqrt(acc.Sum(a => (a - mean) * (a - mean)) / (acc.Length - 1)) : 0;
                rows.Add(new Row(g.Key.ToString().ToLowerInvariant(), s, list[0].Final[s].Spec, acc.Length, mean, std,
                    list.Average(r => r.Final[s].DensityPrunable), list.Average(r => r.Final[s].DensityAll),
                    list.Average(r => (double)r.Final[s].InferenceMacs),
                    list.Average(r => (double)r.ForwardPasses), list.Average(r => (double)r.BackwardPasses),
                    list.Average(r => r.TrainMacsDense), list.Average(r => r.TrainMacsMasked), list.Average(r => r.WallSeconds)));
            }
        }
        return new ComparisonTable(rows);
    }

    public string ToMarkdown()
    {
        var c = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.AppendLine("| approach | sub-net | accuracy % (mean ± std) | seeds | density (prunable) | density (all) | inference MACs/img | fwd passes | bwd passes | train MACs dense-eq | train MACs masked | wall s |");
        sb.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var r in Rows)
            sb.AppendLine(string.Create(c,
                $"| {r.Approach} | {r.Spec} | {100 * r.AccuracyMean:F2} ± {100 * r.AccuracyStd:F2} | {r.Seeds} | {r.DensityPrunable:F4} | {r.DensityAll:F4} | {r.InferenceMacs:E3} | {r.ForwardPasses:F0} | {r.BackwardPasses:F0} | {r.TrainMacsDense:E3} | {r.TrainMacsMasked:E3} | {r.WallSeconds:F1} |"));
        sb.AppendLine();
        sb.AppendLine("Cost columns are per seed for the whole approach (all its sub-nets); MACs are multiply-adds of conv/linear layers (training ≈ 3 × forward).");
        return sb.ToString();
    }

    public string ToCsv()
    {
        var c = CultureInfo.InvariantCulture;
        var sb = new StringBuilder("approach,subnet,spec,seeds,accuracy_mean,accuracy_std,density_prunable,density_all,inference_macs,forward_passes,backward_passes,train_macs_dense,train_macs_masked,wall_seconds\n");
        foreach (var r in Rows)
            sb.AppendLine(string.Create(c,
                $"{r.Approach},{r.Subnet},{r.Spec},{r.Seeds},{r.AccuracyMean:R},{r.AccuracyStd:R},{r.DensityPrunable:R},{r.DensityAll:R},{r.InferenceMacs:R},{r.ForwardPasses:R},{r.BackwardPasses:R},{r.TrainMacsDense:R},{r.TrainMacsMasked:R},{r.WallSeconds:F3}"));
        return sb.ToString();
    }
}
