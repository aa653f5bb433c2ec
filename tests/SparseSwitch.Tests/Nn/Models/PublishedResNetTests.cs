using SparseSwitch.Nn;
using SparseSwitch.Nn.Models;
using SparseSwitch.Tensors;
using Xunit;

namespace SparseSwitch.Tests.Nn.Models;

/// <summary>The published AST code's ResNet variant ("-u"): 1×1-conv shortcuts with a batch-norm
/// shared by all sub-nets, He-normal fan-out convolutions, a Kaiming-normal classifier with zero bias.</summary>
public class PublishedResNetTests
{
    private static (double Mean, double Std) Moments(Parameter p)
    {
        var v = p.Data.ToArray();
        double mean = v.Average();
        return (mean, Math.Sqrt(v.Sum(x => (x - mean) * (x - mean)) / v.Length));
    }

    [Fact]
    public void ConvolutionsAreHeNormalWithFanOutAndTheClassifierKaimingWithZeroBias()
    {
        var m = (CifarResNet)ModelZoo.Create("resnet20-u", 3, 32, 10, 1, new Rng(5));
        foreach (var (path, mod) in m.NamedModules())
        {
            if (mod is not Conv2d c) continue;
            int fanOut = c.Weight.Shape[0] * c.Weight.Shape[2] * c.Weight.Shape[3];
            double want = Math.Sqrt(2.0 / fanOut);
            var (mean, std) = Moments(c.Weight);
            // Relative error of a sample std of n normals is about 1/√(2n); the smallest layer has 432.
            double tol = 4.5 / Math.Sqrt(2.0 * c.Weight.Length);
            Assert.True(Math.Abs(std / want - 1) < tol, $"{path}: std {std:F5}, He fan-out {want:F5}");
            Assert.True(Math.Abs(mean) < 4.5 * want / Math.Sqrt(c.Weight.Length), $"{path}: mean {mean}");
            Assert.Null(c.Bias);
        }
        // Layer 3's first 3×3 conv: fan-out 64·9 (fan-in would be 32·9, std √2 larger).
        var conv = ((BasicBlock)m.Layers[2][0]).Conv1;
        Assert.InRange(Moments(conv.Weight).Std, Math.Sqrt(2.0 / 576) * 0.97, Math.Sqrt(2.0 / 576) * 1.03);
        var (_, ls) = Moments(m.Classifier.Weight);
        Assert.InRange(ls, Math.Sqrt(2.0 / 64) * 0.85, Math.Sqrt(2.0 / 64) * 1.15);
        Assert.All(m.Classifier.Bias!.Data.ToArray(), b => Assert.Equal(0f, b));
    }

    [Fact]
    public void ShortcutBatchNormIsSharedByEverySubnetAndTheShortcutConvIsPrunable()
    {
        var m = (CifarResNet)ModelZoo.Create("resnet20-u", 3, 32, 10, 3, new Rng(6));
        var named = m.NamedModules().ToDictionary(x => x.Path, x => x.Module);
        Assert.IsType<BatchNorm2d>(named["layer2.0.shortcut.1"]);
        Assert.IsType<BatchNorm2d>(named["layer3.0.shortcut.1"]);
        Assert.IsType<SwitchableBatchNorm2d>(named["layer2.0.bn1"]);
        Assert.IsType<SwitchableBatchNorm2d>(named["layer2.0.bn2"]);
        Assert.IsType<BatchNorm2d>(named["bn1"]);
        // The plain projection keeps a switchable shortcut batch-norm.
        var b = ModelZoo.Create("resnet20", 3, 32, 10, 3, new Rng(6)).NamedModules().ToDictionary(x => x.Path, x => x.Module);
        Assert.IsType<SwitchableBatchNorm2d>(b["layer2.0.shortcut.1"]);

        var prunable = m.NamedParameters().Where(p => p.Param.Prunable).Select(p => p.Path).ToList();
        Assert.Contains("layer2.0.shortcut.0.weight", prunable);
        Assert.Contains("linear.weight", prunable);
        Assert.DoesNotContain("conv1.weight", prunable);
        Assert.Equal(21, prunable.Count);   // 18 block convs, 2 shortcut convs, the classifier

        // Switching sub-nets changes the block batch-norms' sets, never the shortcut's statistics.
        var sbn = (BatchNorm2d)named["layer2.0.shortcut.1"];
        var x = new Tensor(4, 3, 32, 32);
        new Rng(7).FillNormal(x.Span, 0, 1);
        m.Train();
        SubNets.SetActive(m, 0);
        m.Forward(x);
        var after0 = sbn.RunningMean.ToArray();
        SubNets.SetActive(m, 2);
        m.Forward(x);
        var after2 = sbn.RunningMean.ToArray();
        Assert.NotEqual(after0, after2);   // one set of statistics, updated by both sub-nets
        Assert.Equal(SubNets.CountSets(m), 3);
    }

    [Fact]
    public void ParameterCountIsTheProjectionResNet20sAndTheSameSeedGivesTheSameWeights()
    {
        long Count(Module mod) => mod.Parameters().Sum(p => (long)p.Length);
        Assert.Equal(272_474, Count(ModelZoo.Create("resnet20-u", 3, 32, 10, 1, new Rng(1))));
        Assert.Equal(Count(ModelZoo.Create("resnet20", 3, 32, 10, 1, new Rng(1))), Count(ModelZoo.Create("resnet20-u", 3, 32, 10, 1, new Rng(1))));
        var a = ModelZoo.Create("resnet20-u", 3, 32, 10, 2, new Rng(9)).Parameters().SelectMany(p => p.Data.ToArray()).ToArray();
        var c = ModelZoo.Create("RESNET20-U", 3, 32, 10, 2, new Rng(9)).Parameters().SelectMany(p => p.Data.ToArray()).ToArray();
        Assert.Equal(a, c);
        Assert.Throws<ArgumentException>(() => ModelZoo.Create("resnet18-u", 3, 32, 10, 1, new Rng(1)));
        Assert.Throws<ArgumentException>(() => ModelZoo.Create("lenet5-u", 3, 32, 10, 1, new Rng(1)));
    }
}
