using System.ComponentModel;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace SparseSwitch.Training;

/// <summary>How the sub-nets are trained (SPEC §2.7).</summary>
public enum TrainMode
{
    /// <summary>Alternating Sparse Training: one sub-net per mini-batch, k = t mod K.</summary>
    Ast,
    /// <summary>K separate single-sparsity runs.</summary>
    Independent,
    /// <summary>Every mini-batch runs all K sub-nets; gradients summed into one step.</summary>
    Joint,
    /// <summary>One dense model.</summary>
    Dense,
}

/// <summary>Where regrown weights come from (SPEC §2.5).</summary>
public enum RegrowSource
{
    /// <summary>Gradient of W ⊙ m at every position (can explore; the default).</summary>
    Dense,
    /// <summary>Gradient masked by the forward product, as the reference code had it.</summary>
    Masked,
}

/// <summary>
/// One experiment as a plain record: model, data, sub-nets, schedule, optimiser, options. The CLI
/// fills it from defaults, an optional YAML recipe and then its options (options win); the run folder
/// keeps the resolved recipe (recipe.json). Epoch-valued fields are fractions of an epoch allowed.
/// </summary>
public sealed record TrainRecipe
{
    [Description("Model: lenet5, mlp, resnet20/32/44/56/110 (-a: option-A shortcuts), wrn32, resnet18, vgg11/13/16/19, ...")]
    public string Model { get; init; } = "lenet5";
    [Description("Data set: synthetic (built in), mnist, fashion-mnist, kmnist, cifar10, cifar100.")]
    public string Data { get; init; } = "synthetic";
    [Description("Folder holding the data set files (default: searched).")]
    public string? DataDir { get; init; }
    /// <summary>Training images to use (0 = all). Keeps the default synthetic run short.</summary>
    [Description("Use only the first N training images (0 = all; synthetic: how many to draw, 0 = 10000).")]
    public int TrainLimit { get; init; }
    [Description("Use only the first N test images (0 = all; synthetic: 0 = 2000).")]
    public int TestLimit { get; init; }
    [Description("Sub-nets: densities (0.1,0.05,0.02) or N:M patterns (2:4,1:4,1:8).")]
    public SubnetList Subnets { get; init; } = SubnetList.Parse("0.1,0.05,0.02");
    [Description("ast, independent, joint or dense.")]
    public TrainMode Mode { get; init; } = TrainMode.Ast;
    [Description("Training epochs.")]
    public int Epochs { get; init; } = 5;
    [Description("Mini-batch size.")]
    public int BatchSize { get; init; } = 32;
    [Description("Base learning rate (the default suits the quick-start LeNet-5; ResNets with batch-norm take 0.1).")]
    public double Lr { get; init; } = 0.02;
    [Description("SGD momentum.")]
    public double Momentum { get; init; } = 0.9;
    [Description("Weight decay.")]
    public double WeightDecay { get; init; } = 5e-4;
    [Description("Nesterov momentum.")]
    public bool Nesterov { get; init; }
    /// <summary>cosine, constant, step (×0.1 at 50 % and 75 % of training).</summary>
    [Description("Learning-rate schedule: cosine, step (×0.1 at 50 % and 75 %), constant.")]
    public string Schedule { get; init; } = "cosine";
    [Description("Linear learning-rate warm-up, epochs.")]
    public double WarmupEpochs { get; init; }
    [Description("Label smoothing of the loss.")]
    public double LabelSmoothing { get; init; }
    [Description("Random crop (pad 4) and horizontal flip.")]
    public bool Augment { get; init; }
    [Description("Epoch where the density ramp starts.")]
    public double PruneStart { get; init; } = 1;
    [Description("Epoch where the density ramp ends.")]
    public double PruneEnd { get; init; } = 3;
    /// <summary>ΔT in the sub-net's own iterations (see <see cref="MaskUpdateClock"/>).</summary>
    [Description("ΔT: mask update period in the sub-net's own iterations.")]
    public int UpdateEvery { get; init; } = 10;
    /// <summary>Offset between consecutive sub-nets' clocks, own iterations (null = ⌊ΔT/K⌋).</summary>
    [Description("Offset between sub-nets' update clocks, own iterations (default ΔT/K).")]
    public int? Stagger { get; init; }
    /// <summary>Initial prune-and-regrow rate, cosine-decayed to <see cref="PruneRateFinal"/>.</summary>
    [Description("Initial prune-and-regrow fraction, cosine-decayed to prune-rate-final.")]
    public double PruneRate { get; init; } = 0.5;
    [Description("Final prune-and-regrow fraction.")]
    public double PruneRateFinal { get; init; } = 0.005;
    [Description("Regrowth gradient: dense, or masked (as the reference code).")]
    public RegrowSource Regrow { get; init; } = RegrowSource.Dense;
    /// <summary>Initial density d_init (1 = start dense; below 1 uses ERK layer densities).</summary>
    [Description("Initial density (1 = start dense; below 1: ERK random masks).")]
    public double InitDensity { get; init; } = 1.0;
    /// <summary>Gradient correction. Off by default: on CIFAR-10 P1 no variant moved a sub-net beyond
    /// seed noise and on MNIST LeNet-5 every variant cost the sparsest sub-net 0.07–0.22 points (README,
    /// the AST ablation); the published code's correction never fires, so its figures are off too.</summary>
    [Description("Gradient correction: off (the default: it measured no better), inner-group (the paper's), every-iteration (the reference code's condition), reference (the published no-op).")]
    public CorrectionMode Correction { get; init; } = CorrectionMode.Off;
    [Description("Re-mask the gradient after correction.")]
    public bool Remask { get; init; }
    [Description("AST: how often each sub-net trains, as integer weights in sub-net order (e.g. 1,1,2: the last trains 2 of every 4 iterations, spread evenly); empty = round robin.")]
    public string? SubnetWeights { get; init; }
    [Description("Data-parallel: batch-norm statistics over the global batch across the ranks (all-reduces in every batch-norm layer's forward and backward), as one process with the whole batch has them.")]
    public bool SyncBatchNorm { get; init; }
    [Description("Split each batch into this many micro-batches, one forward/backward each, their gradients summed before the step (gradient accumulation: the batch in less memory; batch-norm sees each micro-batch).")]
    public int MicroBatches { get; init; } = 1;
    [Description("Fraction of the conflicting component a projection removes (1 = all; below 1: a partial projection).")]
    public double CorrectionStrength { get; init; } = 1.0;
    [Description("Reference gradient of the correction as a moving average of previous gradients, g′ ← β·g′ + (1 − β)·g: β (0 = the previous iteration's gradient).")]
    public double CorrectionAverage { get; init; }
    [Description("Re-estimate each sub-net's batch-norm statistics over this many training batches (forward only, counted in the cost) before the last epoch's evaluation (0 = off).")]
    public int BnRecalibrate { get; init; }
    [Description("AST: weight α of soft targets for the sparser sub-nets, the densest sub-net's latest predictions on the same training images (no extra passes; 0 = off).")]
    public double Distill { get; init; }
    [Description("Nested sub-nets: each sparser mask inside the denser one, so every step trains the sparsest sub-net's weights (default: on for densities listed densest first, off for N:M, which cannot nest).")]
    public bool? Nested { get; init; }
    [Description("AST: scale each weight's gradient by the share of iterations whose sub-net holds it (K/c in round robin, c = how many sub-nets hold it), so that a weight only the densest sub-net holds learns as fast as one all hold.")]
    public bool CoverageScale { get; init; }
    [Description("AST: keep this share α of the gradient at the positions the other sub-nets hold and the active one does not (zero in its pass; the gradient of W ⊙ m_k there), so the denser sub-nets' own weights learn on every step (0 = masked, the default).")]
    public double OthersGradient { get; init; }
    [Description("AST: weight decay on the weights that only other sub-nets hold. true: every weight decays at every step, as in PyTorch; false: a weight decays only on the steps of a sub-net that holds it (weights no sub-net holds at every step), so a denser sub-net's own weights decay at the pace they learn.")]
    public bool DecayOthers { get; init; } = true;
    [Description("AST: split each mini-batch among the sub-nets (sub-net k takes the k-th of K equal slices, through its own masks and batch-norm set) and take one step with their masked gradients summed: every step trains every sub-net, and each image still takes one forward and one backward pass.")]
    public bool SplitBatch { get; init; }
    [Description("Train N:M sub-nets with SR-STE.")]
    public bool SrSte { get; init; }
    [Description("SR-STE decay strength λ.")]
    public double SrSteLambda { get; init; } = 2e-4;
    [Description("Prune the classifier's weights too.")]
    public bool ClassifierPrunable { get; init; } = true;
    [Description("Seed for initialisation, data order, augmentation and mask choices.")]
    public ulong Seed { get; init; } = 1;
    [Description("Kernel threads (0 = the machine's processor count).")]
    public int Threads { get; init; }
    /// <summary>Seeds for the experiment runner (comparison over several runs).</summary>
    [Description("experiment: number of seeds (seed, seed+1, ...).")]
    public int Seeds { get; init; } = 2;

