using System.Globalization;

namespace SparseSwitch.Cli.Reports;

/// <summary>Numbers as the report tables write them (invariant culture; "—" for a missing value).</summary>
internal static class Fmt
{
    private static readonly CultureInfo C = CultureInfo.InvariantCulture;

    public static string F(double v, int decimals) => double.IsFinite(v) ? v.ToString("F" + decimals, C) : "—";
    public static string Pct(double fraction, int decimals = 2) => double.IsFinite(fraction) ? (100 * fraction).ToString("F" + decimals, C) : "—";
    public static string I(long v) => v.ToString("N0", C);

    /// <summary>Large counts with a k/M/G/T suffix and three significant figures (1.23G).</summary>
    public static string Si(double v)
    {
        if (!double.IsFinite(v)) return "—";
        double a = Math.Abs(v);
        (double div, string suffix) = a >= 1e12 ? (1e12, "T") : a >= 1e9 ? (1e9, "G") : a >= 1e6 ? (1e6, "M") : a >= 1e3 ? (1e3, "k") : (1, "");
        double x = v / div;
        return (Math.Abs(x) >= 100 ? x.ToString("F0", C) : Math.Abs(x) >= 10 ? x.ToString("F1", C) : x.ToString("F2", C)) + suffix;
    }

    /// <summary>An enum value as recipes write it (InnerGroup → inner-group).</summary>
    public static string Kebab(string name) => System.Text.Json.JsonNamingPolicy.KebabCaseLower.ConvertName(name);

    /// <summary>A parameter path without its trailing ".weight" (the layer's name in charts).</summary>
    public static string Layer(string path) => path.EndsWith(".weight", StringComparison.Ordinal) ? path[..^".weight".Length] : path;
}
