using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using SparseSwitch.Tensors;
using SparseSwitch.Tensors.Conv;

namespace SparseSwitch.Nn;

/// <summary>
/// 2-D convolution, NCHW. x: [B, Cin, H, W], W: [Cout, Cin/groups, KH, KW], b: [Cout],
/// y: [B, Cout, OH, OW]; y[n, o] = Σ_{c in o's group, ki, kj} W[o, c, ki, kj]·x[n, c, oh·s − p + ki·d, ...] + b[o].
/// The module holds the parameters and the plan: <see cref="ConvPlanner"/> chooses an algorithm
/// (<see cref="ConvAlgorithm"/>) per geometry from the layer's <see cref="Module.Options"/>, and the
/// algorithm's instance (<see cref="IConvAlgorithm"/>, kept per algorithm) does the work. Images are
/// split into one contiguous chunk per thread; each chunk writes its partial dW/db, which are
/// added in chunk order (deterministic for a given thread count).
/// With a mask on W (a sub-net's) the forward and dx use W ⊙ M — the algorithms apply the mask as
/// they pack the weights — and dW is the gradient with respect to W ⊙ M.
/// </summary>
public sealed class Conv2d : Module
{
    public int InChannels { get; }
    public int OutChannels { get; }
    public int KernelH { get; }
    public int KernelW { get; }
    public int StrideH { get; }
    public int StrideW { get; }
    public int PaddingH { get; }
    public int PaddingW { get; }
    public int DilationH { get; }
    public int DilationW { get; }
    public int Groups { get; }
    public Parameter Weight { get; }
    public Parameter? Bias { get; }

    private Tensor? _y, _dx;
    private Tensor _x = null!;
    private ConvGeometry _geo;
    private Tensor?[] _dwPart = [];
    private Tensor?[] _dbPart = [];
    private Tensor _dy = null!;
    // The algorithm of the last forward or backward, and the instances made so far (by ConvAlgorithm).
    private IConvAlgorithm _plan = null!;
    private readonly IConvAlgorithm?[] _algorithms = new IConvAlgorithm?[Enum.GetValues<ConvAlgorithm>().Length];

    private readonly ParallelRange _forward, _backward;
    private Tensor? _noInputGradient, _materialised, _dyMaterialised;
    // The deferred batch-norm backward the algorithm applies to dy while reading it (empty: none).
    private ChannelGradAffine _dyAffine;
    // Backward plane sums of the deferred batch-norm on x, taken as dx is written (empty: none).
    private double[]? _inSums, _outStats;
    private bool _collectStats;
    // Added to dx group by group (Backward's addToInputGradient; null: none).
    private Tensor? _dxAdd;
    private bool _haveInSums;
    // The deferred batch-norm the algorithm applies to x while reading it (empty: none).
    private ChannelAffine _inAffine;

    /// <summary>Whether <see cref="Backward"/> computes dL/dx. On by default; a network's first
    /// layer, whose input is data, turns it off (as PyTorch skips that product when the input does
    /// not require grad): Backward then accumulates the weight and bias gradients only and returns
    /// an empty tensor (shape [0]).</summary>
    public bool ComputeInputGradient { get; set; } = true;

    /// <summary>Where Backward writes dL/dx when set: a buffer the model shares between layers whose
    /// input gradients are never needed at once (<see cref="Models.CifarResNet"/>); null: the layer's own.</summary>
    internal SharedBuffer? InputGradientBuffer { get; set; }

    public Conv2d(int inChannels, int outChannels, int kernelSize, int stride = 1, int padding = 0,
        int groups = 1, bool bias = true, int dilation = 1, Rng? rng = null)
        : this(inChannels, outChannels, (kernelSize, kernelSize), (stride, stride), (padding, padding), groups, bias, (dilation, dilation), rng)
    {
    }

