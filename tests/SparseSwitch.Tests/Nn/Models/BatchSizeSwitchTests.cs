using SparseSwitch.Nn;
using SparseSwitch.Nn.Models;
using SparseSwitch.Tensors;
using SparseSwitch.Tests.Support;
using Xunit;

namespace SparseSwitch.Tests.Nn.Models;

/// <summary>
/// A model whose batch size changes (a training batch, the evaluation's smaller last batch, training
/// again) keeps its buffers' storage: a smaller batch runs on views of it, and the buffers are not
/// reallocated on the way back up. The results must not notice: every step gives the same bits as
/// the same step of a fresh model, on each convolution path (planes whose padding is read as zero
/// are cleared when their shape or layout changes).
/// </summary>
public class BatchSizeSwitchTests
{
    [Theory]
    [InlineData("interleaved", ShortcutKind.ProjectionConv)] // interleaved planes, Winograd at 64 channels, phase planes
    [InlineData("interleaved", ShortcutKind.IdentityPad)]
    [InlineData("shifted", ShortcutKind.ProjectionConv)]     // shifted rows: the layout follows the chunk size
    [InlineData("im2col", ShortcutKind.IdentityPad)]
    public void AlternatingBatchSizesGiveTheResultsOfFreshModels(string paths, ShortcutKind shortcut)
    {
        var engine = EngineOptions.Default with
        {
            Threads = 2,
            ConvAlgorithms = paths switch
            {
                "im2col" => ConvAlgorithms.None,
                "interleaved" => ConvAlgorithms.All,
                _ => ConvAlgorithms.All & ~(ConvAlgorithms.InterleavedPlanes | ConvAlgorithms.Winograd),
            },
        };
        {
            var x8 = Input(8, 1);
            var x3 = Input(3, 2);
            var x5 = Input(5, 3);

            var model = Model(shortcut, engine);
            var first = Step(model, x8);
            long firstBytes = LastStepBytes;
            var logits8 = LastLogits!;
            model.Eval();
            model.Forward(x5);
            model.Train();
            var small = Step(model, x3);
            var again = Step(model, x8);
            long againBytes = LastStepBytes;
            var logitsAgain = LastLogits!;

            AssertSame(first, again, "batch 8 after batches 5 and 3");
            AssertSame(Step(Model(shortcut, engine), x3), small, "batch 3 after batch 8");
            // Back at 8: the views on the buffers kept from the first step, no new storage.
            Assert.True(logitsAgain.SharesStorage(logits8));
            Assert.True(againBytes * 50 < firstBytes, $"back at batch 8 the step allocated {againBytes} bytes (the first {firstBytes})");
        }
    }

    private static CifarResNet Model(ShortcutKind shortcut, EngineOptions engine)
    {
        var model = new CifarResNet(8, 16, shortcut, numClasses: 10, rng: new Rng(5));
        model.UseOptions(engine);
        return model;
    }

    private static Tensor Input(int batch, ulong seed)
    {
        var x = new Tensor(batch, 3, 16, 16);
        new Rng(seed).FillNormal(x.Span, 0, 1);
        return x;
    }

    private static Tensor? LastLogits;
    private static long LastStepBytes;

    /// <summary>One training step without the update: logits and every parameter gradient (the
    /// bytes the step itself allocated in <see cref="LastStepBytes"/>).</summary>
    private static Dictionary<string, float[]> Step(CifarResNet model, Tensor x)
    {
        var loss = Losses.GetValue(model, _ => new CrossEntropyLoss());
        int[] targets = Enumerable.Range(0, x.Dim(0)).Select(i => i % 10).ToArray();
        long before = GC.GetAllocatedBytesForCurrentThread();
        model.ZeroGrad();
        var logits = model.Forward(x);
        loss.Forward(logits, targets);
        model.Backward(loss.Backward());
        LastStepBytes = GC.GetAllocatedBytesForCurrentThread() - before;
        LastLogits = logits;
        var r = new Dictionary<string, float[]> { ["logits"] = logits.Span.ToArray() };
        foreach (var (path, p) in model.NamedParameters()) r[$"{path}.grad"] = p.Grad.Span.ToArray();
        return r;
    }

    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<CifarResNet, CrossEntropyLoss> Losses = new();

    private static void AssertSame(Dictionary<string, float[]> expected, Dictionary<string, float[]> actual, string what)
    {
        Assert.Equal(expected.Count, actual.Count);
        foreach (var (name, values) in expected)
            Assert.True(values.AsSpan().SequenceEqual(actual[name]), $"{what}: {name} differs");
    }
}
