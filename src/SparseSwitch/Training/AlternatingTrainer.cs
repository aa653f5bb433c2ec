using System.Diagnostics;
using SparseSwitch.Data;
using SparseSwitch.Nn;
using SparseSwitch.Optim;
using SparseSwitch.Optim.Schedules;
using SparseSwitch.Sparsity;
using SparseSwitch.Tensors;

namespace SparseSwitch.Training;

/// <summary>
/// The alternating sparse trainer (SPEC §2.2) and, with the same code, the joint and dense
/// baselines (an independent run is this trainer with one sub-net). One AST iteration t:
/// k = t mod K; activate m_k and batch-norm set k; one forward/backward; mask update if sub-net k's
/// clock fires (<see cref="MaskUpdateClock"/>); mask the prunable gradients with m_k (straight
/// through under SR-STE); gradient correction; optimiser step at the scheduled learning rate.
/// t counts across epochs. With <c>split-batch</c> every iteration instead trains every sub-net on
/// its slice of the batch and takes one step (<see cref="EverySubnetStep"/>). <see cref="RunEpoch"/> trains one epoch, <see cref="Evaluate"/> tests
/// every sub-net with its own batch-norm set, <see cref="TrainerCheckpoint"/> saves and restores it all.
/// Weights, gradients, momentum, masks and g′ are laid out by the setup's flat
/// <see cref="ParameterTable"/>: zeroing and masking the gradients are one pass each.
/// </summary>
public sealed class AlternatingTrainer
{
    private readonly TrainingSetup _setup;
    private readonly CrossEntropyLoss _loss;
    private readonly SwitchableBatchNorm2d[] _bns;
    private readonly Tensor? _stepAccumulator;   // joint and split-batch steps: the sub-nets' summed gradients
    private readonly int[] _prunableIndex;   // per table entry: index in Setup.Prunable, or −1
    private readonly Stopwatch _clockTime = new();
    private readonly Distributed.ICollective _comm;
    private readonly double[] _reduceScratch = new double[3];
    private readonly double[] _epochLossSum;
    private readonly long[] _epochLossCount;

    public TrainRecipe Recipe => _setup.Recipe;
    public SubnetList Subnets => _setup.Subnets;
    public int K => _setup.Subnets.Count;
    public Module Model => _setup.Model;
    public TrainingSetup Setup => _setup;
    /// <summary>The flat parameter table (the setup's).</summary>
    public ParameterTable Table => _setup.Table;
    public OptimizerGroups Optimizers { get; }
    public LrSchedule Schedule { get; }
    /// <summary>Null for the dense baseline.</summary>
    public MaskSet? Masks { get; }
    public SubnetMaskUpdater? Updater { get; }
    public GradientCorrection Correction { get; }
    public MaskUpdateClock Clock { get; }
    public FlopCounter Flops { get; }

    /// <summary>Stored-prediction distillation (recipe <c>distill</c> &gt; 0), else null.</summary>
    public StoredDistillation? Distillation { get; }
    public int BatchesPerEpoch { get; }
    public long TotalIterations { get; }

    // Progress and counters (all checkpointed).
    public long Iteration { get; internal set; }
    public int NextEpoch { get; internal set; }
    public long ForwardPasses { get; internal set; }
    public long BackwardPasses { get; internal set; }
    public double TrainMacsDense { get; internal set; }
    public double TrainMacsMasked { get; internal set; }
    public double WallSeconds { get; internal set; }

    /// <summary>Called after every iteration with (t, sub-net, loss); used by tests and progress.</summary>
    public Action<long, int, float>? OnIteration { get; set; }

    private readonly long _denseForwardMacs;
    private readonly long _unmaskedForwardMacs;
    private readonly long[] _usesPerSample;
    // Evaluation at most a training batch at a time (ForwardInSlices): views of the test batch,
    // the batch each was made for, and the whole batch's output.
    private Tensor?[] _evalSlices = [];
    private Tensor?[] _evalSliceSources = [];
    private Tensor? _evalOutput;

