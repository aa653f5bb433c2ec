using System.Globalization;
using SparseSwitch.Training;

namespace SparseSwitch.Cli;

/// <summary>
/// <c>train --iteration-log</c>: every iteration's training loss in RUN/iterations.csv
/// (<c>t,subnet,spec,loss</c>; the loss as the round-trip text of the float; in a data-parallel job
/// the loss of the global batch). A resumed run first drops the lines at and after the iteration it
/// continues from, so the file is what an uninterrupted run writes. In mode independent each
/// sub-net's run counts its own iterations.
/// </summary>
internal sealed class IterationLog : IDisposable
{
    private readonly string _path;
    private StreamWriter? _writer;

    public IterationLog(string runFolder) => _path = Path.Combine(runFolder, "iterations.csv");

    /// <summary>Hooks a trainer (pass as <c>onTrainer</c>).</summary>
    public void Attach(AlternatingTrainer tr)
    {
        var specs = tr.Subnets.Select(s => s.ToString()).ToArray();
        bool first = true;
        tr.OnIteration += (t, k, loss) =>
        {
            if (first)
            {
                first = false;
                Open(t, specs);
            }
            _writer!.Write(string.Create(CultureInfo.InvariantCulture, $"{t},{k},{specs[k]},{loss:R}\n"));
        };
    }

    /// <summary>Keeps the lines before iteration <paramref name="t"/> of these sub-nets (and every line
    /// of other sub-runs), then appends.</summary>
    private void Open(long t, string[] specs)
    {
        _writer?.Dispose();
        var keep = File.Exists(_path)
            ? File.ReadAllLines(_path).Skip(1).Where(l =>
            {
                var f = l.Split(',');
                return f.Length == 4 && !(specs.Contains(f[2]) && long.Parse(f[0], CultureInfo.InvariantCulture) >= t);
            }).ToList()
            : [];
        RunFolder.WriteAtomically(_path, "t,subnet,spec,loss\n" + string.Concat(keep.Select(l => l + "\n")));
        _writer = new StreamWriter(_path, append: true);
    }

    public void Dispose() => _writer?.Dispose();
}
