using SparseSwitch.Nn;
using SparseSwitch.Nn.Models;
using SparseSwitch.Optim;
using SparseSwitch.Tensors;
using Xunit;

namespace SparseSwitch.Tests.Nn.Models;

/// <summary>Runs alone: other tests using the shared worker pool at the same time would make its
/// lock contended, and a contended lock may allocate on the calling thread.</summary>
[CollectionDefinition(nameof(SteadyStateAllocationTests), DisableParallelization = true)]
public sealed class SteadyStateAllocationCollection;

[Collection(nameof(SteadyStateAllocationTests))]
public class SteadyStateAllocationTests
{
    [Theory]
    [InlineData("resnet20", 3, 16)]
    [InlineData("resnet20-a", 3, 16)]
    [InlineData("lenet5", 1, 28)]
    [InlineData("mlp", 1, 28)]
    public void TrainingStepAllocatesNothingOnTheCallingThreadOnceWarm(string name, int c, int size)
    {
        var rng = new Rng(1);
        var model = ModelZoo.Create(name, c, size, 10, 2, rng);
        var opt = new Sgd(model.NamedParameters(), 0.01, momentum: 0.9, weightDecay: 5e-4, nesterov: true);
        var loss = new CrossEntropyLoss();
        var x = new Tensor(4, c, size, size);
        rng.FillNormal(x.Span, 0, 1);
        int[] t = [1, 2, 3, 4];
        void Step()
        {
            opt.ZeroGrad();
            loss.Forward(model.Forward(x), t);
            model.Backward(loss.Backward());
            opt.Step();
        }
        // Warm both sub-nets (each batch-norm set makes its buffers on first use).
        Step(); SubNets.SetActive(model, 1); Step(); SubNets.SetActive(model, 0); Step();
        long before = GC.GetAllocatedBytesForCurrentThread();
        Step();
        SubNets.SetActive(model, 1);
        Step();
        SubNets.SetActive(model, 0);
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }
}
