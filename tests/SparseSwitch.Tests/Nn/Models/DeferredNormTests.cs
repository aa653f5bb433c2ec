using SparseSwitch.Nn;
using SparseSwitch.Nn.Models;
using SparseSwitch.Tensors;
using SparseSwitch.Tests.Support;
using Xunit;

using SparseSwitch.Tensors.Conv;

namespace SparseSwitch.Tests.Nn.Models;

/// <summary>
/// <see cref="EngineOptions.DeferNorms"/>: with bn1 applied by conv2 as it fills its planes and bn2
/// by the join, a block gives the same bits as with the normalised tensors written out — output,
/// input gradient, every parameter gradient and the running statistics — on each convolution
/// path (interleaved planes, shifted rows, im2col, where the deferred norm is materialised),
/// with identity and projection shortcuts, switchable batch-norms, in eval mode, and with an
/// input observer on conv2 (which must see the normalised input).
/// </summary>
public class DeferredNormTests
{
    [Theory]
    [InlineData(16, 16, 1, 8, 1, "interleaved")]   // 8×8, 144 multiply-adds per output
    [InlineData(8, 16, 2, 16, 1, "interleaved")]   // projection shortcut, stride 2
    [InlineData(4, 4, 1, 12, 1, "shifted")]        // too shallow for the interleaved planes
    [InlineData(6, 6, 1, 10, 2, "shifted")]        // switchable batch-norms
    [InlineData(8, 8, 1, 8, 1, "im2col")]
    public void DeferredAndWrittenNormsGiveTheSameBits(int cin, int planes, int stride, int size, int bnSets, string paths)
    {
        {
            foreach (int threads in new[] { 1, 2 })
            {
                var engine = EngineOptions.Default with { Threads = threads };
                foreach (bool training in new[] { true, false })
                {
                    var written = Run(engine with { DeferNorms = false }, cin, planes, stride, size, bnSets, paths, training, out var conv2Path);
                    var deferred = Run(engine, cin, planes, stride, size, bnSets, paths, training, out var deferredPath);
                    bool avx512 = InterleavedConv.Applies(new ConvGeometry(16, 8, 8, 3, 3, 1, 1, 1, 1), engine);
                    var expected = paths switch { "interleaved" when avx512 => ConvAlgorithm.InterleavedPlanes, "im2col" => ConvAlgorithm.Im2Col, _ => ConvAlgorithm.ShiftedRows };
                    Assert.Equal(expected, conv2Path);
                    Assert.Equal(expected, deferredPath);
                    Assert.Equal(written.Count, deferred.Count);
                    foreach (var (name, values) in written)
                        Assert.True(values.AsSpan().SequenceEqual(deferred[name]), $"{name} differs (threads {threads}, training {training})");
                }
            }
        }
    }

    /// <summary>A whole ResNet (stem included: its batch-norm takes the stem conv's plane
    /// statistics, and its input gradient is applied by the stem conv): the same bits deferred or not.</summary>
    [Theory]
    [InlineData(ShortcutKind.ProjectionConv, 16)]
    [InlineData(ShortcutKind.IdentityPad, 8)]
    public void WholeResNetGivesTheSameBits(ShortcutKind shortcut, int width)
    {
        {
            var runs = new List<Dictionary<string, float[]>>();
            foreach (bool defer in new[] { false, true })
            {
                var rng = new Rng(5);
                var net = new CifarResNet(8, width, shortcut, numClasses: 10, rng: rng);
                net.UseOptions(EngineOptions.Default with { DeferNorms = defer });
                var x = new Tensor(6, 3, 16, 16);
                rng.FillNormal(x.Span, 0, 1);
                var loss = new CrossEntropyLoss();
                var r = new Dictionary<string, float[]>();
                for (int step = 0; step < 2; step++)
                {
                    net.ZeroGrad();
                    r[$"logits{step}"] = net.Forward(x).Span.ToArray();
                    loss.Forward(net.Forward(x), [0, 1, 2, 3, 4, 5]);
                    net.Backward(loss.Backward());
                    foreach (var (path, p) in net.NamedParameters()) r[$"{path}.grad{step}"] = p.Grad.Span.ToArray();
                }
                foreach (var (path, b) in net.NamedBuffers()) r[path] = b.Span.ToArray();
                net.Eval();
                r["eval logits"] = net.Forward(x).Span.ToArray();
                runs.Add(r);
            }
            foreach (var (name, values) in runs[0])
                Assert.True(values.AsSpan().SequenceEqual(runs[1][name]), $"{name} differs");
        }
    }

    private static Dictionary<string, float[]> Run(EngineOptions engine, int cin, int planes, int stride, int size, int bnSets, string paths, bool training,
        out ConvAlgorithm conv2Path)
    {
        var algorithms = paths switch
        {
            "im2col" => ConvAlgorithms.None,
            "interleaved" => ConvAlgorithms.All,
            _ => ConvAlgorithms.All & ~(ConvAlgorithms.InterleavedPlanes | ConvAlgorithms.Winograd),
        };
        var rng = new Rng(11);
        var block = new BasicBlock(cin, planes, stride, ShortcutKind.ProjectionConv, bnSets, rng);
        block.UseOptions(engine with { ConvAlgorithms = algorithms });
        foreach (var (path, p) in block.NamedParameters())
            if (p.Shape.Length == 1) rng.FillUniform(p.Data.Span, path.EndsWith("weight") ? 0.5f : -0.5f, path.EndsWith("weight") ? 1.5f : 0.5f);
        if (bnSets > 1)
            foreach (var bn in SwitchableBatchNorm2d.FindAll(block)) bn.ActiveSet = 1;
        block.Train(training);
        var results = new Dictionary<string, float[]>();
        var x = new Tensor(5, cin, size, size);
        rng.FillNormal(x.Span, 0, 1);
        for (int step = 0; step < 2; step++)
        {
            block.ZeroGrad();
            var y = block.Forward(x);
            var dy = new Tensor(y.Shape);
            new Rng((ulong)(7 + step)).FillNormal(dy.Span, 0, 1);
            results[$"y{step}"] = y.Span.ToArray();
            results[$"dx{step}"] = block.Backward(dy).Span.ToArray();
            foreach (var (path, p) in block.NamedParameters()) results[$"{path}.grad{step}"] = p.Grad.Span.ToArray();
        }
        foreach (var (path, b) in block.NamedBuffers()) results[path] = b.Span.ToArray();
        conv2Path = block.Conv2.Path;
        // An observer on conv2 sees the normalised input (the deferred block materialises it then).
        var seen = new List<float[]>();
        block.Conv2.InputObserver = (_, input) => seen.Add(input.Span.ToArray());
        results["y observed"] = block.Forward(x).Span.ToArray();
        results["conv2 input"] = seen.Single();
        return results;
    }
}