    public Conv2d(int inChannels, int outChannels, (int H, int W) kernel, (int H, int W) stride, (int H, int W) padding,
        int groups = 1, bool bias = true, (int H, int W)? dilation = null, Rng? rng = null)
    {
        var dil = dilation ?? (1, 1);
        if (inChannels < 1) throw new ArgumentOutOfRangeException(nameof(inChannels), "Conv2d needs inChannels ≥ 1.");
        if (outChannels < 1) throw new ArgumentOutOfRangeException(nameof(outChannels), "Conv2d needs outChannels ≥ 1.");
        if (kernel.H < 1 || kernel.W < 1) throw new ArgumentOutOfRangeException(nameof(kernel), "Conv2d kernel size must be ≥ 1.");
        if (stride.H < 1 || stride.W < 1) throw new ArgumentOutOfRangeException(nameof(stride), "Conv2d stride must be ≥ 1.");
        if (padding.H < 0 || padding.W < 0) throw new ArgumentOutOfRangeException(nameof(padding), "Conv2d padding must be ≥ 0.");
        if (dil.H < 1 || dil.W < 1) throw new ArgumentOutOfRangeException(nameof(dilation), "Conv2d dilation must be ≥ 1.");
        if (groups < 1 || inChannels % groups != 0 || outChannels % groups != 0)
            throw new ArgumentException($"Conv2d groups={groups} must divide inChannels={inChannels} and outChannels={outChannels}.", nameof(groups));
        InChannels = inChannels; OutChannels = outChannels;
        KernelH = kernel.H; KernelW = kernel.W;
        StrideH = stride.H; StrideW = stride.W;
        PaddingH = padding.H; PaddingW = padding.W;
        DilationH = dil.H; DilationW = dil.W;
        Groups = groups;
        Weight = RegisterParameter("weight", new Parameter(outChannels, inChannels / groups, kernel.H, kernel.W));
        if (bias) Bias = RegisterParameter("bias", new Parameter(outChannels));
        Init.PyTorchDefault(Weight, Bias, inChannels / groups * kernel.H * kernel.W, rng ?? Init.DefaultRng());
        _forward = new ParallelRange(ForwardChunk);
        _backward = new ParallelRange(BackwardChunk);
    }

    public override Tensor Forward(Tensor x)
    {
        _collectStats = false;
        return ForwardCore(x, Geometry(x), default);
    }

    /// <summary>
    /// Forward of a deferred batch-norm's output (<see cref="IDeferrableNorm"/>): input channel c
    /// is read as <paramref name="input"/> prescribes while the algorithm fills its planes, so the
    /// normalised tensor is never written; same values as Forward of the materialised output, bit
    /// for bit. Algorithms that do not transform their input (and layers with an
    /// <see cref="Module.InputObserver"/>) materialise it first. Backward is the usual one. With
    /// <paramref name="outputStats"/> the plane statistics of y (<see cref="BatchNorm2d.PlaneStats"/>)
    /// are taken as y is written, for a batch-norm that reads y (<see cref="OutputPlaneStats"/>).
    /// </summary>
    public Tensor Forward(Tensor x, in ChannelAffine input, bool outputStats = false)
    {
        var geo = Geometry(x);
        _collectStats = outputStats;
        if (input.IsEmpty) return ForwardCore(x, geo, default);
        if (input.Channels != InChannels)
            throw new ArgumentException($"Conv2d({InChannels}→{OutChannels}): the input transform has {input.Channels} channels.");
        if (InputObserver is null && Algorithm(geo).TransformsInput) return ForwardCore(x, geo, input);
        var h = Buffers.Ensure(ref _materialised, x.Shape);
        input.ApplyTo(x.Span, geo.H * geo.W, h.Span);
        return ForwardCore(h, geo, default);
    }

    private ConvGeometry Geometry(Tensor x)
    {
        if (x.Rank != 4 || x.Dim(1) != InChannels)
            throw new ArgumentException($"Conv2d({InChannels}→{OutChannels}): input shape {Buffers.ShapeText(x.Shape)}, expected [B, {InChannels}, H, W].");
        var geo = new ConvGeometry(InChannels, x.Dim(2), x.Dim(3), KernelH, KernelW, StrideH, StrideW, PaddingH, PaddingW, DilationH, DilationW);
        if (geo.OH < 1 || geo.OW < 1)
            throw new ArgumentException($"Conv2d: input {x.Dim(2)}×{x.Dim(3)} is too small for kernel {KernelH}×{KernelW} with padding {PaddingH}×{PaddingW}, dilation {DilationH}×{DilationW}.");
        return geo;
    }

