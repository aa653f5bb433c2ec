using System.Formats.Tar;

namespace SparseSwitch.Data.Download;

/// <summary>
/// Downloads a named data set into a folder: each file from the first mirror that delivers it
/// with the published checksum (or only from <c>mirror</c> when given), then, for archive
/// distributions (CIFAR), extracts the data members into the folder, each written to a ".part"
/// file and renamed when complete. Running it again skips what is already present and verified.
/// </summary>
public static class DatasetDownloader
{
    /// <summary>Downloads data set <paramref name="name"/> into <paramref name="dir"/>. Returns the
    /// paths of the data files now present.</summary>
    public static IReadOnlyList<string> Download(string name, string dir, string? mirror = null,
        DownloadOptions? options = null, CancellationToken cancel = default) =>
        Download(DownloadCatalog.Get(name), dir, mirror, options, cancel);

    public static IReadOnlyList<string> Download(DownloadSpec spec, string dir, string? mirror = null,
        DownloadOptions? options = null, CancellationToken cancel = default)
    {
        options ??= DownloadOptions.Default;
        Directory.CreateDirectory(dir);
        var mirrors = mirror is null ? spec.Mirrors : [mirror];
        var bases = mirrors.Select(ParseBase).ToList();

        if (spec.Archive is { } layout)
        {
            var outputs = layout.Members.Values.Select(f => Path.Combine(dir, f)).ToList();
            if (outputs.All(File.Exists))
            {
                options.Log?.Invoke($"{spec.Name}: all files already extracted in {dir}");
                return outputs;
            }
        }

        var failures = new List<string>();
        var present = new List<string>();
        using var downloader = new FileDownloader(options);
        foreach (var file in spec.Files)
        {
            string dest = Path.Combine(dir, file.Name);
            DownloadException? error = null;
            foreach (var b in bases)
            {
                try
                {
                    downloader.Download(new Uri(b, file.Name), dest, file.Md5, file.Size, cancel);
                    error = null;
                    break;
                }
                catch (DownloadException e)
                {
                    error = e;
                    options.Log?.Invoke(e.Message);
                }
            }
            if (error is not null) failures.Add(error.Message);
            else present.Add(dest);
        }
        if (failures.Count > 0)
            throw new DownloadException($"{spec.Name}: {failures.Count} of {spec.Files.Count} files could not be downloaded:\n  " +
                string.Join("\n  ", failures));

        if (spec.Archive is { } archive)
            return Extract(Path.Combine(dir, archive.ArchiveName), archive, dir, options);
        return present;
    }

    private static Uri ParseBase(string url)
    {
        if (!Uri.TryCreate(url.EndsWith('/') ? url : url + "/", UriKind.Absolute, out var u) ||
            (u.Scheme != Uri.UriSchemeHttp && u.Scheme != Uri.UriSchemeHttps))
            throw new ArgumentException($"Mirror '{url}' is not an http:// or https:// URL.");
        return u;
    }

    /// <summary>Extracts the layout's members (regular files only, matched by exact member path;
    /// nothing else in the archive is written) from a .tar.gz.</summary>
    public static IReadOnlyList<string> Extract(string archivePath, ArchiveLayout layout, string dir, DownloadOptions options)
    {
        var done = new List<string>();
        var (stream, _, _) = DataSource.Open(archivePath);
        using (stream)
        {
            try
            {
                using var tar = new TarReader(stream);
                while (tar.GetNextEntry() is { } entry)
                {
                    string key = entry.Name.Replace('\\', '/').TrimStart('.', '/');
                    if (!layout.Members.TryGetValue(key, out var local)) continue;
                    if (entry.EntryType is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile))
                        throw new DataFormatException(archivePath, $"member {entry.Name}", $"expected a regular file, found {entry.EntryType}");
                    string dest = Path.Combine(dir, local), part = dest + ".part";
                    using (var output = new FileStream(part, FileMode.Create, FileAccess.Write))
                    {
                        entry.DataStream?.CopyTo(output);
                        output.Flush(flushToDisk: true);
                    }
                    File.Move(part, dest, overwrite: true);
                    done.Add(dest);
                    options.Log?.Invoke($"extracted {local}");
                }
            }
            catch (InvalidDataException e)
            {
                throw new DataFormatException(archivePath, "archive", $"corrupt tar.gz ({e.Message})", e);
            }
        }
        var missing = layout.Members.Where(m => !done.Contains(Path.Combine(dir, m.Value))).Select(m => m.Key).ToList();
        if (missing.Count > 0)
            throw new DataFormatException(archivePath, "archive members", $"expected {string.Join(", ", missing)} in the archive; not found");
        return done;
    }
}
