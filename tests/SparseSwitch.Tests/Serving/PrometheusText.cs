using System.Globalization;
using System.Text;

namespace SparseSwitch.Tests.Serving;

/// <summary>
/// A parser of the Prometheus text exposition format (version 0.0.4): <c># HELP name text</c>,
/// <c># TYPE name counter|gauge|histogram|summary|untyped</c>, and samples
/// <c>name{label="value",…} value [timestamp]</c> (label values with \\, \" and \n escapes; values
/// may be NaN, +Inf, -Inf). It checks what it reads: a malformed line, a sample of a family with no
/// TYPE, a TYPE given twice or after its samples, duplicate label names or series fail with
/// <see cref="FormatException"/> naming the line.
/// </summary>
public sealed class PrometheusText
{
    public sealed record Sample(string Name, IReadOnlyDictionary<string, string> Labels, double Value);

    public Dictionary<string, string> Types { get; } = new(StringComparer.Ordinal);
    public Dictionary<string, string> Help { get; } = new(StringComparer.Ordinal);
    public List<Sample> Samples { get; } = [];

    public static PrometheusText Parse(string text)
    {
        var p = new PrometheusText();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var families = new HashSet<string>(StringComparer.Ordinal);
        int lineNo = 0;
        foreach (var raw in text.Split('\n'))
        {
            lineNo++;
            string line = raw.TrimEnd('\r');
            if (line.Length == 0) continue;
            FormatException Bad(string why) => new($"line {lineNo}: {why}: '{line}'");
            if (line.StartsWith('#'))
            {
                var parts = line.Split(' ', 4);
                if (parts.Length >= 3 && parts[1] == "TYPE")
                {
                    if (parts.Length != 4 || !IsName(parts[2])) throw Bad("malformed TYPE");
                    if (parts[3] is not ("counter" or "gauge" or "histogram" or "summary" or "untyped")) throw Bad("unknown type");
                    if (!p.Types.TryAdd(parts[2], parts[3])) throw Bad("TYPE given twice");
                    if (families.Contains(parts[2])) throw Bad("TYPE after the family's samples");
                }
                else if (parts.Length >= 3 && parts[1] == "HELP")
                {
                    if (!IsName(parts[2])) throw Bad("malformed HELP");
                    p.Help[parts[2]] = parts.Length == 4 ? parts[3] : "";
                }
                continue;
            }
            int i = 0;
            while (i < line.Length && line[i] is not ('{' or ' ')) i++;
            string name = line[..i];
            if (!IsName(name)) throw Bad("bad metric name");
            var labels = new Dictionary<string, string>(StringComparer.Ordinal);
            if (i < line.Length && line[i] == '{')
            {
                i++;
                while (true)
                {
                    if (i < line.Length && line[i] == '}') { i++; break; }
                    int start = i;
                    while (i < line.Length && line[i] != '=') i++;
                    string label = line[start..i];
                    if (!IsName(label) || i + 1 >= line.Length || line[i + 1] != '"') throw Bad("bad label");
                    i += 2;
                    var value = new StringBuilder();
                    while (true)
                    {
                        if (i >= line.Length) throw Bad("unterminated label value");
                        char c = line[i++];
                        if (c == '"') break;
                        if (c == '\\')
                        {
                            if (i >= line.Length) throw Bad("bad escape");
                            char e = line[i++];
                            value.Append(e switch { 'n' => '\n', '\\' => '\\', '"' => '"', _ => throw Bad("bad escape") });
                        }
                        else value.Append(c);
                    }
                    if (!labels.TryAdd(label, value.ToString())) throw Bad("duplicate label");
                    if (i < line.Length && line[i] == ',') i++;
                    else if (i >= line.Length || line[i] != '}') throw Bad("expected , or }");
                }
            }
            if (i >= line.Length || line[i] != ' ') throw Bad("no value");
            var rest = line[(i + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (rest.Length is < 1 or > 2) throw Bad("expected a value and an optional timestamp");
            double v = rest[0] switch
            {
                "NaN" => double.NaN,
                "+Inf" => double.PositiveInfinity,
                "-Inf" => double.NegativeInfinity,
                var s => double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) ? d : throw Bad("bad value"),
            };
            if (rest.Length == 2 && !long.TryParse(rest[1], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out _)) throw Bad("bad timestamp");
            string family = FamilyOf(name, p.Types) ?? throw Bad("sample of a family with no TYPE");
            families.Add(family);
            string key = name + "{" + string.Join(",", labels.OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => l.Key + "=" + l.Value)) + "}";
            if (!seen.Add(key)) throw Bad("duplicate series");
            p.Samples.Add(new Sample(name, labels, v));
        }
        return p;
    }

    private static string? FamilyOf(string name, Dictionary<string, string> types)
    {
        if (types.ContainsKey(name)) return name;
        foreach (var suffix in new[] { "_bucket", "_sum", "_count" })
            if (name.EndsWith(suffix, StringComparison.Ordinal) && types.TryGetValue(name[..^suffix.Length], out var t) && t is "histogram" or "summary")
                return name[..^suffix.Length];
        return null;
    }

    private static bool IsName(string s) =>
        s.Length > 0 && (char.IsAsciiLetter(s[0]) || s[0] is '_' or ':') && s.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or ':');

    /// <summary>The single sample of <paramref name="name"/> carrying these labels (others may be present).</summary>
    public double Value(string name, params (string Label, string Value)[] labels)
    {
        var hits = Samples.Where(s => s.Name == name && labels.All(l => s.Labels.TryGetValue(l.Label, out var v) && v == l.Value)).ToList();
        if (hits.Count != 1) throw new InvalidOperationException($"{hits.Count} samples of {name} with {string.Join(",", labels)}.");
        return hits[0].Value;
    }

    public double ValueOrZero(string name, params (string Label, string Value)[] labels)
    {
        var hits = Samples.Where(s => s.Name == name && labels.All(l => s.Labels.TryGetValue(l.Label, out var v) && v == l.Value)).ToList();
        return hits.Count == 0 ? 0 : hits.Single().Value;
    }
}