    public AlternatingTrainer(TrainingSetup setup)
    {
        _setup = setup;
        _comm = setup.Collective;
        var r = setup.Recipe;
        if (r.Mode == TrainMode.Independent && setup.Subnets.Count > 1)
            throw new ArgumentException("mode independent trains one sub-net per run; run it through TrainingRun (or the train command), which starts one run per sub-net.");
        _loss = new CrossEntropyLoss((float)r.LabelSmoothing);
        _bns = Model.NamedModules().Select(m => m.Module).OfType<SwitchableBatchNorm2d>().ToArray();
        if (r.SyncBatchNorm && _comm.Size > 1)
        {
            foreach (var bn in Model.NamedModules().Select(m => m.Module).OfType<BatchNorm2d>()) bn.Sync = _comm;
            foreach (var sw in _bns) for (int i = 0; i < sw.Sets; i++) sw[i].Sync = _comm;
        }
        int sets = setup.BatchNormSets;
        if (_bns.Any(b => b.Sets != sets))
            throw new ArgumentException($"The model's switchable batch-norm layers must have {sets} sets (one per sub-net).");
        Optimizers = new OptimizerGroups(Model, Table, _bns.Length > 0 ? sets : 0, r);
        BatchesPerEpoch = setup.TrainLoader.BatchesPerEpoch;
        TotalIterations = (long)BatchesPerEpoch * r.Epochs;
        Schedule = MakeSchedule(r, BatchesPerEpoch, TotalIterations);

        // Own iterations per global iteration: AST gives each sub-net every K-th batch; joint and
        // single runs give every sub-net every batch.
        int stride = r.Mode == TrainMode.Ast && !r.SplitBatch ? K : 1;
        // First own iteration whose global iteration is at or after the given epoch (ceiling, so a
        // ramp that starts at epoch e never touches a mask during epoch e − 1).
        long own(double epochs) => ((long)Math.Ceiling(epochs * BatchesPerEpoch) + stride - 1) / stride;
        Clock = r.Weights() is { } weights && r.Mode == TrainMode.Ast && weights.Any(w => w != 1)
            ? MaskUpdateClock.Weighted(weights, r.UpdateEvery, (long)Math.Ceiling(r.PruneStart * BatchesPerEpoch), (long)Math.Ceiling(r.PruneEnd * BatchesPerEpoch), long.MaxValue, r.Stagger)
            : new MaskUpdateClock(K, r.UpdateEvery, own(r.PruneStart), own(r.PruneEnd), long.MaxValue, r.Stagger);

        var c = setup.Train;
        Flops = FlopCounter.ForModel(Model, c.Channels, c.Height, c.Width);
        _denseForwardMacs = Flops.DenseForward();
        var prunableSet = new HashSet<Parameter>(setup.Prunable.Select(p => p.Param), ReferenceEqualityComparer.Instance);
        _usesPerSample = setup.Prunable.Select(p => Flops.Entries.FirstOrDefault(e => ReferenceEquals(e.Weight, p.Param))?.UsesPerSample ?? 0).ToArray();
        _unmaskedForwardMacs = Flops.Entries.Where(e => !prunableSet.Contains(e.Weight)).Sum(e => e.Weight.Length * e.UsesPerSample);

        // The prunable weights, in table order, are the layers of the mask set and of the correction.
        var prunableEntries = setup.Prunable.Select(p => Table.IndexOf(p.Path)).ToArray();
        _prunableIndex = Enumerable.Repeat(-1, Table.Entries.Count).ToArray();
        for (int l = 0; l < prunableEntries.Length; l++) _prunableIndex[prunableEntries[l]] = l;
        if (!prunableEntries.SequenceEqual(Enumerable.Range(0, Table.Entries.Count).Where(i => Table.Entries[i].Param.Prunable)))
            throw new InvalidOperationException("The setup's prunable layers must be the table's parameters marked Prunable, in table order.");
        var correctionMode = r.Mode is TrainMode.Ast ? r.Correction : CorrectionMode.Off;
        Correction = new GradientCorrection(correctionMode, r.Remask, Clock.CycleLength, Table, prunableEntries, r.CorrectionStrength, r.CorrectionAverage);
        if (r.Mode != TrainMode.Dense)
        {
            Masks = new MaskSet(Table, K);
            Updater = new SubnetMaskUpdater(Masks, Subnets, r, Clock, TotalIterations, setup.MaskRng);
            Updater.Initialise();
        }
        if (!r.DecayOthers && setup.Prunable.FirstOrDefault(p => !p.Param.WeightDecay) is { Path: { } exempt })
            throw new ArgumentException($"decay-others false: the prunable weight '{exempt}' has no weight decay to cancel.");
        if (r.Mode == TrainMode.Joint || r.SplitBatch)
            _stepAccumulator = Table.NewBuffer();
        if (r.Distill > 0 && r.Mode == TrainMode.Ast && K > 1)
            Distillation = new StoredDistillation(Subnets, setup.Train.Count, setup.Train.NumClasses, r.Distill);
        _epochLossSum = new double[K];
        _epochLossCount = new long[K];
    }

