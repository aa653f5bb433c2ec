using SparseSwitch.Inference;
using SparseSwitch.Tensors;
using SparseSwitch.Tests.Nn.Models;
using Xunit;

namespace SparseSwitch.Tests.Inference;

/// <summary>Once warm, Run allocates nothing on the calling thread, whatever the sub-net, batch class or format;
/// and concurrent calls on different buffers give each its own right answer.</summary>
[Collection(nameof(SteadyStateAllocationTests))]
public class InferenceAllocationTests
{
    [Theory]
    [InlineData("resnet20-a", 3, 16)]
    [InlineData("lenet5", 1, 28)]
    [InlineData("mlp", 1, 28)]
    public void RunAllocatesNothingOnceWarm(string name, int c, int size)
    {
        var (model, masks) = InferenceModelTests.Trained(name, c, size, [1.0, 0.3, 0.05]);
        var compiled = InferenceModel.Compile(model, c, size, masks,
            new InferenceOptions { Engine = EngineOptions.Default with { Threads = 2 }, Formats = FormatChoice.Density, GroupSize = 4 });
        var x = new float[6 * c * size * size];
        new Rng(2).FillNormal(x, 0, 1);
        var y = new float[60];
        void All()
        {
            for (int k = 0; k < 3; k++)
            {
                compiled.Run(k, x.AsSpan(0, c * size * size), y.AsSpan(0, 10), 1);
                compiled.Run(k, x, y, 6);
            }
        }
        All();
        All();
        // The calling thread runs a share of every parallel step (the same code as the workers').
        long before = GC.GetAllocatedBytesForCurrentThread();
        All();
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(0, allocated);
    }

    [Fact]
    public void ConcurrentCallsOnDifferentBuffersGiveTheirOwnAnswers()
    {
        var (model, masks) = InferenceModelTests.Trained("resnet20-a", 3, 16, [1.0, 0.1]);
        var compiled = InferenceModel.Compile(model, 3, 16, masks,
            new InferenceOptions { Engine = EngineOptions.Default with { Threads = 2 }, Formats = FormatChoice.Density, GroupSize = 4 });
        var inputs = Enumerable.Range(0, 4).Select(i => { var a = new float[5 * 3 * 16 * 16]; new Rng((ulong)i + 30).FillNormal(a, 0, 1); return a; }).ToArray();
        var expected = inputs.Select((a, i) => { var y = new float[50]; compiled.Run(i % 2, a, y, 5); return y; }).ToArray();
        Parallel.For(0, 4, t =>
        {
            var y = new float[50];
            for (int r = 0; r < 20; r++)
            {
                compiled.Run(t % 2, inputs[t], y, 5);
                Assert.True(expected[t].AsSpan().SequenceEqual(y), $"thread {t}, round {r}: logits differ");
            }
        });
    }
}
