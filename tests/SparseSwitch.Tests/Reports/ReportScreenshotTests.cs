using System.Diagnostics;
using SparseSwitch.Cli.Reports;
using SparseSwitch.Tests.Support;
using Xunit;

namespace SparseSwitch.Tests.Reports;

/// <summary>A fact that needs headless Chromium (Debian: apt-get install -y chromium, or CHROMIUM
/// naming the binary); skipped, with the reason, when there is none.</summary>
public sealed class ChromiumFactAttribute : FactAttribute
{
    public ChromiumFactAttribute()
    {
        if (ReportScreenshotTests.Browser() is null)
            Skip = "no Chromium on PATH (apt-get install -y chromium, or set CHROMIUM) to open report.html with";
    }
}

/// <summary>tools/report_screenshot.sh on the report of a real tiny run: Chromium draws every chart,
/// logs nothing to its console, and the screenshot lands beside the page; a page that tries to
/// fetch something is refused by the report's policy, and the script fails on the logged refusal.</summary>
[Collection(ConsoleCollection.Name)]
public sealed class ReportScreenshotTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ss-shot-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    public static string? Browser() =>
        Environment.GetEnvironmentVariable("CHROMIUM") is { Length: > 0 } c ? c
        : new[] { "chromium", "chromium-browser", "google-chrome" }
            .SelectMany(name => (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Select(d => Path.Combine(d, name)))
            .FirstOrDefault(File.Exists);

    private static string Script()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            string s = Path.Combine(d.FullName, "tools", "report_screenshot.sh");
            if (File.Exists(s)) return s;
        }
        throw new FileNotFoundException($"tools/report_screenshot.sh not found above {AppContext.BaseDirectory}");
    }

    private static (int Code, string Out, string Err) Shoot(params string[] args)
    {
        var psi = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(Script());
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(180_000)) { p.Kill(true); throw new TimeoutException("report_screenshot.sh took over 3 minutes"); }
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    [ChromiumFact]
    public void ChromiumDrawsEveryChartOfARunsReportWithoutAConsoleMessage()
    {
        string run = Path.Combine(_dir, "run");
        var (code, _, err) = CliRunner.Run("train", "--model", "lenet5", "--train-limit", "96", "--test-limit", "32", "--batch-size", "32",
            "--subnets", "0.5,0.2", "--epochs", "2", "--prune-start", "0", "--prune-end", "1", "--update-every", "1",
            "--correction", "inner-group", "--out", run);   // every chart: the correction one needs a correction mode
        Assert.True(code == 0, err);
        string page = Path.Combine(run, ReportWriter.FileName), png = Path.Combine(run, "report.png");

        (code, var output, err) = Shoot(page);
        Assert.True(code == 0, err);
        Assert.Contains("8 charts drawn, no console messages", output);
        var bytes = File.ReadAllBytes(png);
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], bytes[..4]);
        Assert.True(bytes.Length > 20_000, $"the screenshot is {bytes.Length} bytes: a blank page?");

        // The same page with an image from elsewhere: refused by the page's policy, and the refusal fails the check.
        string fetching = Path.Combine(_dir, "fetching.html");
        File.WriteAllText(fetching, File.ReadAllText(page).Replace("</h1>", "</h1><img alt=\"x\" src=\"http://192.0.2.1/x.png\"/>"));
        (code, _, err) = Shoot(fetching, Path.Combine(_dir, "fetching.png"));
        Assert.Equal(1, code);
        Assert.Contains("Content Security Policy", err);
    }
}