    private static LrSchedule MakeSchedule(TrainRecipe r, int perEpoch, long total)
    {
        long warm = (long)Math.Round(r.WarmupEpochs * perEpoch);
        return r.Schedule switch
        {
            "cosine" => new CosineSchedule(r.Lr, total, warm),
            "step" => new MultiStepSchedule(r.Lr, [Math.Max(warm, total / 2), Math.Max(warm + 1, total * 3 / 4)], 0.1, warm),
            _ => new StepSchedule(r.Lr, long.MaxValue, 1.0, warm),
        };
    }

    /// <summary>Index of table entry <paramref name="entry"/> among the prunable weights (its layer in
    /// <see cref="Masks"/> and in <see cref="Correction"/>), or −1 if it is not prunable.</summary>
    public int PrunableIndex(int entry) => _prunableIndex[entry];

    /// <summary>Switches the model to sub-net k: masks m_k and batch-norm set k.</summary>
    public void Activate(int k)
    {
        Masks?.Activate(k);
        foreach (var bn in _bns) bn.ActiveSet = k;
    }

    /// <summary>Trains epoch <see cref="NextEpoch"/> (from where a stopped one left off); returns the
    /// mean training loss per sub-net, or null when <paramref name="stop"/> ended it after a batch
    /// before the epoch's end: the trainer is then mid-epoch (<see cref="MidEpoch"/>), and a
    /// checkpoint of it continues exactly where it stopped.</summary>
    public double[]? RunEpoch(CancellationToken stop = default)
    {
        int epoch = NextEpoch;
        int first = BatchInEpoch;
        if (first == 0)
        {
            Array.Clear(_epochLossSum);
            Array.Clear(_epochLossCount);
        }
        _clockTime.Restart();
        Model.Train();
        bool stopped = false;
        try
        {
            foreach (var batch in _setup.TrainLoader.Epoch(epoch, first))
            {
                switch (Recipe.Mode)
                {
                    case TrainMode.Joint: EverySubnetStep(batch, split: false); break;
                    case TrainMode.Ast when Recipe.SplitBatch: EverySubnetStep(batch, split: true); break;
                    default: AlternatingStep(batch); break;
                }
                Iteration++;
                if (StopAgreed(stop.IsCancellationRequested) && BatchInEpoch < BatchesPerEpoch) { stopped = true; break; }
            }
            if (!stopped) EndOfEpochAgreement(epoch);
        }
        finally { WallSeconds += _clockTime.Elapsed.TotalSeconds; }
        if (stopped) return null;
        if (Recipe.BnRecalibrate > 0 && epoch == Recipe.Epochs - 1)
        {
            // The accuracy the statistics kept during training give, for the report beside the
            // re-estimated ones (evaluation, like every epoch's, is not training time).
            _accuracyBeforeRecalibration = Enumerable.Range(0, K).Select(k => Evaluate(k).Accuracy).ToArray();
            _clockTime.Restart();
            RecalibrateBatchNorm(Recipe.BnRecalibrate, epoch);
            AverageBuffers();
            WallSeconds += _clockTime.Elapsed.TotalSeconds;
        }
        NextEpoch = epoch + 1;
        return Enumerable.Range(0, K).Select(k => _epochLossCount[k] == 0 ? double.NaN : _epochLossSum[k] / _epochLossCount[k]).ToArray();
    }

