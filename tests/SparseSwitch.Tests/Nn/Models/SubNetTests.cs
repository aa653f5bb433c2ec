using SparseSwitch.Nn;
using SparseSwitch.Nn.Models;
using SparseSwitch.Tensors;
using Xunit;

namespace SparseSwitch.Tests.Nn.Models;

public class SubNetTests
{
    [Theory]
    [InlineData("resnet20")]
    [InlineData("resnet18")]
    [InlineData("vgg11")]
    [InlineData("lenet5")]
    public void ConvAndLinearWeightsButTheStemArePrunable(string name)
    {
        var m = ModelZoo.Create(name, 3, 32, 10, 1, new Rng(1));
        var stemPath = name.StartsWith("vgg") ? "features.0.weight" : "conv1.weight";
        foreach (var (path, p) in m.NamedParameters())
        {
            bool convOrLinear = p.Shape.Length >= 2;
            Assert.True(p.Prunable == (convOrLinear && path != stemPath), $"{name} {path}: Prunable = {p.Prunable}");
        }
    }

    [Fact]
    public void MlpLinearsAreAllPrunableUnlessTheClassifierIsKeptDense()
    {
        Assert.All(new Mlp().Parameters().Where(p => p.Shape.Length == 2), p => Assert.True(p.Prunable));
        var m = new Mlp(pruneClassifier: false);
        Assert.False(m.Linears[^1].Weight.Prunable);
        Assert.True(m.Linears[0].Weight.Prunable);
    }

    [Fact]
    public void BnSetsMakeEveryBatchNormButTheStemsSwitchable()
    {
        var m = ModelZoo.Create("resnet20", 3, 32, 10, 3, new Rng(1));
        var names = m.StateDict().Keys.ToHashSet();
        Assert.Contains("bn1.weight", names);
        Assert.Contains("layer1.0.bn1.2.running_var", names);
        Assert.Contains("layer2.0.shortcut.1.1.weight", names);
        Assert.DoesNotContain("layer1.0.bn1.weight", names);
        Assert.Equal(3, SubNets.CountSets(m));
        Assert.Equal(6 * 3 + 2, SubNets.SetActive(m, 2)); // two BNs per block, two shortcut BNs
        Assert.All(m.NamedModules().Select(x => x.Module).OfType<SwitchableBatchNorm2d>(), bn => Assert.Equal(2, bn.ActiveSet));
        Assert.Throws<ArgumentOutOfRangeException>(() => SubNets.SetActive(m, 3));

        // A train-mode forward with sub-net 1 updates only set 1's running statistics.
        SubNets.SetActive(m, 1);
        var x = new Tensor(2, 3, 32, 32);
        new Rng(5).FillNormal(x.Span, 1, 1);
        m.Forward(x);
        var state = m.StateDict();
        Assert.Contains(state["layer1.0.bn1.1.running_mean"].ToArray(), v => v != 0);
        Assert.All(state["layer1.0.bn1.0.running_mean"].ToArray(), v => Assert.Equal(0f, v));
        Assert.All(state["layer1.0.bn1.2.running_mean"].ToArray(), v => Assert.Equal(0f, v));
    }
}
