using SparseSwitch.Tensors.Conv;

namespace SparseSwitch.Tensors.Sparse;

/// <summary>
/// A Linear layer's inference forward with sparse weights: y[b, out] = x[b, in] · Wᵀ + bias.
/// Batch 1 is a sparse matrix–vector product; larger batches go through Xᵀ (SIMD over the
/// images, <see cref="SparseKernels.RowsProduct"/>). Output rows are split among the threads by
/// entry count. Buffers are sized per batch and reused: a call allocates nothing after the first
/// of its batch size. One instance per layer and calling thread.
/// </summary>
public sealed class SparseLinear : IParallelBody
{
    private readonly CsrMatrix _w;
    private readonly float[]? _bias;
    private int[] _bounds = [];
    private float[] _xt = [], _yt = [];
    private nint[] _off = [];
    private int _n, _batch;
    private float[] _x = [], _y = [];
    private bool _vector;

    public SparseLinear(CsrMatrix weight, ReadOnlySpan<float> bias = default)
    {
        _w = weight;
        if (!bias.IsEmpty && bias.Length != weight.Rows)
            throw new ArgumentException($"SparseLinear: {bias.Length} biases for {weight.Rows} outputs.");
        _bias = bias.IsEmpty ? null : bias.ToArray();
    }

    public CsrMatrix Weight => _w;

    /// <summary>y [batch, Rows] = x [batch, Cols] · Wᵀ (+ bias).</summary>
    public void Forward(ReadOnlySpan<float> x, Span<float> y, int batch, EngineOptions options)
    {
        int inF = _w.Cols, outF = _w.Rows;
        if (batch < 1 || x.Length < batch * inF || y.Length < batch * outF)
            throw new ArgumentException($"SparseLinear: x of {x.Length} and y of {y.Length} for {batch} × ({inF} → {outF}).");
        int chunks = Math.Max(1, Math.Min(options.Threads, outF));
        if (_bounds.Length != chunks + 1)
        {
            _bounds = new int[chunks + 1];
            SparseKernels.BalancedRows(_w, _bounds);
        }
        _vector = batch == 1;
        _batch = batch;
        if (_vector)
        {
            if (_x.Length < inF) { _x = new float[inF]; _y = new float[outF]; }
            x[..inF].CopyTo(_x);
        }
        else
        {
            _n = (batch + SparseKernels.ColumnMultiple - 1) / SparseKernels.ColumnMultiple * SparseKernels.ColumnMultiple;
            if (_xt.Length < inF * _n)
            {
                _xt = new float[inF * _n];
                _yt = new float[outF * _n];
                _off = new nint[inF];
            }
            for (int c = 0; c < inF; c++) _off[c] = (nint)c * _n;
            // Xᵀ [in, n]: column b is image b (columns past the batch stay zero).
            for (int b = 0; b < batch; b++)
                for (int c = 0; c < inF; c++) _xt[c * _n + b] = x[b * inF + c];
        }
        WorkerPool.For(chunks, this, options);
        if (_vector) _y.AsSpan(0, outF).CopyTo(y);
        else
            for (int b = 0; b < batch; b++)
                for (int o = 0; o < outF; o++) y[b * outF + o] = _yt[o * _n + b];
        if (_bias is not null)
            for (int b = 0; b < batch; b++)
                System.Numerics.Tensors.TensorPrimitives.Add(y.Slice(b * outF, outF), _bias, y.Slice(b * outF, outF));
    }

    void IParallelBody.Execute(int chunk)
    {
        int from = _bounds[chunk], to = _bounds[chunk + 1];
        if (_vector) SparseKernels.Spmv(_w, _x, _y, from, to);
        else SparseKernels.RowsProduct(_w, _xt.AsSpan(0, _w.Cols * _n), _off, _n, _yt, _n, from, to);
    }
}