    /// <summary>
    /// Re-estimates every sub-net's own batch-norm statistics: for each sub-net, its switchable
    /// batch-norm sets start from zero mean and unit variance and take the plain average of the
    /// statistics of <paramref name="batches"/> training batches of <paramref name="epoch"/> (forward
    /// passes in training mode, no backward, no step; counted in <see cref="ForwardPasses"/> and the
    /// training cost). Batch-norms that all sub-nets share keep their statistics.
    /// </summary>
    public void RecalibrateBatchNorm(int batches, int epoch)
    {
        if (batches < 1) throw new ArgumentOutOfRangeException(nameof(batches), "Re-estimation needs at least one batch.");
        if (_bns.Length == 0) return;
        Model.Train();
        var saved = _bns.Select(b => b.Active.Momentum).ToArray();
        // Forward passes in training mode also move the statistics of the batch-norms every sub-net
        // shares (the stem's, resnet-u's shortcut ones): they are put back afterwards, or the last
        // sub-net re-estimated would leave its own statistics in them for every sub-net.
        var buffers = Model.NamedBuffers().Select(b => b.Buffer).ToArray();
        var before = buffers.Select(b => b.ToArray()).ToArray();
        var estimated = new (float[] Mean, float[] Var)[K][];
        for (int k = 0; k < K; k++)
        {
            Activate(k);
            foreach (var bn in _bns)
            {
                bn.Active.RunningMean.Fill(0f);
                bn.Active.RunningVar.Fill(1f);
            }
            int i = 0;
            foreach (var batch in _setup.TrainLoader.Epoch(epoch))
            {
                if (i == batches) break;
                i++;
                foreach (var bn in _bns) bn.Active.Momentum = 1f / i;
                Model.Forward(batch.Images);
                ForwardPasses++;
                TrainMacsDense += _denseForwardMacs * (double)batch.GlobalCount;
                TrainMacsMasked += InferenceMacs(k) * (double)batch.GlobalCount;
            }
            for (int b = 0; b < _bns.Length; b++) _bns[b].Active.Momentum = saved[b];
            estimated[k] = _bns.Select(b => (b.Active.RunningMean.ToArray(), b.Active.RunningVar.ToArray())).ToArray();
            for (int j = 0; j < buffers.Length; j++) before[j].CopyTo(buffers[j].Span);
        }
        for (int k = 0; k < K; k++)
            for (int b = 0; b < _bns.Length; b++)
            {
                estimated[k][b].Mean.CopyTo(_bns[b][k].RunningMean.Span);
                estimated[k][b].Var.CopyTo(_bns[b][k].RunningVar.Span);
            }
    }

    private double[]? _accuracyBeforeRecalibration;

    /// <summary>Batches of epoch <see cref="NextEpoch"/> already trained (0 at an epoch's start).</summary>
    public int BatchInEpoch => (int)(Iteration - (long)NextEpoch * BatchesPerEpoch);

    /// <summary>Whether the trainer stopped inside an epoch (<see cref="RunEpoch"/> returned null).</summary>
    public bool MidEpoch => BatchInEpoch > 0;

