using SparseSwitch.Tensors;


namespace SparseSwitch.Tensors.Conv;

/// <summary>
/// <see cref="ConvAlgorithm.InterleavedPlanes"/> and <see cref="ConvAlgorithm.Winograd"/>: stride-1
/// "same" convolutions on image-interleaved planes (<see cref="InterleavedConv"/>), the products
/// direct or through Winograd's F(2×2, 3×3) (<see cref="WinogradConv"/>, the members in
/// WinogradAlgorithm.cs). One instance per layer holds the per-chunk planes of x (one
/// slot per group of 16 images, kept from the forward for the backward), the dy planes, the
/// staging buffer of a block of product output, the row and tile offsets and the packed weights.
/// Allocates only when shapes change.
/// </summary>
internal sealed partial class InterleavedPlanesAlgorithm : StrideOnePlanes, IConvAlgorithm
{
    private const int G = InterleavedConv.G;
    private InterleavedConv.Layout _l;
    private nint[] _tileOff = [];
    /// <summary>Whether the products go through <see cref="WinogradConv"/>.</summary>
    private readonly bool Winograd;

    public InterleavedPlanesAlgorithm(int cin, int cout, int kh, int kw, bool winograd) : base(cin, cout, kh, kw) => Winograd = winograd;

    public ConvAlgorithm Kind => Winograd ? ConvAlgorithm.Winograd : ConvAlgorithm.InterleavedPlanes;

    /// <summary>Sizes the buffers; packs the weights for the forward product (forward) or the
    /// flipped, transposed weights for the dX product (backward) — with Winograd their transforms
    /// (<see cref="WinogradConv.PackFilters"/>).</summary>
    public void Prepare(in ConvGeometry g, ConvBatch batch, bool backward, Tensor weight, BitMask? mask, EngineOptions options)
    {
        int rows = BeginPrepare(g, batch, backward, options);
        int chunks = batch.Chunks, maxChunk = batch.MaxChunk;
        var w = weight.Span;
        bool winograd = Winograd;
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
        if (winograd) PrepareWinograd(l, chunks, rows, backward, w, mask);
        else _w.Pack(backward, w, mask, _cout, _cin, _kh, _kw);
    }

    public void Forward(int chunk, int start, int end, in ConvForward a)
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
                InterleavedConv.Pad(a.X.Slice(n0 * inLen, nb * inLen), nb, _cin, l, planes, 0, hw, a.Input);
                WinogradProducts(chunk, _cout, _cin, planes, nb, a.Bias, a.Y.Slice(n0 * outLen, nb * outLen));
            }
            // y_v[Cout, v] = W[Cout, C·KH·KW] · rows(x), a block of tiles at a time, each block's
            // input rows padded just before it
            else Products(_cout, kk, _w.Forward, a.X.Slice(n0 * inLen, nb * inLen), a.Input, default, default, _cin, planes, _offX, _stage[chunk]!.Span, nb, a.Bias, a.Y.Slice(n0 * outLen, nb * outLen));
            if (!a.OutStats.IsEmpty) GroupEpilogue.OutputPlaneStats(n0, nb, _cout, hw, a.Y, a.OutStats);
        }
    }

    /// <summary>dW and dX; no col2im.</summary>
    public void Backward(int chunk, int start, int end, in ConvBackward a)
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
            if (!reusePads) InterleavedConv.Pad(a.X.Slice(n0 * inLen, nb * inLen), nb, _cin, l, planes, 0, hw, a.Input);
            // dx_v[C, v] = Wflip[C, Cout·KH·KW] · rows(dy), dy's planes filled block by block
            // (all at once when no input gradient is wanted, or before Winograd's products)
            var dyGroup = a.Dy.Slice(n0 * outLen, nb * outLen);
            var xOfDy = a.DyIn.IsEmpty ? default : a.DyIn.X.Span.Slice(n0 * outLen, nb * outLen);
            if (a.Dx.IsEmpty || Winograd)
            {
                if (a.DyIn.IsEmpty) InterleavedConv.Pad(dyGroup, nb, _cout, l, dyPad);
                else InterleavedConv.PadGradient(dyGroup, xOfDy, nb, _cout, l, dyPad, 0, hw, a.DyIn);
            }
            if (!a.Dx.IsEmpty)
            {
                if (Winograd) WinogradProducts(chunk, _cin, _cout, dyPad, nb, default, a.Dx.Slice(n0 * inLen, nb * inLen));
                else Products(_cin, kkOut, _w.Backward, dyGroup, default, a.DyIn, xOfDy, _cout, dyPad, _offDy, _stage[chunk]!.Span, nb, default, a.Dx.Slice(n0 * inLen, nb * inLen));
                GroupEpilogue.AddWhileInCache(a.Dx, a.DxAdd, n0 * inLen, nb * inLen);
                if (!a.InputSums.IsEmpty) GroupEpilogue.InputNormSums(n0, nb, _cin, hw, a.X, a.Input, a.Dx, a.InputSums);
            }
            // dW[Cout, C·KH·KW] += Σ over the valid pixels (one run of W positions per image row)
            RowsKernels.DotProductRows(_cout, kk, l.H, l.W * G, dyPad[l.Origin..], l.ChannelStride, runStride,
                planes, _offX, runStride, n0 == start ? 0f : 1f, a.Dw, kk, _o);
        }
        GroupEpilogue.BiasGradient(start, end, _cout, _geo.OH * _geo.OW, a.Dy, a.Db);
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
            RowsKernels.ProductTiles(m, nt, k, packedA, planes, off, _tileOff.AsSpan(3 * t0, 3 * nt), stage, ld, _o);
            InterleavedConv.Compact(stage, ld, v0, Math.Min(3 * nt, l.Vectors - v0), nb, m, l, bias, output);
        }
    }
}
