using System.Diagnostics;
using System.Globalization;
using Spectre.Console;
using Spectre.Console.Rendering;
using SparseSwitch.Training;

namespace SparseSwitch.Cli;

/// <summary>
/// Live progress of a training run on a terminal (Spectre.Console): a bar for the epoch in progress
/// with its rate and the time left in the epoch and in the run, and a table with a row per sub-net
/// (running training loss of this epoch, the last epoch's test loss and accuracy, the best accuracy,
/// density), the correction's projections, the last epochs' result lines and the run's messages.
/// The display stays on the screen when the run ends. Not for redirected output: there the plain
/// lines are printed instead (see <c>train</c>).
/// </summary>
internal sealed class LiveProgress : ITrainingProgress
{
    private const int BarWidth = 24, HistoryLines = 4, MessageLines = 4;
    private static readonly TimeSpan RefreshEvery = TimeSpan.FromMilliseconds(150);

    private sealed class SubnetRow
    {
        public required string Run;
        public required string Name;
        public double LossSum;
        public long LossCount;
        public EpochMetrics? Last;
        public double Best = double.NaN;
    }

    private readonly IAnsiConsole _console;
    private readonly List<string> _messages = [];
    private readonly List<string> _history = [];
    private readonly List<SubnetRow> _rows = [];
    private readonly Stopwatch _epochClock = new();
    private LiveDisplayContext? _context;
    private string _tag = "";
    private TimeSpan _lastRefresh;
    private string _key = "";
    private int _rowBase, _epoch, _epochs, _firstBatch, _batches, _batchSize, _done;
    private (long Fired, long Tested)? _projections;

    public LiveProgress(IAnsiConsole console) => _console = console;

    /// <summary>Runs <paramref name="body"/> (the training) with the display live around it.</summary>
    public T Run<T>(Func<T> body)
    {
        T result = default!;
        _console.Live(Render()).AutoClear(false).Overflow(VerticalOverflow.Ellipsis).Cropping(VerticalOverflowCropping.Top)
            .Start(ctx =>
            {
                _context = ctx;
                try { result = body(); }
                finally { Refresh(force: true); _context = null; }
            });
        return result;
    }

    public void Message(string line)
    {
        _messages.Add(line);
        if (_messages.Count > MessageLines) _messages.RemoveAt(0);
        Refresh(force: true);
    }

    public void EpochStarted(string run, string tag, SubnetList subnets, int epoch, int epochs, int firstBatch, int batches, int batchSize)
    {
        // A row per sub-net of each run (and sub-run of mode independent) met so far.
        string key = run + "\n" + tag;
        _tag = tag;
        if (key != _key || _rows.Count == 0)
        {
            _key = key;
            _rowBase = _rows.Count;
            foreach (var s in subnets) _rows.Add(new SubnetRow { Run = Path.GetFileName(Path.TrimEndingDirectorySeparator(run)), Name = tag.Length > 0 ? tag.Trim() : s.ToString() });
        }
        (_epoch, _epochs, _firstBatch, _batches, _batchSize, _done) = (epoch, epochs, firstBatch, batches, batchSize, firstBatch);
        for (int i = _rowBase; i < _rows.Count; i++) { _rows[i].LossSum = 0; _rows[i].LossCount = 0; }
        _epochClock.Restart();
        _lastRefresh = TimeSpan.Zero;
        Refresh(force: true);
    }

    public void Iteration(long t, int subnet, float loss)
    {
        _done = (int)Math.Clamp(t + 1 - (long)_epoch * _batches, 0, _batches);
        var row = _rows[_rowBase + subnet];
        row.LossSum += loss;
        row.LossCount++;
        Refresh(force: false);
    }

