using System.Globalization;

namespace SparseSwitch.Cli.Reports.Charts;

/// <summary>
/// A matrix of values in [0, 1] as coloured cells (white to dark blue) with the value written in
/// each, row labels on the left and column labels on top.
/// </summary>
internal sealed class HeatMap
{
    public required string Title { get; init; }
    public required IReadOnlyList<string> RowLabels { get; init; }
    public required IReadOnlyList<string> ColumnLabels { get; init; }
    /// <summary>[row, column], each in [0, 1]; NaN leaves a cell grey.</summary>
    public required double[,] Values { get; init; }
    public string RowAxis { get; init; } = "";
    public string ColumnAxis { get; init; } = "";

    public string Render()
    {
        int rows = RowLabels.Count, cols = ColumnLabels.Count;
        double cell = Math.Clamp(420.0 / Math.Max(rows, cols), 34, 72);
        double left = 28 + RowLabels.DefaultIfEmpty("").Max(l => SvgCanvas.TextWidth(l)) + 10;
        double top = 66;
        double width = Math.Max(left + cols * cell + 20, SvgCanvas.TextWidth(Title, 14) + 20);
        double height = top + rows * cell + 14;
        var svg = new SvgCanvas(width, height);
        svg.Text(8, 20, Title, 14, bold: true);
        svg.Text(left + cols * cell / 2, 38, ColumnAxis, 12, "middle");
        svg.Text(12, top + rows * cell / 2, RowAxis, 12, "middle", rotate: -90);
        var c = CultureInfo.InvariantCulture;
        for (int j = 0; j < cols; j++) svg.Text(left + (j + 0.5) * cell, top - 6, ColumnLabels[j], 12, "middle");
        for (int i = 0; i < rows; i++)
        {
            svg.Text(left - 8, top + (i + 0.5) * cell + 4, RowLabels[i], 12, "end");
            for (int j = 0; j < cols; j++)
            {
                double v = Values[i, j];
                bool known = double.IsFinite(v);
                svg.Rect(left + j * cell, top + i * cell, cell - 1, cell - 1, known ? Palette.Blue(v) : "#ddd",
                    title: known ? string.Create(c, $"{RowLabels[i]} → {ColumnLabels[j]}: {v:F4}") : $"{RowLabels[i]} → {ColumnLabels[j]}: unknown");
                if (known)
                    svg.Text(left + (j + 0.5) * cell, top + (i + 0.5) * cell + 4, v.ToString("F2", c), Math.Min(12, cell / 3.2), "middle",
                        v > 0.5 ? "#fff" : "#222");
            }
        }
        return svg.ToSvg(Title);
    }
}
