using SparseSwitch.Nn;
using SparseSwitch.Sparsity;
using SparseSwitch.Training;
using Xunit;

namespace SparseSwitch.Tests.Training;

/// <summary>N:M sub-nets with their ramp, SR-STE, nested masks and the baselines, run by the same trainer.</summary>
public class SubnetVariantsTests
{
    [Fact]
    public void Nm_ramp_shrinks_random_dense_groups_and_ends_exactly_N_of_M()
    {
        var r = TrainerFixtures.Recipe("2:4,1:4") with { Epochs = 2, PruneEnd = 1.5, UpdateEvery = 1 };
        var tr = TrainerFixtures.Trainer(r, out var setup);
        using var _ = setup;
        var up = tr.Updater!;
        var masks = tr.Masks!;
        var dense = up.DenseGroups!.Select(row => row.Select(m => m.Clone()).ToArray()).ToArray();
        int shrinkEvents = 0;
        tr.OnIteration = (t, k, _) =>
        {
            for (int i = 0; i < masks.Layers; i++)
            {
                var now = up.DenseGroups![k][i];
                Assert.True(now.IsSubsetOf(dense[k][i]), $"t={t}: a group of sub-net {k} became dense again");
                if (now.Count() < dense[k][i].Count()) shrinkEvents++;
                dense[k][i] = now.Clone();
                // Once no group is dense the mask is exactly N:M.
                if (now.Count() == 0)
                    Assert.True(NmMask.IsValid(masks.Get(k, i), masks.Parameters[i].Shape, tr.Subnets[k].N, tr.Subnets[k].M));
            }
        };
        for (int e = 0; e < r.Epochs; e++) tr.RunEpoch();
        Assert.True(shrinkEvents > 2);
        for (int k = 0; k < tr.K; k++)
        {
            Assert.True(up.Reached[k]);
            for (int i = 0; i < masks.Layers; i++)
                Assert.True(NmMask.IsValid(masks.Get(k, i), masks.Parameters[i].Shape, tr.Subnets[k].N, tr.Subnets[k].M), $"sub-net {k} layer {i} is not N:M");
        }
        // The dense groups were chosen at random: two seeds give different choices.
        var tr2 = TrainerFixtures.Trainer(r with { Seed = 99 }, out var setup2);
        using var __ = setup2;
        tr2.RunEpoch();
        var tr3 = TrainerFixtures.Trainer(r, out var setup3);
        using var ___ = setup3;
        tr3.RunEpoch();
        Assert.NotEqual(tr3.Updater!.DenseGroups![0][0].ToBytes(), tr2.Updater!.DenseGroups![0][0].ToBytes());
    }

    [Fact]
    public void SrSte_keeps_masks_N_of_M_and_records_mask_changes()
    {
        var r = TrainerFixtures.Recipe("2:4,1:4") with { SrSte = true, Epochs = 1, PruneEnd = 1 };
        var tr = TrainerFixtures.Trainer(r, out var setup);
        using var _ = setup;
        var masks = tr.Masks!;
        long changes = 0;
        tr.OnIteration = (t, k, _) =>
        {
            changes += tr.Updater!.LastChange[k];
            for (int i = 0; i < masks.Layers; i++)
                Assert.True(NmMask.IsValid(masks.Get(k, i), masks.Parameters[i].Shape, tr.Subnets[k].N, tr.Subnets[k].M));
        };
        tr.RunEpoch();
        Assert.True(changes > 0);
        Assert.Equal(tr.Iteration + tr.K, tr.Updater!.Updates.Sum() + tr.K); // one refresh per iteration
    }

    [Fact]
    public void Nested_masks_stay_subsets_at_every_iteration()
    {
        var r = TrainerFixtures.Recipe("0.5,0.2,0.1") with { Nested = true, UpdateEvery = 1 };
        var tr = TrainerFixtures.Trainer(r, out var setup);
        using var _ = setup;
        var masks = tr.Masks!;
        tr.OnIteration = (t, _, _) =>
        {
            for (int k = 1; k < tr.K; k++)
                for (int i = 0; i < masks.Layers; i++)
                    Assert.True(masks.Get(k, i).IsSubsetOf(masks.Get(k - 1, i)), $"t={t}: sub-net {k} layer {i} is not inside sub-net {k - 1}");
        };
        for (int e = 0; e < r.Epochs; e++) tr.RunEpoch();
        long total = masks.TotalPrunable;
        for (int k = 0; k < tr.K; k++) Assert.True(Math.Abs(masks.Kept(k) - tr.Subnets[k].Density * total) <= 1.0);
    }

