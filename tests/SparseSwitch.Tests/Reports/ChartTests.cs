using System.Globalization;
using System.Xml.Linq;
using SparseSwitch.Cli.Reports.Charts;
using Xunit;

namespace SparseSwitch.Tests.Reports;

/// <summary>The report's SVG charts: scales and ticks, and that each chart is well-formed SVG that
/// puts every value where its axes say.</summary>
public sealed class ChartTests
{
    private static double D(string s) => double.Parse(s, CultureInfo.InvariantCulture);

    [Theory]
    [InlineData(0.07, 0.1)]
    [InlineData(0.1, 0.1)]
    [InlineData(0.11, 0.2)]
    [InlineData(3, 5)]
    [InlineData(7, 10)]
    [InlineData(1.9e9, 2e9)]
    public void NiceStepIsTheSmallestOneTwoOrFiveTimesAPowerOfTenAboveTheRawStep(double raw, double nice) =>
        Assert.Equal(nice, Scale.NiceStep(raw), 12);

    [Fact]
    public void ALinearScaleCoversItsDataWithRoundTicks()
    {
        var s = Scale.Linear(9.7, 14.2);
        Assert.True(s.Lo <= 9.7 && s.Hi >= 14.2);
        Assert.Equal([9.0, 10, 11, 12, 13, 14, 15], s.Ticks);
        Assert.Equal(0, s.Fraction(s.Lo), 12);
        Assert.Equal(1, s.Fraction(s.Hi), 12);
        Assert.Equal("12", s.Label(12));
        Assert.Equal(["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"], Scale.Linear(0, 1).Ticks.Select(t => Scale.Linear(0, 1).Label(t)));
        // Epochs: whole numbers only, even over a short range; one value still gets a range.
        Assert.Equal([1.0, 2, 3], Scale.Linear(1, 3, 10, integers: true).Ticks);
        Assert.All(Scale.Linear(4, 4, 10, integers: true).Ticks, t => Assert.Equal(Math.Round(t), t));
        Assert.Equal("1.94G", Scale.Format(1.94e9, 0.01e9));
        // Unsnapped: the range as given, with the round ticks inside it.
        var u = Scale.Linear(-0.05, 1.05, snap: false);
        Assert.Equal((-0.05, 1.05), (u.Lo, u.Hi));
        Assert.Equal([0.0, 0.2, 0.4, 0.6, 0.8, 1.0], u.Ticks);
    }

    [Fact]
    public void ALogScaleTicksAtOneTwoFiveAndAutoPicksItForWideRanges()
    {
        var s = Scale.Log(0.02, 1);
        Assert.Equal([0.02, 0.05, 0.1, 0.2, 0.5, 1], s.Ticks);
        Assert.Equal(0.5, s.Fraction(Math.Sqrt(s.Lo * s.Hi)), 12);
        Assert.Equal(["0.02", "0.05", "0.1", "0.2", "0.5", "1"], s.Ticks.Select(s.Label));
        Assert.Equal(s.Ticks, Scale.Auto([0.02, 0.1, 1.0]).Ticks);
        Assert.Equal(Scale.Linear(0.4, 0.6).Ticks, Scale.Auto([0.4, 0.5, 0.6]).Ticks);
    }

