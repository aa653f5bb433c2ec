using SparseSwitch.Nn;
using SparseSwitch.Nn.Models;
using SparseSwitch.Tensors;
using Xunit;

namespace SparseSwitch.Tests.Nn.Models;

public class ModelZooTests
{
    private static long Count(Module m) => m.Parameters().Sum(p => (long)p.Length);

    [Theory]
    // Published parameter counts of the reference implementations.
    [InlineData("mlp", 1, 28, 266_610)]
    [InlineData("lenet5", 1, 28, 61_706)]
    [InlineData("lenet5-caffe", 1, 28, 431_080)]
    [InlineData("resnet20-a", 3, 32, 269_722)]
    [InlineData("resnet56-a", 3, 32, 853_018)]
    [InlineData("resnet18", 3, 32, 11_173_962)]
    public void ParameterCountsMatchTheReferenceModels(string name, int inChannels, int size, long expected) =>
        Assert.Equal(expected, Count(ModelZoo.Create(name, inChannels, size, 10, 1, new Rng(1))));

    [Fact]
    public void EveryKnownNameBuildsAndUnknownNamesAreListed()
    {
        foreach (var name in ModelZoo.Names)
        {
            bool image = name is not "mlp";
            var m = ModelZoo.Create(name.ToUpperInvariant(), image ? 3 : 1, image ? 32 : 28, 10, 1, new Rng(2));
            Assert.NotEmpty(m.Parameters());
        }
        var e = Assert.Throws<ArgumentException>(() => ModelZoo.Create("resnet21", 3, 32, 10, 1, new Rng(1)));
        Assert.Contains("resnet21", e.Message);
        Assert.Contains("wrn32", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => ModelZoo.Create("resnet20", 3, 32, 10, 0, new Rng(1)));
    }

    [Theory]
    [InlineData("mlp", 1, 28)]
    [InlineData("lenet5", 1, 28)]
    [InlineData("lenet5", 3, 32)]
    [InlineData("lenet5-caffe", 1, 28)]
    [InlineData("resnet20", 3, 32)]
    [InlineData("resnet20-a", 3, 32)]
    public void ForwardAndBackwardGiveTheExpectedShapes(string name, int c, int size)
    {
        var m = ModelZoo.Create(name, c, size, 7, 1, new Rng(3));
        var x = new Tensor(2, c, size, size);
        new Rng(4).FillNormal(x.Span, 0, 1);
        var y = m.Forward(x);
        Assert.Equal([2, 7], y.Shape);
        Assert.All(y.ToArray(), v => Assert.True(float.IsFinite(v)));
        // A first conv computes no input gradient unless asked to (the MLP has none).
        var first = m.NamedModules().Select(n => n.Module).OfType<Conv2d>().FirstOrDefault();
        if (first is null)
        {
            Assert.Equal(x.Shape, m.Backward(y).Shape);
            return;
        }
        Assert.Equal(0, m.Backward(y).Length);
        first.ComputeInputGradient = true;
        y = m.Forward(x);
        Assert.Equal(x.Shape, m.Backward(y).Shape);
    }

    private static Conv2d FirstConv(Module m) => m.NamedModules().Select(n => n.Module).OfType<Conv2d>().First();

    [Fact]
    public void WideResNet32HasTheWiderStages()
    {
        var m = (CifarResNet)ModelZoo.Create("wrn32", 3, 32, 10, 1, new Rng(1));
        var shapes = m.NamedParameters().ToDictionary(p => p.Path, p => p.Param.Shape);
        Assert.Equal([32, 3, 3, 3], shapes["conv1.weight"]);
        Assert.Equal([64, 32, 3, 3], shapes["layer2.0.conv1.weight"]);
        Assert.Equal([128, 64, 1, 1], shapes["layer3.0.shortcut.0.weight"]);
        Assert.Equal([10, 128], shapes["linear.weight"]);
        Assert.Equal(5, m.Layers[2].Count);
    }

    [Fact]
    public void SmallVggRunsWithSwitchableBatchNorm()
    {
        var m = new Vgg([8, Vgg.Pool, 16, 16, Vgg.Pool], inChannels: 3, imageSize: 8, numClasses: 4, bnSets: 2, rng: new Rng(5));
        var names = m.StateDict().Keys.ToList();
        Assert.Contains("features.1.running_mean", names);      // first BN: shared
        Assert.Contains("features.5.1.running_mean", names);    // later BNs: one set per sub-net
        Assert.Contains("classifier.weight", names);
        var x = new Tensor(2, 3, 8, 8);
        new Rng(6).FillNormal(x.Span, 0, 1);
        var y = m.Forward(x);
        Assert.Equal([2, 4], y.Shape);
        Assert.Equal(0, m.Backward(y).Length);
        FirstConv(m).ComputeInputGradient = true;
        Assert.Equal(x.Shape, m.Backward(m.Forward(x)).Shape);
        Assert.Throws<ArgumentOutOfRangeException>(() => new Vgg(Vgg.Vgg11, imageSize: 16));
    }
}
