using System.Globalization;

namespace SparseSwitch.Cli.Reports.Charts;

/// <summary>
/// A line or scatter chart: series of (x, y) points on a linear or logarithmic x axis and a linear
/// y axis, both fitted to the data (error bars and reference lines included) with ticks at round
/// values, grid lines, axis titles, and a legend on the right when there is more than one series.
/// Every marker carries a tooltip with its series and values.
/// </summary>
internal sealed class XyChart
{
    public required string Title { get; init; }
    public required string XLabel { get; init; }
    public required string YLabel { get; init; }
    public List<Series> Series { get; } = [];
    public List<ReferenceLine> ReferenceLines { get; } = [];
    /// <summary>Logarithmic x axis (values must be &gt; 0); null chooses (<see cref="Scale.Auto"/>).</summary>
    public bool? LogX { get; init; } = false;
    /// <summary>Ticks at whole numbers only on the x axis (epochs).</summary>
    public bool IntegerX { get; init; }
    public double Width { get; init; } = 580;
    public double Height { get; init; } = 330;

    private const double Top = 34, Bottom = 46, LegendRow = 18;

    /// <summary>The data's range with 5 % of room each side (not below 0 for data that are not
    /// negative), so that no marker or label sits on the frame; ticks at round values inside.</summary>
    private static Scale Padded(double lo, double hi)
    {
        double pad = hi > lo ? 0.05 * (hi - lo) : hi == 0 ? 1 : Math.Abs(hi) * 0.1;
        return Scale.Linear(lo >= 0 ? Math.Max(0, lo - pad) : lo - pad, hi + pad, 8, snap: false);
    }

    public string Render()
    {
        var points = Series.SelectMany(s => s.Points).Where(p => double.IsFinite(p.X) && double.IsFinite(p.Y)).ToList();
        var xs = points.Select(p => p.X).ToList();
        var ys = new List<double>(points.Select(p => p.Y));
        foreach (var s in Series)
            if (s.YError is { } err)
                for (int i = 0; i < s.Points.Count && i < err.Count; i++)
                    if (double.IsFinite(s.Points[i].Y) && double.IsFinite(err[i])) { ys.Add(s.Points[i].Y - err[i]); ys.Add(s.Points[i].Y + err[i]); }
        ys.AddRange(ReferenceLines.Select(r => r.Y).Where(double.IsFinite));

        Scale x = xs.Count == 0 ? Scale.Linear(0, 1)
            : LogX switch
            {
                true => Scale.Log(xs.Min(), xs.Max()),
                null => Scale.Auto(xs),
                false when IntegerX => Scale.Linear(xs.Min(), xs.Max(), 10, integers: true),
                false => Padded(xs.Min(), xs.Max()),
            };
        Scale y = ys.Count == 0 ? Scale.Linear(0, 1) : Padded(ys.Min(), ys.Max());

        var legend = Series.Select(s => (s.Name, s.Color, s.Dash, s.Line, s.Markers))
            .Concat(ReferenceLines.Select(r => (r.Name, r.Color, Dash: (string?)"6 4", Line: true, Markers: false))).ToList();
        bool showLegend = legend.Count > 1;
        double legendWidth = showLegend ? 44 + legend.Max(e => SvgCanvas.TextWidth(e.Name)) : 16;
        double yLabelWidth = y.Ticks.Count == 0 ? 20 : y.Ticks.Max(t => SvgCanvas.TextWidth(y.Label(t), 11));
        double left = 34 + yLabelWidth;
        double height = Math.Max(Height, Top + Bottom + (showLegend ? legend.Count * LegendRow + 8 : 0));
        double width = Math.Max(Width, left + legendWidth + 8 + 380);   // the plot keeps at least 380 pixels
        double plotW = width - left - legendWidth - 8, plotH = height - Top - Bottom;
        double Px(double v) => left + x.Fraction(v) * plotW;
        double Py(double v) => Top + (1 - y.Fraction(v)) * plotH;

        var svg = new SvgCanvas(width, height);
        svg.PlotFrame(Title, left, Top, plotW, plotH, y, YLabel);
        foreach (double t in x.Ticks)
        {
            svg.Line(Px(t), Top, Px(t), Top + plotH, "#e6e6e6");
            svg.Text(Px(t), Top + plotH + 16, x.Label(t), 11, "middle", "#444");
        }
        svg.Text(left + plotW / 2, height - 8, XLabel, 12, "middle");
        if (points.Count == 0) svg.Text(left + plotW / 2, Top + plotH / 2, "no data", 13, "middle", "#888");

        foreach (var r in ReferenceLines.Where(r => double.IsFinite(r.Y)))
            svg.Line(left, Py(r.Y), left + plotW, Py(r.Y), r.Color, 1.5, "6 4");
        var c = CultureInfo.InvariantCulture;
        foreach (var s in Series)
        {
            if (s.Line)
            {
                var run = new List<(double, double)>();
                foreach (var (px, py) in s.Points)
                {
                    if (double.IsFinite(px) && double.IsFinite(py)) { run.Add((Px(px), Py(py))); continue; }
                    svg.Polyline(run, s.Color, 2, s.Dash);
                    run.Clear();
                }
                svg.Polyline(run, s.Color, 2, s.Dash);
            }
            for (int i = 0; i < s.Points.Count; i++)
            {
                var (px, py) = s.Points[i];
                if (!double.IsFinite(px) || !double.IsFinite(py)) continue;
                double e = s.YError is { } err && i < err.Count && double.IsFinite(err[i]) ? err[i] : 0;
                if (e > 0)
                {
                    svg.Line(Px(px), Py(py - e), Px(px), Py(py + e), s.Color, 1.5);
                    svg.Line(Px(px) - 4, Py(py - e), Px(px) + 4, Py(py - e), s.Color, 1.5);
                    svg.Line(Px(px) - 4, Py(py + e), Px(px) + 4, Py(py + e), s.Color, 1.5);
                }
                string tip = string.Create(c, $"{s.Name}: {XLabel} {px:G4}, {YLabel} {py:G5}") + (e > 0 ? string.Create(c, $" ± {e:G3}") : "");
                if (s.Markers || !s.Line || s.Points.Count == 1) svg.Circle(Px(px), Py(py), 4, s.Color, tip);
                if (s.PointLabels is { } labels && i < labels.Count) svg.Text(Px(px) + 7, Py(py) - 7, labels[i], 11, fill: s.Color);
            }
        }

        if (showLegend)
        {
            double lx = left + plotW + 14;
            for (int i = 0; i < legend.Count; i++)
            {
                var (name, color, dash, line, markers) = legend[i];
                double ly = Top + 8 + i * LegendRow;
                if (line) svg.Line(lx, ly, lx + 24, ly, color, 2, dash);
                if (markers || !line) svg.Circle(lx + 12, ly, 3.5, color);
                svg.Text(lx + 30, ly + 4, name, 12);
            }
        }
        return svg.ToSvg(Title);
    }
}