    [Fact]
    public void Nested_masks_are_the_default_for_densities_listed_densest_first_and_never_for_nm()
    {
        Assert.True(new TrainRecipe().NestedMasks);
        Assert.True(TrainerFixtures.Recipe("0.5,0.2,0.1").NestedMasks);
        Assert.False(TrainerFixtures.Recipe("0.1,0.5").NestedMasks);
        Assert.False(TrainerFixtures.Recipe("2:4,1:4").NestedMasks);
        Assert.False((TrainerFixtures.Recipe("0.5,0.2,0.1") with { Nested = false }).NestedMasks);
        // Asked for where it cannot apply: refused, naming the option.
        var nm = Assert.Throws<ArgumentException>(() => (TrainerFixtures.Recipe("2:4,1:4") with { Nested = true }).Validate());
        Assert.StartsWith("nested:", nm.Message);
        var order = Assert.Throws<ArgumentException>(() => (TrainerFixtures.Recipe("0.1,0.5") with { Nested = true }).Validate());
        Assert.Contains("densest first", order.Message);
        (TrainerFixtures.Recipe("0.1,0.5") with { Nested = true, Mode = TrainMode.Independent }).Validate(); // nothing to nest there

        // A run with the defaults trains nested masks, and its recipe.json says so (so that a resumed
        // run keeps what it started with).
        var r = TrainerFixtures.Recipe("0.5,0.2,0.1") with { Epochs = 1, PruneEnd = 1 };
        Assert.Null(r.Nested);
        string dir = Directory.CreateTempSubdirectory("ss-nested-default-").FullName;
        try
        {
            AlternatingTrainer? trainer = null;
            TrainingRun.Run(r, dir, data: TrainerFixtures.Data, modelFactory: TrainerFixtures.SmallCnn, onTrainer: t => trainer = t);
            var masks = trainer!.Masks!;
            // Each sub-net ends at its own density, however few its mask events.
            for (int k = 0; k < trainer.K; k++)
                Assert.True(Math.Abs(masks.Kept(k) - trainer.Subnets[k].Density * masks.TotalPrunable) <= 1.0, $"sub-net {k}: kept {masks.Kept(k)} of {masks.TotalPrunable}");
            for (int k = 1; k < trainer.K; k++)
                for (int i = 0; i < masks.Layers; i++)
                    Assert.True(masks.Get(k, i).IsSubsetOf(masks.Get(k - 1, i)), $"sub-net {k} layer {i} is not inside sub-net {k - 1}");
            Assert.True(new RunFolder(dir).ReadRecipe().Nested);
        }
        finally { Directory.Delete(dir, true); }
    }

