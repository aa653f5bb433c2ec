using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace SparseSwitch.Bench;

/// <summary>
/// Measures named variants of one case interleaved in one process: a warm-up of each, then
/// rounds that run every variant once in turn (so machine noise hits all of them alike), and
/// the median of each variant's round times. Prints a table and, with --json PATH, appends one
/// JSON object per measurement: bench, case, ours, baseline, unit, ratio (ours relative to the
/// baseline, higher is better), plus the median times.
/// </summary>
public sealed class Harness
{
    public BenchOptions Options { get; }
    private readonly List<Row> _rows = [];
    private string _bench = "";

    public Harness(BenchOptions options) => Options = options;

    /// <summary>One variant: a name and an action that runs the measured work once.</summary>
    /// <summary>A variant to time; <paramref name="Before"/> and <paramref name="After"/> run around each
    /// of its warm-up and timed samples, untimed (e.g. resuming and pausing a peer process).</summary>
    public readonly record struct Variant(string Name, Action Run, Action? Before = null, Action? After = null);

    /// <summary>The result of measuring one case: median seconds per run of each variant (the
    /// fastest sample instead with --fastest).</summary>
    public sealed class Timing
    {
        public required string[] Names { get; init; }
        public required double[] MedianSeconds { get; init; }
        public double this[string name] => MedianSeconds[Array.IndexOf(Names, name)];
    }

    private sealed record Row(string Bench, string Case, double Ours, double? Baseline, string Unit, bool HigherIsBetter,
        double OursSeconds, double? BaselineSeconds, string? Note);

    public void BeginBench(string name) => _bench = name;



    /// <summary>Warm-up, then <c>rounds</c> rounds alternating between the variants; each sample is
    /// the mean over enough repetitions to last at least <c>minSampleSeconds</c>.</summary>
    public Timing Measure(params Variant[] variants)
    {
        int rounds = Options.Quick ? 5 : Options.Rounds;
        double minSample = Options.SampleSeconds ?? (Options.Quick ? 0.02 : 0.1);
        var reps = new int[variants.Length];
        // Warm-up (JIT tiers, caches, thread pool) and calibration of repetitions per sample.
        for (int v = 0; v < variants.Length; v++)
        {
            variants[v].Before?.Invoke();
            for (int i = 0; i < 3; i++) variants[v].Run();
            double once = TimeOnce(variants[v].Run, 1);
            variants[v].After?.Invoke();
            reps[v] = Math.Max(1, (int)Math.Ceiling(minSample / Math.Max(once, 1e-7)));
        }
        var samples = new double[variants.Length][];
        for (int v = 0; v < variants.Length; v++) samples[v] = new double[rounds];
        for (int r = 0; r < rounds; r++)
        {
            // Alternate the order each round so neither side always runs first.
            for (int i = 0; i < variants.Length; i++)
            {
                int v = r % 2 == 0 ? i : variants.Length - 1 - i;
                variants[v].Before?.Invoke();
                samples[v][r] = TimeOnce(variants[v].Run, reps[v]) / reps[v];
                variants[v].After?.Invoke();
            }
        }
        return new Timing
        {
            Names = variants.Select(v => v.Name).ToArray(),
            MedianSeconds = samples.Select(x => Options.Fastest ? x.Min() : Median(x)).ToArray(),
        };
    }

    private double TimeOnce(Action run, int reps)
    {
        if (Options.ThreadCpu)
        {
            double c0 = ThreadCpuSeconds();
            for (int i = 0; i < reps; i++) run();
            return ThreadCpuSeconds() - c0;
        }
        long t0 = Stopwatch.GetTimestamp();
        for (int i = 0; i < reps; i++) run();
        return Stopwatch.GetElapsedTime(t0).TotalSeconds;
    }

    private struct Timespec { public long Seconds, Nanoseconds; }
    [DllImport("libc", EntryPoint = "clock_gettime")] private static extern int ClockGetTime(int clock, out Timespec ts);
    private const int ClockThreadCpuTime = 3;

    /// <summary>CPU time of the calling thread (Linux): time spent waiting for a core is not counted.</summary>
    private static double ThreadCpuSeconds()
    {
        if (ClockGetTime(ClockThreadCpuTime, out var ts) != 0) throw new InvalidOperationException("clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed.");
        return ts.Seconds + ts.Nanoseconds * 1e-9;
    }

    private static double Median(double[] x)
    {
        var s = (double[])x.Clone();
        Array.Sort(s);
        return s.Length % 2 == 1 ? s[s.Length / 2] : 0.5 * (s[s.Length / 2 - 1] + s[s.Length / 2]);
    }

    /// <summary>Records a throughput figure (e.g. GFLOP/s): ratio = ours / baseline.</summary>
    public void ReportThroughput(string caseName, double ours, double? baseline, string unit,
        double oursSeconds, double? baselineSeconds, string? note = null)
        => _rows.Add(new Row(_bench, caseName, ours, baseline, unit, true, oursSeconds, baselineSeconds, note));

    /// <summary>Records a time figure in the given unit: ratio = baseline time / our time.</summary>
    public void ReportTime(string caseName, double ours, double? baseline, string unit, string? note = null)
        => _rows.Add(new Row(_bench, caseName, ours, baseline, unit, false, double.NaN, null, note));

    private static double? Ratio(Row r) => r.Baseline is double b && b > 0 && r.Ours > 0
        ? (r.HigherIsBetter ? r.Ours / b : b / r.Ours) : null;

    /// <summary>Prints the table of everything recorded and writes the JSON lines if asked.</summary>
    public void Finish()
    {
        if (_rows.Count == 0) return;
        int cw = Math.Max(4, _rows.Max(r => r.Case.Length));
        var sb = new StringBuilder();
        sb.AppendLine($"{"case".PadRight(cw)}  {"ours",12}  {"baseline",12}  {"unit",-8}  {"ratio",7}  note");
        sb.AppendLine(new string('-', cw + 50));
        foreach (var r in _rows)
        {
            string baseline = r.Baseline is double b ? Fmt(b) : "-";
            string ratio = Ratio(r) is double q ? q.ToString("0.00", CultureInfo.InvariantCulture) : "-";
            sb.AppendLine($"{r.Case.PadRight(cw)}  {Fmt(r.Ours),12}  {baseline,12}  {r.Unit,-8}  {ratio,7}  {r.Note}");
        }
        Console.Write(sb.ToString());
        if (Options.JsonPath is { } path)
        {
            if (Path.GetDirectoryName(Path.GetFullPath(path)) is { } dir) Directory.CreateDirectory(dir);
            using var w = new StreamWriter(path, append: true);
            foreach (var r in _rows)
            {
                var obj = new Dictionary<string, object?>
                {
                    ["bench"] = r.Bench, ["case"] = r.Case, ["ours"] = r.Ours, ["baseline"] = r.Baseline,
                    ["unit"] = r.Unit, ["ratio"] = Ratio(r),
                };
                if (!double.IsNaN(r.OursSeconds)) obj["ours_s"] = r.OursSeconds;
                if (r.BaselineSeconds is double bs) obj["baseline_s"] = bs;
                if (r.Note is not null) obj["note"] = r.Note;
                w.WriteLine(JsonSerializer.Serialize(obj));
            }
            Console.WriteLine($"JSON lines appended to {path}");
        }
        _rows.Clear();
    }

    private static string Fmt(double x) => x.ToString(Math.Abs(x) >= 100 ? "0.0" : Math.Abs(x) >= 1 ? "0.00" : "0.0000", CultureInfo.InvariantCulture);
}
