using System.Text;
using SparseSwitch.Cli.Reports.Charts;

namespace SparseSwitch.Cli.Reports;

/// <summary>
/// One self-contained HTML page: a title, a table of contents, sections with text, tables and
/// charts (inline SVG), all styles in the page itself; nothing is fetched. The markup is also
/// well-formed XML (every element closed, only XML's own entities), so a strict parser reads it.
/// </summary>
internal sealed class HtmlPage
{
    private readonly StringBuilder _body = new();
    private readonly List<(string Id, string Title)> _sections = [];
    private readonly string _title;

    public HtmlPage(string title) => _title = title;

    /// <summary>Ids of the charts added, in order (one &lt;svg&gt; each).</summary>
    public List<string> Charts { get; } = [];

    public static string Escape(string s) => SvgCanvas.Escape(s);

    public void Section(string id, string title)
    {
        _sections.Add((id, title));
        _body.Append($"<h2 id=\"{Escape(id)}\">{Escape(title)}</h2>\n");
    }

    public void Paragraph(string text) => _body.Append($"<p>{Escape(text)}</p>\n");

    /// <summary>A short line saying what is not there and why (data absent from the folder).</summary>
    public void Absent(string text) => _body.Append($"<p class=\"absent\">{Escape(text)}</p>\n");

    /// <summary>Markup written by the caller (already escaped).</summary>
    public void Raw(string html) => _body.Append(html).Append('\n');

    public void Table(IReadOnlyList<string> header, IEnumerable<IReadOnlyList<string>> rows, string? caption = null)
    {
        var sb = _body;
        sb.Append("<table>");
        if (caption is not null) sb.Append($"<caption>{Escape(caption)}</caption>");
        sb.Append("<thead><tr>");
        foreach (var h in header) sb.Append($"<th>{Escape(h)}</th>");
        sb.Append("</tr></thead><tbody>\n");
        foreach (var row in rows)
        {
            sb.Append("<tr>");
            foreach (var cell in row) sb.Append(IsNumber(cell) ? $"<td class=\"n\">{Escape(cell)}</td>" : $"<td>{Escape(cell)}</td>");
            sb.Append("</tr>\n");
        }
        sb.Append("</tbody></table>\n");
    }

    /// <summary>A chart: the SVG inside a figure with a caption.</summary>
    public void Chart(string id, string svg, string caption)
    {
        Charts.Add(id);
        _body.Append($"<figure id=\"chart-{Escape(id)}\">{svg}<figcaption>{Escape(caption)}</figcaption></figure>\n");
    }

    /// <summary>Content folded away under a one-line summary.</summary>
    public void Details(string summary, Action body)
    {
        _body.Append($"<details><summary>{Escape(summary)}</summary>\n");
        body();
        _body.Append("</details>\n");
    }

    public void Preformatted(string text) => _body.Append($"<pre>{Escape(text)}</pre>\n");

    public string Render(string subtitle)
    {
        var sb = new StringBuilder();
        sb.Append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n");
        sb.Append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n");
        // The page fetches nothing; a browser refuses (and logs) any request it would make.
        sb.Append("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\"/>\n");
        sb.Append($"<title>{Escape(_title)}</title>\n<style>{Style}</style>\n</head>\n<body>\n");
        sb.Append($"<h1>{Escape(_title)}</h1>\n<p class=\"sub\">{Escape(subtitle)}</p>\n");
        if (_sections.Count > 0)
        {
            sb.Append("<nav><ul>");
            foreach (var (id, title) in _sections) sb.Append($"<li><a href=\"#{Escape(id)}\">{Escape(title)}</a></li>");
            sb.Append("</ul></nav>\n");
        }
        sb.Append(_body);
        sb.Append("</body>\n</html>\n");
        return sb.ToString();
    }

    private static bool IsNumber(string s) =>
        s.Length > 0 && (char.IsDigit(s[0]) || (s.Length > 1 && s[0] is '-' or '+' or '.' && char.IsDigit(s[1])) || s == "—")
        && !s.Any(ch => char.IsLetter(ch) && ch is not ('k' or 'M' or 'G' or 'T' or 'E' or 'e'));

    private const string Style =
        "body{font-family:sans-serif;color:#222;margin:24px auto;max-width:1240px;padding:0 16px;line-height:1.4}" +
        "h1{font-size:24px;margin:0 0 4px}h2{font-size:19px;margin:32px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}" +
        ".sub{color:#555;margin:0 0 12px}.absent{color:#666;font-style:italic}" +
        "nav ul{list-style:none;padding:0;margin:8px 0 16px;display:flex;flex-wrap:wrap;gap:4px 16px}nav a{color:#1f5fa8}" +
        "table{border-collapse:collapse;margin:8px 0 16px;font-size:13px}caption{text-align:left;color:#555;padding:2px 0 4px}" +
        "th,td{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}th{background:#f4f6f8}" +
        "td.n{text-align:right;font-variant-numeric:tabular-nums}" +
        "figure{display:inline-block;margin:8px 20px 16px 0;vertical-align:top}figcaption{color:#555;font-size:13px;max-width:580px}" +
        "details{margin:8px 0}summary{cursor:pointer;color:#1f5fa8}pre{background:#f6f6f6;padding:8px;overflow:auto;font-size:12px}" +
        "svg{display:block}a{color:#1f5fa8}";
}
