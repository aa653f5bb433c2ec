using System.Diagnostics;

namespace SparseSwitch.Bench;

/// <summary>The repository the benches run in, and child processes they start.</summary>
internal static class Repo
{
    /// <summary>The folder holding SparseSwitch.slnx, above the bench or the current folder.</summary>
    public static string Root()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "SparseSwitch.slnx"))) return d.FullName;
        for (var d = new DirectoryInfo(Directory.GetCurrentDirectory()); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "SparseSwitch.slnx"))) return d.FullName;
        throw new InvalidOperationException("the repository (SparseSwitch.slnx) was not found above the bench or the current folder.");
    }

    /// <summary>Runs a program to its end in <paramref name="dir"/>; returns its exit code.</summary>
    public static int Exec(string file, IEnumerable<string> args, string dir)
    {
        var psi = new ProcessStartInfo(file) { UseShellExecute = false, WorkingDirectory = dir };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        p.WaitForExit();
        return p.ExitCode;
    }

    /// <summary>The path of a program on PATH, or null.</summary>
    public static string? Which(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists);
}
