using System.Runtime.InteropServices;
using SparseSwitch.Export;
using SparseSwitch.Nn;
using SparseSwitch.Nn.Models;
using SparseSwitch.Serialization;
using SparseSwitch.Tensors;
using SparseSwitch.Tests.Support;
using Xunit;

namespace SparseSwitch.Tests.Export;

/// <summary>The PyTorch state dict of a sub-net: its names and shapes are those PyTorch gives the
/// same architecture (the committed fixtures' state dicts, written by PyTorch), masked weights are
/// zero, the chosen batch-norm set is the one written; reading it back into a model reproduces the
/// sub-net's logits; hostile files fail naming the tensor.</summary>
public sealed class TorchStateDictTests
{
    /// <summary>A model with every weight, batch-norm set and running statistic random (sets
    /// differ), and random masks of density 0.4 on the prunable weights.</summary>
    private static (Module Model, Dictionary<string, BitMask> Masks) Randomised(string name, int sets, ulong seed)
    {
        var model = ModelZoo.Create(name, 3, 32, 10, sets, new Rng(seed));
        var rng = new Rng(seed + 100);
        foreach (var (path, t) in model.StateDict())
        {
            rng.FillNormal(t.Span, 0, 0.2f);
            if (path.EndsWith("running_var", StringComparison.Ordinal))
                for (int i = 0; i < t.Length; i++) t.Span[i] = 0.5f + Math.Abs(t.Span[i]);
        }
        var masks = new Dictionary<string, BitMask>();
        foreach (var (path, p) in model.NamedParameters().Where(p => p.Param.Prunable))
        {
            var m = new BitMask(p.Length);
            for (int i = 0; i < m.Length; i++) m[i] = rng.NextDouble() < 0.4;
            masks[path] = m;
        }
        return (model, masks);
    }

    private static SafeTensors.File Written(Module model, IReadOnlyDictionary<string, BitMask> masks, int set) =>
        SafeTensors.Parse(TorchStateDict.SerializeSubnet(model, masks, set, new Dictionary<string, string> { ["model"] = "test" }));

    [Theory]
    [InlineData("resnet20", "resnet20_cifar.safetensors", 3)]
    [InlineData("resnet20", "resnet20_cifar.safetensors", 1)]
    public void NamesAndShapesAreThoseOfPyTorchsModel(string name, string fixture, int sets)
    {
        // The fixture holds PyTorch's state dict of the same ResNet-20 as state.* (without num_batches_tracked).
        var torch = SafeTensors.Load(Paths.Fixture(fixture));
        var expected = torch.Names.Where(n => n.StartsWith("state.", StringComparison.Ordinal))
            .Select(n => (Name: n["state.".Length..], Shape: torch[n].Shape)).ToList();
        var (model, masks) = Randomised(name, sets, 1);
        var file = Written(model, masks, sets - 1);
        var written = file.Names.Where(n => !n.EndsWith(".num_batches_tracked", StringComparison.Ordinal)).ToList();
        Assert.Equal(expected.Select(e => e.Name), written);
        foreach (var (n, shape) in expected) Assert.Equal(shape, file[n].Shape);
        // One num_batches_tracked (I64 scalar, 0) beside every batch-norm, right after its running_var.
        var counters = file.Names.Where(n => n.EndsWith(".num_batches_tracked", StringComparison.Ordinal)).ToList();
        Assert.Equal(expected.Count(e => e.Name.EndsWith(".running_var", StringComparison.Ordinal)), counters.Count);
        foreach (var c in counters)
        {
            Assert.Equal(SafeDType.I64, file[c].DType);
            Assert.Empty(file[c].Shape);
            Assert.Equal(0, file[c].ToInt64()[0]);
            int at = file.Names.ToList().IndexOf(c);
            Assert.Equal(c.Replace("num_batches_tracked", "running_var"), file.Names[at - 1]);
        }
        Assert.Equal("test", file.Meta("model"));
    }

    [Fact]
    public void MlpNamesAreThoseOfPyTorchsSequential()
    {
        var torch = SafeTensors.Load(Paths.Fixture("mlp_784_300_100_10.safetensors"));
        var expected = torch.Names.Where(n => n.StartsWith("state.", StringComparison.Ordinal)).Select(n => n["state.".Length..]);
        var model = ModelZoo.Create("mlp", 1, 28, 10, 1, new Rng(1));
        Assert.Equal(expected, TorchStateDict.Layout(model).Select(e => e.Name));
    }

