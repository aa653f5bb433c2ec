namespace SparseSwitch.Training;

/// <summary>
/// The files of one run: recipe.json (the resolved recipe), metrics.jsonl and metrics.csv (one row
/// per sub-net per epoch), checkpoint.safetensors (latest epoch end, written atomically) and
/// log.txt (the progress lines). On resume the metric files are cut back to the epochs the
/// checkpoint covers, so a resumed run's files match an uninterrupted run's.
/// </summary>
public sealed class RunFolder
{
    public string Path { get; }
    public string RecipeFile => System.IO.Path.Combine(Path, "recipe.json");
    public string MetricsJsonl => System.IO.Path.Combine(Path, "metrics.jsonl");
    public string MetricsCsv => System.IO.Path.Combine(Path, "metrics.csv");
    public string CheckpointFile => System.IO.Path.Combine(Path, "checkpoint.safetensors");
    public string LogFile => System.IO.Path.Combine(Path, "log.txt");

    public RunFolder(string path)
    {
        Path = path;
        Directory.CreateDirectory(path);
    }

    /// <summary>A folder this process reads but does not write (the ranks other than 0 of a
    /// data-parallel job): every write is skipped.</summary>
    public bool ReadOnly { get; init; }

    /// <summary>An existing run folder (not created when missing: that is an error).</summary>
    public static RunFolder Open(string path)
    {
        if (!Directory.Exists(path)) throw new DirectoryNotFoundException($"{path}: no such run folder.");
        return new RunFolder(path);
    }

    /// <summary>The checkpoint file, which must exist.</summary>
    public string RequireCheckpoint() =>
        File.Exists(CheckpointFile) ? CheckpointFile
            : throw new FileNotFoundException($"{Path}: no checkpoint.safetensors; train first (sparseswitch train --out {Path}).");

    public void WriteRecipe(TrainRecipe recipe)
    {
        if (!ReadOnly) WriteAtomically(RecipeFile, recipe.ToJson());
    }

    public TrainRecipe ReadRecipe()
    {
        if (!File.Exists(RecipeFile)) throw new FileNotFoundException($"{RecipeFile}: no recipe in the run folder; nothing to resume.");
        return TrainRecipe.FromJson(File.ReadAllText(RecipeFile));
    }

    /// <summary>Starts fresh metric files.</summary>
    public void ResetMetrics()
    {
        if (ReadOnly) return;
        WriteAtomically(MetricsJsonl, "");
        WriteAtomically(MetricsCsv, EpochMetrics.CsvHeader + "\n");
        WriteAtomically(LogFile, "");
    }

    /// <summary>Keeps only rows of epochs below <paramref name="epoch"/> (resume).</summary>
    public void TruncateMetrics(int epoch)
    {
        if (ReadOnly) return;
        var rows = File.Exists(MetricsJsonl)
            ? File.ReadAllLines(MetricsJsonl).Where(l => l.Length > 0).Select(EpochMetrics.FromJsonLine).Where(m => m.Epoch < epoch).ToList()
            : [];
        WriteAtomically(MetricsJsonl, string.Concat(rows.Select(r => r.ToJsonLine() + "\n")));
        WriteAtomically(MetricsCsv, EpochMetrics.CsvHeader + "\n" + string.Concat(rows.Select(r => r.ToCsvRow() + "\n")));
    }

    public void Append(EpochMetrics m)
    {
        if (ReadOnly) return;
        File.AppendAllText(MetricsJsonl, m.ToJsonLine() + "\n");
        File.AppendAllText(MetricsCsv, m.ToCsvRow() + "\n");
    }

    public void Log(string line)
    {
        if (!ReadOnly) File.AppendAllText(LogFile, line + "\n");
    }

    public IReadOnlyList<EpochMetrics> ReadMetrics() =>
        File.Exists(MetricsJsonl)
            ? File.ReadAllLines(MetricsJsonl).Where(l => l.Length > 0).Select(EpochMetrics.FromJsonLine).ToList()
            : [];

    public static void WriteAtomically(string path, string text)
    {
        string tmp = path + ".tmp-" + Environment.ProcessId;
        File.WriteAllText(tmp, text);
        File.Move(tmp, path, overwrite: true);
    }
}
