using SparseSwitch.Tests.Support;
using Xunit;

namespace SparseSwitch.Tests.Serving;

/// <summary>The <c>serve</c> command's usage errors (exit 2) and file errors, which it reports
/// before it binds a port.</summary>
[Collection(ConsoleCollection.Name)]
public sealed class ServeCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ss-serve-").FullName;
    private string Model => Path.Combine(_dir, "model.safetensors");

    public ServeCommandTests() => ServingFixture.Artifact.Write(Model);

    public void Dispose() => Directory.Delete(_dir, true);

    [Theory]
    [InlineData("--slo-ms is required", "--port", "0")]
    [InlineData("--slo-ms: must be a positive", "--slo-ms", "0")]
    [InlineData("--pin: '5' is not a sub-net of the model file: 0 … 2 (0.5, 0.2, 0.1)", "--slo-ms", "20", "--pin", "5")]
    [InlineData("--pin: '0.3' is not a sub-net", "--slo-ms", "20", "--pin", "0.3")]
    [InlineData("--max-batch: must be 1 … 1024", "--slo-ms", "20", "--max-batch", "0")]
    [InlineData("--queue: must be 1 … 1000000", "--slo-ms", "20", "--queue", "0")]
    [InlineData("--port: must be 0 … 65535", "--slo-ms", "20", "--port", "70000")]
    [InlineData("--host: 'example' is not an IP address", "--slo-ms", "20", "--host", "example")]
    [InlineData("--formats: 'fast' is not one of", "--slo-ms", "20", "--formats", "fast")]
    [InlineData("--threads: must be ≥ 1", "--slo-ms", "20", "--threads", "-1")]
    public void BadOptionsAreUsageErrors(string says, params string[] options)
    {
        var (code, _, err) = CliRunner.Run(["serve", Model, .. options]);
        Assert.Equal(2, code);
        Assert.Contains(says, err);
    }

    [Fact]
    public void AMissingOrDamagedModelFileIsReportedWithItsName()
    {
        string missing = Path.Combine(_dir, "missing.safetensors");
        var (code, _, err) = CliRunner.Run("serve", missing, "--slo-ms", "20");
        Assert.Equal(2, code);
        Assert.Contains($"{missing}: no such model file", err);
        string damaged = Path.Combine(_dir, "damaged.safetensors");
        File.WriteAllBytes(damaged, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
        (code, _, err) = CliRunner.Run("serve", damaged, "--slo-ms", "20");
        Assert.Equal(1, code);
        Assert.Contains(damaged, err);
    }

    [Fact]
    public void HelpShowsExamples()
    {
        var (code, output, _) = CliRunner.Run("serve", "--help");
        Assert.Equal(0, code);
        Assert.Contains("sparseswitch serve model.safetensors --slo-ms 20", output);
        Assert.Contains("--pin", output);
    }
}
