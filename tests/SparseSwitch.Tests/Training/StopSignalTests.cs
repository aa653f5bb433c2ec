using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json;
using SparseSwitch.Training;
using Xunit;

namespace SparseSwitch.Tests.Training;

/// <summary>
/// <c>train</c> as its own process, stopped by a signal in the middle of a run: it ends after the
/// batch in progress with exit code 130 and a checkpoint, and <c>train --resume</c> finishes the run.
/// SIGTERM is used (Ctrl-C's SIGINT takes the same path, but a process started in the background
/// of a non-interactive shell inherits SIGINT ignored, so a test cannot rely on it).
/// </summary>
public class StopSignalTests
{
    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int sig);

    private const int SigTerm = 15;

    private static Process Start(params string[] args)
    {
        string cli = Path.Combine(AppContext.BaseDirectory, "SparseSwitch.Cli.dll");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(cli);
        foreach (string a in args) psi.ArgumentList.Add(a);
        return Process.Start(psi)!;
    }

    [Fact]
    public void SigtermStopsAfterTheBatchWithACheckpointAndResumeFinishesTheRun()
    {
        if (!OperatingSystem.IsLinux()) return;
        string dir = Directory.CreateTempSubdirectory("ss-signal-").FullName;
        try
        {
            string run = Path.Combine(dir, "run");
            using var p = Start("train", "--json", "--epochs", "3", "--prune-start", "0", "--prune-end", "2", "--train-limit", "4000", "--test-limit", "200",
                "--threads", "1", "--out", run);
            string? stderr = null;
            var errTask = p.StandardError.ReadToEndAsync();
            // The first epoch's lines, then the signal: the stop falls inside a later epoch.
            var lines = new List<string>();
            string? line;
            while ((line = p.StandardOutput.ReadLine()) is not null)
            {
                lines.Add(line);
                if (lines.Count == 3) { Assert.Equal(0, kill(p.Id, SigTerm)); break; }
            }
            while ((line = p.StandardOutput.ReadLine()) is not null) lines.Add(line);
            Assert.True(p.WaitForExit(60_000), "the stopped run did not exit");
            stderr = errTask.Result;
            Assert.True(p.ExitCode == 130, $"exit {p.ExitCode}: {stderr}");
            Assert.Contains("SIGTERM: stopping after this batch", stderr);
            Assert.Contains("continue with: sparseswitch train --resume --out", stderr);
            using (var last = JsonDocument.Parse(lines[^1])) Assert.True(last.RootElement.GetProperty("stopped").GetBoolean());
            Assert.True(File.Exists(Path.Combine(run, "checkpoint.safetensors")));
            Assert.Contains(File.ReadAllLines(Path.Combine(run, "log.txt")), l => l.StartsWith("stopped ", StringComparison.Ordinal));
            int epochsBefore = new RunFolder(run).ReadMetrics().Select(m => m.Epoch).DefaultIfEmpty(-1).Max() + 1;
            Assert.InRange(epochsBefore, 1, 2);

            using var again = Start("train", "--resume", "--out", run, "--json");
            string output = again.StandardOutput.ReadToEnd();
            string err = again.StandardError.ReadToEnd();
            Assert.True(again.WaitForExit(120_000));
            Assert.True(again.ExitCode == 0, err);
            var metrics = new RunFolder(run).ReadMetrics();
            Assert.Equal([0, 1, 2], metrics.Select(m => m.Epoch).Distinct().Order());
            Assert.Equal(9, metrics.Count);
            Assert.Contains("\"done\":true", output.Replace(" ", ""));
        }
        finally { Directory.Delete(dir, true); }
    }
}
