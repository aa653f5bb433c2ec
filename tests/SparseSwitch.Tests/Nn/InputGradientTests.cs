using SparseSwitch.Nn;
using SparseSwitch.Nn.Models;
using SparseSwitch.Tensors;
using SparseSwitch.Tests.Support;
using Xunit;

namespace SparseSwitch.Tests.Nn;

/// <summary><see cref="Conv2d.ComputeInputGradient"/> off: every implementation (interleaved
/// planes, shifted rows, phase planes, im2col with and without batching, 1×1, depthwise) gives the
/// same weight and bias gradients as with it on and returns an empty tensor; the models' first
/// layers have it off.</summary>
public class InputGradientTests
{
    [Theory]
    [InlineData(16, 16, 3, 1, 1, 1, 8)]   // interleaved planes (where AVX-512 is there)
    [InlineData(3, 16, 3, 1, 1, 1, 32)]   // shifted rows (the ResNet stem)
    [InlineData(8, 16, 3, 2, 1, 1, 16)]   // phase planes
    [InlineData(8, 16, 1, 2, 0, 1, 16)]   // phase planes, 1×1
    [InlineData(4, 6, 3, 1, 0, 1, 9)]     // im2col (valid padding)
    [InlineData(4, 6, 1, 1, 0, 1, 7)]     // 1×1 stride 1: the GEMM reads x in place
    [InlineData(6, 6, 3, 1, 1, 6, 9)]     // depthwise
    public void OffGivesTheSameParameterGradientsAndNoInputGradient(int cin, int cout, int k, int stride, int pad, int groups, int size)
    {
        {
            foreach (int threads in new[] { 1, 2 })
            {
                var rng = new Rng((ulong)(cin * 100 + k * 10 + stride));
                var conv = new Conv2d(cin, cout, k, stride, pad, groups, bias: true, rng: rng);
                conv.UseOptions(EngineOptions.Default with { Threads = threads });
                var x = new Tensor(5, cin, size, size);
                rng.FillNormal(x.Span, 0, 1);
                var y = conv.Forward(x);
                var dy = new Tensor(y.Shape);
                rng.FillNormal(dy.Span, 0, 1);
                conv.ZeroGrad();
                var dx = conv.Backward(dy);
                Assert.Equal(x.Shape, dx.Shape);
                var dw = conv.Weight.Grad.Span.ToArray();
                var db = conv.Bias!.Grad.Span.ToArray();
                var path = conv.Path;

                conv.ComputeInputGradient = false;
                conv.ZeroGrad();
                conv.Forward(x);
                var none = conv.Backward(dy);
                Assert.Equal(0, none.Length);
                Assert.Equal(path, conv.Path);
                Assert.Equal(dw, conv.Weight.Grad.Span.ToArray());
                Assert.Equal(db, conv.Bias.Grad.Span.ToArray());
            }
        }
    }

    [Fact]
    public void ModelsFirstLayersComputeNoInputGradient()
    {
        var rng = new Rng(3);
        var resnet = new CifarResNet(8, 4, rng: rng);
        Assert.False(resnet.Conv1.ComputeInputGradient);
        var x = new Tensor(2, 3, 8, 8);
        rng.FillNormal(x.Span, 0, 1);
        var logits = resnet.Forward(x);
        var loss = new CrossEntropyLoss();
        loss.Forward(logits, [1, 2]);
        Assert.Equal(0, resnet.Backward(loss.Backward()).Length);
        Assert.True(resnet.Conv1.Weight.Grad.Span.ToArray().Any(g => g != 0f));
        foreach (var conv in resnet.NamedModules().Select(m => m.Module).OfType<Conv2d>().Where(c => c != resnet.Conv1)) Assert.True(conv.ComputeInputGradient);
    }
}