    /// <summary>The sub-nets a run trains: <see cref="Subnets"/>, or the one dense sub-net in mode dense.</summary>
    [JsonIgnore]
    public SubnetList SubnetsToTrain => Mode == TrainMode.Dense ? SubnetList.Dense : Subnets;

    /// <summary>
    /// Whether the masks are nested: <see cref="Nested"/> when set, otherwise on when every sub-net is a
    /// density and they are listed densest first (the P1 ablation in the README: nested masks gained on
    /// every sub-net), off for N:M patterns.
    /// </summary>
    [JsonIgnore]
    public bool NestedMasks => Nested ?? CanNest(SubnetsToTrain);

    /// <summary>This recipe with <see cref="Nested"/> set to what it resolves to, so that a run folder's
    /// recipe.json says what the run did and a resumed run keeps it whatever later defaults are.</summary>
    public TrainRecipe Resolved() => this with { Nested = NestedMasks };

    /// <summary>Whether <paramref name="subs"/> can be nested: densities, listed densest first.</summary>
    public static bool CanNest(SubnetList subs)
    {
        if (subs.Any(s => s.IsNm)) return false;
        for (int i = 1; i < subs.Count; i++)
            if (!(subs[i].Density < subs[i - 1].Density)) return false;
        return true;
    }

