namespace SparseSwitch.Cli.Reports;

/// <summary>What <see cref="ReportWriter.Write"/> wrote: the file, whether it describes a run or an
/// experiment, and the ids of its charts.</summary>
internal sealed record ReportResult(string File, bool Experiment, IReadOnlyList<string> Charts);

/// <summary>
/// Builds report.html for a run folder or an experiment folder (told apart by their files) and
/// writes it atomically. A folder that is neither is a usage error naming the folder and what it
/// lacks.
/// </summary>
internal static class ReportWriter
{
    public const string FileName = "report.html";

    public static ReportResult Write(string folder, string? outFile = null)
    {
        if (!Directory.Exists(folder))
            throw new UsageException(File.Exists(folder)
                ? $"{folder}: is a file; give a run folder (recipe.json, metrics.jsonl) or an experiment folder (recipe.json and run folders)."
                : $"{folder}: no such folder.");
        string html;
        List<string> charts;
        bool experiment;
        if (RunData.IsRunFolder(folder))
        {
            var run = RunData.Load(folder);
            var page = RunReport.Build(run);
            (html, charts, experiment) = (page.Render(RunReport.Subtitle(run)), page.Charts, false);
        }
        else if (ExperimentData.IsExperimentFolder(folder))
        {
            var exp = ExperimentData.Load(folder);
            var page = ExperimentReport.Build(exp);
            (html, charts, experiment) = (page.Render(ExperimentReport.Subtitle(exp)), page.Charts, true);
        }
        else throw new UsageException($"{folder}: not a run or experiment folder: {Missing(folder)}");

        string file = outFile ?? Path.Combine(folder, FileName);
        if (Path.GetDirectoryName(Path.GetFullPath(file)) is { } parent && !Directory.Exists(parent))
            throw new UsageException($"--out: {file}: the folder {parent} does not exist.");
        WriteAtomically(file, html);
        return new ReportResult(file, experiment, charts);
    }

    /// <summary>Writes a temporary file beside <paramref name="file"/> and renames it into place;
    /// on failure the temporary file is removed and the old page (if any) is left as it was.</summary>
    private static void WriteAtomically(string file, string text)
    {
        string tmp = file + ".tmp-" + Environment.ProcessId;
        try
        {
            File.WriteAllText(tmp, text);
            File.Move(tmp, file, overwrite: true);
        }
        catch
        {
            File.Delete(tmp);
            throw;
        }
    }

    /// <summary>Writes the report at the end of a run or experiment; a failure is a warning on
    /// <paramref name="warnings"/>, never an error (the run's outcome stands). Returns the file or null.</summary>
    public static string? TryWrite(string folder, TextWriter warnings)
    {
        try { return Write(folder).File; }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            warnings.WriteLine($"warning: {Path.Combine(folder, FileName)} not written ({e.Message}); 'sparseswitch report {folder}' tries again.");
            return null;
        }
    }

    private static string Missing(string folder)
    {
        bool recipe = File.Exists(Path.Combine(folder, "recipe.json"));
        if (!recipe)
            return "it holds no recipe.json (a run folder holds recipe.json and metrics.jsonl, as 'sparseswitch train --out DIR' writes them; " +
                "an experiment folder holds recipe.json and one run folder per approach and seed).";
        return "it holds recipe.json but no metrics.jsonl, and no run folder (with recipe.json and metrics.jsonl) inside.";
    }
}
