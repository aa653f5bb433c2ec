using SparseSwitch.Tensors;

namespace SparseSwitch.Nn;

/// <summary>
/// <see cref="Conv2d"/>'s stride-1 "same" path on image-interleaved planes
/// (<see cref="InterleavedConv"/>): one instance per layer holds the per-chunk planes of x (one
/// slot per group of 16 images, kept from the forward for the backward), the dy planes, the
/// staging buffer of a block of product output, the row and tile offsets and the packed weights.
/// Same shape of API as <see cref="ShiftedRowsPath"/>; allocates only when shapes change.
/// </summary>
internal sealed class InterleavedPath : StrideOnePlanes
{
    private const int G = InterleavedConv.G;
    private InterleavedConv.Layout _l;
    private nint[] _tileOff = [];
    // Winograd F(2×2, 3×3) products (WinogradConv) instead of the direct ones: per chunk the
    // transformed input and product output of a block of tiles and a whole group's output in the
    // interleaved layout; the transformed filters; row offsets into a block.
    private int _blockTiles;
    private Tensor?[] _wv = [], _wm = [], _wstage = [];
    private Tensor? _wPacked;
    private nint[] _offBlock = [], _tileOffBlock = [];

    /// <summary>Whether the products go through <see cref="WinogradConv"/> (set by Prepare).</summary>
    public bool Winograd { get; private set; }

    public InterleavedPath(int cin, int cout, int kh, int kw) : base(cin, cout, kh, kw) { }

    /// <summary>Sizes the buffers for a batch split into <paramref name="chunks"/> chunks of at most
    /// <paramref name="maxChunk"/> images; packs the weights for the forward product (forward) or
    /// the flipped, transposed weights for the dX product (backward) — with
    /// <paramref name="winograd"/> their Winograd transforms (<see cref="WinogradConv.PackFilters"/>).</summary>
    public void Prepare(in ConvGeometry g, int batch, int chunks, int maxChunk, bool backward, ReadOnlySpan<float> w, bool winograd = false)
    {
        int rows = BeginPrepare(g, batch, chunks, backward);
        var l = new InterleavedConv.Layout(g.H, g.W, g.PH, g.PW);
        int kk = _kh * _kw;
        if (_l != l || _offX.Length != _cin * kk)
        {
            _offX = new nint[_cin * kk];
            _offDy = new nint[_cout * kk];
            _tileOff = new nint[3 * l.Tiles];
            InterleavedConv.RowOffsets(_cin, _kh, _kw, l, _offX);
            InterleavedConv.RowOffsets(_cout, _kh, _kw, l, _offDy);
            InterleavedConv.TileOffsets(l, _tileOff);
            ClearPlanes();
        }
        _l = l;
        for (int c = 0; c < chunks; c++)
        {
            EnsurePlanes(c, (maxChunk + G - 1) / G, _cin, l.Hp, l.Wp, G);
            if (backward) EnsureDyPlanes(c, _cout, l.Hp, l.Wp, G);
            if (!winograd) Scratch.Ensure(ref _stage[c], ScratchRole.ProductStage, c, rows, InterleavedConv.Layout.StageStride);
        }
        Winograd = winograd;
        if (winograd) PrepareWinograd(l, chunks, rows, backward, w);
        else _w.Pack(backward, w, _cout, _cin, _kh, _kw);
    }

    private void PrepareWinograd(in InterleavedConv.Layout l, int chunks, int rows, bool backward, ReadOnlySpan<float> w)
    {
        int nt = WinogradConv.BlockTiles(l, _cin, _cout), ld = nt * G, most = Math.Max(_cin, _cout);
        if (_blockTiles != nt || _offBlock.Length != most)
        {
            _blockTiles = nt;
            _offBlock = new nint[most];
            for (int c = 0; c < most; c++) _offBlock[c] = (nint)c * ld;
            _tileOffBlock = new nint[nt];
            for (int j = 0; j < nt; j++) _tileOffBlock[j] = (nint)j * G;
        }
        if (_wv.Length < chunks)
        {
            Array.Resize(ref _wv, chunks);
            Array.Resize(ref _wm, chunks);
            Array.Resize(ref _wstage, chunks);
        }
        for (int c = 0; c < chunks; c++)
        {
            Scratch.Ensure(ref _wv[c], ScratchRole.WinogradInput, c, WinogradConv.Points, WinogradConv.PointStride(most, ld));
            Scratch.Ensure(ref _wm[c], ScratchRole.WinogradProduct, c, WinogradConv.Points, WinogradConv.PointStride(rows, ld));
            Scratch.Ensure(ref _wstage[c], ScratchRole.WinogradStage, c, most, l.Vectors, G);
        }
        int m = backward ? _cin : _cout, k = backward ? _cout : _cin;
        WinogradConv.PackFilters(_cout, _cin, w, backward, Buffers.Ensure(ref _wPacked, WinogradConv.PackedLength(m, k)).Span);
    }