    [Theory]
    [InlineData("resnet20-a", 3, 0)]
    [InlineData("resnet20-a", 3, 2)]
    [InlineData("resnet20", 2, 1)]
    [InlineData("lenet5", 1, 0)]
    public void MaskedWeightsAreZeroAndTheChosenSetIsWritten(string name, int sets, int set)
    {
        var (model, masks) = Randomised(name, sets, 2);
        var file = Written(model, masks, set);
        var state = model.StateDict();
        int checkedMasked = 0, checkedSets = 0;
        foreach (var n in file.Names.Where(n => !n.EndsWith("num_batches_tracked", StringComparison.Ordinal)))
        {
            var values = file.Float(n).Span.ToArray();
            if (masks.TryGetValue(n, out var mask))
            {
                var raw = state[n].Span;
                for (int i = 0; i < values.Length; i++) Assert.Equal(mask[i] ? raw[i] : 0f, values[i]);
                Assert.Equal(mask.Count(), values.Count(v => v != 0));
                checkedMasked++;
            }
            else if (state.TryGetValue(n, out var shared)) Assert.Equal(shared.Span.ToArray(), values);
            else
            {
                // A switchable batch-norm: bn.{set}.x is written as bn.x, and differs from the other sets.
                int dot = n.LastIndexOf('.');
                string ours = $"{n[..dot]}.{set}.{n[(dot + 1)..]}";
                Assert.Equal(state[ours].Span.ToArray(), values);
                string other = $"{n[..dot]}.{(set + 1) % sets}.{n[(dot + 1)..]}";
                Assert.NotEqual(state[other].Span.ToArray(), values);
                checkedSets++;
            }
        }
        Assert.Equal(masks.Count, checkedMasked);
        Assert.Equal(name.StartsWith("resnet", StringComparison.Ordinal), checkedSets > 0);
    }

