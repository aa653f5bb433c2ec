using SparseSwitch.Training;
using Xunit;

namespace SparseSwitch.Tests.Training;

public class FlopCounterTests
{
    [Fact]
    public void Counts_multiply_adds_of_convolutions_and_linear_layers_from_shapes()
    {
        var tr = TrainerFixtures.Trainer(TrainerFixtures.Recipe() with { Epochs = 1, PruneEnd = 1 }, out var setup);
        using var _ = setup;
        // stem 3→8, 3×3, stride 2 on 32×32 → 16×16 outputs; conv 8→12, 3×3, stride 2 → 8×8; linear 12→10.
        long stem = 8L * 3 * 9 * 16 * 16, conv = 12L * 8 * 9 * 8 * 8, fc = 12L * 10;
        Assert.Equal(stem + conv + fc, tr.Flops.DenseForward());
        Assert.Equal([256L, 64L, 1L], tr.Flops.Entries.Select(e => e.UsesPerSample));
        // Sub-net k costs the stem densely plus its kept prunable weights times their uses.
        tr.RunEpoch();
        for (int k = 0; k < tr.K; k++)
        {
            long kept0 = tr.Masks!.Get(k, 0).Count(), kept1 = tr.Masks.Get(k, 1).Count();
            Assert.Equal(stem + kept0 * 64 + kept1, tr.InferenceMacs(k));
        }
        Assert.Equal(3.0 * tr.Flops.DenseForward() * tr.Iteration * tr.Recipe.BatchSize, tr.TrainMacsDense);
        Assert.True(tr.TrainMacsMasked < tr.TrainMacsDense);
    }
}
