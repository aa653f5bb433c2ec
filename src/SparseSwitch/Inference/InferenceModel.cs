using System.Runtime.CompilerServices;
using System.Collections.Concurrent;
using System.Diagnostics;
using SparseSwitch.Nn;
using SparseSwitch.Tensors;
using SparseSwitch.Tensors.Sparse;

namespace SparseSwitch.Inference;

/// <summary>How <see cref="InferenceModel.Compile"/> picks each product layer's weight format.</summary>
public enum FormatChoice
{
    /// <summary>Time every candidate on this machine, for each layer, sub-net and batch size, and keep the fastest.</summary>
    Measure,
    /// <summary>CSR where a layer keeps at most <see cref="InferenceOptions.SparseBelowDensity"/> of its weights, dense elsewhere.</summary>
    Density,
    /// <summary>Every product dense (masked weights as zeros).</summary>
    Dense,
    /// <summary>Every masked product in its sparse form: <see cref="InferenceOptions.SparseForm"/> where it applies, else
    /// sliced for a Linear layer's plan for one image, N:M packed where the sub-net has a pattern its masks follow,
    /// CSR otherwise (unmasked layers stay dense).</summary>
    Sparse,
}

/// <summary>Settings of a compiled model.</summary>
public sealed record InferenceOptions
{
    /// <summary>Threads, precision and kernel tuning of the engine.</summary>
    public EngineOptions Engine { get; init; } = EngineOptions.Default;
    /// <summary>Images a plan runs together when a call brings more than one (batch 1 has its own plan).</summary>
    /// <summary>0 (the default): chosen per network, <see cref="InferenceModel.AutomaticGroupSize"/>.</summary>
    public int GroupSize { get; init; }
    public FormatChoice Formats { get; init; } = FormatChoice.Measure;
    public double SparseBelowDensity { get; init; } = 0.4;
    /// <summary>Timed repetitions per candidate when measuring (the best of them counts, candidates interleaved).</summary>
    public int MeasureRepetitions { get; init; } = 7;
    /// <summary>With <see cref="FormatChoice.Sparse"/> or <see cref="FormatChoice.Density"/>: the sparse form every
    /// masked product takes where it applies (null: each layer's preferred one).</summary>
    public WeightFormat? SparseForm { get; init; }
}

/// <summary>One layer of a compiled plan as reported: what it computes, its format, weight bytes, and
/// the measured milliseconds of each candidate format (empty when not measured).</summary>
public sealed record PlanLayer(string Description, WeightFormat? Format, long WeightBytes, IReadOnlyDictionary<WeightFormat, double> MeasuredMs);

/// <summary>
/// A model compiled for inference: one plan per sub-net and per batch class (one image; groups
/// of <see cref="InferenceOptions.GroupSize"/>), each a list of steps over preallocated buffers,
/// batch-norm folded into the weights, ReLU and residual joins in the products' epilogues, each
/// product layer in its own format (<see cref="FormatChoice"/>). All plans stay resident, so
/// switching sub-nets between calls costs nothing. <see cref="Run"/> allocates nothing once a
/// workspace exists for the calling concurrency, and may be called from several threads at once
/// (each call takes its own workspace).
/// </summary>
public sealed class InferenceModel
{
    private readonly Plan[][] _plans; // [subnet][0: one image, 1: groups]
    private readonly ConcurrentBag<Workspace>[] _free = [new(), new()];
    private readonly InferenceOptions _options;

    public int SubnetCount => _plans.Length;
    public ActivationShape InputShape { get; }
    public int OutputLength { get; }
    public InferenceOptions Options => _options;

    private InferenceModel(Plan[][] plans, ActivationShape input, int outputLength, InferenceOptions options)
    {
        _plans = plans;
        InputShape = input;
        OutputLength = outputLength;
        _options = options;
    }