    public void EpochEnded(string tag, int epoch, int epochs, IReadOnlyList<EpochMetrics> metrics, (long Fired, long Tested)? projections, double wallSeconds)
    {
        _done = _batches;
        _projections = projections;
        foreach (var m in metrics)
        {
            var row = _rows[_rowBase + m.Subnet];
            row.Last = m;
            if (!(row.Best >= m.TestAccuracy)) row.Best = m.TestAccuracy;
        }
        var c = CultureInfo.InvariantCulture;
        _history.Add(string.Create(c, $"{tag}epoch {epoch + 1}/{epochs} ({wallSeconds:F1} s): ") + string.Join("  ", metrics.Select(m =>
            string.Create(c, $"[{m.Spec}] loss {m.TrainLoss:F3} acc {100 * m.TestAccuracy:F2}% density {m.DensityPrunable:F4}"))));
        if (_history.Count > HistoryLines) _history.RemoveAt(0);
        Refresh(force: true);
    }

    private void Refresh(bool force)
    {
        if (_context is null) return;
        var now = _epochClock.Elapsed;
        if (!force && now - _lastRefresh < RefreshEvery) return;
        _lastRefresh = now;
        _context.UpdateTarget(Render());
    }

    private IRenderable Render()
    {
        var c = CultureInfo.InvariantCulture;
        var parts = new List<IRenderable>();
        foreach (string m in _messages) parts.Add(new Markup($"[grey]{Markup.Escape(m)}[/]"));
        foreach (string h in _history) parts.Add(new Markup(Markup.Escape(h)));
        if (_rows.Count > 0)
        {
            bool runs = _rows.Select(r => r.Run).Distinct().Count() > 1;
            var table = new Table().Border(TableBorder.Rounded);
            if (runs) table.AddColumn("run");
            table.AddColumn("sub-net").AddColumn(new TableColumn("train loss (epoch)").RightAligned())
                .AddColumn(new TableColumn("test loss").RightAligned()).AddColumn(new TableColumn("test acc").RightAligned())
                .AddColumn(new TableColumn("best acc").RightAligned()).AddColumn(new TableColumn("density").RightAligned());
            foreach (var r in _rows)
            {
                string running = r.LossCount > 0 ? (r.LossSum / r.LossCount).ToString("F4", c) : "–";
                string[] cells = [Markup.Escape(r.Name), running,
                    r.Last is { } m ? m.TestLoss.ToString("F4", c) : "–",
                    r.Last is { } a ? (100 * a.TestAccuracy).ToString("F2", c) + " %" : "–",
                    double.IsNaN(r.Best) ? "–" : (100 * r.Best).ToString("F2", c) + " %",
                    r.Last is { } d ? d.DensityPrunable.ToString("F4", c) : "–"];
                table.AddRow(runs ? [Markup.Escape(r.Run), .. cells] : cells);
            }
            if (_projections is var (fired, tested))
                table.Caption(string.Create(c, $"gradient projections {fired:N0} of {tested:N0} tested ({(tested > 0 ? 100.0 * fired / tested : 0):F1} %)"));
            parts.Add(table);
        }
        if (_batches > 0) parts.Add(new Markup(Bar()));
        return new Rows(parts);
    }

    private string Bar()
    {
        var c = CultureInfo.InvariantCulture;
        double frac = _batches == 0 ? 0 : (double)_done / _batches;
        int filled = (int)Math.Round(frac * BarWidth);
        double seconds = _epochClock.Elapsed.TotalSeconds;
        double rate = seconds > 0 ? (_done - _firstBatch) / seconds : 0;
        string eta = rate > 0 ? Time((_batches - _done) / rate) : "–";
        string runEta = rate > 0 ? Time(((double)(_epochs - _epoch - 1) * _batches + _batches - _done) / rate) : "–";
        return string.Create(c, $"[bold]{Markup.Escape(_tag)}epoch {_epoch + 1}/{_epochs}[/] [green]{new string('━', filled)}[/][grey]{new string('━', BarWidth - filled)}[/] ") +
            string.Create(c, $"{100 * frac,3:F0} % {_done}/{_batches} · {rate:F1} it/s · {rate * _batchSize:F0} img/s · ETA {eta} (run {runEta})");
    }

    private static string Time(double seconds) =>
        TimeSpan.FromSeconds(Math.Round(seconds)).ToString(seconds >= 3600 ? @"h\:mm\:ss" : @"m\:ss", CultureInfo.InvariantCulture);
}
