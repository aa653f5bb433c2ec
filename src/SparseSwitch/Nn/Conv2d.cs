using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using SparseSwitch.Tensors;

namespace SparseSwitch.Nn;

/// <summary>
/// 2-D convolution, NCHW. x: [B, Cin, H, W], W: [Cout, Cin/groups, KH, KW], b: [Cout],
/// y: [B, Cout, OH, OW]; y[n, o] = Σ_{c in o's group, ki, kj} W[o, c, ki, kj]·x[n, c, oh·s − p + ki·d, ...] + b[o].
/// Per image and group one GEMM: y_g[Cout/g, P] = W_g[Cout/g, K_g] · col_g[K_g, P] with
/// K_g = Cin/g·KH·KW, P = OH·OW (im2col, skipped for 1×1 stride-1 unpadded kernels); when P is
/// small several images share one wider GEMM (see <see cref="ImagesPerGemm"/>). Stride-1
/// "same" convolutions skip im2col and col2im altogether: the products read the rows of the
/// unfolded input in place from zero-padded planes of the images, dW is a set of long dot
/// products over those rows, and dX is the convolution of the padded dy with the flipped weights
/// (<see cref="ShiftedRowsConv"/>, <see cref="RowsKernels"/>); 3×3 ones with 64 or more channels
/// take the forward and dX products through Winograd's F(2×2, 3×3) (<see cref="WinogradConv"/>). Depthwise
/// convolutions (groups = Cin) use the direct kernels of <see cref="DepthwiseConv"/>. Images are
/// split into one contiguous chunk per thread; each chunk owns its col buffer and its partial
/// dW/db, which are added in chunk order (deterministic for a given thread count).
/// With a mask on W the forward and dx use W ⊙ M, and dW is the gradient with respect to W ⊙ M.
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

    private Tensor? _y, _dx, _wEff;
    private Tensor _x = null!;
    private Tensor _wUsed = null!;
    private ConvGeometry _geo;
    private Tensor?[] _col = [];
    private Tensor?[] _stage = [];
    private Tensor?[] _dwPart = [];
    private Tensor?[] _dbPart = [];
    private Tensor _dy = null!;
    private int _chunks;
    // Stride-1 "same" convolutions: padded planes read in place (ShiftedRowsPath).
    private bool _shifted;
    private ShiftedRowsPath? _shiftedPath;
    // The same convolutions on image-interleaved planes where AVX-512 is there (InterleavedPath).
    private bool _interleaved;
    private InterleavedPath? _interleavedPath;
    // Stride-2 1×1 / 3×3 convolutions on even planes: phase planes read in place (StridedRowsConv).
    private bool _strided;
    private StridedRowsConv? _stridedPath;

    /// <summary>Whether stride-1 "same" convolutions read the padded image in place
    /// (<see cref="ShiftedRowsConv"/>) instead of going through im2col. On by default; settable
    /// so that benchmarks and tests can compare the two paths.</summary>
    public static bool UseShiftedRows { get; set; } = true;

    /// <summary>Whether stride-1 "same" convolutions use image-interleaved planes
    /// (<see cref="InterleavedConv"/>: no work on padding, aligned loads) where the CPU has
    /// AVX-512, rather than <see cref="ShiftedRowsConv"/>'s shared-padding planes. On by default;
    /// settable so that benchmarks and tests can compare the two.</summary>
    public static bool UseInterleaved { get; set; } = true;

    /// <summary>Whether 3×3 stride-1 "same" convolutions with at least 64 channels in and out on even
    /// planes use Winograd's F(2×2, 3×3) on image-interleaved planes (<see cref="WinogradConv"/>:
    /// 2.25× fewer multiply-adds in the forward and input-gradient products; results equal to
    /// rounding, not bit for bit) where the CPU has AVX-512 and MatmulPrecision is Fast. On by
    /// default; settable so that benchmarks and tests can compare it with the direct products.</summary>
    public static bool UseWinograd { get; set; } = true;

    private readonly ParallelRange _forward, _backward;
    private Tensor? _noInputGradient, _materialised, _dyMaterialised;
    // The deferred batch-norm backward the row paths apply to dy while filling its planes.
    private ChannelGradAffine _dyAffine;
    // Backward plane sums of the deferred batch-norm on x, taken as dx is written (empty: none).
    private double[]? _inSums, _outStats;
    private bool _collectStats;
    // Added to dx group by group (Backward's addToInputGradient; null: none).
    private Tensor? _dxAdd;
    private bool _haveInSums;
    // The deferred batch-norm the row paths apply to x while filling their planes (empty: none).
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
    /// is read as <paramref name="input"/> prescribes while the padded planes are filled, so the
    /// normalised tensor is never written; same values as Forward of the materialised output, bit
    /// for bit. Paths that do not fill planes (and layers with an <see cref="Module.InputObserver"/>)
    /// materialise it first. Backward is the usual one. With <paramref name="outputStats"/> the
    /// plane statistics of y (<see cref="BatchNorm2d.PlaneStats"/>) are taken as y is written, for
    /// a batch-norm that reads y (<see cref="OutputPlaneStats"/>).
    /// </summary>
    public Tensor Forward(Tensor x, in ChannelAffine input, bool outputStats = false)
    {
        var geo = Geometry(x);
        _collectStats = outputStats;
        if (input.IsEmpty) return ForwardCore(x, geo, default);
        if (input.Channels != InChannels)
            throw new ArgumentException($"Conv2d({InChannels}→{OutChannels}): the input transform has {input.Channels} channels.");
        if (InputObserver is null && FillsStrideOnePlanes(geo)) return ForwardCore(x, geo, input);
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

    private Tensor ForwardCore(Tensor x, in ConvGeometry geo, in ChannelAffine input)
    {
        _geo = geo;
        _x = x;
        _inAffine = input;
        ObserveInput(x);
        _wUsed = EffectiveWeight.Compute(Weight, ref _wEff);
        int b = x.Dim(0);
        Buffers.Ensure(ref _y, b, OutChannels, geo.OH, geo.OW);
        if (_collectStats) Buffers.EnsureArray(ref _outStats, 2 * b * OutChannels);
        PrepareChunks(b, false);
        _forward.Run(b);
        if (_shifted) _shiftedPath!.ForwardDone();
        if (_interleaved) _interleavedPath!.ForwardDone();
        if (_strided) _stridedPath!.ForwardDone();
        return _y!;
    }

    /// <summary>
    /// Images per GEMM: small outputs (P = OH·OW below <see cref="MinGemmColumns"/>) are batched
    /// side by side, col = [K, n·P], so the products stay wide enough for the GEMM's register
    /// blocks (a 64-column product wastes a third of a 48-wide panel). 1×1 stride-1 kernels read
    /// the image in place and go one image at a time.
    /// </summary>
    private int ImagesPerGemm => _geo.IsIdentityIm2Col ? 1 : Math.Max(1, (MinGemmColumns + _geo.ColCols - 1) / _geo.ColCols);

    /// <summary>Target GEMM width (columns) when batching images of small output size; 512
    /// measured best on ResNet-20 shapes (256 leaves the 16×16 stage unbatched, 1024 was slower).</summary>
    public const int MinGemmColumns = 512;

    /// <summary>The geometry (input and output sizes) of the last forward pass; null before the first.</summary>
    public ConvGeometry? LastGeometry => _x is null ? null : _geo;

    /// <summary>Which implementation the last forward or backward used: "Winograd", "interleaved
    /// planes" or "shifted rows" (stride-1 same convolutions), "phase planes" (stride 2),
    /// "depthwise" or "im2col".</summary>
    public string Path => _interleaved ? (_interleavedPath!.Winograd ? "Winograd" : "interleaved planes") : _shifted ? "shifted rows" : _strided ? "phase planes" : IsDepthwise ? "depthwise" : "im2col";

    private void PrepareChunks(int b, bool backward)
    {
        _chunks = ParallelRange.ChunkCount(b);
        if (_col.Length < _chunks)
        {
            Array.Resize(ref _col, _chunks);
            Array.Resize(ref _stage, _chunks);
            Array.Resize(ref _dwPart, _chunks);
            Array.Resize(ref _dbPart, _chunks);
        }
        int maxChunk = (b + _chunks - 1) / _chunks;
        // The row paths serve every channel count: measured faster than im2col on the ResNet stem
        // (3→16) and on MNIST LeNet-5's first layer (1→6, where im2col's dX product has 6 terms).
        bool winograd = UseWinograd && WinogradConv.Applies(_geo, InChannels, OutChannels);
        _interleaved = FillsStrideOnePlanes(_geo) && UseInterleaved && (winograd || InterleavedConv.Applies(_geo));
        if (_interleaved)
        {
            _shifted = _strided = false;
            (_interleavedPath ??= new InterleavedPath(InChannels, OutChannels, KernelH, KernelW)).Prepare(_geo, b, _chunks, maxChunk, backward, _wUsed.Span, winograd);
            return;
        }
        _shifted = FillsStrideOnePlanes(_geo);
        _strided = false;
        if (_shifted)
        {
            (_shiftedPath ??= new ShiftedRowsPath(InChannels, OutChannels, KernelH, KernelW)).Prepare(_geo, b, _chunks, maxChunk, backward, _wUsed.Span);
            return;
        }
        _strided = UseShiftedRows && Groups == 1 && StridedRowsConv.Applies(_geo);
        if (_strided)
        {
            (_stridedPath ??= new StridedRowsConv(InChannels, OutChannels, KernelH, KernelW)).Prepare(_geo, b, _chunks, maxChunk, backward, _wUsed.Span);
            return;
        }
        int nb = Math.Min(ImagesPerGemm, maxChunk);
        for (int c = 0; c < _chunks; c++)
        {
            // col holds im2col (or, in backward, dcol) of nb images; stage holds y or dy of nb images.
            if (IsDepthwise) continue;
            if (!_geo.IsIdentityIm2Col) Scratch.Ensure(ref _col[c], ScratchRole.Im2Col, c, _geo.ColRows, nb * _geo.ColCols);
            if (nb > 1) Scratch.Ensure(ref _stage[c], ScratchRole.ProductStage, c, OutChannels, nb * _geo.ColCols);
        }
    }

    /// <summary>Whether a geometry goes to one of the stride-1 row paths (interleaved planes or
    /// shifted rows), which fill padded planes and so can apply a deferred batch-norm on the way.</summary>
    private bool FillsStrideOnePlanes(in ConvGeometry g) => UseShiftedRows && Groups == 1 && ShiftedRowsConv.Applies(g);

    /// <summary>Depthwise (groups = Cin): handled by the direct kernels, no im2col.</summary>
    public bool IsDepthwise => Groups == InChannels && Groups > 1;

    /// <summary>db[o] = Σ over the chunk's images and pixels of dy[n, o] (this chunk's part).</summary>
    private void BiasGradient(int chunk, int start, int end)
    {
        int p = _geo.ColCols;
        var db = _dbPart[chunk]!.Span;
        var dys = _dy.Span;
        for (int o = 0; o < OutChannels; o++)
        {
            float sum = 0f;
            for (int n = start; n < end; n++) sum += TensorPrimitives.Sum(dys.Slice((n * OutChannels + o) * p, p));
            db[o] = sum;
        }
    }

    private void ForwardChunk(int chunk, int start, int end)
    {
        ForwardChunkPaths(chunk, start, end);
        // The row paths take y's plane statistics group by group, while y is in cache.
        if (_collectStats && !_interleaved && !_shifted && !_strided)
            GroupEpilogue.OutputPlaneStats(start, end - start, OutChannels, _geo.OH * _geo.OW, _y!.Span, OutStatsSpan);
    }

    private void ForwardChunkPaths(int chunk, int start, int end)
    {
        if (_interleaved)
        {
            _interleavedPath!.Forward(chunk, start, end, _x.Span, Bias is null ? default : Bias.Data.Span, _y!.Span, _inAffine, OutStatsSpan);
            return;
        }
        if (_shifted)
        {
            _shiftedPath!.Forward(chunk, start, end, _x.Span, Bias is null ? default : Bias.Data.Span, _y!.Span, _inAffine, OutStatsSpan);
            return;
        }
        if (_strided)
        {
            _stridedPath!.Forward(chunk, start, end, _x.Span, Bias is null ? default : Bias.Data.Span, _y!.Span, OutStatsSpan);
            return;
        }
        var g = _geo;
        if (IsDepthwise)
        {
            int m = OutChannels / InChannels, inLen = InChannels * g.H * g.W, outLen = OutChannels * g.ColCols;
            var bias = Bias is null ? default : Bias.Data.Span;
            for (int n = start; n < end; n++)
                DepthwiseConv.Forward(g, m, _wUsed.Span, bias, _x.Span.Slice(n * inLen, inLen), _y!.Span.Slice(n * outLen, outLen));
            return;
        }
        int p = g.ColCols, ocg = OutChannels / Groups, kg = g.ColRows / Groups, imgLen = InChannels * g.H * g.W;
        int nbMax = Math.Min(ImagesPerGemm, end - start);
        var w = _wUsed.Span;
        var xs = _x.Span;
        var ys = _y!.Span;
        for (int n0 = start; n0 < end; n0 += nbMax)
        {
            int nb = Math.Min(nbMax, end - n0), ld = nb * p;
            ReadOnlySpan<float> col;
            if (g.IsIdentityIm2Col) col = xs.Slice(n0 * imgLen, imgLen);
            else
            {
                var c = _col[chunk]!.Span;
                for (int j = 0; j < nb; j++) Im2Col.Unfold(g, xs.Slice((n0 + j) * imgLen, imgLen), c[(j * p)..], ld);
                col = c;
            }
            // y_g[ocg, nb·P] = W_g[ocg, K_g] · col_g[K_g, nb·P], straight into y when nb = 1
            var outBuf = nb == 1 ? ys.Slice(n0 * OutChannels * p, OutChannels * p) : _stage[chunk]!.Span;
            for (int gi = 0; gi < Groups; gi++)
                Gemm.Sgemm(false, false, ocg, ld, kg, 1f, w.Slice(gi * ocg * kg), kg, col.Slice(gi * kg * ld), ld, 0f, outBuf.Slice(gi * ocg * ld), ld);
            var bias = Bias is null ? default : Bias.Data.Span;
            for (int j = 0; j < nb; j++)
            {
                var yn = ys.Slice((n0 + j) * OutChannels * p, OutChannels * p);
                for (int o = 0; o < OutChannels; o++)
                {
                    var row = yn.Slice(o * p, p);
                    if (nb > 1)
                    {
                        var src = outBuf.Slice(o * ld + j * p, p);
                        if (Bias is null) src.CopyTo(row);
                        else TensorPrimitives.Add(src, bias[o], row);
                    }
                    else if (Bias is not null) TensorPrimitives.Add(row, bias[o], row);
                }
            }
        }
    }

    public override Tensor Backward(Tensor dy) => Backward(dy, default);

    /// <summary>
    /// Backward of dL/dy given as a deferred batch-norm's input gradient
    /// (<see cref="IDeferrableNorm.BackwardDeferred"/>, of the batch-norm that normalised this
    /// layer's output): the row paths (shifted rows, interleaved planes, phase planes) apply it
    /// while they fill dy's padded planes, so the gradient
    /// is never written; other paths, and layers with a bias (whose gradient sums dy), materialise
    /// it first. Same results as Backward of the materialised gradient. A non-null
    /// <paramref name="addToInputGradient"/> (shaped as x) is added to the returned dL/dx — by every
    /// path, group by group while dx is in cache (a residual block's other branch).
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
        PrepareChunks(b, true);
        _dyAffine = dyTransform;
        if (!_dyAffine.IsEmpty && ((!_shifted && !_interleaved && !_strided) || Bias is not null))
        {
            var g = Buffers.Ensure(ref _dyMaterialised, dy.Shape);
            _dyAffine.ApplyTo(dy.Span, _geo.OH * _geo.OW, g.Span);
            (_dy, _dyAffine) = (g, default);
        }
        if (!_inAffine.IsEmpty && !_shifted && !_interleaved)
        {
            // The forward filled planes from a deferred batch-norm, but this backward reads x
            // itself (the path switch changed in between): materialise the normalised input.
            var h = Buffers.Ensure(ref _materialised, _x.Shape);
            _inAffine.ApplyTo(_x.Span, _geo.H * _geo.W, h.Span);
            (_x, _inAffine) = (h, default);
        }
        _haveInSums = !_inAffine.IsEmpty && ComputeInputGradient && (_shifted || _interleaved);
        _dxAdd = addToInputGradient; // every path adds it to dx group by group
        if (_haveInSums) Buffers.EnsureArray(ref _inSums, 2 * b * InChannels);
        for (int c = 0; c < _chunks; c++)
        {
            Scratch.Ensure(ref _dwPart[c], ScratchRole.WeightGradientPart, c, Weight.Shape);
            if (Bias is not null) Buffers.Ensure(ref _dbPart[c], OutChannels);
        }
        _backward.Run(b);
        // Partial gradients are added in chunk order, so the result does not depend on timing.
        var gw = Weight.Grad.Span;
        for (int c = 0; c < _chunks; c++) TensorPrimitives.Add(gw, _dwPart[c]!.Span, gw);
        if (Bias is not null)
        {
            var gb = Bias.Grad.Span;
            for (int c = 0; c < _chunks; c++) TensorPrimitives.Add(gb, _dbPart[c]!.Span, gb);
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
    /// (<see cref="Forward(Tensor, in ChannelAffine)"/>) on a row path: that batch-norm's backward
    /// plane sums for the dx just returned, taken while dx was in cache (pass them to
    /// <see cref="BatchNorm2d.BackwardDeferred"/>). Empty otherwise.</summary>
    public ReadOnlySpan<double> InputNormSums => InSumsSpan;

    /// <summary>dL/dx of this chunk's images, or empty when no input gradient is wanted.</summary>
    private Span<float> InputGradientSpan => ComputeInputGradient ? _dx!.Span : default;

    /// <summary>The gradient the paths add to dx group by group (Backward's addToInputGradient), or empty.</summary>
    private ReadOnlySpan<float> DxAddSpan => _dxAdd is null ? default : _dxAdd.Span;

    private void BackwardChunk(int chunk, int start, int end)
    {
        if (_interleaved || _shifted || _strided)
        {
            if (_interleaved) _interleavedPath!.Backward(chunk, start, end, _x.Span, _inAffine, _dy.Span, _dyAffine, _dwPart[chunk]!.Span, InputGradientSpan, InSumsSpan, DxAddSpan);
            else if (_shifted) _shiftedPath!.Backward(chunk, start, end, _x.Span, _inAffine, _dy.Span, _dyAffine, _dwPart[chunk]!.Span, InputGradientSpan, InSumsSpan, DxAddSpan);
            else _stridedPath!.Backward(chunk, start, end, _x.Span, _dy.Span, _dyAffine, _dwPart[chunk]!.Span, InputGradientSpan, DxAddSpan);
            if (Bias is not null) BiasGradient(chunk, start, end);
            return;
        }
        var g = _geo;
        if (IsDepthwise)
        {
            int m = OutChannels / InChannels, inLen = InChannels * g.H * g.W, outLen = OutChannels * g.ColCols;
            for (int n = start; n < end; n++)
            {
                var dyn = _dy.Span.Slice(n * outLen, outLen);
                DepthwiseConv.BackwardWeight(g, m, dyn, _x.Span.Slice(n * inLen, inLen), _dwPart[chunk]!.Span, n != start);
                if (ComputeInputGradient)
                {
                    DepthwiseConv.BackwardData(g, m, _wUsed.Span, dyn, _dx!.Span.Slice(n * inLen, inLen));
                    GroupEpilogue.AddWhileInCache(_dx.Span, DxAddSpan, n * inLen, inLen);
                }
                if (Bias is not null)
                {
                    var db = _dbPart[chunk]!.Span;
                    for (int o = 0; o < OutChannels; o++)
                    {
                        float s = TensorPrimitives.Sum(dyn.Slice(o * g.ColCols, g.ColCols));
                        db[o] = n == start ? s : db[o] + s;
                    }
                }
            }
            return;
        }
        int p = g.ColCols, ocg = OutChannels / Groups, kg = g.ColRows / Groups, imgLen = InChannels * g.H * g.W;
        int nbMax = Math.Min(ImagesPerGemm, end - start);
        var w = _wUsed.Span;
        var xs = _x.Span;
        var dys = _dy.Span;
        var dxs = InputGradientSpan;
        var col = g.IsIdentityIm2Col ? default : _col[chunk]!.Span;
        var dw = _dwPart[chunk]!.Span;
        for (int n0 = start; n0 < end; n0 += nbMax)
        {
            int nb = Math.Min(nbMax, end - n0), ld = nb * p;
            float beta = n0 == start ? 0f : 1f;
            // dy of the nb images side by side: [Cout, nb·P]
            ReadOnlySpan<float> dyb;
            if (nb == 1) dyb = dys.Slice(n0 * OutChannels * p, OutChannels * p);
            else
            {
                var st = _stage[chunk]!.Span;
                for (int j = 0; j < nb; j++)
                {
                    var dyn = dys.Slice((n0 + j) * OutChannels * p, OutChannels * p);
                    for (int o = 0; o < OutChannels; o++) dyn.Slice(o * p, p).CopyTo(st.Slice(o * ld + j * p, p));
                }
                dyb = st;
            }
            // dW_g[ocg, K_g] += dy_g[ocg, nb·P] · col_g[K_g, nb·P]ᵀ
            ReadOnlySpan<float> colIn;
            if (g.IsIdentityIm2Col) colIn = xs.Slice(n0 * imgLen, imgLen);
            else
            {
                for (int j = 0; j < nb; j++) Im2Col.Unfold(g, xs.Slice((n0 + j) * imgLen, imgLen), col[(j * p)..], ld);
                colIn = col;
            }
            for (int gi = 0; gi < Groups; gi++)
                Gemm.Sgemm(false, true, ocg, kg, ld, 1f, dyb.Slice(gi * ocg * ld), ld, colIn.Slice(gi * kg * ld), ld, beta, dw.Slice(gi * ocg * kg), kg);
            // dcol_g[K_g, nb·P] = W_g[ocg, K_g]ᵀ · dy_g[ocg, nb·P]; dx = fold(dcol). A 1×1 stride-1
            // kernel's dcol is dx itself.
            if (ComputeInputGradient)
            {
                var dcol = g.IsIdentityIm2Col ? dxs.Slice(n0 * imgLen, imgLen) : col;
                for (int gi = 0; gi < Groups; gi++)
                    Gemm.Sgemm(true, false, kg, ld, ocg, 1f, w.Slice(gi * ocg * kg), kg, dyb.Slice(gi * ocg * ld), ld, 0f, dcol.Slice(gi * kg * ld), ld);
                if (!g.IsIdentityIm2Col)
                    for (int j = 0; j < nb; j++)
                    {
                        var dxn = dxs.Slice((n0 + j) * imgLen, imgLen);
                        dxn.Clear();
                        Im2Col.FoldAdd(g, col[(j * p)..], dxn, ld);
                    }
                GroupEpilogue.AddWhileInCache(dxs, DxAddSpan, n0 * imgLen, nb * imgLen);
            }
            if (Bias is not null)
            {
                // db[o] += Σ_P dy[n, o, P]
                var db = _dbPart[chunk]!.Span;
                for (int o = 0; o < OutChannels; o++)
                {
                    float s = TensorPrimitives.Sum(dyb.Slice(o * ld, ld));
                    db[o] = n0 == start ? s : db[o] + s;
                }
            }
        }
    }
}