    /// <summary>Compiles <paramref name="model"/> (weights loaded) for each sub-net: sub-net k uses
    /// <paramref name="masks"/>[k] (parameter path → mask; null or a missing entry: dense) and batch-norm set k.
    /// <paramref name="patterns"/>[k], when given, is sub-net k's N:M pattern: its layers may then take the N:M packed form.</summary>
    public static InferenceModel Compile(Module model, int inChannels, int imageSize, IReadOnlyList<IReadOnlyDictionary<string, BitMask>?> masks,
        InferenceOptions? options = null, IReadOnlyList<NmPattern?>? patterns = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(masks);
        if (masks.Count == 0) throw new ArgumentException("InferenceModel.Compile: at least one sub-net is needed.", nameof(masks));
        options ??= new InferenceOptions();
        if (patterns is not null && patterns.Count != masks.Count) throw new ArgumentException($"InferenceModel.Compile: {patterns.Count} patterns for {masks.Count} sub-nets.", nameof(patterns));
        if (options.GroupSize < 0) throw new ArgumentOutOfRangeException(nameof(options), options.GroupSize, "GroupSize must be ≥ 1 (or 0: chosen per network).");
        var plans = new Plan[masks.Count][];
        ActivationShape input = default;
        int outputLength = 0;
        long denseBytes = 0;
        for (int k = 0; k < masks.Count; k++)
        {
            var net = Lowering.Lower(model, inChannels, imageSize, masks[k], k);
            input = net.InputShape;
            outputLength = net.OutputShape.Length;
            var pattern = patterns?[k];
            var cache = new WeightCache();
            if (k == 0 && options.GroupSize == 0) options = options with { GroupSize = AutomaticGroupSize(net.Shapes.Max(a => a.Length)) };
            plans[k] = [Plan.Build(net, 1, options, pattern, cache), Plan.Build(net, options.GroupSize, options, pattern, cache)];
            if (k == 0) denseBytes = net.Layers.Sum(l => l switch { ConvSpec c => 4L * (c.Weight.Length + c.Bias.Length), LinearSpec f => 4L * (f.Weight.Length + f.Bias.Length), _ => 0 });
        }
        return new InferenceModel(plans, input, outputLength, options) { DenseWeightBytes = denseBytes };
    }

    /// <summary>Bytes a group's largest activation may take when the group size is chosen per network.</summary>
    public const int GroupActivationBytes = 2 << 20;

    /// <summary>The images a plan for groups runs together when <see cref="InferenceOptions.GroupSize"/> is 0: the
    /// most, in steps of 8 up to 64, whose largest activation (<paramref name="largestActivation"/> floats an image)
    /// stays within <see cref="GroupActivationBytes"/> (wide ResNet-32: 16; ResNet-20: 32; an MLP: 64). More
    /// images a group fill the sparse products' 16-wide column vectors and spread each call's fixed costs; fewer
    /// keep a convolution's planes in cache.</summary>
    public static int AutomaticGroupSize(int largestActivation)
    {
        int g = 64;
        while (g > 8 && (long)g * largestActivation * 4 > GroupActivationBytes) g -= 8;
        return g;
    }

    /// <summary>Bytes of the dense model's weights and biases (batch-norm folded): what one dense plan holds.</summary>
    public long DenseWeightBytes { get; private init; }

    /// <summary>Compiles every sub-net of a model file (its masks, batch-norm sets and N:M patterns).</summary>
    public static InferenceModel Compile(ModelArtifact artifact, InferenceOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(artifact);
        options ??= new InferenceOptions();
        var module = artifact.CreateModule(options.Engine);
        var masks = Enumerable.Range(0, artifact.SubnetCount).Select(k => (IReadOnlyDictionary<string, BitMask>?)artifact.Masks(k)).ToList();
        var patterns = artifact.Subnets.Select(PatternOf).ToList();
        return Compile(module, artifact.InChannels, artifact.ImageSize, masks, options, patterns);
    }

    /// <summary>The N:M pattern of an N:M sub-net ("2:4"), null for a density one.</summary>
    public static NmPattern? PatternOf(SubnetInfo subnet)
    {
        if (subnet.Kind != SubnetKind.Nm) return null;
        var parts = subnet.Spec.Split(':');
        if (parts.Length != 2 || !int.TryParse(parts[0], System.Globalization.CultureInfo.InvariantCulture, out int n)
            || !int.TryParse(parts[1], System.Globalization.CultureInfo.InvariantCulture, out int m))
            throw new ModelFormatException($"Sub-net '{subnet.Spec}' is marked N:M but its spec is not N:M.");
        return new NmPattern(n, m);
    }