    /// <summary>What happened, over <paramref name="r"/>'s training, to the positions the active
    /// sub-net does not hold, on the steps where no mask changed: those another sub-net holds (and how
    /// many of them moved), and those no sub-net holds with a non-zero weight (how many moved, how many
    /// shrank in magnitude).</summary>
    private static (long OthersOnly, long OthersMoved, long Nobody, long NobodyMoved, long NobodyShrank) MovesOutsideTheActiveMask(TrainRecipe r)
    {
        var tr = TrainerFixtures.Trainer(r, out var setup);
        using var _ = setup;
        var masks = tr.Masks!;
        float[] before = tr.Table.Data.ToArray();
        long othersOnly = 0, othersMoved = 0, nobody = 0, nobodyMoved = 0, nobodyShrank = 0;
        tr.OnIteration = (t, k, loss) =>
        {
            var data = tr.Table.Data.Span;
            if (!tr.Clock.Fires(t))   // the masks did not change at this step
            {
                var own = masks.Flat(k);
                for (int i = 0; i < own.Length; i++)
                {
                    if (own[i]) continue;
                    bool held = false;
                    for (int j = 0; j < tr.K; j++) held |= masks.Flat(j)[i];
                    if (held) { othersOnly++; if (data[i] != before[i]) othersMoved++; }
                    else if (before[i] != 0)
                    {
                        nobody++;
                        if (data[i] != before[i]) nobodyMoved++;
                        if (Math.Abs(data[i]) < Math.Abs(before[i])) nobodyShrank++;
                    }
                }
            }
            before = data.ToArray();
        };
        for (int e = 0; e < r.Epochs; e++) tr.RunEpoch();
        Assert.True(othersOnly > 1000 && nobody > 1000, $"too few positions checked: {othersOnly} held by others only, {nobody} held by none");
        return (othersOnly, othersMoved, nobody, nobodyMoved, nobodyShrank);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Decay_of_others_false_leaves_a_weight_alone_on_the_steps_of_subnets_not_holding_it(bool decayOthers)
    {
        // No momentum and no correction: a weight the active sub-net does not hold moves only by decay.
        var (othersOnly, othersMoved, nobody, _, nobodyDecayed) = MovesOutsideTheActiveMask(TrainerFixtures.Recipe("0.5,0.2,0.1") with
        {
            DecayOthers = decayOthers, Momentum = 0, Correction = CorrectionMode.Off, Nested = false, Epochs = 2, PruneEnd = 1,
        });
        Assert.Equal(nobody, nobodyDecayed);                    // weights no sub-net holds decay at every step either way
        if (decayOthers) Assert.Equal(othersOnly, othersMoved); // PyTorch's rule: every weight decays at every step
        else Assert.Equal(0, othersMoved);
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(0.5)]
    public void Others_gradient_moves_the_weights_only_other_subnets_hold_on_every_step(double alpha)
    {
        // No momentum and no weight decay: a weight moves only by its own gradient at this step.
        var (othersOnly, othersMoved, _, nobodyMoved, _) = MovesOutsideTheActiveMask(TrainerFixtures.Recipe("0.5,0.2,0.1") with
        {
            OthersGradient = alpha, Momentum = 0, WeightDecay = 0, Epochs = 2, PruneEnd = 1,
        });
        Assert.Equal(0, nobodyMoved);                     // positions no sub-net holds get no gradient either way
        if (alpha == 0) Assert.Equal(0, othersMoved);     // masked: only the sub-nets holding a weight train it
        else Assert.True(othersMoved > othersOnly * 9 / 10, $"{othersMoved} of {othersOnly} moved");
    }

    [Fact]
    public void Others_gradient_is_refused_outside_ast_with_masks_and_out_of_range()
    {
        foreach (var (bad, text) in new[]
        {
            (TrainerFixtures.Recipe() with { OthersGradient = 0.5, Mode = TrainMode.Joint }, "mode ast"),
            (TrainerFixtures.Recipe() with { OthersGradient = 1.5 }, "[0, 1]"),
            (TrainerFixtures.Recipe() with { OthersGradient = -0.1 }, "[0, 1]"),
            (TrainerFixtures.Recipe() with { OthersGradient = double.NaN }, "[0, 1]"),
        })
        {
            var e = Assert.Throws<ArgumentException>(bad.Validate);
            Assert.StartsWith("others-gradient:", e.Message);
            Assert.Contains(text, e.Message);
        }
        (TrainerFixtures.Recipe() with { OthersGradient = 1 }).Validate();
    }

    [Fact]
    public void Decay_of_others_false_is_refused_outside_ast_with_masks()
    {
        var e = Assert.Throws<ArgumentException>(() => (TrainerFixtures.Recipe() with { DecayOthers = false, Mode = TrainMode.Joint }).Validate());
        Assert.StartsWith("decay-others:", e.Message);
        (TrainerFixtures.Recipe() with { DecayOthers = false }).Validate();
    }

    [Fact]
    public void The_correction_is_off_by_default_and_its_shape_options_need_a_correction_mode()
    {
        var r = TrainerFixtures.Recipe();
        Assert.Equal(CorrectionMode.Off, r.Correction);
        var tr = TrainerFixtures.Trainer(r, out var setup);
        using (setup)
        {
            tr.RunEpoch();
            Assert.Equal(0, tr.Correction.Tested.Sum());
        }
        foreach (var bad in new[] { r with { CorrectionStrength = 0.5 }, r with { CorrectionAverage = 0.9 }, r with { Correction = CorrectionMode.Reference, CorrectionStrength = 0.5 } })
        {
            var e = Assert.Throws<ArgumentException>(bad.Validate);
            Assert.StartsWith("correction-", e.Message);
            Assert.Contains("--correction inner-group", e.Message);
        }
        (r with { Correction = CorrectionMode.InnerGroup, CorrectionStrength = 0.5, CorrectionAverage = 0.9 }).Validate();
        (r with { Correction = CorrectionMode.EveryIteration, CorrectionStrength = 0.5 }).Validate();
    }

    [Fact]
    public void Split_batch_trains_every_subnet_on_its_slice_of_every_batch_in_one_pass()
    {
        var r = TrainerFixtures.Recipe() with { SplitBatch = true, Epochs = 1, PruneEnd = 1, UpdateEvery = 3 };
        var tr = TrainerFixtures.Trainer(r, out var setup);
        using (setup)
        {
            var seen = new List<(long T, int K)>();
            tr.OnIteration = (t, k, _) => seen.Add((t, k));
            tr.RunEpoch();
            // Every iteration trains every sub-net, in order, and the batch costs one pass.
            Assert.Equal(Enumerable.Range(0, tr.BatchesPerEpoch).SelectMany(t => Enumerable.Range(0, tr.K).Select(k => ((long)t, k))), seen);
            Assert.Equal(tr.BatchesPerEpoch, tr.ForwardPasses);
            Assert.Equal(tr.BatchesPerEpoch, tr.BackwardPasses);
            // Each sub-net's clock counts every iteration, as a single-sparsity run's does.
            for (int k = 0; k < tr.K; k++)
            {
                long fires = Enumerable.Range(0, tr.BatchesPerEpoch).Count(t => tr.Clock.FiresOwn(k, t));
                Assert.True(fires > tr.BatchesPerEpoch / (3 * tr.K), $"sub-net {k}: {fires} updates");
                Assert.Equal(fires, tr.Updater!.Updates[k]);
                Assert.True(tr.Updater.Reached[k]);
            }
            for (int k = 1; k < tr.K; k++)
                for (int i = 0; i < tr.Masks!.Layers; i++)
                    Assert.True(tr.Masks.Get(k, i).IsSubsetOf(tr.Masks.Get(k - 1, i)));
        }
        // One sub-net takes the whole batch: the same run as AST with that sub-net alone, bit for bit.
        var one = TrainerFixtures.Recipe("0.2") with { Epochs = 1, PruneEnd = 1, UpdateEvery = 3 };
        var a = TrainerFixtures.Trainer(one, out var s1);
        var b = TrainerFixtures.Trainer(one with { SplitBatch = true }, out var s2);
        using (s1)
        using (s2)
        {
            a.RunEpoch();
            b.RunEpoch();
            Assert.Equal(a.StateHash(), b.StateHash());
        }
        // Three sub-nets on slices differ from round robin.
        var c = TrainerFixtures.Trainer(TrainerFixtures.Recipe() with { Epochs = 1, PruneEnd = 1, UpdateEvery = 3 }, out var s3);
        using (s3)
        {
            c.RunEpoch();
            Assert.NotEqual(c.StateHash(), tr.StateHash());
        }
    }

    [Fact]
    public void Split_batch_with_micro_batches_takes_the_same_step()
    {
        // Without batch-norm (which sees each micro-batch) and before any mask update, two
        // micro-batches per slice sum to the slice's gradient (up to the order of the sums): the
        // weights after three steps agree closely either way.
        var r = TrainerFixtures.Recipe() with { SplitBatch = true, Epochs = 1, PruneStart = 1, PruneEnd = 1 };
        static Module NoBatchNorm(TrainingSetup s)
        {
            var conv = new Conv2d(3, 8, 3, stride: 2, padding: 1, bias: false, rng: s.ModelRng);
            var fc = new Linear(8, 10, rng: s.ModelRng);
            conv.Weight.Prunable = true;
            fc.Weight.Prunable = true;
            return new Sequential(conv, new ReLU(), new GlobalAvgPool2d(), new Flatten(), fc);
        }
        AlternatingTrainer Trainer(TrainRecipe recipe, out TrainingSetup setup)
        {
            setup = new TrainingSetup(recipe, TrainerFixtures.Data, NoBatchNorm);
            return new AlternatingTrainer(setup);
        }
        float[] After(TrainRecipe recipe)
        {
            var tr = Trainer(recipe, out var setup);
            using (setup)
            {
                using var stop = new CancellationTokenSource();
                tr.OnIteration = (t, _, _) => { if (t == 2) stop.Cancel(); };
                Assert.Null(tr.RunEpoch(stop.Token));
                Assert.Equal(3, tr.Iteration);
                return tr.Table.Data.ToArray();
            }
        }
        var one = After(r);
        var two = After(r with { MicroBatches = 2 });
        var start = Trainer(r, out var s0);
        float[] initial;
        using (s0) initial = start.Table.Data.ToArray();
        double moved = one.Zip(initial, (a, b) => Math.Abs(a - b)).Max();
        double diff = one.Zip(two, (a, b) => Math.Abs(a - b)).Max();
        Assert.True(moved > 1e-3, $"the steps moved the weights by at most {moved}");
        Assert.True(diff < 1e-5, $"micro-batches changed a weight by {diff} (the steps moved them by up to {moved})");
    }

    [Fact]
    public void Split_batch_is_refused_when_the_training_set_cannot_give_every_subnet_an_image()
    {
        var r = TrainerFixtures.Recipe() with { SplitBatch = true };
        var (train, test) = TrainerFixtures.Data;
        var ex = Assert.Throws<ArgumentException>(() => new TrainingSetup(r, (train.Subset([0, 1]), test), TrainerFixtures.SmallCnn));
        Assert.Contains("split-batch", ex.Message);
    }

    [Fact]
    public void Split_batch_is_refused_with_options_that_work_on_one_subnet_per_step()
    {
        var r = TrainerFixtures.Recipe() with { SplitBatch = true };
        r.Validate();
        foreach (var (bad, name) in new[]
        {
            (r with { Correction = CorrectionMode.InnerGroup }, "correction"), (r with { SubnetWeights = "1,1,2" }, "subnet-weights"),
            (r with { CoverageScale = true }, "coverage-scale"), (r with { DecayOthers = false }, "decay-others"),
            (r with { Distill = 0.5 }, "distill"), (r with { OthersGradient = 0.5 }, "others-gradient"), (r with { Mode = TrainMode.Joint }, "mode ast"), (r with { BatchSize = 2 }, "one image per sub-net"),
        })
        {
            var e = Assert.Throws<ArgumentException>(bad.Validate);
            Assert.StartsWith("split-batch:", e.Message);
            Assert.Contains(name, e.Message);
        }
    }

    [Fact]
    public void Joint_runs_every_subnet_on_every_batch_and_dense_runs_one_pass()
    {
        var joint = TrainerFixtures.Trainer(TrainerFixtures.Recipe() with { Mode = TrainMode.Joint, Epochs = 1, PruneEnd = 1 }, out var s1);
        using (s1)
        {
            joint.RunEpoch();
            Assert.Equal(joint.K * joint.BatchesPerEpoch, joint.ForwardPasses);
            Assert.Equal(joint.K * joint.BatchesPerEpoch, joint.BackwardPasses);
            Assert.All(joint.Updater!.Updates, u => Assert.True(u > 0));
            Assert.Equal(0, joint.Correction.Tested.Sum());
        }
        var dense = TrainerFixtures.Trainer(TrainerFixtures.Recipe() with { Mode = TrainMode.Dense, Epochs = 1, PruneEnd = 1 }, out var s2);
        using (s2)
        {
            dense.RunEpoch();
            Assert.Null(dense.Masks);
            Assert.Equal(dense.BatchesPerEpoch, dense.ForwardPasses);
            Assert.Equal(1, dense.K);
            Assert.All(dense.Setup.Prunable, p => Assert.Null(p.Param.Mask));
            Assert.Equal(dense.TrainMacsDense, dense.TrainMacsMasked);
        }
    }

    [Fact]
    public void Independent_and_experiment_runs_write_their_folders_and_table()
    {
        string dir = Path.Combine(Path.GetTempPath(), "ss-exp-" + Guid.NewGuid().ToString("N"));
        try
        {
            var r = TrainerFixtures.Recipe("0.5,0.2") with { Epochs = 1, PruneEnd = 1, Seeds = 2 };
            var table = ExperimentRunner.Run(r, [TrainMode.Ast, TrainMode.Independent, TrainMode.Joint, TrainMode.Dense], dir,
                modelFactory: TrainerFixtures.SmallCnn, data: TrainerFixtures.Data)!;
            Assert.Equal(2 + 2 + 2 + 1, table.Rows.Count);
            var ast = table.Rows.Where(x => x.Approach == "ast").ToList();
            var ind = table.Rows.Where(x => x.Approach == "independent").ToList();
            var joint = table.Rows.Where(x => x.Approach == "joint").ToList();
            Assert.All(table.Rows, x => Assert.Equal(2, x.Seeds));
            // Cost: AST = one pass per batch; independent = K runs; joint = K passes per batch.
            Assert.Equal(2 * ast[0].ForwardPasses, ind[0].ForwardPasses);
            Assert.Equal(2 * ast[0].ForwardPasses, joint[0].ForwardPasses);
            Assert.Equal(0.5, ind[0].DensityPrunable, 3);
            Assert.Equal(0.2, ind[1].DensityPrunable, 3);
            Assert.True(File.Exists(Path.Combine(dir, "comparison.md")));
            Assert.Equal(table.Rows.Count + 1, File.ReadAllLines(Path.Combine(dir, "comparison.csv")).Length);
            Assert.True(File.Exists(Path.Combine(dir, "independent-seed3", "subnet-1", "checkpoint.safetensors")));
            Assert.Equal(2, new RunFolder(Path.Combine(dir, "independent-seed3")).ReadMetrics().Count);
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, true);
        }
    }
}
