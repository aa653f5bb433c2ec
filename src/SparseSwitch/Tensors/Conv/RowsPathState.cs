using SparseSwitch.Tensors;


namespace SparseSwitch.Tensors.Conv;

/// <summary>The weights of a stride-1 row-path convolution (<see cref="ShiftedRowsAlgorithm"/>,
/// <see cref="InterleavedPlanesAlgorithm"/>) in the form its products read: packed into MR-row panels for the
/// forward; flipped, transposed and packed for dX (dx = Wflip · rows(dy)).</summary>
internal sealed class RowsWeights
{
    private Tensor? _packed, _flipPacked;

    /// <summary>W[Cout, C·KH·KW] packed (after <see cref="Pack"/> for the forward).</summary>
    public ReadOnlySpan<float> Forward => _packed!.Span;

    /// <summary>Wflip[C, Cout·KH·KW] packed (after <see cref="Pack"/> for the backward).</summary>
    public ReadOnlySpan<float> Backward => _flipPacked!.Span;

    /// <summary>Packs w (masked entries as +0 when <paramref name="mask"/> is not null).</summary>
    public void Pack(bool backward, ReadOnlySpan<float> w, BitMask? mask, int cout, int cin, int kh, int kw)
    {
        int kk = kh * kw;
        var bits = mask is null ? default : MaskedWeights.Words(mask, w.Length);
        if (!backward)
        {
            RowsKernels.PackA(cout, cin * kk, w, cin * kk, Buffers.Ensure(ref _packed, RowsKernels.PackedALength(cout, cin * kk)).Span, bits);
            return;
        }
        RowsKernels.PackFlipped(cout, cin, kh, kw, w, Buffers.Ensure(ref _flipPacked, RowsKernels.PackedALength(cin, cout * kk)).Span, bits);
    }
}

/// <summary>How the algorithms take a sub-net's mask into their weights.</summary>
internal static class MaskedWeights
{
    /// <summary>The mask's words, after checking it covers <paramref name="length"/> weights.</summary>
    public static ReadOnlySpan<ulong> Words(BitMask mask, int length) => mask.Length == length ? mask.Words
        : throw new ArgumentException($"A mask of {mask.Length} positions does not fit {length} weights.");

    /// <summary>For the algorithms whose kernels read the weights unpacked (im2col's GEMM, the
    /// depthwise kernels): w itself without a mask, else W ⊙ M (+0 where masked) in
    /// <paramref name="buffer"/> — their form of packing.</summary>
    public static Tensor Of(Tensor w, BitMask? mask, ref Tensor? buffer)
    {
        if (mask is null) return w;
        if (mask.Length != w.Length) Words(mask, w.Length);
        var b = Buffers.Ensure(ref buffer, w.Shape);
        mask.ApplyTo(w.Span, b.Span);
        return b;
    }
}

/// <summary>
/// What the stride-1 plane algorithms (<see cref="ShiftedRowsAlgorithm"/>, <see cref="InterleavedPlanesAlgorithm"/>)
/// hold alike: per chunk, the planes of x (kept from the forward for the backward), the dy planes
/// and a staging buffer for product output; the row offsets of x and dy, and the packed weights.
/// Each path lays its planes out its own way and sizes the buffers in its Prepare.
/// </summary>
internal abstract class StrideOnePlanes
{
    protected readonly int _cin, _cout, _kh, _kw;
    protected ConvGeometry _geo;
    protected EngineOptions _o = EngineOptions.Default;
    protected nint[] _offX = [], _offDy = [];
    protected readonly RowsWeights _w = new();
    protected Tensor?[] _pad = [], _dyPad = [], _stage = [];
    protected PlaneReuse _reuse;

    protected StrideOnePlanes(int cin, int cout, int kh, int kw) => (_cin, _cout, _kh, _kw) = (cin, cout, kh, kw);

    /// <summary>Marks the planes as made for this batch (after a forward over all chunks).</summary>
    public void ForwardDone() => _reuse.ForwardDone();

    public bool TransformsInput => true;
    public bool TransformsGradient => true;

    /// <summary>The start of Prepare: geometry, options, plane-reuse bookkeeping and a buffer slot
    /// per chunk; returns the rows a staging buffer needs (the larger channel count in MR panels).</summary>
    protected int BeginPrepare(in ConvGeometry g, ConvBatch batch, bool backward, EngineOptions options)
    {
        _geo = g;
        _o = options;
        int chunks = batch.Chunks;
        _reuse.Prepare(batch.Batch, chunks, backward);
        if (_pad.Length < chunks)
        {
            Array.Resize(ref _pad, chunks);
            Array.Resize(ref _dyPad, chunks);
            Array.Resize(ref _stage, chunks);
        }
        return (Math.Max(_cin, _cout) + RowsKernels.MR - 1) / RowsKernels.MR * RowsKernels.MR;
    }