    /// <summary><see cref="Run(int, ReadOnlySpan{float}, Span{float}, int)"/> with the batch size taken from
    /// the input's length (whole images of <see cref="InputShape"/>).</summary>
    public void Run(int subnet, ReadOnlySpan<float> input, Span<float> output)
    {
        int image = InputShape.Length;
        if (input.Length == 0 || input.Length % image != 0)
            throw new ArgumentException($"Input has {input.Length} values, not a whole number (≥ 1) of images of {InputShape} ({image} values each).", nameof(input));
        Run(subnet, input, output, input.Length / image);
    }

    /// <summary>output[batch, classes] = sub-net <paramref name="subnet"/>'s logits for
    /// input[batch, C, H, W] (eval mode).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Run(int subnet, ReadOnlySpan<float> input, Span<float> output, int batch)
    {
        if ((uint)subnet >= (uint)_plans.Length)
            throw new ArgumentOutOfRangeException(nameof(subnet), subnet, $"The model has {_plans.Length} sub-nets (0 … {_plans.Length - 1}).");
        if (batch < 1) throw new ArgumentOutOfRangeException(nameof(batch), batch, "batch must be ≥ 1.");
        int inLen = InputShape.Length;
        if (input.Length != (long)batch * inLen)
            throw new ArgumentException($"Input has {input.Length} values; {batch} images of {InputShape} need {(long)batch * inLen}.", nameof(input));
        if (output.Length != (long)batch * OutputLength)
            throw new ArgumentException($"Output has {output.Length} values; {batch} images need {(long)batch * OutputLength}.", nameof(output));
        int which = batch == 1 ? 0 : 1;
        var plan = _plans[subnet][which];
        var ws = Rent(which);
        try
        {
            for (int j0 = 0; j0 < batch; j0 += plan.Capacity)
            {
                int nb = Math.Min(plan.Capacity, batch - j0);
                plan.Run(ws, input.Slice(j0 * inLen, nb * inLen), output.Slice(j0 * OutputLength, nb * OutputLength), nb);
            }
        }
        finally
        {
            _free[which].Add(ws);
        }
    }

    private Workspace Rent(int which) => _free[which].TryTake(out var ws) ? ws : NewWorkspace(which);

    // Apart from Rent: a lambda's closure would be allocated on every call of the method holding it.
    private Workspace NewWorkspace(int which) => _plans[0][which].NewWorkspace(_plans.Select(p => p[which]));

    /// <summary>The layers of sub-net <paramref name="subnet"/>'s plan for one image (<paramref name="batchOfOne"/>) or for groups.</summary>
    public IReadOnlyList<PlanLayer> Layers(int subnet, bool batchOfOne = true) => _plans[subnet][batchOfOne ? 0 : 1].Report;

    /// <summary>Median milliseconds of each step of sub-net <paramref name="subnet"/>'s plan for
    /// <paramref name="batch"/> images (1, or up to the group size) on random input, over
    /// <paramref name="repetitions"/> runs: where a plan's time goes.</summary>
    public IReadOnlyList<(string Step, double Ms)> ProfileSteps(int subnet, int batch, int repetitions = 9)
    {
        int which = batch == 1 ? 0 : 1;
        var plan = _plans[subnet][which];
        if (batch < 1 || batch > plan.Capacity) throw new ArgumentOutOfRangeException(nameof(batch), batch, $"batch must be 1 … {_plans[subnet][1].Capacity}.");
        var ws = Rent(which);
        try
        {
            new Rng(7).FillNormal(ws.Values[plan.InputValue].AsSpan(0, batch * InputShape.Length), 0, 1);
            var times = new double[plan.Steps.Length][];
            for (int i = 0; i < times.Length; i++) times[i] = new double[repetitions];
            for (int r = 0; r < repetitions; r++)
                for (int i = 0; i < plan.Steps.Length; i++) times[i][r] = Plan.Time(ws, plan.Steps[i], batch);
            return plan.Steps.Select((s, i) => (s.Describe, Plan.Median(times[i]))).ToList();
        }
        finally
        {
            _free[which].Add(ws);
        }
    }

    /// <summary>Bytes of weights held by sub-net <paramref name="subnet"/>'s plans (both batch classes; a
    /// layer in the same format in both is held once).</summary>
    public long WeightBytes(int subnet) => _plans[subnet].SelectMany(p => p.Steps).Where(s => s.Weights is not null)
        .DistinctBy(s => s.Weights, ReferenceEqualityComparer.Instance).Sum(s => s.WeightBytes);

