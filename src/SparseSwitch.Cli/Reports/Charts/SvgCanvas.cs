using System.Globalization;
using System.Text;

namespace SparseSwitch.Cli.Reports.Charts;

/// <summary>
/// Writes the elements of one inline SVG image (lines, rectangles, circles, polylines, text) into
/// a string. Coordinates are pixels from the top-left corner; numbers are written with one
/// decimal in the invariant culture, text is XML-escaped. The element has no namespace attribute:
/// inside an HTML page the parser puts &lt;svg&gt; in the SVG namespace itself.
/// </summary>
internal sealed class SvgCanvas
{
    private readonly StringBuilder _sb = new();

    public double Width { get; }
    public double Height { get; }

    public SvgCanvas(double width, double height)
    {
        Width = Math.Ceiling(width);
        Height = Math.Ceiling(height);
    }

    public static string N(double v) => Math.Round(v, 1).ToString("0.#", CultureInfo.InvariantCulture);

    public static string Escape(string s) =>
        s.Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;").Replace("\"", "&quot;");

    /// <summary>A chart's frame: the title above it, the white plot area [left, left + plotW] × [top, top + plotH]
    /// with a grid line and label at each of <paramref name="y"/>'s ticks, and the y-axis label turned on its side.</summary>
    public void PlotFrame(string title, double left, double top, double plotW, double plotH, Scale y, string yLabel)
    {
        Text(left, 20, title, 14, bold: true);
        Rect(left, top, plotW, plotH, "#fff", "#bbb");
        foreach (double t in y.Ticks)
        {
            double py = top + (1 - y.Fraction(t)) * plotH;
            Line(left, py, left + plotW, py, "#e6e6e6");
            Text(left - 6, py + 4, y.Label(t), 11, "end", "#444");
        }
        Text(14, top + plotH / 2, yLabel, 12, "middle", rotate: -90);
    }

    public void Line(double x1, double y1, double x2, double y2, string stroke, double width = 1, string? dash = null) =>
        _sb.Append($"<line x1=\"{N(x1)}\" y1=\"{N(y1)}\" x2=\"{N(x2)}\" y2=\"{N(y2)}\" stroke=\"{stroke}\" stroke-width=\"{N(width)}\"{Dash(dash)}/>");

    public void Rect(double x, double y, double w, double h, string fill, string? stroke = null, string? title = null)
    {
        _sb.Append($"<rect x=\"{N(x)}\" y=\"{N(y)}\" width=\"{N(Math.Max(0, w))}\" height=\"{N(Math.Max(0, h))}\" fill=\"{fill}\"");
        if (stroke is not null) _sb.Append($" stroke=\"{stroke}\"");
        Close("rect", title);
    }

    public void Circle(double cx, double cy, double r, string fill, string? title = null)
    {
        _sb.Append($"<circle cx=\"{N(cx)}\" cy=\"{N(cy)}\" r=\"{N(r)}\" fill=\"{fill}\" stroke=\"#fff\" stroke-width=\"1\"");
        Close("circle", title);
    }

    public void Polyline(IReadOnlyList<(double X, double Y)> points, string stroke, double width = 2, string? dash = null)
    {
        if (points.Count < 2) return;
        _sb.Append("<polyline fill=\"none\" stroke-linejoin=\"round\" points=\"");
        for (int i = 0; i < points.Count; i++)
        {
            if (i > 0) _sb.Append(' ');
            _sb.Append(N(points[i].X)).Append(',').Append(N(points[i].Y));
        }
        _sb.Append($"\" stroke=\"{stroke}\" stroke-width=\"{N(width)}\"{Dash(dash)}/>");
    }

    /// <summary>Text at (x, y) (the baseline's left, middle or right end, by <paramref name="anchor"/>:
    /// start, middle, end); <paramref name="rotate"/> turns it about (x, y) by that many degrees.</summary>
    public void Text(double x, double y, string text, double size = 12, string anchor = "start", string fill = "#222",
        bool bold = false, double rotate = 0)
    {
        _sb.Append($"<text x=\"{N(x)}\" y=\"{N(y)}\" font-size=\"{N(size)}\" fill=\"{fill}\"");
        if (anchor != "start") _sb.Append($" text-anchor=\"{anchor}\"");
        if (bold) _sb.Append(" font-weight=\"bold\"");
        if (rotate != 0) _sb.Append($" transform=\"rotate({N(rotate)} {N(x)} {N(y)})\"");
        _sb.Append('>').Append(Escape(text)).Append("</text>");
    }

    /// <summary>The finished element; <paramref name="label"/> is its accessible name.</summary>
    public string ToSvg(string label) =>
        $"<svg width=\"{N(Width)}\" height=\"{N(Height)}\" viewBox=\"0 0 {N(Width)} {N(Height)}\" role=\"img\" aria-label=\"{Escape(label)}\" " +
        $"font-family=\"sans-serif\">{_sb}</svg>";

    /// <summary>Rough width of <paramref name="text"/> in a sans-serif font of <paramref name="size"/>
    /// pixels (for laying out margins and legends; browsers' fonts differ by a few per cent).</summary>
    public static double TextWidth(string text, double size = 12) => text.Length * size * 0.6;

    private static string Dash(string? dash) => dash is null ? "" : $" stroke-dasharray=\"{dash}\"";

    private void Close(string element, string? title)
    {
        if (title is null) _sb.Append("/>");
        else _sb.Append("><title>").Append(Escape(title)).Append($"</title></{element}>");
    }
}
