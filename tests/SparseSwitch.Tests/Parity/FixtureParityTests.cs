using System.Reflection;
using SparseSwitch.Serialization;
using SparseSwitch.Tests.Support;
using Xunit;

namespace SparseSwitch.Tests.Parity;

/// <summary>Runs one PyTorch fixture (one value of its <c>op</c> metadata). Implementations are
/// discovered by reflection, so adding an op needs no change here.</summary>
public interface IParityOp
{
    string Op { get; }
    void Run(SafeTensors.File fixture, string path);
}

/// <summary>Discovers every fixture file and dispatches on its op; an op without an
/// implementation fails.</summary>
[Trait("Category", "Parity")]
public class FixtureParityTests
{
    private static readonly Dictionary<string, IParityOp> Ops = typeof(FixtureParityTests).Assembly.GetTypes()
        .Where(t => typeof(IParityOp).IsAssignableFrom(t) && t is { IsAbstract: false, IsInterface: false })
        .Select(t => (IParityOp)Activator.CreateInstance(t)!)
        .ToDictionary(o => o.Op);

    public static IEnumerable<object[]> Files()
    {
        var dir = Paths.Fixtures;
        if (!Directory.Exists(dir)) throw new DirectoryNotFoundException($"Fixture folder '{dir}' not found (set SPARSESWITCH_FIXTURES).");
        return Directory.GetFiles(dir, "*.safetensors").OrderBy(f => f, StringComparer.Ordinal)
            .Select(f => new object[] { Path.GetFileName(f) });
    }

    [Theory]
    [MemberData(nameof(Files))]
    public void MatchesPyTorch(string file)
    {
        var path = Path.Combine(Paths.Fixtures, file);
        var fixture = SafeTensors.Load(path);
        var op = fixture.Meta("op") ?? throw new Xunit.Sdk.XunitException($"{file}: no 'op' in __metadata__.");
        if (!Ops.TryGetValue(op, out var impl))
            throw new Xunit.Sdk.XunitException($"{file}: no parity implementation for op '{op}'. Known: {string.Join(", ", Ops.Keys.Order())}.");
        impl.Run(fixture, path);
    }

    [Fact]
    public void FixtureFolderIsNotEmpty() => Assert.NotEmpty(Files());
}