    /// <summary>Bytes of one workspace of each batch class (a concurrent call needs its own).</summary>
    public long WorkspaceBytes => NewWorkspace(0).Bytes + NewWorkspace(1).Bytes;

    /// <summary>A list of steps for up to Capacity images.</summary>
    private sealed class Plan
    {
        public required Step[] Steps;
        public required int Capacity;
        public required int[] ValueLengths;
        public required int InputValue, OutputValue;
        public required EngineOptions Engine;
        public required List<PlanLayer> Report;

        public long WeightBytes => Steps.Sum(s => s.WeightBytes);

        public static Plan Build(LoweredNetwork net, int capacity, InferenceOptions options, NmPattern? pattern, WeightCache cache)
        {
            var steps = new Step[net.Layers.Count];
            var report = new List<PlanLayer>();
            var plan = new Plan
            {
                Steps = steps, Capacity = capacity, Engine = options.Engine, Report = report,
                ValueLengths = net.Shapes.Select(s => capacity * s.Length).ToArray(),
                InputValue = 0, OutputValue = net.OutputValue,
            };
            var measured = new Dictionary<int, Dictionary<WeightFormat, double>>();
            for (int i = 0; i < steps.Length; i++)
                steps[i] = Create(net, net.Layers[i], capacity, Initial(net.Layers[i], capacity, options, pattern, cache), options.Engine, pattern, cache);
            if (options.Formats == FormatChoice.Measure) plan.Measure(net, options, pattern, cache, measured);
            FusePlanes(steps, net);
            for (int i = 0; i < steps.Length; i++)
                report.Add(new PlanLayer(steps[i].Describe, steps[i].Format, steps[i].WeightBytes,
                    measured.TryGetValue(i, out var m) ? m : new Dictionary<WeightFormat, double>()));
            return plan;
        }

        /// <summary>A convolution whose output is read by stride-1 convolutions writes their padded
        /// planes itself, in its epilogue (the readers skip filling them), and writes the plain output
        /// only when something else reads it too (a residual join, a shortcut, a pooling).</summary>
        private static void FusePlanes(Step[] steps, LoweredNetwork net)
        {
            foreach (var producer in steps.OfType<ConvStep>())
            {
                var shifted = steps.OfType<ConvStep>().Where(c => c.Input == producer.Output && c.Shifted).ToList();
                if (shifted.Count == 0 || shifted.Select(c => c.Key).Distinct().Count() != 1) continue;
                producer.OutputPlanes = shifted[0].Key;
                foreach (var c in shifted) c.InputPlanesFilled = true;
            }
            // A residual whose planes its producer fills is read from them (same pixels, other strides).
            foreach (var reader in steps.OfType<ConvStep>().Where(c => c.Residual >= 0))
                if (steps.OfType<ConvStep>().FirstOrDefault(p => p.Output == reader.Residual)?.OutputPlanes is { } k)
                    reader.ResidualPlanes = k;
            foreach (var producer in steps.OfType<ConvStep>().Where(p => p.OutputPlanes is not null))
                producer.WritesOutput = producer.Output == net.OutputValue || steps.Any(s =>
                    (s.Input == producer.Output && !(s is ConvStep { Shifted: true, InputPlanesFilled: true }))
                    || (s is ConvStep { ResidualPlanes: null } r && r.Residual == producer.Output));
        }

        private static WeightFormat Initial(LayerSpec layer, int capacity, InferenceOptions options, NmPattern? pattern, WeightCache cache)
        {
            BitMask? mask = MaskOf(layer);
            if (mask is null) return WeightFormat.Dense;
            var forms = SparseForms(layer, capacity, pattern, cache);
            var sparse = options.SparseForm is { } f && forms.Contains(f) ? f : forms[0];
            return options.Formats switch
            {
                FormatChoice.Sparse => sparse,
                FormatChoice.Density => mask.Density <= options.SparseBelowDensity ? sparse : WeightFormat.Dense,
                _ => WeightFormat.Dense,
            };
        }

        /// <summary>The sparse forms a masked product can take in a plan for <paramref name="capacity"/>
        /// images, the preferred first: sliced for a Linear layer at one image, N:M packed where the mask
        /// follows the sub-net's pattern, CSR always.</summary>
        private static List<WeightFormat> SparseForms(LayerSpec layer, int capacity, NmPattern? pattern, WeightCache cache)
        {
            var forms = new List<WeightFormat>();
            if (layer is LinearSpec && capacity == 1) forms.Add(WeightFormat.Sliced);
            if (cache.NmPacked(layer, pattern) is not null) forms.Add(WeightFormat.NmPacked);
            forms.Add(WeightFormat.Csr);
            return forms;
        }