    [Fact]
    public void AnXyChartIsWellFormedSvgWithEachPointWhereItsAxesPutIt()
    {
        var chart = new XyChart { Title = "Test accuracy & loss", XLabel = "epoch", YLabel = "accuracy %", IntegerX = true };
        chart.Series.Add(new Series("a <0.1>", [(1, 50), (2, 60), (3, double.NaN), (4, 80), (5, 85)]) { PointLabels = ["p", "q", "r", "s", "t"] });
        chart.Series.Add(new Series("b", [(1, 40), (4, 70)]) { Color = Palette.Color(1), YError = [5, 0] });
        chart.ReferenceLines.Add(new ReferenceLine("dense", 90, Palette.Color(3)));
        var svg = XElement.Parse(chart.Render());

        Assert.Equal("svg", svg.Name.LocalName);
        Assert.Equal("Test accuracy & loss", svg.Attribute("aria-label")!.Value);
        // The NaN point breaks series a's line in two; series b is one line.
        Assert.Equal(3, svg.Elements("polyline").Count());
        // One marker with a tooltip per finite point (the legend's markers have none).
        var markers = svg.Elements("circle").Where(c => c.Element("title") is not null).ToList();
        Assert.Equal(6, markers.Count);
        Assert.Contains(markers, c => c.Element("title")!.Value == "a <0.1>: epoch 4, accuracy % 80");
        Assert.Contains(markers, c => c.Element("title")!.Value == "b: epoch 1, accuracy % 40 ± 5");
        var texts = svg.Elements("text").Select(t => t.Value).ToList();
        foreach (var t in new[] { "Test accuracy & loss", "epoch", "accuracy %", "a <0.1>", "b", "dense", "p", "s" }) Assert.Contains(t, texts);

        // The frame of the plot, and every marker inside it; higher values sit higher.
        var frame = svg.Elements("rect").First();
        double fx = D(frame.Attribute("x")!.Value), fy = D(frame.Attribute("y")!.Value);
        double fw = D(frame.Attribute("width")!.Value), fh = D(frame.Attribute("height")!.Value);
        double Y(string title) => D(markers.Single(c => c.Element("title")!.Value.StartsWith(title, StringComparison.Ordinal)).Attribute("cy")!.Value);
        Assert.All(markers, c =>
        {
            Assert.InRange(D(c.Attribute("cx")!.Value), fx - 0.2, fx + fw + 0.2);
            Assert.InRange(D(c.Attribute("cy")!.Value), fy - 0.2, fy + fh + 0.2);
        });
        Assert.True(Y("a <0.1>: epoch 4") < Y("a <0.1>: epoch 2") && Y("a <0.1>: epoch 2") < Y("a <0.1>: epoch 1") && Y("a <0.1>: epoch 1") < Y("b: epoch 1"));
        // Equal steps of value are equal steps of pixels (linear y).
        Assert.InRange(Math.Abs(Y("a <0.1>: epoch 1") - Y("a <0.1>: epoch 2") - (Y("b: epoch 4") - Y("a <0.1>: epoch 4"))), 0, 0.2);
        // The reference line spans the plot at y = 90, above every point.
        var dashed = svg.Elements("line").Single(l => l.Attribute("stroke-dasharray")?.Value == "6 4" && D(l.Attribute("x1")!.Value) == fx);
        Assert.True(D(dashed.Attribute("y1")!.Value) < Y("a <0.1>: epoch 4"));
    }

    [Fact]
    public void ABarChartDrawsOneBarPerCategoryAndSeriesWithHeightsInProportion()
    {
        var chart = new BarChart { Title = "Density per layer", YLabel = "density", Categories = ["conv1", "a-rather-long-layer-name.conv2", "fc"] };
        chart.Series.Add(("[0.1]", Palette.Color(0), [0.4, 0.2, double.NaN]));
        chart.Series.Add(("[0.05]", Palette.Color(1), [0.2, 0.1, 0.05]));
        var svg = XElement.Parse(chart.Render());
        var bars = svg.Elements("rect").Where(r => r.Element("title") is not null).ToList();
        Assert.Equal(5, bars.Count);   // the NaN is left out
        double H(string title) => D(bars.Single(b => b.Element("title")!.Value == title).Attribute("height")!.Value);
        Assert.InRange(Math.Abs(2 * H("conv1, [0.05]: 0.2") - H("conv1, [0.1]: 0.4")), 0, 0.3);
        Assert.InRange(Math.Abs(4 * H("fc, [0.05]: 0.05") - H("conv1, [0.05]: 0.2")), 0, 0.5);
        Assert.True(H("fc, [0.05]: 0.05") > 10);
        // The long label does not fit under its group, so every label is turned.
        Assert.All(svg.Elements("text").Where(t => t.Value.StartsWith("conv1") || t.Value == "fc"), t => Assert.Contains("rotate(-45", t.Attribute("transform")!.Value));
    }

    [Fact]
    public void AHeatMapWritesEveryValueInItsCellDarkerForLargerValues()
    {
        var heat = new HeatMap { Title = "overlap", RowLabels = ["a", "b"], ColumnLabels = ["a", "b"], Values = new[,] { { 1, 0.25 }, { 0.5, double.NaN } } };
        var svg = XElement.Parse(heat.Render());
        var cells = svg.Elements("rect").Where(r => r.Element("title") is not null).ToList();
        Assert.Equal(4, cells.Count);
        Assert.Equal(["1.00", "0.25", "0.50"], svg.Elements("text").Select(t => t.Value).Where(v => v.Contains('.')));
        Assert.Equal("#08306b", cells[0].Attribute("fill")!.Value);
        Assert.Equal("#6baed6", cells[2].Attribute("fill")!.Value);
        Assert.Equal("#ddd", cells[3].Attribute("fill")!.Value);
        Assert.Equal("b → a: 0.5000", cells[2].Element("title")!.Value);
    }
}