    /// <summary>The planner's algorithm for a geometry under this layer's options (its instance
    /// made on first use and kept).</summary>
    private IConvAlgorithm Algorithm(in ConvGeometry g)
    {
        var kind = ConvPlanner.Choose(new ConvShape(g, InChannels, OutChannels, Groups), Options);
        return _algorithms[(int)kind] ??= ConvPlanner.Create(kind, InChannels, OutChannels, KernelH, KernelW, Groups);
    }

    private Tensor ForwardCore(Tensor x, in ConvGeometry geo, in ChannelAffine input)
    {
        _geo = geo;
        _x = x;
        _inAffine = input;
        ObserveInput(x);
        int b = x.Dim(0);
        Buffers.Ensure(ref _y, b, OutChannels, geo.OH, geo.OW);
        if (_collectStats) Buffers.EnsureArray(ref _outStats, 2 * b * OutChannels);
        Prepare(b, false);
        _forward.Run(b, Options);
        _plan.ForwardDone();
        return _y!;
    }

    /// <summary>The geometry (input and output sizes) of the last forward pass; null before the first.</summary>
    public ConvGeometry? LastGeometry => _x is null ? null : _geo;

    /// <summary>The algorithm the last forward or backward used.</summary>
    public ConvAlgorithm Path => _plan.Kind;

    private void Prepare(int b, bool backward)
    {
        int chunks = ParallelRange.ChunkCount(b, Options.Threads);
        _plan = Algorithm(_geo);
        _plan.Prepare(_geo, new ConvBatch(b, chunks, (b + chunks - 1) / chunks), backward, Weight.Data, Weight.Mask, Options);
        if (!backward) return;
        if (_dwPart.Length < chunks)
        {
            Array.Resize(ref _dwPart, chunks);
            Array.Resize(ref _dbPart, chunks);
        }
        for (int c = 0; c < chunks; c++)
        {
            Scratch.Ensure(ref _dwPart[c], ScratchRole.WeightGradientPart, c, Weight.Shape);
            if (Bias is not null) Buffers.Ensure(ref _dbPart[c], OutChannels);
        }
    }

    /// <summary>Depthwise (groups = Cin > 1): handled by the direct kernels, no im2col.</summary>
    public bool IsDepthwise => Groups == InChannels && Groups > 1;

    private void ForwardChunk(int chunk, int start, int end) =>
        _plan.Forward(chunk, start, end, new ConvForward
        {
            X = _x.Span,
            Input = _inAffine,
            Bias = Bias is null ? default : Bias.Data.Span,
            Y = _y!.Span,
            OutStats = OutStatsSpan,
        });

    public override Tensor Backward(Tensor dy) => Backward(dy, default);