    /// <summary>y of this chunk's images; x's channels go through <paramref name="input"/> on their
    /// way into the planes when it is not empty (a deferred batch-norm); a non-empty
    /// <paramref name="outStats"/> receives y's plane statistics as each group is written.</summary>
    public void Forward(int chunk, int start, int end, ReadOnlySpan<float> x, ReadOnlySpan<float> bias, Span<float> y, in ChannelAffine input,
        Span<double> outStats)
    {
        var l = _l;
        int hw = l.Vectors, inLen = _cin * hw, outLen = _cout * hw, slot = _cin * l.ChannelStride, kk = _geo.ColRows;
        var pad = _pad[chunk]!.Span;
        for (int n0 = start; n0 < end; n0 += G)
        {
            int nb = Math.Min(G, end - n0);
            var planes = pad.Slice((n0 - start) / G * slot, slot);
            if (Winograd)
            {
                InterleavedConv.Pad(x.Slice(n0 * inLen, nb * inLen), nb, _cin, l, planes, 0, hw, input);
                WinogradProducts(chunk, _cout, _cin, planes, nb, bias, y.Slice(n0 * outLen, nb * outLen));
            }
            // y_v[Cout, v] = W[Cout, C·KH·KW] · rows(x), a block of tiles at a time, each block's
            // input rows padded just before it
            else Products(_cout, kk, _w.Forward, x.Slice(n0 * inLen, nb * inLen), input, default, default, _cin, planes, _offX, _stage[chunk]!.Span, nb, bias, y.Slice(n0 * outLen, nb * outLen));
            if (!outStats.IsEmpty) GroupEpilogue.OutputPlaneStats(n0, nb, _cout, hw, y, outStats);
        }
    }

    /// <summary>dW (this chunk's part, overwritten) and dX; no col2im. An empty
    /// <paramref name="dx"/> skips the dX product; dy goes through <paramref name="dyIn"/> (a
    /// deferred batch-norm's backward) when that is not empty; a non-empty
    /// <paramref name="inputSums"/> receives the plane sums of the deferred batch-norm on x as each
    /// group's dx is written (<see cref="GroupEpilogue.InputNormSums"/>); a non-empty
    /// <paramref name="dxAdd"/> is added to dx group by group.</summary>
    public void Backward(int chunk, int start, int end, ReadOnlySpan<float> x, in ChannelAffine input, ReadOnlySpan<float> dy,
        in ChannelGradAffine dyIn, Span<float> dw, Span<float> dx, Span<double> inputSums, ReadOnlySpan<float> dxAdd)
    {
        var l = _l;
        int hw = l.Vectors, inLen = _cin * hw, outLen = _cout * hw, slot = _cin * l.ChannelStride, kk = _geo.ColRows;
        int kkOut = _cout * _kh * _kw, runStride = l.Wp * G;
        var pad = _pad[chunk]!.Span;
        var dyPad = _dyPad[chunk]!.Span;
        bool reusePads = _reuse.Reusable;
        for (int n0 = start; n0 < end; n0 += G)
        {
            int nb = Math.Min(G, end - n0);
            var planes = pad.Slice((n0 - start) / G * slot, slot);
            if (!reusePads) InterleavedConv.Pad(x.Slice(n0 * inLen, nb * inLen), nb, _cin, l, planes, 0, hw, input);
            // dx_v[C, v] = Wflip[C, Cout·KH·KW] · rows(dy), dy's planes filled block by block
            // (all at once when no input gradient is wanted, or before Winograd's products)
            var dyGroup = dy.Slice(n0 * outLen, nb * outLen);
            var xOfDy = dyIn.IsEmpty ? default : dyIn.X.Span.Slice(n0 * outLen, nb * outLen);
            if (dx.IsEmpty || Winograd)
            {
                if (dyIn.IsEmpty) InterleavedConv.Pad(dyGroup, nb, _cout, l, dyPad);
                else InterleavedConv.PadGradient(dyGroup, xOfDy, nb, _cout, l, dyPad, 0, hw, dyIn);
            }
            if (!dx.IsEmpty)
            {
                if (Winograd) WinogradProducts(chunk, _cin, _cout, dyPad, nb, default, dx.Slice(n0 * inLen, nb * inLen));
                else Products(_cin, kkOut, _w.Backward, dyGroup, default, dyIn, xOfDy, _cout, dyPad, _offDy, _stage[chunk]!.Span, nb, default, dx.Slice(n0 * inLen, nb * inLen));
                GroupEpilogue.AddWhileInCache(dx, dxAdd, n0 * inLen, nb * inLen);
                if (!inputSums.IsEmpty) GroupEpilogue.InputNormSums(n0, nb, _cin, hw, x, input, dx, inputSums);
            }
            // dW[Cout, C·KH·KW] += Σ over the valid pixels (one run of W positions per image row)
            RowsKernels.DotProductRows(_cout, kk, l.H, l.W * G, dyPad[l.Origin..], l.ChannelStride, runStride,
                planes, _offX, runStride, n0 == start ? 0f : 1f, dw, kk);
        }
    }