    /// <summary>The running loss sums and counts of the epoch in progress, per sub-net (kept by checkpoints).</summary>
    internal double[] EpochLossSum => _epochLossSum;
    internal long[] EpochLossCount => _epochLossCount;

    /// <summary>
    /// The gradient of the batch's mean loss in the table, and that loss. In one pass, or (recipe
    /// micro-batches m &gt; 1) in m passes over consecutive slices, each slice's gradient weighted by
    /// its share of the batch and summed. Data parallel: this rank's gradient, weighted by its share
    /// of the global batch, is summed over the ranks (one all-reduce of the flat gradient), so every
    /// rank holds the gradient of the mean loss over the global batch before any masking, correction
    /// or step. The weights and the order of the sums are the same both ways, so R ranks with one
    /// pass each compute what one process with R micro-batches computes, bit for bit.
    /// </summary>
    private float ForwardBackward(Batch batch, int k = -1, bool countPass = true)
    {
        int parts = Math.Min(Recipe.MicroBatches, batch.Count);
        if (countPass)
        {
            ForwardPasses++;   // one pass over the batch, in however many slices
            BackwardPasses++;
        }
        if (parts <= 1 && _comm.Size == 1 && batch.Count == batch.GlobalCount) return Pass(batch, k);
        double loss = 0;
        var grad = Table.Grad.Span;
        if (parts <= 1)
        {
            float share = (float)batch.Count / batch.GlobalCount;
            loss = (double)Pass(batch, k, share) * share;
        }
        else
        {
            var acc = (_microAccumulator ??= Table.NewBuffer()).Span;
            acc.Clear();
            for (int j = 0; j < parts; j++)
            {
                var slice = Slice(batch, j, parts);
                if (j > 0) Table.ZeroGrad();
                float share = (float)slice.Count / batch.GlobalCount;
                loss += (double)Pass(slice, k, share) * share;
                System.Numerics.Tensors.TensorPrimitives.Add(acc, grad, acc);
            }
            acc.CopyTo(grad);
        }
        if (_comm.Size > 1)
        {
            _comm.AllreduceSum(grad);
            _reduceScratch[0] = loss;
            _comm.AllreduceSum(_reduceScratch.AsSpan(0, 1));
            loss = _reduceScratch[0];
        }
        return (float)loss;
    }

    private Tensor? _microAccumulator;

    /// <summary>Part j of <paramref name="parts"/> near-equal consecutive parts of a batch (views, no
    /// copy), keeping the whole's global count so that its gradient can be weighted by its share.</summary>
    private static Batch Slice(Batch batch, int j, int parts)
    {
        int c = batch.Images.Dim(1), h = batch.Images.Dim(2), w = batch.Images.Dim(3), image = c * h * w;
        int lo = (int)((long)batch.Count * j / parts), hi = (int)((long)batch.Count * (j + 1) / parts);
        return new Batch(batch.Images.View(lo * image, hi - lo, c, h, w), batch.Labels[lo..hi], batch.SourceIndices[lo..hi])
        {
            Index = batch.Index, Epoch = batch.Epoch, GlobalCount = batch.GlobalCount,
        };
    }

    /// <summary>One forward and backward pass of the mean loss over <paramref name="batch"/>, its
    /// gradient weighted by <paramref name="share"/> (the batch's part of the whole, so that the parts'
    /// gradients add up to the whole's; synchronised batch-norm then combines consistent parts).</summary>
    private float Pass(Batch batch, int k, float share = 1f)
    {
        var logits = Model.Forward(batch.Images);
        float loss = Distillation is { } d && k >= 0 ? d.Loss(_loss, logits, batch, k) : _loss.Forward(logits, batch.Labels);
        var dLogits = _loss.Backward();
        if (share != 1f) System.Numerics.Tensors.TensorPrimitives.Multiply(dLogits.Span, share, dLogits.Span);
        Model.Backward(dLogits);
        return loss;
    }