    /// <summary>
    /// Backward of dL/dy given as a deferred batch-norm's input gradient
    /// (<see cref="IDeferrableNorm.BackwardDeferred"/>, of the batch-norm that normalised this
    /// layer's output): algorithms that transform their gradient apply it while they read dy, so
    /// the gradient is never written; other algorithms, and layers with a bias (whose gradient sums
    /// dy), materialise it first. Same results as Backward of the materialised gradient. A non-null
    /// <paramref name="addToInputGradient"/> (shaped as x) is added to the returned dL/dx — by every
    /// algorithm, group by group while dx is in cache (a residual block's other branch).
    /// </summary>
    public Tensor Backward(Tensor dy, in ChannelGradAffine dyTransform, Tensor? addToInputGradient = null)
    {
        if (_x is null) throw new InvalidOperationException("Conv2d.Backward called before Forward.");
        if (!dy.SameShape(_y!.Shape))
            throw new ArgumentException($"Conv2d.Backward: dy shape {Buffers.ShapeText(dy.Shape)}, expected {Buffers.ShapeText(_y.Shape)}.");
        if (addToInputGradient is not null && (!ComputeInputGradient || !addToInputGradient.SameShape(_x.Shape)))
            throw new ArgumentException($"Conv2d.Backward: a gradient of shape {Buffers.ShapeText(addToInputGradient.Shape)} cannot be added to dL/dx (shape {Buffers.ShapeText(_x.Shape)}, computed: {ComputeInputGradient}).");
        if (!dyTransform.IsEmpty && (!dyTransform.X.SameShape(dy.Shape) || dyTransform.Channels != OutChannels))
            throw new ArgumentException($"Conv2d.Backward: the gradient transform is for {Buffers.ShapeText(dyTransform.X.Shape)}, dy is {Buffers.ShapeText(dy.Shape)}.");
        int b = _x.Dim(0);
        _dy = dy;
        if (ComputeInputGradient) _dx = Buffers.Ensure(ref InputGradientBuffer is { } shared ? ref shared.Tensor : ref _dx, _x.Shape);
        Prepare(b, true);
        _dyAffine = dyTransform;
        if (!_dyAffine.IsEmpty && (!_plan.TransformsGradient || Bias is not null))
        {
            var g = Buffers.Ensure(ref _dyMaterialised, dy.Shape);
            _dyAffine.ApplyTo(dy.Span, _geo.OH * _geo.OW, g.Span);
            (_dy, _dyAffine) = (g, default);
        }
        if (!_inAffine.IsEmpty && !_plan.TransformsInput)
        {
            // The forward read x through a deferred batch-norm, but this backward's algorithm reads
            // x itself (the options changed in between): materialise the normalised input.
            var h = Buffers.Ensure(ref _materialised, _x.Shape);
            _inAffine.ApplyTo(_x.Span, _geo.H * _geo.W, h.Span);
            (_x, _inAffine) = (h, default);
        }
        _haveInSums = !_inAffine.IsEmpty && ComputeInputGradient;
        _dxAdd = addToInputGradient; // every algorithm adds it to dx group by group
        if (_haveInSums) Buffers.EnsureArray(ref _inSums, 2 * b * InChannels);
        _backward.Run(b, Options);
        // Partial gradients are added in chunk order, so the result does not depend on timing.
        int chunks = ParallelRange.ChunkCount(b, Options.Threads);
        var gw = Weight.Grad.Span;
        for (int c = 0; c < chunks; c++) TensorPrimitives.Add(gw, _dwPart[c]!.Span, gw);
        if (Bias is not null)
        {
            var gb = Bias.Grad.Span;
            for (int c = 0; c < chunks; c++) TensorPrimitives.Add(gb, _dbPart[c]!.Span, gb);
        }
        _dyAffine = default;
        _dxAdd = null;
        return ComputeInputGradient ? _dx! : (_noInputGradient ??= new Tensor(0));
    }

    private Span<double> InSumsSpan => _haveInSums ? _inSums.AsSpan(0, 2 * _x.Dim(0) * InChannels) : default;
    private Span<double> OutStatsSpan => _collectStats ? _outStats.AsSpan(0, 2 * _y!.Dim(0) * OutChannels) : default;

    /// <summary>After a Forward asked for them (<see cref="Forward(Tensor, in ChannelAffine, bool)"/>):
    /// the plane statistics of y, at 2·(b·C + c) (pass them to <see cref="BatchNorm2d.ForwardDeferred"/>).
    /// Empty otherwise.</summary>
    public ReadOnlySpan<double> OutputPlaneStats => OutStatsSpan;

    /// <summary>After a Backward of a forward that read a deferred batch-norm's output
    /// (<see cref="Forward(Tensor, in ChannelAffine, bool)"/>) through its algorithm: that
    /// batch-norm's backward plane sums for the dx just returned, taken while dx was in cache (pass
    /// them to <see cref="BatchNorm2d.BackwardDeferred"/>). Empty otherwise.</summary>
    public ReadOnlySpan<double> InputNormSums => InSumsSpan;

    private void BackwardChunk(int chunk, int start, int end) =>
        _plan.Backward(chunk, start, end, new ConvBackward
        {
            X = _x.Span,
            Input = _inAffine,
            Dy = _dy.Span,
            DyIn = _dyAffine,
            Dw = _dwPart[chunk]!.Span,
            Db = Bias is null ? default : _dbPart[chunk]!.Span,
            Dx = ComputeInputGradient ? _dx!.Span : default,
            InputSums = InSumsSpan,
            DxAdd = _dxAdd is null ? default : _dxAdd.Span,
        });
}