    /// <summary>out[n, i] (i &lt; m) = the 3×3 same convolution of the k channels of the filled
    /// planes with the packed transformed filters (<see cref="WinogradConv"/>), + bias[i]: a block
    /// of tiles at a time through the input transform, 16 products and the output transform into
    /// the group's interleaved stage; finished rows go back to [nb, m, H, W] as they complete.</summary>
    private void WinogradProducts(int chunk, int m, int k, ReadOnlySpan<float> planes, int nb, ReadOnlySpan<float> bias, Span<float> output)
    {
        var l = _l;
        int nt = _blockTiles, ld = nt * G, tw = l.W / 2, tiles = tw * (l.H / 2), hw = l.Vectors, ldStage = hw * G;
        int mR = (m + RowsKernels.MR - 1) / RowsKernels.MR * RowsKernels.MR, one = RowsKernels.PackedALength(m, k);
        int pointV = WinogradConv.PointStride(k, ld), pointM = WinogradConv.PointStride(mR, ld);
        var v = _wv[chunk]!.Span;
        var mb = _wm[chunk]!.Span;
        var stage = _wstage[chunk]!.Span;
        var packed = _wPacked!.Span;
        var off = _offBlock.AsSpan(0, k);
        int done = 0;
        for (int t0 = 0; t0 < tiles; t0 += nt)
        {
            int n = Math.Min(nt, tiles - t0);
            WinogradConv.InputTransform(planes, l, k, t0, n, v, ld, pointV);
            for (int xi = 0; xi < WinogradConv.Points; xi++)
                RowsKernels.ProductTiles(m, nt / 3, k, packed.Slice(xi * one, one), v.Slice(xi * pointV, k * ld), off, _tileOffBlock,
                    mb.Slice(xi * pointM, mR * ld), ld);
            WinogradConv.OutputTransform(mb, pointM, ld, m, l, t0, n, stage, ldStage);
            // Whole output rows (two per row of tiles) from a multiple of 16 pixels on.
            int ready = t0 + n == tiles ? hw : (t0 + n) / tw * 2 * l.W / G * G;
            if (ready > done)
            {
                InterleavedConv.Compact(stage[(done * G)..], ldStage, done, ready - done, nb, m, l, bias, output);
                done = ready;
            }
        }
    }

    /// <summary>out[n, i, v] = Σ_r A[i, r]·rows(planes)[r, v] (+ bias[i]) for the nb images of a group,
    /// in blocks of <see cref="InterleavedConv.TilesPerBlock"/> tiles through the staging buffer.
    /// Before each block the planes receive the input pixels (of <paramref name="input"/>, c
    /// channels, through <paramref name="transform"/>, or with gradX through <paramref name="grad"/>,
    /// when not empty) that block reads: the rows
    /// up to its last output row + PH, while they are still in cache.</summary>
    private void Products(int m, int k, ReadOnlySpan<float> packedA, ReadOnlySpan<float> input, in ChannelAffine transform,
        in ChannelGradAffine grad, ReadOnlySpan<float> gradX, int c, Span<float> planes,
        ReadOnlySpan<nint> off, Span<float> stage, int nb, ReadOnlySpan<float> bias, Span<float> output)
    {
        var l = _l;
        int tiles = l.Tiles, ld = InterleavedConv.Layout.StageStride, hw = l.Vectors, padded = 0;
        for (int t0 = 0; t0 < tiles; t0 += InterleavedConv.TilesPerBlock)
        {
            int nt = Math.Min(InterleavedConv.TilesPerBlock, tiles - t0), v0 = 3 * t0;
            int lastRow = Math.Min(hw, v0 + 3 * nt) - 1;
            int need = Math.Min(hw, (lastRow / l.W + l.PH + 1) * l.W);
            if (need > padded)
            {
                int to = Math.Min(hw, (need + G - 1) / G * G); // whole 16-pixel blocks, so the next band starts on one
                if (grad.IsEmpty) InterleavedConv.Pad(input, nb, c, l, planes, padded, to, transform);
                else InterleavedConv.PadGradient(input, gradX, nb, c, l, planes, padded, to, grad);
                padded = to;
            }
            RowsKernels.ProductTiles(m, nt, k, packedA, planes, off, _tileOff.AsSpan(3 * t0, 3 * nt), stage, ld);
            InterleavedConv.Compact(stage, ld, v0, Math.Min(3 * nt, l.Vectors - v0), nb, m, l, bias, output);
        }
    }
}
