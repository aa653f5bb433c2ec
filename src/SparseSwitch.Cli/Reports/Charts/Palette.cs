namespace SparseSwitch.Cli.Reports.Charts;

/// <summary>Series colours (ten well-separated hues, as most plotting libraries use by default) and
/// dash patterns for telling more than ten series apart.</summary>
internal static class Palette
{
    private static readonly string[] Colors =
        ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];

    private static readonly string?[] Dashes = [null, "6 3", "2 2", "8 3 2 3"];

    public static string Color(int i) => Colors[((i % Colors.Length) + Colors.Length) % Colors.Length];

    /// <summary>The dash pattern of series i: solid for the first ten, then dashed, dotted, ….</summary>
    public static string? Dash(int i) => Dashes[(i / Colors.Length) % Dashes.Length];

    private static readonly int[] BlueStops = [247, 251, 255, 107, 174, 214, 8, 48, 107];

    /// <summary>A blue whose depth is given by <paramref name="t"/> in [0, 1]: near white at 0,
    /// mid blue at 0.5, dark blue at 1 (linear between those three).</summary>
    public static string Blue(double t)
    {
        t = double.IsFinite(t) ? Math.Clamp(t, 0, 1) : 0;
        int i = t < 0.5 ? 0 : 3;
        double u = t < 0.5 ? t * 2 : (t - 0.5) * 2;
        int C(int c) => (int)Math.Round(BlueStops[i + c] + (BlueStops[i + 3 + c] - BlueStops[i + c]) * u);
        return $"#{C(0):x2}{C(1):x2}{C(2):x2}";
    }
}
