using SparseSwitch.Nn;
using SparseSwitch.Tensors;
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
        var shared = tr.Model.NamedModules().Select(m => m.Module).OfType<BatchNorm2d>().Single(b => b.Channels == 8); // the stem's (the sub-nets' have 12 channels)
        var (sharedMean, sharedVar) = (shared.RunningMean.ToArray(), shared.RunningVar.ToArray());
        tr.RecalibrateBatchNorm(3, epoch: 0);
        // The stem's batch-norm, which every sub-net shares, keeps its statistics.
        Assert.Equal(sharedMean, shared.RunningMean.ToArray());
        Assert.Equal(sharedVar, shared.RunningVar.ToArray());
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
            // The last epoch also reports the accuracy before the re-estimation: the plain run's.
            Assert.Equal(a.Where(m => m.Epoch == 1).Select(m => (double?)m.TestAccuracy), b.Where(m => m.Epoch == 1).Select(m => m.TestAccuracyBeforeRecalibration));
            Assert.All(b.Where(m => m.Epoch == 0), m => Assert.Null(m.TestAccuracyBeforeRecalibration));
            Assert.All(a, m => Assert.Null(m.TestAccuracyBeforeRecalibration));
            Assert.DoesNotContain("before_recalibration", File.ReadAllText(Path.Combine(plainDir, "metrics.jsonl")));
        }
        finally
        {
            Directory.Delete(plainDir, true);
            Directory.Delete(recalDir, true);
        }
    }

    private static double SoftLoss(float[] z, int b, int c, int[] y, float[] soft, float[] w, float eps)
    {
        double total = 0;
        for (int i = 0; i < b; i++)
        {
            double max = z.Skip(i * c).Take(c).Max();
            double lse = Math.Log(Enumerable.Range(0, c).Sum(j => Math.Exp(z[i * c + j] - max))) + max;
            double nll = lse - z[i * c + y[i]];
            double mean = Enumerable.Range(0, c).Average(j => lse - z[i * c + j]);
            double hard = (1 - eps) * nll + eps * mean;
            double softNll = Enumerable.Range(0, c).Sum(j => soft[i * c + j] * (lse - z[i * c + j]));
            total += (1 - w[i]) * hard + w[i] * softNll;
        }
        return total / b;
    }

    [Theory]
    [InlineData(0f)]
    [InlineData(0.1f)]
    public void Soft_targets_give_the_mixed_loss_and_its_gradient(float eps)
    {
        const int b = 4, c = 5;
        var rng = new Rng(3);
        var z = new float[b * c];
        rng.FillUniform(z, -2, 2);
        int[] y = [1, 4, 0, 2];
        var soft = new float[b * c];
        rng.FillUniform(soft, 0.1f, 1);
        for (int i = 0; i < b; i++)
        {
            float sum = soft.Skip(i * c).Take(c).Sum();
            for (int j = 0; j < c; j++) soft[i * c + j] /= sum;
        }
        float[] w = [0f, 0.3f, 1f, 0.7f];
        var loss = new CrossEntropyLoss(eps);
        var logits = Tensor.FromArray(z, b, c);
        float value = loss.Forward(logits, y, soft, w);
        Assert.Equal(SoftLoss(z, b, c, y, soft, w, eps), value, 1e-5);
        var grad = loss.Backward().ToArray();
        for (int k = 0; k < z.Length; k++)
        {
            var zp = (float[])z.Clone(); zp[k] += 1e-3f;
            var zm = (float[])z.Clone(); zm[k] -= 1e-3f;
            double numeric = (SoftLoss(zp, b, c, y, soft, w, eps) - SoftLoss(zm, b, c, y, soft, w, eps)) / 2e-3;
            Assert.Equal(numeric, grad[k], 1e-4);
        }
        // All weights 0: the plain loss, whatever the soft rows hold.
        var plain = new CrossEntropyLoss(eps);
        Assert.Equal(plain.Forward(logits, y), loss.Forward(logits, y, new float[b * c], new float[b]), 6);
        Assert.Equal(plain.Backward().ToArray(), loss.Backward().ToArray());
    }

    [Fact]
    public void Distillation_stores_the_teachers_predictions_and_the_sparser_subnets_learn_from_them()
    {
        var r = TrainerFixtures.Recipe("0.5,0.2") with { Distill = 0.5, PruneEnd = 1 };
        var tr = TrainerFixtures.Trainer(r, out var setup);
        using var _ = setup;
        var d = tr.Distillation!;
        Assert.Equal(0, d.Teacher);
        // Within an epoch every image comes once, so the sparser sub-net meets the teacher's
        // predictions from the second epoch on.
        tr.RunEpoch();
        Assert.Equal(0, d.Used);
        tr.RunEpoch();
        // The teacher trained on even iterations; its rows hold distributions, the others NaN.
        var store = d.Store.ToArray();
        int c = d.Store.Dim(1), filled = 0;
        for (int i = 0; i < d.Store.Dim(0); i++)
        {
            var row = store.AsSpan(i * c, c);
            if (float.IsNaN(row[0])) continue;
            filled++;
            Assert.Equal(1.0, row.ToArray().Sum(), 1e-4);
        }
        Assert.InRange(filled, 96, 192);
        Assert.True(d.Used > 0, "the sparser sub-net should have met images the teacher had predicted");

        // Without distillation the sparser sub-net's losses differ (same everything else).
        var plainRun = new List<float>(); var distilledRun = new List<float>();
        foreach (var (recipe, list) in new[] { (r with { Distill = 0 }, plainRun), (r, distilledRun) })
        {
            var t = TrainerFixtures.Trainer(recipe, out var s);
            using var __ = s;
            t.OnIteration = (_, k, l) => { if (k == 1) list.Add(l); };
            t.RunEpoch();
            t.RunEpoch();
        }
        Assert.NotEqual(plainRun, distilledRun);
        Assert.Throws<ArgumentException>(() => (r with { Mode = TrainMode.Independent }).Validate());
    }

    [Fact]
    public void Weighted_sampling_trains_each_subnet_by_its_weight_and_every_subnet_reaches_its_density()
    {
        var r = TrainerFixtures.Recipe("0.5,0.2,0.1") with { SubnetWeights = "1,1,2" };
        var tr = TrainerFixtures.Trainer(r, out var setup);
        using var _ = setup;
        var turns = new int[3];
        tr.OnIteration = (t, k, _) => turns[k]++;
        tr.RunEpoch();
        tr.RunEpoch();
        Assert.Equal(new[] { 6, 6, 12 }, turns);   // 24 iterations in cycles of 4
        var metrics = tr.EpochReport("run", [0, 0, 0]);
        Assert.Equal(new[] { 0.5, 0.2, 0.1 }, metrics.Select(m => Math.Round(m.DensityPrunable, 2)));
        Assert.Throws<ArgumentException>(() => (r with { SubnetWeights = "1,2" }).Validate());
        Assert.Throws<ArgumentException>(() => (r with { SubnetWeights = "1,0,2" }).Validate());
        Assert.Throws<ArgumentException>(() => (r with { SubnetWeights = "1,1,x" }).Validate());
        Assert.Throws<ArgumentException>(() => (r with { Mode = TrainMode.Joint }).Validate());
    }

    [Fact]
    public void A_ramp_with_too_few_updates_is_warned_of_before_and_after_the_run()
    {
        // 12 iterations per epoch, one epoch: 4 own iterations per sub-net; ΔT 10 staggered by 3
        // puts sub-net 2's first update at its own iteration 6, after the run.
        var r = TrainerFixtures.Recipe("0.5,0.2,0.1") with { Epochs = 1, PruneEnd = 1, UpdateEvery = 10 };
        string dir = Directory.CreateTempSubdirectory("ss-warn-").FullName;
        try
        {
            var output = new StringWriter();
            TrainingRun.Run(r, dir, progress: output, data: TrainerFixtures.Data, modelFactory: TrainerFixtures.SmallCnn);
            var lines = output.ToString().Split('\n');
            Assert.Contains(lines, l => l.StartsWith("warning: sub-net [0.1] gets no mask update", StringComparison.Ordinal));
            Assert.Contains(lines, l => l.StartsWith("warning: sub-net [0.1] ended at density", StringComparison.Ordinal));
            Assert.DoesNotContain(lines, l => l.Contains("[0.5] gets no mask update") || l.Contains("[0.2] gets no mask update"));
            Assert.Contains("warning: sub-net [0.1]", File.ReadAllText(new RunFolder(dir).LogFile));

            // A ramp with updates enough warns of nothing.
            var quiet = new StringWriter();
            TrainingRun.Run(TrainerFixtures.Recipe(), Path.Combine(dir, "ok"), progress: quiet, data: TrainerFixtures.Data, modelFactory: TrainerFixtures.SmallCnn);
            Assert.DoesNotContain("warning", quiet.ToString());
        }
        finally { Directory.Delete(dir, true); }
    }
}