    /// <summary>Whether any rank asked to stop (every rank must stop after the same batch).</summary>
    private bool StopAgreed(bool requested)
    {
        if (_comm.Size == 1) return requested;
        _reduceScratch[0] = requested ? 1 : 0;
        _comm.AllreduceSum(_reduceScratch.AsSpan(0, 1));
        return _reduceScratch[0] > 0;
    }

    /// <summary>Data parallel, at an epoch's end: the ranks' batch-norm running statistics (each from
    /// its share of the batches) are averaged, and the ranks' weights, masks and statistics are
    /// compared by a hash: ranks that diverged stop the job with an error.</summary>
    private void EndOfEpochAgreement(int epoch)
    {
        if (_comm.Size == 1) return;
        AverageBuffers();
        long hash = StateHash();
        var all = _comm.Allgather(hash);
        if (all.Any(h => h != all[0]))
            throw new Distributed.DivergedRanksException(
                $"The ranks' weights, masks or batch-norm statistics differ after epoch {epoch + 1} (hash by rank: {string.Join(", ", all.Select(h => h.ToString("x16")))}); stopping the job.");
    }

    /// <summary>Averages the model's buffers (batch-norm running statistics) over the ranks.</summary>
    private void AverageBuffers()
    {
        if (_comm.Size == 1) return;
        foreach (var (_, b) in Model.NamedBuffers())
        {
            var span = b.Span;
            _comm.AllreduceSum(span);
            System.Numerics.Tensors.TensorPrimitives.Multiply(span, 1f / _comm.Size, span);
        }
    }