        private static BitMask? MaskOf(LayerSpec layer) => layer switch { ConvSpec c => c.Mask, LinearSpec l => l.Mask, _ => null };

        private static Step Create(LoweredNetwork net, LayerSpec layer, int capacity, WeightFormat format, EngineOptions engine, NmPattern? pattern, WeightCache cache) => layer switch
        {
            ConvSpec c => new ConvStep(c, capacity, format, engine, cache, pattern),
            LinearSpec l => new LinearStep(l, capacity, format, engine, cache, pattern),
            MaxPoolSpec p => new MaxPoolStep(p, net.Shapes[p.Input], net.Shapes[p.Output], capacity),
            GlobalAvgPoolSpec g => new GlobalAvgPoolStep(g, net.Shapes[g.Input], capacity),
            ReluSpec r => new ReluStep(r, net.Shapes[r.Input], capacity),
            PadShortcutSpec s => new PadShortcutStep(s, net.Shapes[s.Input], net.Shapes[s.Output], capacity),
            _ => throw new NotSupportedException($"No inference step for {layer.GetType().Name}."),
        };

        /// <summary>Times every form of every masked product (dense, CSR, and N:M packed where the
        /// mask follows the pattern) on a full group of random images, the candidates interleaved,
        /// and keeps the one with the fastest repetition.</summary>
        private void Measure(LoweredNetwork net, InferenceOptions options, NmPattern? pattern, WeightCache cache, Dictionary<int, Dictionary<WeightFormat, double>> measured)
        {
            var ws = NewWorkspace([this]);
            var rng = new Rng(12345);
            rng.FillNormal(ws.Values[InputValue].AsSpan(), 0, 1);
            foreach (var s in Steps) ws.Body.Run(s, Capacity); // realistic activations for every layer
            int reps = Math.Max(1, options.MeasureRepetitions);
            for (int i = 0; i < Steps.Length; i++)
            {
                var layer = net.Layers[i];
                if (MaskOf(layer) is null) continue;
                var formats = SparseForms(layer, Capacity, pattern, cache).Prepend(WeightFormat.Dense).ToArray();
                var candidates = formats.Select(f => Create(net, layer, Capacity, f, options.Engine, pattern, cache)).ToArray();
                var times = candidates.Select(_ => new double[reps]).ToArray();
                foreach (var c in candidates) ws.Body.Run(c, Capacity);
                for (int r = 0; r < reps; r++)
                    for (int c = 0; c < candidates.Length; c++) times[c][r] = Time(ws, candidates[c], Capacity);
                // The fastest repetition of each: a pause of the machine during one repetition (a
                // shared host) must not decide the format; the cost of a form is its best time.
                var best = times.Select(t => t.Min()).ToArray();
                measured[i] = formats.Zip(best).ToDictionary(p => p.First, p => p.Second);
                Steps[i] = candidates[Array.IndexOf(best, best.Min())];
            }
        }

        public static double Time(Workspace ws, Step step, int nb)
        {
            long t0 = Stopwatch.GetTimestamp();
            ws.Body.Run(step, nb);
            return Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
        }

        public static double Median(double[] v)
        {
            var s = v.ToArray();
            Array.Sort(s);
            return s.Length % 2 == 1 ? s[s.Length / 2] : 0.5 * (s[s.Length / 2 - 1] + s[s.Length / 2]);
        }

        /// <summary>A workspace that serves every plan in <paramref name="plans"/> (same network, other sub-nets).</summary>
        public Workspace NewWorkspace(IEnumerable<Plan> plans)
        {
            var needs = new WorkspaceNeeds();
            foreach (var p in plans)
                foreach (var s in p.Steps) s.Require(needs);
            return new Workspace(ValueLengths, needs, Engine, Steps, OutputValue);
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Run(Workspace ws, ReadOnlySpan<float> input, Span<float> output, int nb)
        {
            input.CopyTo(ws.Values[InputValue].AsSpan());
            foreach (var s in Steps) ws.Body.Run(s, nb);
            ws.Values[OutputValue].AsSpan(0, output.Length).CopyTo(output);
        }
    }
}
