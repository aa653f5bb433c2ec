using System.CommandLine;
using SparseSwitch.Data;
using SparseSwitch.Data.Download;

namespace SparseSwitch.Cli.Commands;

/// <summary><c>sparseswitch data download NAME --dir DIR [--mirror URL]</c>,
/// <c>sparseswitch data info DIR</c> and <c>sparseswitch data list</c>.</summary>
public static class DataCommands
{
    public static Command Build()
    {
        var data = new Command("data", "Download and inspect the image data sets.");
        data.Subcommands.Add(BuildDownload());
        data.Subcommands.Add(BuildInfo());
        data.Subcommands.Add(BuildList());
        return data;
    }

    private static Command BuildDownload()
    {
        var name = new Argument<string>("name") { Description = $"Data set: {string.Join(", ", DownloadCatalog.All.Select(d => d.Name))}." };
        var dir = new Option<string>("--dir") { Description = "Folder to download into (created if needed). Default: data/NAME." };
        var mirror = new Option<string?>("--mirror") { Description = "Base URL to download from instead of the canonical mirrors." };
        var timeout = new Option<double>("--timeout")
        {
            Description = "Seconds without data before a transfer counts as stalled (and is retried, resuming).",
            DefaultValueFactory = _ => 30,
        };
        var c = new Command("download", "Download a data set from its canonical mirrors, verifying the published checksums; " +
                                        "interrupted downloads resume.") { name, dir, mirror, timeout };
        c.SetAction(parse =>
        {
            string n = parse.GetValue(name)!;
            DownloadSpec spec;
            try { spec = DownloadCatalog.Get(n); }
            catch (ArgumentException e) { throw new UsageException(e.Message); }
            double t = parse.GetValue(timeout);
            if (!(t > 0)) throw new UsageException($"--timeout must be a positive number of seconds, got {t}.");
            string target = parse.GetValue(dir) ?? Path.Combine("data", spec.Name);
            var options = new DownloadOptions
            {
                StallTimeout = TimeSpan.FromSeconds(t),
                ConnectTimeout = TimeSpan.FromSeconds(Math.Max(t, 10)),
                Log = Console.WriteLine,
            };
            var files = DatasetDownloader.Download(spec, target, parse.GetValue(mirror), options);
            Console.WriteLine($"{spec.Name}: {files.Count} files ready in {Path.GetFullPath(target)}");
            return 0;
        });
        return c;
    }

    private static Command BuildInfo()
    {
        var dir = new Argument<string>("dir") { Description = "A data folder (as written by 'data download')." };
        var c = new Command("info", "Print what a data folder holds: files and checksums, shapes, counts per class.") { dir };
        c.SetAction(parse =>
        {
            Console.Write(DatasetInspector.Describe(parse.GetValue(dir)!));
            return 0;
        });
        return c;
    }

    private static Command BuildList()
    {
        var c = new Command("list", "List the known data sets and where they download from.");
        c.SetAction(_ =>
        {
            foreach (var s in DatasetCatalog.All)
            {
                string from = s.Format == DatasetFormat.Synthetic ? "built in (no download)"
                    : string.Join(" | ", DownloadCatalog.Get(s.Name).Mirrors);
                Console.WriteLine($"{s.Name,-14} {s.Channels}×{s.Height}×{s.Width}, {s.NumClasses} classes, " +
                                  $"{s.TrainCount:N0} train / {s.TestCount:N0} test — {from}");
            }
            return 0;
        });
        return c;
    }
}
