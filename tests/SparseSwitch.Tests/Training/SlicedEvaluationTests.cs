using SparseSwitch.Nn;
using SparseSwitch.Nn.Models;
using SparseSwitch.Tensors;
using SparseSwitch.Tests.Support;
using SparseSwitch.Training;
using Xunit;

namespace SparseSwitch.Tests.Training;

/// <summary>
/// The trainer evaluates a test batch in slices of at most a training batch (so that evaluation
/// needs no buffers larger than training's). That relies on an image's output in eval mode not
/// depending on the batch it goes through, bit for bit, on every model of the zoo; and gives the
/// same test loss and accuracy as evaluating whole batches.
/// </summary>
public class SlicedEvaluationTests
{
    [Theory]
    [InlineData("mlp", 1, 28)]
    [InlineData("lenet5", 1, 28)]
    [InlineData("lenet5-caffe", 1, 28)]
    [InlineData("resnet20", 3, 32)]
    [InlineData("resnet20-a", 3, 32)]
    [InlineData("wrn32", 3, 32)]
    [InlineData("resnet18", 3, 32)]
    [InlineData("vgg11", 3, 32)]
    public void AnImagesEvalOutputDoesNotDependOnItsBatch(string name, int channels, int size)
    {
        {
            var rng = new Rng(7);
            var model = ModelZoo.Create(name, channels, size, 10, 1, rng);
            model.UseOptions(EngineOptions.Default with { Threads = 2 });
            // A few training steps, so that the batch-norms' running statistics are not the defaults.
            var loss = new CrossEntropyLoss();
            var x = new Tensor(12, channels, size, size);
            rng.FillNormal(x.Span, 0, 1);
            int[] targets = [.. Enumerable.Range(0, 12).Select(i => i % 10)];
            for (int s = 0; s < 2; s++)
            {
                model.ZeroGrad();
                loss.Forward(model.Forward(x), targets);
                model.Backward(loss.Backward());
            }
            model.Eval();
            float[] whole = model.Forward(x).Span.ToArray();
            int imageLength = channels * size * size;
            foreach (int slices in new[] { 2, 3, 5 })
            {
                var sliced = new List<float>();
                for (int i = 0; i < slices; i++)
                {
                    var (start, end) = ParallelRange.Bounds(i, slices, 12);
                    sliced.AddRange(model.Forward(x.View(start * imageLength, end - start, channels, size, size)).Span.ToArray());
                }
                Assert.True(whole.AsSpan().SequenceEqual(sliced.ToArray()), $"{name}: outputs in {slices} slices differ from the whole batch's");
            }
        }
    }

    [Fact]
    public void EvaluationInSlicesGivesTheLossAndAccuracyOfWholeBatches()
    {
        // 64 test images: one batch of 64, in 4 slices with training batches of 16, whole with 64.
        var results = new List<(double, double)>();
        foreach (int batch in new[] { 16, 64 })
        {
            var tr = TrainerFixtures.Trainer(TrainerFixtures.Recipe() with { BatchSize = batch }, out var setup);
            using var _ = setup;
            for (int k = 0; k < tr.K; k++) results.Add(tr.Evaluate(k));
        }
        Assert.Equal(results.Take(3), results.Skip(3));
    }
}
