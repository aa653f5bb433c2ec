using System.Globalization;

namespace SparseSwitch.Cli.Reports.Charts;

/// <summary>
/// Grouped vertical bars: one group per category along x, one bar per series in each group, on a
/// linear y axis from 0. Category labels are turned when they do not fit under their group; the
/// chart widens so that no bar is thinner than a few pixels. Every bar carries a tooltip.
/// </summary>
internal sealed class BarChart
{
    public required string Title { get; init; }
    public required string YLabel { get; init; }
    public required IReadOnlyList<string> Categories { get; init; }
    public List<(string Name, string Color, IReadOnlyList<double> Values)> Series { get; } = [];
    public double Width { get; init; } = 580;
    public double Height { get; init; } = 330;

    private const double Top = 34, LegendRow = 18;

    public string Render()
    {
        var values = Series.SelectMany(s => s.Values).Where(double.IsFinite).ToList();
        Scale y = Scale.Linear(Math.Min(0, values.DefaultIfEmpty(0).Min()), Math.Max(values.DefaultIfEmpty(1).Max(), 1e-12));
        bool showLegend = Series.Count > 1;
        double legendWidth = showLegend ? 34 + Series.Max(s => SvgCanvas.TextWidth(s.Name)) : 16;
        double left = 34 + y.Ticks.Max(t => SvgCanvas.TextWidth(y.Label(t), 11));
        int n = Math.Max(1, Categories.Count), k = Math.Max(1, Series.Count);
        double width = Math.Max(Width, left + legendWidth + 8 + n * (k * 5 + 6));
        double plotW = width - left - legendWidth - 8, slot = plotW / n;
        double longest = Categories.Count == 0 ? 0 : Categories.Max(l => SvgCanvas.TextWidth(l, 11));
        bool turn = longest > slot - 4;
        double bottom = 26 + (turn ? longest * Math.Sin(Math.PI / 4) + 8 : 16);
        double height = Math.Max(Height, Top + bottom + 120 + (showLegend ? Series.Count * LegendRow : 0));
        double plotH = height - Top - bottom;
        double Py(double v) => Top + (1 - y.Fraction(v)) * plotH;

        var svg = new SvgCanvas(width, height);
        svg.PlotFrame(Title, left, Top, plotW, plotH, y, YLabel);
        var c = CultureInfo.InvariantCulture;
        double barW = slot * 0.8 / k;
        for (int i = 0; i < Categories.Count; i++)
        {
            double x0 = left + i * slot + slot * 0.1;
            for (int s = 0; s < Series.Count; s++)
            {
                double v = i < Series[s].Values.Count ? Series[s].Values[i] : double.NaN;
                if (!double.IsFinite(v)) continue;
                double top = Py(Math.Max(v, 0)), bottom0 = Py(Math.Min(v, 0));
                svg.Rect(x0 + s * barW, top, Math.Max(1, barW - 1), bottom0 - top, Series[s].Color,
                    title: string.Create(c, $"{Categories[i]}, {Series[s].Name}: {v:G4}"));
            }
            double cx = left + (i + 0.5) * slot, ly = Top + plotH + 14;
            if (turn) svg.Text(cx + 3, ly, Categories[i], 11, "end", "#444", rotate: -45);
            else svg.Text(cx, ly, Categories[i], 11, "middle", "#444");
        }
        if (showLegend)
        {
            double lx = left + plotW + 14;
            for (int s = 0; s < Series.Count; s++)
            {
                double ly = Top + 8 + s * LegendRow;
                svg.Rect(lx, ly - 6, 14, 12, Series[s].Color);
                svg.Text(lx + 20, ly + 4, Series[s].Name, 12);
            }
        }
        return svg.ToSvg(Title);
    }
}