    /// <summary>The layout changed (pixels and padding moved): every plane buffer is cleared, and
    /// the forward's planes cannot serve a backward.</summary>
    protected void ClearPlanes()
    {
        foreach (var t in _pad) t?.Clear();
        foreach (var t in _dyPad) t?.Clear();
        _reuse.Invalidate();
    }

    /// <summary>Sizes a chunk's planes of x, of dy: their padding is read as zero, so a change of
    /// shape clears them (<see cref="Buffers.EnsureCleared"/>; a buffer keeps its storage across
    /// batch sizes), and cleared planes of x cannot serve a backward.</summary>
    protected void EnsurePlanes(int chunk, params ReadOnlySpan<int> shape)
    {
        if (Buffers.EnsureCleared(ref _pad[chunk], shape)) _reuse.Invalidate();
    }

    protected void EnsureDyPlanes(int chunk, params ReadOnlySpan<int> shape) => Buffers.EnsureCleared(ref _dyPad[chunk], shape);
}

/// <summary>Whether the planes a forward filled can serve the backward: made by a forward over all
/// chunks of the same batch size and chunking (anything else refills them from x).</summary>
internal struct PlaneReuse
{
    private bool _valid;
    private int _batch, _chunks, _madeBatch, _madeChunks;

    /// <summary>A forward or backward over this batch and chunking is about to run; a forward
    /// invalidates the planes until <see cref="ForwardDone"/>.</summary>
    public void Prepare(int batch, int chunks, bool backward)
    {
        (_batch, _chunks) = (batch, chunks);
        if (!backward) _valid = false;
    }

    public void ForwardDone() => (_valid, _madeBatch, _madeChunks) = (true, _batch, _chunks);

    /// <summary>The planes were cleared or reallocated: the next backward refills them.</summary>
    public void Invalidate() => _valid = false;

    public readonly bool Reusable => _valid && _madeBatch == _batch && _madeChunks == _chunks;
}

/// <summary>Work the convolution paths do on a group of images right after writing its output or
/// input gradient, while that is still in cache: statistics for the batch-norm that reads y,
/// backward sums for the deferred batch-norm that produced x, and a second gradient added to dx.</summary>
internal static class GroupEpilogue
{
    /// <summary>For images [n0, n0 + nb) and every channel: the backward plane sums of the deferred
    /// batch-norm that produced this layer's input (<see cref="PlaneStatistics.Sums"/>),
    /// from dx just written and x, at 2·(n·C + c) of <paramref name="sums"/>.</summary>
    internal static void InputNormSums(int n0, int nb, int channels, int hw, ReadOnlySpan<float> x, in ChannelAffine input,
        ReadOnlySpan<float> dx, Span<double> sums)
    {
        for (int n = n0; n < n0 + nb; n++)
            for (int c = 0; c < channels; c++)
            {
                int p = n * channels + c;
                var (s1, s2) = PlaneStatistics.Sums(dx.Slice(p * hw, hw), x.Slice(p * hw, hw), input, c);
                sums[2 * p] = s1;
                sums[2 * p + 1] = s2;
            }
    }

    /// <summary>For images [n0, n0 + nb) and every channel: <see cref="PlaneStatistics.Stats"/> of
    /// y's plane just written, at 2·(n·C + c) of <paramref name="stats"/> (for the batch-norm that
    /// reads y).</summary>
    internal static void OutputPlaneStats(int n0, int nb, int channels, int hw, ReadOnlySpan<float> y, Span<double> stats)
    {
        for (int p = n0 * channels; p < (n0 + nb) * channels; p++)
            (stats[2 * p], stats[2 * p + 1]) = PlaneStatistics.Stats(y.Slice(p * hw, hw));
    }

    /// <summary>db[o] = Σ over images [start, end) and their p pixels of dy[n, o] (a chunk's part,
    /// overwritten); nothing when db is empty (no bias).</summary>
    internal static void BiasGradient(int start, int end, int cout, int p, ReadOnlySpan<float> dy, Span<float> db)
    {
        if (db.IsEmpty) return;
        for (int o = 0; o < cout; o++)
        {
            float sum = 0f;
            for (int n = start; n < end; n++) sum += System.Numerics.Tensors.TensorPrimitives.Sum(dy.Slice((n * cout + o) * p, p));
            db[o] = sum;
        }
    }

    /// <summary>dx[from, from + count) += add[from, from + count) when add is not empty: a group's
    /// input gradient just written, still in cache.</summary>
    internal static void AddWhileInCache(Span<float> dx, ReadOnlySpan<float> add, int from, int count)
    {
        if (add.IsEmpty) return;
        var d = dx.Slice(from, count);
        System.Numerics.Tensors.TensorPrimitives.Add(d, add.Slice(from, count), d);
    }
}