    /// <summary>Checks every field; errors name the field and the allowed values.</summary>
    public void Validate()
    {
        if (Subnets is null) throw new ArgumentException($"subnets: missing; give {SubnetList.Allowed}.");
        var subs = SubnetsToTrain;
        if (Epochs < 1) throw new ArgumentException($"epochs: must be ≥ 1, got {Epochs}.");
        if (BatchSize < 1) throw new ArgumentException($"batch-size: must be ≥ 1, got {BatchSize}.");
        if (!(Lr > 0) || double.IsInfinity(Lr)) throw new ArgumentException($"lr: must be a finite number > 0, got {Lr.ToString(CultureInfo.InvariantCulture)}.");
        if (!(Momentum >= 0 && Momentum < 1)) throw new ArgumentException($"momentum: must be in [0, 1), got {Momentum.ToString(CultureInfo.InvariantCulture)}.");
        if (!(WeightDecay >= 0) || double.IsInfinity(WeightDecay)) throw new ArgumentException($"wd: must be ≥ 0, got {WeightDecay.ToString(CultureInfo.InvariantCulture)}.");
        if (Schedule is not ("cosine" or "constant" or "step")) throw new ArgumentException($"schedule: '{Schedule}' is not one of cosine, constant, step.");
        if (!(WarmupEpochs >= 0 && WarmupEpochs <= Epochs)) throw new ArgumentException($"warmup: must be in [0, epochs], got {WarmupEpochs.ToString(CultureInfo.InvariantCulture)}.");
        if (!(LabelSmoothing >= 0 && LabelSmoothing < 1)) throw new ArgumentException($"label-smoothing: must be in [0, 1), got {LabelSmoothing.ToString(CultureInfo.InvariantCulture)}.");
        if (Mode != TrainMode.Dense && !(PruneStart >= 0 && PruneEnd >= PruneStart && PruneEnd <= Epochs))
            throw new ArgumentException($"prune-start/prune-end: need 0 ≤ start ≤ end ≤ epochs ({Epochs}), got {PruneStart.ToString(CultureInfo.InvariantCulture)} → {PruneEnd.ToString(CultureInfo.InvariantCulture)}.");
        if (UpdateEvery < 1) throw new ArgumentException($"update-every: must be ≥ 1 iteration, got {UpdateEvery}.");
        if (Stagger is < 0) throw new ArgumentException($"stagger: must be ≥ 0, got {Stagger}.");
        if (!(PruneRate >= 0 && PruneRate <= 1)) throw new ArgumentException($"prune-rate: must be in [0, 1], got {PruneRate.ToString(CultureInfo.InvariantCulture)}.");
        if (!(PruneRateFinal >= 0 && PruneRateFinal <= 1)) throw new ArgumentException($"prune-rate-final: must be in [0, 1], got {PruneRateFinal.ToString(CultureInfo.InvariantCulture)}.");
        if (!(CorrectionStrength > 0 && CorrectionStrength <= 1)) throw new ArgumentException($"correction-strength: must be in (0, 1], got {CorrectionStrength.ToString(CultureInfo.InvariantCulture)}.");
        if (!(CorrectionAverage >= 0 && CorrectionAverage < 1)) throw new ArgumentException($"correction-average: must be in [0, 1), got {CorrectionAverage.ToString(CultureInfo.InvariantCulture)}.");
        if ((CorrectionStrength != 1 || CorrectionAverage != 0) && Correction is CorrectionMode.Off or CorrectionMode.Reference)
            throw new ArgumentException($"correction-{(CorrectionStrength != 1 ? "strength" : "average")}: shapes a correction that tests gradients, but correction is {(Correction == CorrectionMode.Off ? "off (the default)" : "reference")}; add --correction inner-group or every-iteration.");
        if (!string.IsNullOrWhiteSpace(SubnetWeights))
        {
            var w = Weights();
            if (w is null || w.Length != subs.Count || w.Any(x => x < 1) || w.Sum() > 256)
                throw new ArgumentException($"subnet-weights: '{SubnetWeights}' must be {subs.Count} integers ≥ 1, one per sub-net, summing to at most 256 (e.g. {string.Join(",", Enumerable.Repeat(1, subs.Count - 1).Append(2))}).");
            if (Mode != TrainMode.Ast) throw new ArgumentException("subnet-weights: applies to mode ast (the other modes train every sub-net on every batch or alone).");
        }
        if (Nested == true && subs.Any(s => s.IsNm)) throw new ArgumentException("nested: applies to unstructured sub-nets (densities), not N:M.");
        if (Nested == true && (Mode is TrainMode.Ast or TrainMode.Joint) && !CanNest(subs)) throw new ArgumentException($"nested: list the sub-nets densest first (got {subs.ToExactString()}).");
        if (MicroBatches < 1 || MicroBatches > BatchSize) throw new ArgumentException($"micro-batches: must be in [1, batch-size ({BatchSize})], got {MicroBatches}.");
        if (CoverageScale && (Mode != TrainMode.Ast || SrSte)) throw new ArgumentException("coverage-scale: applies to mode ast with masks (not SR-STE).");
        if (!(OthersGradient >= 0 && OthersGradient <= 1)) throw new ArgumentException($"others-gradient: must be in [0, 1], got {OthersGradient.ToString(CultureInfo.InvariantCulture)}.");
        if (OthersGradient > 0 && (Mode != TrainMode.Ast || SrSte)) throw new ArgumentException("others-gradient: applies to mode ast with masks (not SR-STE).");
        if (!DecayOthers && (Mode != TrainMode.Ast || SrSte)) throw new ArgumentException("decay-others: false applies to mode ast with masks (not SR-STE).");
        if (SplitBatch)
        {
            if (Mode != TrainMode.Ast) throw new ArgumentException("split-batch: applies to mode ast.");
            if (BatchSize < subs.Count) throw new ArgumentException($"split-batch: the batch ({BatchSize}) must hold at least one image per sub-net ({subs.Count}).");
            string? clash = SrSte ? "srste" : Correction != CorrectionMode.Off ? "correction" : Weights() is not null ? "subnet-weights"
                : CoverageScale ? "coverage-scale" : !DecayOthers ? "decay-others false" : Distill > 0 ? "distill"
                : OthersGradient > 0 ? "others-gradient" : null;
            if (clash is not null) throw new ArgumentException($"split-batch: cannot be combined with {clash}, which works on one sub-net per step.");
        }
        if (BnRecalibrate < 0) throw new ArgumentException($"bn-recalibrate: must be ≥ 0 batches, got {BnRecalibrate}.");
        if (!(Distill >= 0 && Distill <= 1)) throw new ArgumentException($"distill: must be in [0, 1], got {Distill.ToString(CultureInfo.InvariantCulture)}.");
        if (Distill > 0 && (Mode != TrainMode.Ast || subs.Count < 2)) throw new ArgumentException("distill: applies to AST with two or more sub-nets (the densest teaches the others).");
        if (!(InitDensity > 0 && InitDensity <= 1)) throw new ArgumentException($"init-density: must be in (0, 1], got {InitDensity.ToString(CultureInfo.InvariantCulture)}.");
        if (subs.Any(s => s.FinalDensity > InitDensity)) throw new ArgumentException($"init-density: {InitDensity} is below a sub-net's final density.");
        if (SrSte && !subs.All(s => s.IsNm)) throw new ArgumentException("srste: SR-STE applies to N:M sub-nets only (e.g. --subnets 2:4,1:4).");
        if (SrSte && Mode == TrainMode.Joint) throw new ArgumentException("srste: not supported with mode joint.");
        if (!(SrSteLambda >= 0)) throw new ArgumentException($"srste-lambda: must be ≥ 0.");
        if (TrainLimit < 0 || TestLimit < 0) throw new ArgumentException("train-limit/test-limit: must be ≥ 0.");
        if (Threads < 0) throw new ArgumentException($"threads: must be ≥ 1 (or 0 for the machine's processor count), got {Threads}.");
        if (Seeds < 1) throw new ArgumentException($"seeds: must be ≥ 1, got {Seeds}.");
    }

    /// <summary>The parsed <see cref="SubnetWeights"/> (null when unset or not a list of integers).</summary>
    public int[]? Weights()
    {
        if (string.IsNullOrWhiteSpace(SubnetWeights)) return null;
        var parts = SubnetWeights.Split(',', StringSplitOptions.TrimEntries);
        var w = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!int.TryParse(parts[i], NumberStyles.Integer, CultureInfo.InvariantCulture, out w[i])) return null;
        return w;
    }

    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.KebabCaseLower,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower) },
    };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    public static TrainRecipe FromJson(string json) =>
        JsonSerializer.Deserialize<TrainRecipe>(json, Json) ?? throw new ArgumentException("Recipe JSON is empty.");
}
