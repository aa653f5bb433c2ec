using SparseSwitch.Nn;
using SparseSwitch.Tensors;
using Xunit;

namespace SparseSwitch.Tests.Nn;

/// <summary><see cref="Module.LoadStateDict"/>'s errors: missing and unexpected keys and wrong
/// shapes are refused with a message naming the key; a refused load changes nothing.</summary>
public class StateDictTests
{
    // Keys 0.weight [3, 4], 0.bias [3], 2.weight [2, 3], 2.bias [2] (1 is the ReLU).
    private static Sequential Model() => new(new Linear(4, 3, rng: new Rng(1)), new ReLU(), new Linear(3, 2, rng: new Rng(2)));

    private static Dictionary<string, Tensor> Snapshot(Module m) => m.StateDict().ToDictionary(kv => kv.Key, kv => kv.Value.Clone());

    private static Dictionary<string, Tensor> Filled(Module m, float value) =>
        m.StateDict().ToDictionary(kv => kv.Key, kv => { var t = new Tensor(kv.Value.Shape); t.Fill(value); return t; });

    private static void AssertUnchanged(Dictionary<string, Tensor> before, Module m)
    {
        foreach (var (k, t) in m.StateDict()) Assert.Equal(before[k].ToArray(), t.ToArray());
    }

    [Fact]
    public void LoadsAMatchingStateDict()
    {
        var m = Model();
        m.LoadStateDict(Filled(m, 0.5f));
        Assert.All(m.StateDict().Values, t => Assert.All(t.ToArray(), v => Assert.Equal(0.5f, v)));
    }

    [Fact]
    public void MissingKeysAreNamed()
    {
        var m = Model();
        var before = Snapshot(m);
        var state = Filled(m, 0.5f);
        state.Remove("2.bias");
        state.Remove("0.weight");
        var e = Assert.Throws<InvalidDataException>(() => m.LoadStateDict(state));
        Assert.Contains("Missing", e.Message);
        Assert.Contains("2.bias", e.Message);
        Assert.Contains("0.weight", e.Message);
        AssertUnchanged(before, m);
    }

    [Fact]
    public void UnexpectedKeysAreNamed()
    {
        var m = Model();
        var before = Snapshot(m);
        var state = Filled(m, 0.5f);
        state["1.weight"] = new Tensor(3);
        var e = Assert.Throws<InvalidDataException>(() => m.LoadStateDict(state));
        Assert.Contains("Unexpected", e.Message);
        Assert.Contains("1.weight", e.Message);
        AssertUnchanged(before, m);
    }

    [Fact]
    public void AWrongShapeNamesTheKeyAndBothShapesAndLoadsNothing()
    {
        var m = Model();
        var before = Snapshot(m);
        var state = Filled(m, 0.5f);
        state["2.weight"] = new Tensor(3, 2); // transposed: the same length, another shape
        var e = Assert.Throws<InvalidDataException>(() => m.LoadStateDict(state));
        Assert.Contains("'2.weight'", e.Message);
        Assert.Contains("[3, 2]", e.Message);
        Assert.Contains("[2, 3]", e.Message);
        // 0.weight and 0.bias come first and match: a refused load must not have copied them.
        AssertUnchanged(before, m);
    }

    [Fact]
    public void NonStrictLoadsThePresentKeysButStillChecksShapes()
    {
        var m = Model();
        var before = Snapshot(m);
        var state = Filled(m, 0.5f);
        state.Remove("0.bias");
        state["extra"] = new Tensor(1);
        m.LoadStateDict(state, strict: false);
        Assert.All(m.StateDict()["0.weight"].ToArray(), v => Assert.Equal(0.5f, v));
        Assert.Equal(before["0.bias"].ToArray(), m.StateDict()["0.bias"].ToArray());
        state["0.weight"] = new Tensor(4, 3);
        Assert.Contains("'0.weight'", Assert.Throws<InvalidDataException>(() => m.LoadStateDict(state, strict: false)).Message);
    }
}
