using System.Globalization;

namespace SparseSwitch.Cli.Reports.Charts;

/// <summary>
/// Maps data values onto an axis: <see cref="Fraction"/> gives 0 at <see cref="Lo"/> and 1 at
/// <see cref="Hi"/>; <see cref="Ticks"/> are the values that get a grid line and a label.
/// </summary>
internal abstract class Scale
{
    public double Lo { get; protected init; }
    public double Hi { get; protected init; }
    public IReadOnlyList<double> Ticks { get; protected init; } = [];

    public abstract double Fraction(double v);
    public abstract string Label(double tick);

    /// <summary>A linear scale with ticks at whole steps of 1, 2 or 5 × 10^k (about
    /// <paramref name="maxTicks"/> of them; whole numbers only with <paramref name="integers"/>),
    /// over [min, max] widened to whole steps, or with <paramref name="snap"/> false over
    /// [min, max] itself, with the ticks that fall inside.</summary>
    public static Scale Linear(double min, double max, int maxTicks = 6, bool integers = false, bool snap = true) =>
        new LinearScale(min, max, maxTicks, integers, snap);

    /// <summary>A base-10 logarithmic scale over [min, max] (both &gt; 0), padded a little each side,
    /// with ticks at 1, 2 and 5 × 10^k (also 3 when the range is narrow; powers of ten only when it
    /// spans more than three decades).</summary>
    public static Scale Log(double min, double max) => new LogScale(min, max);

    /// <summary>Log when every value is positive and they span a factor of 3 or more; linear otherwise.</summary>
    public static Scale Auto(IReadOnlyCollection<double> values, int maxTicks = 6)
    {
        var finite = values.Where(double.IsFinite).ToList();
        if (finite.Count == 0) return Linear(0, 1, maxTicks);
        double min = finite.Min(), max = finite.Max();
        return min > 0 && max / min >= 3 ? Log(min, max) : Linear(min, max, maxTicks);
    }

    /// <summary>1, 2 or 5 × 10^k, the smallest at least <paramref name="raw"/>.</summary>
    public static double NiceStep(double raw)
    {
        if (!(raw > 0) || !double.IsFinite(raw)) return 1;
        double p = Math.Pow(10, Math.Floor(Math.Log10(raw)));
        foreach (double m in (ReadOnlySpan<double>)[1, 2, 5, 10])
            if (m * p >= raw * (1 - 1e-9)) return m * p;
        return 10 * p;
    }

    /// <summary>A number written with as many decimals as a tick spacing of <paramref name="step"/>
    /// needs, or with a k/M/G/T suffix from 10 000 up.</summary>
    public static string Format(double v, double step)
    {
        var c = CultureInfo.InvariantCulture;
        double a = Math.Abs(v);
        if (a >= 1e4)
        {
            (double div, string suffix) = a >= 1e12 ? (1e12, "T") : a >= 1e9 ? (1e9, "G") : a >= 1e6 ? (1e6, "M") : (1e3, "k");
            int dec = Math.Clamp(-(int)Math.Floor(Math.Log10(step / div) + 1e-9), 0, 3);
            return (v / div).ToString("F" + dec, c) + suffix;
        }
        int decimals = Math.Clamp(-(int)Math.Floor(Math.Log10(step) + 1e-9), 0, 6);
        return v.ToString("F" + decimals, c);
    }

    private sealed class LinearScale : Scale
    {
        private readonly double _step;

        public LinearScale(double min, double max, int maxTicks, bool integers, bool snap)
        {
            if (!double.IsFinite(min) || !double.IsFinite(max)) (min, max) = (0, 1);
            if (min > max) (min, max) = (max, min);
            if (max - min < 1e-12 * Math.Max(1, Math.Abs(max)))
            {
                double pad = integers ? 1 : min == 0 ? 1 : Math.Abs(min) * 0.1;
                (min, max) = (min - pad, max + pad);
            }
            double step = NiceStep((max - min) / Math.Max(1, snap ? maxTicks - 1 : maxTicks));
            if (integers) step = Math.Max(1, Math.Round(step));
            _step = step;
            double first = Math.Ceiling(min / step - 1e-9) * step, last = Math.Floor(max / step + 1e-9) * step;
            Lo = snap ? Math.Floor(min / step + 1e-9) * step : min;
            Hi = snap ? Math.Ceiling(max / step - 1e-9) * step : max;
            if (snap) (first, last) = (Lo, Hi);
            var ticks = new List<double>();
            int digits = Math.Clamp(3 - (int)Math.Floor(Math.Log10(step)), 0, 15);   // 3 × 0.2 is 0.6, not 0.6000000000000001
            for (int i = 0; first + i * step <= last + step * 1e-9; i++) ticks.Add(Math.Round(Math.Round((first + i * step) / step) * step, digits));
            Ticks = ticks;
        }

        public override double Fraction(double v) => (v - Lo) / (Hi - Lo);
        public override string Label(double tick) => Format(tick, _step);
    }

    private sealed class LogScale : Scale
    {
        public LogScale(double min, double max)
        {
            if (!(min > 0) || !(max > 0)) throw new ArgumentException("A logarithmic scale needs values above 0.");
            if (min > max) (min, max) = (max, min);
            Lo = min / 1.3;
            Hi = max * 1.3;
            double decades = Math.Log10(Hi / Lo);
            double[] mantissas = decades > 3 ? [1] : decades < 1 ? [1, 2, 3, 5] : [1, 2, 5];
            var ticks = new List<double>();
            for (int e = (int)Math.Floor(Math.Log10(Lo)); e <= (int)Math.Ceiling(Math.Log10(Hi)); e++)
                foreach (double m in mantissas)
                {
                    double t = double.Parse($"{m}e{e}", CultureInfo.InvariantCulture);   // exact decimal, no 0.30000000000000004
                    if (t >= Lo && t <= Hi) ticks.Add(t);
                }
            Ticks = ticks;
        }

        public override double Fraction(double v) => Math.Log(v / Lo) / Math.Log(Hi / Lo);

        public override string Label(double tick) => tick >= 1e4 ? Format(tick, tick) : tick.ToString("0.######", CultureInfo.InvariantCulture);
    }
}
