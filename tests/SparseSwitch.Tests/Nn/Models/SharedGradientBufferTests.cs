using SparseSwitch.Nn;
using SparseSwitch.Nn.Models;
using SparseSwitch.Tensors;
using SparseSwitch.Tests.Support;
using Xunit;

namespace SparseSwitch.Tests.Nn.Models;

/// <summary>
/// A CIFAR ResNet's blocks of one shape share their backward buffers (the join's gradient, conv2's
/// and conv1's input gradients): the gradients are the same bits as with every layer owning its
/// own, with identity, option-A and projection shortcuts, batch-norms deferred or written out.
/// </summary>
public class SharedGradientBufferTests
{
    [Theory]
    [InlineData(ShortcutKind.ProjectionConv, true)]
    [InlineData(ShortcutKind.IdentityPad, true)]
    [InlineData(ShortcutKind.ProjectionConv, false)]
    public void SharedBuffersGiveTheGradientsOfOwnBuffers(ShortcutKind shortcut, bool defer)
    {
        var options = EngineOptions.Default with { DeferNorms = defer };
        var shared = Gradients(shortcut, share: true, options);
        var own = Gradients(shortcut, share: false, options);
        Assert.Equal(own.Count, shared.Count);
        foreach (var (name, values) in own)
            Assert.True(values.AsSpan().SequenceEqual(shared[name]), $"{name} differs");
    }

    [Fact]
    public void BlocksOfAStageShareTheirBackwardBuffers()
    {
        var net = new CifarResNet(14, 8, rng: new Rng(1)); // two blocks per stage
        var blocks = net.Layers.SelectMany(s => Enumerable.Range(0, s.Count).Select(i => (BasicBlock)s[i])).ToArray();
        Assert.Same(blocks[0].Conv2.InputGradientBuffer, blocks[1].Conv2.InputGradientBuffer);
        Assert.NotSame(blocks[1].Conv2.InputGradientBuffer, blocks[2].Conv2.InputGradientBuffer);
        // The first block of stage 2 reads stage 1's shape: its conv1 shares stage 1's buffer.
        Assert.Same(blocks[1].Conv1.InputGradientBuffer, blocks[2].Conv1.InputGradientBuffer);
        Assert.NotSame(blocks[2].Conv1.InputGradientBuffer, blocks[3].Conv1.InputGradientBuffer);
    }

    private static Dictionary<string, float[]> Gradients(ShortcutKind shortcut, bool share, EngineOptions options)
    {
        var rng = new Rng(9);
        var net = new CifarResNet(14, 8, shortcut, numClasses: 10, rng: rng);
        net.UseOptions(options);
        if (!share)
            foreach (var block in net.Layers.SelectMany(s => Enumerable.Range(0, s.Count).Select(i => (BasicBlock)s[i])))
                block.ShareGradientBuffers(null, null, null);
        net.Conv1.ComputeInputGradient = true;
        var x = new Tensor(6, 3, 16, 16);
        rng.FillNormal(x.Span, 0, 1);
        var loss = new CrossEntropyLoss();
        var r = new Dictionary<string, float[]>();
        for (int step = 0; step < 2; step++)
        {
            net.ZeroGrad();
            loss.Forward(net.Forward(x), [0, 1, 2, 3, 4, 5]);
            r[$"dx{step}"] = net.Backward(loss.Backward()).Span.ToArray();
            foreach (var (path, p) in net.NamedParameters()) r[$"{path}.grad{step}"] = p.Grad.Span.ToArray();
        }
        return r;
    }
}
