namespace SparseSwitch.Tests.Support;

/// <summary>Where the test data are. The PyTorch fixtures committed under
/// <c>tests/SparseSwitch.Tests/Fixtures/torch</c> (copied beside the test assembly) are always
/// used; SPARSESWITCH_FIXTURES adds further folders (a list separated by
/// <see cref="Path.PathSeparator"/>), which every fixture test then covers too. The data sets are in
/// SPARSESWITCH_DATA, else ../shared/datasets next to the checkout (found by walking up from the test
/// assembly); tests that need them are skipped, with the reason, when they are absent.</summary>
public static class Paths
{
    /// <summary>The committed fixtures, as copied to the test output folder.</summary>
    public static string CommittedFixtures { get; } = Path.Combine(AppContext.BaseDirectory, "Fixtures", "torch");

    /// <summary>The committed fixture folder, then every folder named in SPARSESWITCH_FIXTURES
    /// (each must exist: a folder asked for and not found is an error, not a silent skip).</summary>
    public static IReadOnlyList<string> FixtureFolders => Folders.Value;

    private static readonly Lazy<List<string>> Folders = new(FindFixtureFolders);

    /// <summary>Every fixture file of every folder, in folder order, then by name.</summary>
    public static IEnumerable<string> FixtureFiles() =>
        FixtureFolders.SelectMany(d => Directory.GetFiles(d, "*.safetensors").OrderBy(f => f, StringComparer.Ordinal));

    /// <summary>A committed fixture file by name (it must exist).</summary>
    public static string Fixture(string name)
    {
        var path = Path.Combine(CommittedFixtures, name);
        if (!File.Exists(path)) throw new FileNotFoundException($"Committed fixture '{path}' not found; regenerate with tools/make_fixtures.py.");
        return path;
    }

    /// <summary>A short name for a fixture file: relative to the test assembly's folder for the
    /// committed ones, else the full path. <see cref="Resolve"/> turns it back into a path.</summary>
    public static string Id(string path)
    {
        var rel = Path.GetRelativePath(AppContext.BaseDirectory, path);
        return rel.StartsWith("..", StringComparison.Ordinal) || Path.IsPathRooted(rel) ? Path.GetFullPath(path) : rel;
    }

    public static string Resolve(string id) => Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, id));

    public static string Datasets =>
        Environment.GetEnvironmentVariable("SPARSESWITCH_DATA") is { Length: > 0 } d ? d : Shared("datasets");

    private static List<string> FindFixtureFolders()
    {
        if (!Directory.Exists(CommittedFixtures))
            throw new DirectoryNotFoundException($"The committed fixture folder '{CommittedFixtures}' is missing (the test project copies Fixtures/torch to its output).");
        var folders = new List<string> { Path.GetFullPath(CommittedFixtures) };
        var extra = Environment.GetEnvironmentVariable("SPARSESWITCH_FIXTURES") ?? "";
        foreach (var f in extra.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var full = Path.GetFullPath(f);
            if (!Directory.Exists(full)) throw new DirectoryNotFoundException($"SPARSESWITCH_FIXTURES names '{f}', which is not a folder.");
            if (!folders.Contains(full, StringComparer.Ordinal)) folders.Add(full);
        }
        return folders;
    }

    private static string Shared(string sub)
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null)
        {
            var candidate = Path.Combine(dir.FullName, "shared", sub);
            if (Directory.Exists(candidate)) return candidate;
            dir = dir.Parent;
        }
        return Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "../../../../../../shared", sub));
    }
}