    [Theory]
    [InlineData("resnet20-a", 3, 1)]
    [InlineData("resnet20", 2, 0)]
    [InlineData("lenet5", 1, 0)]
    public void ReadingAnExportedSubnetBackReproducesItsLogits(string name, int sets, int k)
    {
        var (model, masks) = Randomised(name, sets, 3);
        var bytes = TorchStateDict.SerializeSubnet(model, masks, k);
        foreach (var (path, p) in model.NamedParameters()) p.Mask = masks.GetValueOrDefault(path);
        SubNets.SetActive(model, k);
        model.Eval();
        var x = new Tensor(4, 3, 32, 32);
        new Rng(9).FillNormal(x.Span, 0, 1);
        var expected = model.Forward(x).Span.ToArray();

        // Into the dense architecture (one batch-norm each), and into one of three sub-nets whose sets are all that one.
        foreach (int targetSets in new[] { 1, 3 })
        {
            var target = ModelZoo.Create(name, 3, 32, 10, targetSets, new Rng(77));
            target.LoadStateDict(TorchStateDict.Read(SafeTensors.Parse(bytes), target, "test.safetensors"));
            target.Eval();
            SubNets.SetActive(target, targetSets - 1);
            var actual = target.Forward(x).Span.ToArray();
            for (int i = 0; i < expected.Length; i++)
                Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-5f * Math.Max(1, Math.Abs(expected[i])), $"logit {i}: {expected[i]} vs {actual[i]}");
        }
    }

    [Fact]
    public void ExportRefusesMasksAndSetsTheModelDoesNotHave()
    {
        var (model, masks) = Randomised("resnet20-a", 2, 4);
        Assert.Throws<ArgumentOutOfRangeException>(() => TorchStateDict.SubnetEntries(model, masks, 2));
        Assert.Contains("no parameter 'nope.weight'", Assert.Throws<ArgumentException>(() =>
            TorchStateDict.SubnetEntries(model, new Dictionary<string, BitMask> { ["nope.weight"] = new BitMask(3) }, 0)).Message);
        Assert.Contains("has 3 positions", Assert.Throws<ArgumentException>(() =>
            TorchStateDict.SubnetEntries(model, new Dictionary<string, BitMask> { ["linear.weight"] = new BitMask(3) }, 0)).Message);
    }

    // ---- hostile input ----

    private static List<(string Name, SafeDType DType, long[] Shape, ReadOnlyMemory<byte> Bytes)> DenseLeNet() =>
        TorchStateDict.SubnetEntries(ModelZoo.Create("lenet5", 3, 32, 10, 1, new Rng(5)), new Dictionary<string, BitMask>(), 0);

    private static string Refused(List<(string Name, SafeDType DType, long[] Shape, ReadOnlyMemory<byte> Bytes)> entries, string model = "lenet5", int sets = 1)
    {
        var target = ModelZoo.Create(model, 3, 32, 10, sets, new Rng(6));
        var e = Assert.Throws<TorchStateDictException>(() => TorchStateDict.Read(SafeTensors.Parse(SafeTensors.Serialize(entries), "in.safetensors"), target, "in.safetensors", model));
        Assert.StartsWith("in.safetensors: ", e.Message);
        return e.Message;
    }

    private static byte[] F32(params float[] v) => MemoryMarshal.AsBytes(v.AsSpan()).ToArray();

    [Fact]
    public void AnUnknownTensorIsNamed()
    {
        var entries = DenseLeNet();
        entries.Add(("fc4.weight", SafeDType.F32, [2], F32(1, 2)));
        Assert.Contains("unexpected tensor 'fc4.weight': not in the state dict of this lenet5 model", Refused(entries));
    }

    [Fact]
    public void DataParallelNamesGetAHint()
    {
        var entries = DenseLeNet().Select(e => ("module." + e.Name, e.DType, e.Shape, e.Bytes)).ToList();
        Assert.Contains("nn.DataParallel's 'module.' prefix", Refused(entries));
    }

    [Fact]
    public void AMissingTensorIsNamedWithItsShape()
    {
        var entries = DenseLeNet().Where(e => e.Name != "conv2.weight").ToList();
        Assert.Contains("missing tensor 'conv2.weight' [16, 6, 5, 5] of this lenet5 model", Refused(entries));
    }

    [Fact]
    public void AMisshapenTensorIsNamedWithBothShapes()
    {
        var entries = DenseLeNet();
        int i = entries.FindIndex(e => e.Name == "fc3.weight");
        entries[i] = ("fc3.weight", SafeDType.F32, [100, 84], new byte[100 * 84 * 4]);
        Assert.Contains("tensor 'fc3.weight' has shape [100, 84], this lenet5 model expects [10, 84]", Refused(entries));
    }

    [Fact]
    public void AWrongDtypeIsNamed()
    {
        var entries = DenseLeNet();
        int i = entries.FindIndex(e => e.Name == "fc1.bias");
        entries[i] = ("fc1.bias", SafeDType.F16, [120], new byte[240]);
        Assert.Contains("tensor 'fc1.bias' is F16, expected F32", Refused(entries));
    }

    [Fact]
    public void ANonFiniteValueIsNamed()
    {
        var entries = DenseLeNet();
        int i = entries.FindIndex(e => e.Name == "conv1.bias");
        entries[i] = ("conv1.bias", SafeDType.F32, [6], F32(0, 0, float.NaN, 0, 0, 0));
        Assert.Contains("tensor 'conv1.bias' holds NaN at element 2", Refused(entries));
    }

    [Fact]
    public void BatchCountersAreOptionalButMustBeCounts()
    {
        var target = ModelZoo.Create("resnet20-a", 3, 32, 10, 2, new Rng(6));
        var entries = TorchStateDict.SubnetEntries(target, new Dictionary<string, BitMask>(), 0);
        var without = entries.Where(e => !e.Name.EndsWith("num_batches_tracked", StringComparison.Ordinal)).ToList();
        Assert.Equal(target.StateDict().Count, TorchStateDict.Read(SafeTensors.Parse(SafeTensors.Serialize(without)), target, "x").Count);

        int i = entries.FindIndex(e => e.Name == "bn1.num_batches_tracked");
        entries[i] = ("bn1.num_batches_tracked", SafeDType.F32, [], F32(3));
        Assert.Contains("tensor 'bn1.num_batches_tracked' is F32 [], expected I64 [] (a batch count)", Refused(entries, "resnet20-a", 2));
    }

    [Fact]
    public void AFileThatIsNotSafetensorsIsRefused()
    {
        string path = Path.Combine(Path.GetTempPath(), $"ss-not-st-{Environment.ProcessId}.safetensors");
        File.WriteAllText(path, "PK\u0003\u0004 a zip file, as torch.save writes");
        try
        {
            var model = ModelZoo.Create("lenet5", 3, 32, 10, 1, new Rng(6));
            var e = Assert.Throws<TorchStateDictException>(() => TorchStateDict.Read(path, model));
            Assert.Contains(path, e.Message);
            Assert.Contains("safetensors", e.Message);
        }
        finally { File.Delete(path); }
    }
}
