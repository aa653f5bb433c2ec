using SparseSwitch.Nn;
using SparseSwitch.Sparsity;
using SparseSwitch.Training;
using Xunit;

namespace SparseSwitch.Tests.Training;

public class AlternatingTrainerTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Iteration_t_trains_subnet_t_mod_K_and_masks_update_on_the_clock_following_the_cubic_ramp(bool nested)
    {
        // Nested or not, every sub-net follows its own ramp (nested, a denser sub-net's prune pushes the
        // sparser masks down instead of waiting for them), and the masks stay nested throughout.
        var r = TrainerFixtures.Recipe() with { Nested = nested };
        var tr = TrainerFixtures.Trainer(r, out var setup);
        using var _ = setup;
        int K = tr.K;
        var seen = new List<(long t, int k)>();
        var updatesBefore = new long[K];
        long total = tr.Masks!.TotalPrunable;
        tr.OnIteration = (t, k, loss) =>
        {
            seen.Add((t, k));
            Assert.True(float.IsFinite(loss));
            var up = tr.Updater!;
            bool fired = tr.Clock.Fires(t);
            Assert.Equal(updatesBefore[k] + (fired ? 1 : 0), up.Updates[k]);
            for (int j = 0; j < K; j++) if (j != k) Assert.Equal(updatesBefore[j], up.Updates[j]);
            updatesBefore[k] = up.Updates[k];
            long own = tr.Clock.OwnIteration(t);
            if (fired && tr.Clock.IsRampEventOwn(k, own))
            {
                double target = DensitySchedule.Cubic(tr.Subnets[k].Density, 1.0, (int)tr.Clock.RampEventIndex(k, own), (int)tr.Clock.RampEvents(k));
                Assert.True(Math.Abs(tr.Masks.Kept(k) - target * total) <= 1.0, $"t={t} k={k}: kept {tr.Masks.Kept(k)}, cubic target {target * total}");
            }
            if (nested) Assert.True(NestedMasks.IsNested(tr.Masks, Enumerable.Range(0, K).ToArray()), $"t={t}: masks not nested");
        };
        for (int e = 0; e < r.Epochs; e++) tr.RunEpoch();
        Assert.Equal(Enumerable.Range(0, seen.Count).Select(t => (long)t), seen.Select(s => s.t));
        Assert.All(seen, s => Assert.Equal((int)(s.t % K), s.k));
        long own = tr.Iteration / K;
        for (int k = 0; k < K; k++)
        {
            Assert.Equal(tr.Clock.CountEvents(k, (tr.Iteration - k + K - 1) / K), tr.Updater!.Updates[k]);
            Assert.True(tr.Updater.Reached[k]);
            Assert.True(Math.Abs(tr.Masks.Kept(k) - tr.Subnets[k].Density * total) <= 1.0);
        }
        Assert.Equal(tr.Iteration, tr.ForwardPasses);
    }

    [Fact]
    public void Training_subnet_0_never_changes_batch_norm_set_1()
    {
        var r = TrainerFixtures.Recipe("0.5,0.2") with { Epochs = 1, PruneEnd = 1, WeightDecay = 5e-4 };
        var tr = TrainerFixtures.Trainer(r, out var setup);
        using var _ = setup;
        var bn = tr.Model.NamedModules().Select(m => m.Module).OfType<SwitchableBatchNorm2d>().Single();
        float[] Snapshot(int set) => bn[set].NamedParameters().SelectMany(p => p.Param.Data.ToArray())
            .Concat(bn[set].NamedBuffers().SelectMany(b => b.Buffer.ToArray())).ToArray();
        var before = Snapshot(1);
        int checkedSteps = 0;
        tr.OnIteration = (t, k, _) =>
        {
            var now = Snapshot(1);
            if (k == 0) { Assert.Equal(before, now); checkedSteps++; }
            else Assert.NotEqual(before, now);
            before = now;
        };
        tr.RunEpoch();
        Assert.True(checkedSteps >= 4);
    }

    [Fact]
    public void Resume_continues_exactly_like_an_uninterrupted_run()
    {
        var r = TrainerFixtures.Recipe() with { Correction = CorrectionMode.EveryIteration };
        string dirA = Path.Combine(Path.GetTempPath(), "ss-resume-a-" + Guid.NewGuid().ToString("N"));
        string dirB = Path.Combine(Path.GetTempPath(), "ss-resume-b-" + Guid.NewGuid().ToString("N"));
        try
        {
            var lossesA = new List<float>();
            AlternatingTrainer? a = null;
            TrainingRun.Run(r, dirA, data: TrainerFixtures.Data, modelFactory: TrainerFixtures.SmallCnn,
                onTrainer: t => { a = t; t.OnIteration = (_, _, l) => lossesA.Add(l); });
            var weightsA = a!.Model.StateDict().ToDictionary(kv => kv.Key, kv => kv.Value.ToArray());
            var metricsA = new RunFolder(dirA).ReadMetrics();

            // B: stops after epoch 1; a new trainer resumes from the checkpoint for epoch 2.
            var lossesB = new List<float>();
            TrainingRun.Run(r, dirB, data: TrainerFixtures.Data, modelFactory: TrainerFixtures.SmallCnn,
                onTrainer: t => t.OnIteration = (_, _, l) => lossesB.Add(l), stopAfterEpoch: 1);
            Assert.Equal(lossesA.Count / 2, lossesB.Count);
            AlternatingTrainer? b = null;
            TrainingRun.Run(r, dirB, resume: true, data: TrainerFixtures.Data, modelFactory: TrainerFixtures.SmallCnn,
                onTrainer: t => { b = t; t.OnIteration = (_, _, l) => lossesB.Add(l); });

            Assert.Equal(lossesA.Count, lossesB.Count);
            for (int i = 0; i < lossesA.Count; i++)
                Assert.True(BitConverter.SingleToInt32Bits(lossesA[i]) == BitConverter.SingleToInt32Bits(lossesB[i]), $"iteration {i}: {lossesA[i]} vs {lossesB[i]}");
            foreach (var (name, t) in b!.Model.StateDict()) Assert.Equal(weightsA[name], t.ToArray());
            var metricsB = new RunFolder(dirB).ReadMetrics();
            Assert.Equal(metricsA.Select(m => (m.Epoch, m.Subnet, m.TestAccuracy, m.TrainLoss, m.DensityPrunable, m.Projections)),
                metricsB.Select(m => (m.Epoch, m.Subnet, m.TestAccuracy, m.TrainLoss, m.DensityPrunable, m.Projections)));
            Assert.True(b.Correction.Fired.Sum() > 0);
        }
        finally
        {
            foreach (var d in new[] { dirA, dirB }) if (Directory.Exists(d)) Directory.Delete(d, true);
        }
    }

    [Theory]
    [InlineData(TrainMode.Ast, 5)]        // inside the first epoch
    [InlineData(TrainMode.Ast, 17)]       // inside the second
    [InlineData(TrainMode.Joint, 9)]
    [InlineData(TrainMode.Independent, 30)] // inside the second sub-net's run
    [InlineData(TrainMode.Ast, 17, true)]   // with distillation, correction variants, re-estimation and micro-batches
    public void A_run_stopped_inside_an_epoch_resumes_from_that_batch_exactly(TrainMode mode, int stopAfterIterations, bool options = false)
    {
        var r = TrainerFixtures.Recipe() with { Mode = mode, Correction = CorrectionMode.EveryIteration };
        if (options) r = r with { Distill = 0.5, CorrectionAverage = 0.5, CorrectionStrength = 0.75, BnRecalibrate = 2, MicroBatches = 2 };
        string dirA = Path.Combine(Path.GetTempPath(), "ss-stop-a-" + Guid.NewGuid().ToString("N"));
        string dirB = Path.Combine(Path.GetTempPath(), "ss-stop-b-" + Guid.NewGuid().ToString("N"));
        try
        {
            var lossesA = new List<float>();
            AlternatingTrainer? a = null;
            TrainingRun.Run(r, dirA, data: TrainerFixtures.Data, modelFactory: TrainerFixtures.SmallCnn,
                onTrainer: t => { a = t; t.OnIteration += (_, _, l) => lossesA.Add(l); });
            var weightsA = a!.Model.StateDict().ToDictionary(kv => kv.Key, kv => kv.Value.ToArray());

            // B: a stop request after some iterations ends the run after that batch, with a checkpoint.
            var lossesB = new List<float>();
            using var stop = new CancellationTokenSource();
            AlternatingTrainer? stoppedTrainer = null;
            var first = TrainingRun.Run(r, dirB, data: TrainerFixtures.Data, modelFactory: TrainerFixtures.SmallCnn, stop: stop.Token,
                onTrainer: t =>
                {
                    stoppedTrainer = t;
                    t.OnIteration += (_, _, l) => { lossesB.Add(l); if (lossesB.Count == stopAfterIterations) stop.Cancel(); };
                });
            Assert.True(first.Stopped);
            Assert.True(lossesB.Count < lossesA.Count);
            if (mode != TrainMode.Joint) Assert.Equal(stopAfterIterations, lossesB.Count);
            Assert.True(stoppedTrainer!.MidEpoch, "the stop should fall inside an epoch");
            AlternatingTrainer? b = null;
            var second = TrainingRun.Run(r, dirB, resume: true, data: TrainerFixtures.Data, modelFactory: TrainerFixtures.SmallCnn,
                onTrainer: t => { b = t; t.OnIteration += (_, _, l) => lossesB.Add(l); });
            Assert.False(second.Stopped);

            Assert.Equal(lossesA.Count, lossesB.Count);
            for (int i = 0; i < lossesA.Count; i++)
                Assert.True(BitConverter.SingleToInt32Bits(lossesA[i]) == BitConverter.SingleToInt32Bits(lossesB[i]), $"iteration {i}: {lossesA[i]} vs {lossesB[i]}");
            foreach (var (name, t) in b!.Model.StateDict()) Assert.Equal(weightsA[name], t.ToArray());
            Assert.Equal(new RunFolder(dirA).ReadMetrics().Select(m => (m.Epoch, m.Subnet, m.TestAccuracy, m.TrainLoss, m.DensityPrunable, m.Projections)),
                new RunFolder(dirB).ReadMetrics().Select(m => (m.Epoch, m.Subnet, m.TestAccuracy, m.TrainLoss, m.DensityPrunable, m.Projections)));
        }
        finally
        {
            foreach (var d in new[] { dirA, dirB }) if (Directory.Exists(d)) Directory.Delete(d, true);
        }
    }

    [Theory]
    [InlineData("0.5,0.2", false)]
    [InlineData("2:4,1:4", false)]
    [InlineData("0.5,0.2", true)]
    public void Checkpoints_keep_the_entry_names_and_shapes_of_format_1(string subnets, bool dense)
    {
        // The names the format was first written with, derived from the model as that code did.
        var r = TrainerFixtures.Recipe(subnets) with { Epochs = 1, PruneEnd = 1, Mode = dense ? TrainMode.Dense : TrainMode.Ast };
        var tr = TrainerFixtures.Trainer(r, out var setup);
        using var _ = setup;
        tr.RunEpoch();
        string file = Path.Combine(Path.GetTempPath(), "ss-ckpt-" + Guid.NewGuid().ToString("N") + ".safetensors");
        try
        {
            TrainerCheckpoint.Save(tr, file);
            var f = SparseSwitch.Serialization.SafeTensors.Load(file);
            var expected = new Dictionary<string, long[]>();
            foreach (var (name, t) in tr.Model.StateDict()) expected["model." + name] = t.Shape.Select(d => (long)d).ToArray();
            foreach (var (prefix, opt) in tr.Optimizers.All())
            {
                foreach (var (name, t) in opt.StateTensors()) expected[$"{prefix}.{name}"] = t.Shape.Select(d => (long)d).ToArray();
                expected[$"{prefix}.step"] = [1];
            }
            var prunable = setup.Prunable;
            if (!dense)
                for (int k = 0; k < tr.K; k++)
                    foreach (var (path, p) in prunable)
                    {
                        expected[$"mask.{k}.{path}"] = [(p.Length + 7) / 8];
                        if (tr.Subnets.IsNm) expected[$"nmdense.{k}.{path}"] = [(tr.Updater!.DenseGroups![k][prunable.ToList().FindIndex(x => x.Path == path)].Length + 7) / 8];
                    }
            for (int i = 0; i < prunable.Count; i++)
                expected[$"corr.prev.{i}"] = tr.Correction.Mode == CorrectionMode.Off ? [0] : prunable[i].Param.Shape.Select(d => (long)d).ToArray();
            if (!dense) foreach (var n in new[] { "subnet.updates", "subnet.change", "subnet.reached" }) expected[n] = [tr.K];
            if (!dense) expected["rng.mask"] = [f["rng.mask"].Shape[0]];
            expected["corr.tested"] = [prunable.Count];
            expected["corr.fired"] = [prunable.Count];
            expected["counters"] = [5];
            expected["cost"] = [3];
            Assert.Equal(expected.Keys.Order(), f.Names.Order());
            foreach (var (name, shape) in expected) Assert.Equal(shape, f[name].Shape);
            Assert.Equal(TrainerCheckpoint.Format, f.Meta("format"));
        }
        finally { File.Delete(file); }
    }

    [Fact]
    public void Resume_under_SR_STE_measures_the_first_mask_change_against_the_checkpointed_masks()
    {
        var r = TrainerFixtures.Recipe("2:4,1:4") with { SrSte = true };
        string dirA = Path.Combine(Path.GetTempPath(), "ss-srste-a-" + Guid.NewGuid().ToString("N"));
        string dirB = Path.Combine(Path.GetTempPath(), "ss-srste-b-" + Guid.NewGuid().ToString("N"));
        try
        {
            // The SAD (mask change) of the sub-net trained at each iteration, and the loss.
            var sadA = new List<(float, long)>();
            TrainingRun.Run(r, dirA, data: TrainerFixtures.Data, modelFactory: TrainerFixtures.SmallCnn,
                onTrainer: t => t.OnIteration = (_, k, l) => sadA.Add((l, t.Updater!.LastChange[k])));
            var sadB = new List<(float, long)>();
            TrainingRun.Run(r, dirB, data: TrainerFixtures.Data, modelFactory: TrainerFixtures.SmallCnn,
                onTrainer: t => t.OnIteration = (_, k, l) => sadB.Add((l, t.Updater!.LastChange[k])), stopAfterEpoch: 1);
            int resumedAt = sadB.Count;
            TrainingRun.Run(r, dirB, resume: true, data: TrainerFixtures.Data, modelFactory: TrainerFixtures.SmallCnn,
                onTrainer: t => t.OnIteration = (_, k, l) => sadB.Add((l, t.Updater!.LastChange[k])));
            Assert.Equal(sadA.Count, sadB.Count);
            // The first refreshes after the resume are compared against the stored masks (not 0).
            Assert.True(sadA.Skip(resumedAt).Take(2).Any(x => x.Item2 > 0), "the fixture should change masks right after the resume point");
            Assert.Equal(sadA, sadB);
        }
        finally
        {
            foreach (var d in new[] { dirA, dirB }) if (Directory.Exists(d)) Directory.Delete(d, true);
        }
    }
}

public class PruneWindowTests
{
    [Fact]
    public void No_mask_changes_before_the_prune_start_epoch_and_the_ramp_ends_by_the_prune_end_epoch()
    {
        var r = TrainerFixtures.Recipe() with { Epochs = 3, PruneStart = 1, PruneEnd = 2, UpdateEvery = 1 };
        var tr = TrainerFixtures.Trainer(r, out var setup);
        using var _ = setup;
        tr.RunEpoch();
        Assert.All(tr.Updater!.Updates, u => Assert.Equal(0, u));
        for (int k = 0; k < tr.K; k++) Assert.Equal(tr.Masks!.TotalPrunable, tr.Masks.Kept(k));
        tr.RunEpoch();
        for (int k = 0; k < tr.K; k++)
        {
            Assert.True(tr.Updater.Reached[k], $"sub-net {k} did not finish its ramp by the end of epoch 2");
            Assert.True(Math.Abs(tr.Masks!.Kept(k) - tr.Subnets[k].Density * tr.Masks.TotalPrunable) <= 1.0);
        }
    }
}