/// <summary>
/// A stride-1 "same" convolution's inference forward with sparse weights (a direct sparse
/// convolution): the images go into the shared-padding planes of <see cref="ShiftedRowsConv"/>,
/// each kept weight W[o, c, ki, kj] adds its scaled, shifted input row to output row o
/// (<see cref="SparseKernels.RowsProduct"/>), and the rows are compacted into y (+ bias). Works for
/// one image (latency) and a batch (groups of images per product). Output channels are split
/// among the threads by entry count. Allocation-free after the first call of a batch size.
/// </summary>
public sealed class SparseConv : IParallelBody
{
    private readonly CsrMatrix _w;
    private readonly float[]? _bias;
    private readonly int _cin, _cout, _kh, _kw;
    private int[] _bounds = [];
    private ShiftedRowsConv.Layout _l;
    private nint[] _off = [];
    private float[] _planes = [], _stage = [];
    private int _cols, _ldq;

    /// <summary>Weights [cout, cin·kh·kw] as CSR (rows: output channels; columns (c·KH + ki)·KW + kj).</summary>
    public SparseConv(CsrMatrix weight, int cin, int kh, int kw, ReadOnlySpan<float> bias = default)
    {
        if (weight.Cols != cin * kh * kw || kh % 2 == 0 || kw % 2 == 0)
            throw new ArgumentException($"SparseConv: a {weight.Rows}×{weight.Cols} weight matrix is not [Cout, {cin}·{kh}·{kw}] with odd kernel sides.");
        if (!bias.IsEmpty && bias.Length != weight.Rows)
            throw new ArgumentException($"SparseConv: {bias.Length} biases for {weight.Rows} output channels.");
        (_w, _cin, _cout, _kh, _kw) = (weight, cin, weight.Rows, kh, kw);
        _bias = bias.IsEmpty ? null : bias.ToArray();
    }

    /// <summary>y [batch, Cout, H, W] of x [batch, Cin, H, W] (stride 1, padding KH/2, KW/2).</summary>
    public void Forward(ReadOnlySpan<float> x, Span<float> y, int batch, int h, int w, EngineOptions options)
    {
        int inLen = _cin * h * w, outLen = _cout * h * w;
        if (batch < 1 || h < 1 || w < 1 || x.Length < batch * inLen || y.Length < batch * outLen)
            throw new ArgumentException($"SparseConv: x of {x.Length} and y of {y.Length} for {batch} images of {_cin}×{h}×{w} → {_cout}.");
        var l = ShiftedRowsConv.Layout.ForImages(h, w, _kh / 2, _kw / 2, batch, options.ShiftedRowsTargetColumns);
        if (l != _l || _off.Length != _w.Cols)
        {
            _l = l;
            _off = new nint[_w.Cols];
            ShiftedRowsConv.RowOffsets(_cin, _kh, _kw, l, _off);
            _planes = new float[l.BufferLength(_cin)];
            _ldq = Math.Max(l.OutputStride, Round(l.Cols(l.NbMax)));
            _stage = new float[_cout * _ldq];
        }
        int chunks = Math.Max(1, Math.Min(options.Threads, _cout));
        if (_bounds.Length != chunks + 1)
        {
            _bounds = new int[chunks + 1];
            SparseKernels.BalancedRows(_w, _bounds);
        }
        for (int n0 = 0; n0 < batch; n0 += l.NbMax)
        {
            int nb = Math.Min(l.NbMax, batch - n0);
            ShiftedRowsConv.Pad(x.Slice(n0 * inLen, nb * inLen), nb, _cin, l, _planes);
            _cols = Round(l.Cols(nb));
            WorkerPool.For(chunks, this, options);
            ShiftedRowsConv.Compact(_stage, _ldq, nb, _cout, l, _bias, y.Slice(n0 * outLen, nb * outLen));
        }
    }

    private static int Round(int n) => (n + SparseKernels.ColumnMultiple - 1) / SparseKernels.ColumnMultiple * SparseKernels.ColumnMultiple;

    void IParallelBody.Execute(int chunk) =>
        SparseKernels.RowsProduct(_w, _planes, _off, _cols, _stage, _ldq, _bounds[chunk], _bounds[chunk + 1]);
}
