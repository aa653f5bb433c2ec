using SparseSwitch.Training;
using Xunit;

namespace SparseSwitch.Tests.Training;

public class TrainerAllocationTests
{
    [Fact]
    public void A_warm_AST_epoch_without_mask_updates_allocates_almost_nothing_per_iteration()
    {
        // Pruning starts after epoch 2, so epoch 1 (warm) has no mask-update events.
        var r = TrainerFixtures.Recipe() with { Epochs = 3, PruneStart = 2, PruneEnd = 3, Correction = CorrectionMode.EveryIteration };
        var tr = TrainerFixtures.Trainer(r, out var setup);
        using var _ = setup;
        tr.RunEpoch();
        long before = GC.GetAllocatedBytesForCurrentThread();
        tr.RunEpoch();
        long perIteration = (GC.GetAllocatedBytesForCurrentThread() - before) / tr.BatchesPerEpoch;
        Assert.True(perIteration < 256, $"{perIteration} bytes allocated per iteration");
    }
}
