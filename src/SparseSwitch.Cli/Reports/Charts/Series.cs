namespace SparseSwitch.Cli.Reports.Charts;

/// <summary>One named set of (x, y) points of an <see cref="XyChart"/>: joined by a line and/or
/// drawn as markers, optionally with ± error bars and a short label beside each point. A point
/// whose y is NaN breaks the line there.</summary>
internal sealed record Series(string Name, IReadOnlyList<(double X, double Y)> Points)
{
    public string Color { get; init; } = Palette.Color(0);
    public string? Dash { get; init; }
    public bool Line { get; init; } = true;
    public bool Markers { get; init; } = true;
    /// <summary>Half-height of each point's error bar (same order as the points), or null.</summary>
    public IReadOnlyList<double>? YError { get; init; }
    /// <summary>A label written beside each point (same order as the points), or null.</summary>
    public IReadOnlyList<string>? PointLabels { get; init; }
}

/// <summary>A horizontal reference line across an <see cref="XyChart"/> (for example the dense
/// model's accuracy), named in the legend.</summary>
internal sealed record ReferenceLine(string Name, double Y, string Color);
