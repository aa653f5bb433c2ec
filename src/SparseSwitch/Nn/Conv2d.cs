using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using SparseSwitch.Tensors;

namespace SparseSwitch.Nn;

/// <summary>
/// 2-D convolution, NCHW. x: [B, Cin, H, W], W: [Cout, Cin/groups, KH, KW], b: [Cout],
/// y: [B, Cout, OH, OW]; y[n, o] = Σ_{c in o's group, ki, kj} W[o, c, ki, kj]·x[n, c, oh·s − p + ki·d, ...] + b[o].
/// Per image and group one GEMM: y_g[Cout/g, P] = W_g[Cout/g, K_g] · col_g[K_g, P] with
/// K_g = Cin/g·KH·KW, P = OH·OW (im2col, skipped for 1×1 stride-1 unpadded kernels). Images are
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
    private Tensor?[] _dwPart = [];
    private Tensor?[] _dbPart = [];
    private Tensor _dy = null!;
    private int _chunks;
    private readonly ParallelRange _forward, _backward;

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
        if (x.Rank != 4 || x.Dim(1) != InChannels)
            throw new ArgumentException($"Conv2d({InChannels}→{OutChannels}): input shape {Buffers.ShapeText(x.Shape)}, expected [B, {InChannels}, H, W].");
        var geo = new ConvGeometry(InChannels, x.Dim(2), x.Dim(3), KernelH, KernelW, StrideH, StrideW, PaddingH, PaddingW, DilationH, DilationW);
        if (geo.OH < 1 || geo.OW < 1)
            throw new ArgumentException($"Conv2d: input {x.Dim(2)}×{x.Dim(3)} is too small for kernel {KernelH}×{KernelW} with padding {PaddingH}×{PaddingW}, dilation {DilationH}×{DilationW}.");
        _geo = geo;
        _x = x;
        ObserveInput(x);
        _wUsed = EffectiveWeight.Compute(Weight, ref _wEff);
        int b = x.Dim(0);
        Buffers.Ensure(ref _y, b, OutChannels, geo.OH, geo.OW);
        PrepareChunks(b);
        _forward.Run(b);
        return _y!;
    }

    private void PrepareChunks(int b)
    {
        _chunks = ParallelRange.ChunkCount(b);
        if (_col.Length < _chunks)
        {
            Array.Resize(ref _col, _chunks);
            Array.Resize(ref _dwPart, _chunks);
            Array.Resize(ref _dbPart, _chunks);
        }
        if (!_geo.IsIdentityIm2Col)
            for (int c = 0; c < _chunks; c++) Buffers.Ensure(ref _col[c], _geo.ColRows, _geo.ColCols);
    }

    private void ForwardChunk(int chunk, int start, int end)
    {
        var g = _geo;
        int p = g.ColCols, ocg = OutChannels / Groups, kg = g.ColRows / Groups, imgLen = InChannels * g.H * g.W;
        var w = _wUsed.Span;
        var xs = _x.Span;
        var ys = _y!.Span;
        for (int n = start; n < end; n++)
        {
            var img = xs.Slice(n * imgLen, imgLen);
            ReadOnlySpan<float> col = img;
            if (!g.IsIdentityIm2Col)
            {
                var c = _col[chunk]!.Span;
                Im2Col.Unfold(g, img, c);
                col = c;
            }
            var yn = ys.Slice(n * OutChannels * p, OutChannels * p);
            for (int gi = 0; gi < Groups; gi++)
                Gemm.Sgemm(false, false, ocg, p, kg, 1f, w.Slice(gi * ocg * kg), kg, col.Slice(gi * kg * p), p, 0f, yn.Slice(gi * ocg * p), p);
            if (Bias is not null)
            {
                var bs = Bias.Data.Span;
                for (int o = 0; o < OutChannels; o++)
                {
                    var row = yn.Slice(o * p, p);
                    TensorPrimitives.Add(row, bs[o], row);
                }
            }
        }
    }

    public override Tensor Backward(Tensor dy)
    {
        if (_x is null) throw new InvalidOperationException("Conv2d.Backward called before Forward.");
        if (!dy.SameShape(_y!.Shape))
            throw new ArgumentException($"Conv2d.Backward: dy shape {Buffers.ShapeText(dy.Shape)}, expected {Buffers.ShapeText(_y.Shape)}.");
        int b = _x.Dim(0);
        _dy = dy;
        Buffers.Ensure(ref _dx, _x.Shape);
        PrepareChunks(b);
        for (int c = 0; c < _chunks; c++)
        {
            Buffers.Ensure(ref _dwPart[c], Weight.Shape);
            if (Bias is not null) Buffers.Ensure(ref _dbPart[c], OutChannels);
            // dcol needs a buffer even for 1×1 kernels, whose col is the image itself.
            if (_geo.IsIdentityIm2Col) Buffers.Ensure(ref _col[c], _geo.ColRows, _geo.ColCols);
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
        return _dx!;
    }

    private void BackwardChunk(int chunk, int start, int end)
    {
        var g = _geo;
        int p = g.ColCols, ocg = OutChannels / Groups, kg = g.ColRows / Groups, imgLen = InChannels * g.H * g.W;
        var w = _wUsed.Span;
        var xs = _x.Span;
        var dys = _dy.Span;
        var dxs = _dx!.Span;
        var col = _col[chunk]!.Span;
        var dw = _dwPart[chunk]!.Span;
        for (int n = start; n < end; n++)
        {
            float beta = n == start ? 0f : 1f;
            var img = xs.Slice(n * imgLen, imgLen);
            var dyn = dys.Slice(n * OutChannels * p, OutChannels * p);
            var dxn = dxs.Slice(n * imgLen, imgLen);
            // dW_g[ocg, K_g] += dy_g[ocg, P] · col_g[K_g, P]ᵀ
            ReadOnlySpan<float> colIn = img;
            if (!g.IsIdentityIm2Col) { Im2Col.Unfold(g, img, col); colIn = col; }
            for (int gi = 0; gi < Groups; gi++)
                Gemm.Sgemm(false, true, ocg, kg, p, 1f, dyn.Slice(gi * ocg * p), p, colIn.Slice(gi * kg * p), p, beta, dw.Slice(gi * ocg * kg), kg);
            // dcol_g[K_g, P] = W_g[ocg, K_g]ᵀ · dy_g[ocg, P]; dx = fold(dcol)
            var dcol = g.IsIdentityIm2Col ? dxn : col;
            for (int gi = 0; gi < Groups; gi++)
                Gemm.Sgemm(true, false, kg, p, ocg, 1f, w.Slice(gi * ocg * kg), kg, dyn.Slice(gi * ocg * p), p, 0f, dcol.Slice(gi * kg * p), p);
            if (!g.IsIdentityIm2Col)
            {
                dxn.Clear();
                Im2Col.FoldAdd(g, col, dxn);
            }
            if (Bias is not null)
            {
                // db[o] += Σ_P dy[n, o, P]
                var db = _dbPart[chunk]!.Span;
                for (int o = 0; o < OutChannels; o++)
                {
                    float s = TensorPrimitives.Sum(dyn.Slice(o * p, p));
                    db[o] = n == start ? s : db[o] + s;
                }
            }
        }
    }
}