    /// <summary>A 64-bit hash of the weights, every sub-net's masks and the buffers.</summary>
    public long StateHash()
    {
        using var h = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
        h.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(Table.Data.Span));
        if (Masks is not null)
            for (int k = 0; k < K; k++)
                foreach (var m in Masks.Masks(k)) h.AppendData(m.ToBytes());
        foreach (var (_, b) in Model.NamedBuffers()) h.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(b.Span));
        return BitConverter.ToInt64(h.GetHashAndReset(), 0);
    }

    /// <summary>One iteration of AST (also the single-sub-net runs and the dense baseline).</summary>
    private void AlternatingStep(Batch batch)
    {
        long t = Iteration;
        int k = Clock.SubnetAt(t);
        bool srste = Recipe.SrSte;
        Activate(k);
        if (srste) Updater!.RefreshSrSte(k);
        Table.ZeroGrad();
        float loss = ForwardBackward(batch, k);
        bool update = !srste && Masks is not null && Clock.Fires(t);
        CountMacs(k, batch.GlobalCount, update);
        // The parameters' masks are sub-net k's stored masks: an update shows in them directly.
        if (update) Updater!.Update(k, Clock.OwnIteration(t), t);
        if (Masks is not null)
        {
            if (srste) Updater!.AddSrSteDecay(k);
            else Masks.MaskGradients(k, (float)Recipe.OthersGradient);
            if (Recipe.CoverageScale) Masks.ScaleByCoverage(k, _samplingWeights ??= SamplingWeights(), Table.Grad.Span);
        }
        Correction.Apply(t, Masks?.Masks(k));
        if (!Recipe.DecayOthers && Masks is not null)
            Masks.CancelDecayOfOthers(k, (float)Optimizers.Shared.WeightDecay, Table.Data.Span, Table.Grad.Span);
        Optimizers.Step(Schedule.At(t), _bns.Length > 0 ? k : -1);
        _epochLossSum[k] += loss;
        _epochLossCount[k]++;
        OnIteration?.Invoke(t, k, loss);
    }

    private double[]? _samplingWeights;

    /// <summary>Each sub-net's share of the iterations: its recipe weight (1 each in round robin).</summary>
    private double[] SamplingWeights() =>
        Recipe.Weights() is { } w ? w.Select(x => (double)x).ToArray() : Enumerable.Repeat(1.0, K).ToArray();

    /// <summary>Every sub-net in one step, its masked gradient summed over the whole flat gradient:
    /// the joint baseline runs each sub-net on the whole batch (K passes); split-batch AST runs
    /// sub-net k on the batch's k-th of K slices (its masks m_k and batch-norm set k), each slice's
    /// gradient weighted by its share of the batch, so the batch costs one pass, as with micro-batches.
    /// Every sub-net's clock counts every iteration.</summary>
    private void EverySubnetStep(Batch batch, bool split)
    {
        long t = Iteration;
        var acc = _stepAccumulator!.Span;
        var grad = Table.Grad.Span;
        acc.Clear();
        if (split)
        {
            ForwardPasses++;
            BackwardPasses++;
        }
        for (int k = 0; k < K; k++)
        {
            var part = split ? Slice(batch, k, K) : batch;
            // A slice's loss comes back weighted by its share of the batch: the sub-net's own mean back.
            float share = (float)part.Count / batch.Count;
            Activate(k);
            Table.ZeroGrad();
            float loss = ForwardBackward(part, k, countPass: !split) / share;
            bool update = Clock.FiresOwn(k, t);
            CountMacs(k, split ? (int)Math.Round(batch.GlobalCount * share) : batch.GlobalCount, update);
            if (update) Updater!.Update(k, t, t);
            Masks!.MaskGradients(k);
            System.Numerics.Tensors.TensorPrimitives.Add(acc, grad, acc);
            _epochLossSum[k] += loss;
            _epochLossCount[k]++;
            OnIteration?.Invoke(t, k, loss);
        }
        acc.CopyTo(grad);
        Optimizers.Step(Schedule.At(t), -1);
    }

    private void CountMacs(int k, int samples, bool denseGradient)
    {
        TrainMacsDense += 3.0 * _denseForwardMacs * samples;
        long masked = InferenceMacs(k);
        double step = 3.0 * masked;
        if (denseGradient && Recipe.Regrow == RegrowSource.Dense) step += _denseForwardMacs - masked;
        TrainMacsMasked += step * samples;
    }

    /// <summary>Forward multiply-adds per sample of sub-net k (kept weights × uses, dense for
    /// layers without masks). Allocation-free: per-layer uses are resolved once.</summary>
    public long InferenceMacs(int k)
    {
        if (Masks is null) return _denseForwardMacs;
        long macs = _unmaskedForwardMacs;
        for (int i = 0; i < _usesPerSample.Length; i++) macs += Updater!.Kept(k, i) * _usesPerSample[i];
        return macs;
    }

    /// <summary>Loss and accuracy of sub-net k on the test set (eval mode, its own batch-norm set).</summary>
    public (double Loss, double Accuracy) Evaluate(int k)
    {
        Activate(k);
        Model.Eval();
        double lossSum = 0;
        long correct = 0, count = 0;
        foreach (var batch in _setup.TestLoader.Epoch(0))
        {
            var logits = ForwardInSlices(batch.Images);
            lossSum += (double)_loss.Forward(logits, batch.Labels) * batch.Count;
            correct += CrossEntropyLoss.CountCorrect(logits, batch.Labels);
            count += batch.Count;
        }
        Model.Train();
        if (_comm.Size > 1)
        {
            // Each rank tested its share of the test set.
            (_reduceScratch[0], _reduceScratch[1], _reduceScratch[2]) = (lossSum, correct, count);
            _comm.AllreduceSum(_reduceScratch);
            (lossSum, correct, count) = (_reduceScratch[0], (long)_reduceScratch[1], (long)_reduceScratch[2]);
        }
        return (lossSum / Math.Max(count, 1), (double)correct / Math.Max(count, 1));
    }

    /// <summary>The model's output for a test batch (at least 256 images, more than a training
    /// batch may hold), computed in slices of at most a training batch into one tensor: the layers'
    /// buffers, sized by training, then serve evaluation without more storage. An image's output
    /// does not depend on the batch it goes through (eval mode: batch-norm uses its running
    /// statistics, and the kernels compute an image's outputs in the same order whatever the
    /// batch), except that a batch of one image takes the matrix-vector products: slices are of
    /// equal size, and a batch that would leave slices of one image goes through whole.</summary>
    private Tensor ForwardInSlices(Tensor images)
    {
        int b = images.Dim(0), step = Recipe.BatchSize;
        int slices = (b + step - 1) / step;
        if (slices < 2 || b < 2 * slices) return Model.Forward(images);
        int imageLength = images.Length / b;
        if (_evalSlices.Length < slices) Array.Resize(ref _evalSlices, slices);
        if (_evalSliceSources.Length < slices) Array.Resize(ref _evalSliceSources, slices);
        Tensor? output = null;
        for (int i = 0; i < slices; i++)
        {
            var (start, end) = ParallelRange.Bounds(i, slices, b);
            int n = end - start;
            ref var view = ref _evalSlices[i];
            if (view is null || !ReferenceEquals(_evalSliceSources[i], images) || view.Dim(0) != n)
            {
                int[] shape = (int[])images.Shape.Clone();
                shape[0] = n;
                view = images.View(start * imageLength, shape);
                _evalSliceSources[i] = images;
            }
            var y = Model.Forward(view);
            int outLength = y.Length / n;
            if (output is null)
            {
                int[] shape = (int[])y.Shape.Clone();
                shape[0] = b;
                output = Buffers.Ensure(ref _evalOutput, shape);
            }
            y.Span.CopyTo(output.Span.Slice(start * outLength, n * outLength));
        }
        return output!;
    }

    /// <summary>Metrics of every sub-net after the epoch just trained. Densities: prunable layers,
    /// and all parameters (non-prunable ones count as kept), as <see cref="MaskStats"/> reports them.</summary>
    public List<EpochMetrics> EpochReport(string run, double[] trainLoss)
    {
        var list = new List<EpochMetrics>();
        for (int k = 0; k < K; k++)
        {
            var (testLoss, acc) = Evaluate(k);
            var layers = new Dictionary<string, double>();
            double dPrunable = 1, dAll = 1;
            if (Masks is not null)
            {
                var rep = MaskStats.Density(Masks, k);
                foreach (var l in rep.Layers) layers[l.Path] = l.Density;
                dPrunable = rep.Density;
                dAll = rep.DensityAllWeights;
            }
            list.Add(new EpochMetrics
            {
                Run = run, Epoch = NextEpoch - 1, Subnet = k, Spec = Subnets[k].ToString(), Iteration = Iteration,
                Lr = Schedule.At(Math.Max(0, Iteration - 1)), TrainLoss = trainLoss[k], TestLoss = testLoss, TestAccuracy = acc,
                DensityPrunable = dPrunable, DensityAll = dAll, LayerDensity = layers,
                Overlap = Masks is null ? [1.0] : Enumerable.Range(0, K).Select(j => MaskStats.Overlap(Masks, k, j).Iou).ToArray(),
                Projections = Correction.Fired.Sum(), CorrectionTests = Correction.Tested.Sum(),
                LayerProjections = _setup.Prunable.Select((p, i) => (p.Path, Correction.Fired[i])).ToDictionary(x => x.Path, x => x.Item2),
                MaskUpdates = Updater?.Updates[k] ?? 0, MaskChange = Updater?.LastChange[k] ?? 0,
                WallSeconds = WallSeconds, ForwardPasses = ForwardPasses, BackwardPasses = BackwardPasses,
                TrainMacsDense = TrainMacsDense, TrainMacsMasked = TrainMacsMasked, InferenceMacs = InferenceMacs(k),
                TestAccuracyBeforeRecalibration = _accuracyBeforeRecalibration?[k],
            });
        }
        _accuracyBeforeRecalibration = null;
        return list;
    }
}
