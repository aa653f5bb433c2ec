namespace SparseSwitch.Tests.Support;

/// <summary>Where the shared fixtures and data sets are: SPARSESWITCH_FIXTURES / SPARSESWITCH_DATA,
/// else ../shared/... next to the checkout (found by walking up from the test assembly).</summary>
public static class Paths
{
    public static string Fixtures =>
        Environment.GetEnvironmentVariable("SPARSESWITCH_FIXTURES") is { Length: > 0 } f ? f : Shared("fixtures/torch");

    public static string Datasets =>
        Environment.GetEnvironmentVariable("SPARSESWITCH_DATA") is { Length: > 0 } d ? d : Shared("datasets");

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
