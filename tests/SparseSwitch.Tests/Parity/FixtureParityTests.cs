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

/// <summary>Discovers every fixture file — the committed ones and those of any folder named in
/// SPARSESWITCH_FIXTURES (<see cref="Paths.FixtureFolders"/>) — and dispatches on its op; an op
/// without an implementation fails.</summary>
[Trait("Category", "Parity")]
public class FixtureParityTests
{
    private static readonly Dictionary<string, IParityOp> Ops = typeof(FixtureParityTests).Assembly.GetTypes()
        .Where(t => typeof(IParityOp).IsAssignableFrom(t) && t is { IsAbstract: false, IsInterface: false })
        .Select(t => (IParityOp)Activator.CreateInstance(t)!)
        .ToDictionary(o => o.Op);

    public static IEnumerable<object[]> Files() => Paths.FixtureFiles().Select(f => new object[] { Paths.Id(f) });

    [Theory]
    [MemberData(nameof(Files))]
    public void MatchesPyTorch(string file)
    {
        var path = Paths.Resolve(file);
        var fixture = SafeTensors.Load(path);
        var op = fixture.Meta("op") ?? throw new Xunit.Sdk.XunitException($"{file}: no 'op' in __metadata__.");
        if (!Ops.TryGetValue(op, out var impl))
            throw new Xunit.Sdk.XunitException($"{file}: no parity implementation for op '{op}'. Known: {string.Join(", ", Ops.Keys.Order())}.");
        impl.Run(fixture, path);
    }

    [Fact]
    public void EveryFixtureFolderHoldsFixtures()
    {
        foreach (var dir in Paths.FixtureFolders)
            Assert.True(Directory.GetFiles(dir, "*.safetensors").Length > 0, $"{dir} holds no *.safetensors file");
    }

    [Fact]
    public void TheCommittedFixturesCoverEveryOp()
    {
        var ops = Directory.GetFiles(Paths.CommittedFixtures, "*.safetensors").Select(f => SafeTensors.Load(f).Meta("op")).ToHashSet();
        Assert.Equal(Ops.Keys.Order(), ops.Order()!);
    }

    [Fact]
    public void TheCommittedWholeNetworkFixturesKeepPreActivationsAwayFromZero()
    {
        foreach (var name in new[] { "mlp_784_300_100_10.safetensors", "resnet20_cifar.safetensors" })
            Assert.True(ModelParity.HasReluMargin(SafeTensors.Load(Paths.Fixture(name))), $"{name} records no min_abs_pre_relu ≥ {ModelParity.MinPreReluMargin}");
    }
}
