using SparseSwitch.Nn;
using SparseSwitch.Training;
using Xunit;

namespace SparseSwitch.Tests.Training;

/// <summary>The training options offered to close the gap between AST sub-nets and separately
/// trained ones: batch-norm re-estimation per sub-net and stored-prediction distillation.</summary>
public class AccuracyOptionsTests
{
    [Fact]
    public void Recalibration_makes_each_subnets_statistics_the_average_of_its_batches_statistics()
    {
        var r = TrainerFixtures.Recipe("0.5,0.2");
        var tr = TrainerFixtures.Trainer(r, out var setup);
        using var _ = setup;
        tr.RunEpoch();
        var bn = tr.Model.NamedModules().Select(m => m.Module).OfType<SwitchableBatchNorm2d>().Single();
        long passes = tr.ForwardPasses;
        tr.RecalibrateBatchNorm(3, epoch: 0);
        Assert.Equal(passes + 3 * tr.K, tr.ForwardPasses);
        var recalibrated = Enumerable.Range(0, tr.K).Select(k => (bn[k].RunningMean.ToArray(), bn[k].RunningVar.ToArray())).ToList();
        Assert.Equal(0.1f, bn[0].Momentum);

        // By hand: each batch's own statistics (momentum 1 makes them the running ones), averaged.
        for (int k = 0; k < tr.K; k++)
        {
            tr.Activate(k);
            tr.Model.Train();
            var mean = new double[bn.Channels];
            var variance = new double[bn.Channels];
            int i = 0;
            foreach (var batch in setup.TrainLoader.Epoch(0))
            {
                if (i++ == 3) break;
                bn[k].Momentum = 1f;
                tr.Model.Forward(batch.Images);
                var m = bn[k].RunningMean.ToArray(); var v = bn[k].RunningVar.ToArray();
                for (int c = 0; c < mean.Length; c++) { mean[c] += m[c] / 3; variance[c] += v[c] / 3; }
            }
            bn[k].Momentum = 0.1f;
            for (int c = 0; c < mean.Length; c++)
            {
                Assert.Equal(mean[c], recalibrated[k].Item1[c], 1e-5);
                Assert.Equal(variance[c], recalibrated[k].Item2[c], 1e-4);
            }
        }
        Assert.NotEqual(recalibrated[0].Item1, recalibrated[1].Item1); // each sub-net its own statistics
    }

    [Fact]
    public void A_run_with_recalibration_reestimates_after_the_last_epoch_only_and_counts_the_passes()
    {
        var r = TrainerFixtures.Recipe("0.5,0.2");
        string plainDir = Directory.CreateTempSubdirectory("ss-recal-a-").FullName, recalDir = Directory.CreateTempSubdirectory("ss-recal-b-").FullName;
        try
        {
            var plain = TrainingRun.Run(r, plainDir, data: TrainerFixtures.Data, modelFactory: TrainerFixtures.SmallCnn);
            var recal = TrainingRun.Run(r with { BnRecalibrate = 4 }, recalDir, data: TrainerFixtures.Data, modelFactory: TrainerFixtures.SmallCnn);
            Assert.Equal(plain.ForwardPasses + 4 * 2, recal.ForwardPasses);
            Assert.Equal(plain.BackwardPasses, recal.BackwardPasses);
            var a = new RunFolder(plainDir).ReadMetrics();
            var b = new RunFolder(recalDir).ReadMetrics();
            // Training is untouched (same losses); only the last evaluation sees other statistics.
            Assert.Equal(a.Select(m => m.TrainLoss), b.Select(m => m.TrainLoss));
            Assert.Equal(a.Where(m => m.Epoch == 0).Select(m => m.TestLoss), b.Where(m => m.Epoch == 0).Select(m => m.TestLoss));
            Assert.NotEqual(a.Where(m => m.Epoch == 1).Select(m => m.TestLoss), b.Where(m => m.Epoch == 1).Select(m => m.TestLoss));
        }
        finally
        {
            Directory.Delete(plainDir, true);
            Directory.Delete(recalDir, true);
        }
    }
}
