
namespace SparseSwitch.Tensors.Conv;

/// <summary>The Winograd F(2×2, 3×3) products of <see cref="ConvAlgorithm.Winograd"/>
/// (<see cref="WinogradConv"/>: 2.25× fewer multiply-adds in the forward and input-gradient
/// products; results equal to the direct ones to rounding, not bit for bit), on the
/// image-interleaved planes of <see cref="InterleavedPlanesAlgorithm"/>.</summary>
internal sealed partial class InterleavedPlanesAlgorithm
{
    // Winograd F(2×2, 3×3) products (WinogradConv) instead of the direct ones: per chunk the
    // transformed input and product output of a block of tiles and a whole group's output in the
    // interleaved layout; the transformed filters; row offsets into a block.
    private int _blockTiles;
    private Tensor?[] _wv = [], _wm = [], _wstage = [];
    private Tensor? _wPacked;
    private nint[] _offBlock = [], _tileOffBlock = [];

    private void PrepareWinograd(in InterleavedConv.Layout l, int chunks, int rows, bool backward, ReadOnlySpan<float> w, BitMask? mask)
    {
        int nt = WinogradConv.BlockTiles(l, _cin, _cout, _o.WinogradBlockBytes), ld = nt * G, most = Math.Max(_cin, _cout);
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
        WinogradConv.PackFilters(_cout, _cin, w, backward, Buffers.Ensure(ref _wPacked, WinogradConv.PackedLength(m, k)).Span,
            mask is null ? default : MaskedWeights.Words(mask, w.Length));
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
                    mb.Slice(xi * pointM, mR * ld), ld, _o);
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
}
