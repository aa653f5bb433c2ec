using SparseSwitch.Tensors;

namespace SparseSwitch.Nn;

/// <summary>
/// <see cref="Conv2d"/>'s stride-1 "same" path (<see cref="ShiftedRowsConv"/>): one instance per
/// layer holds the per-chunk padded planes of x (one slot per image group, kept from the forward
/// for the backward), the padded dy planes, the product staging buffers, the row offsets and the
/// packed weights. Same shape of API as <see cref="StridedRowsConv"/>: Prepare, then Forward /
/// Backward per chunk of images; allocates only when shapes change.
/// </summary>
internal sealed class ShiftedRowsPath : StrideOnePlanes
{
    private ShiftedRowsConv.Layout _l;

    public ShiftedRowsPath(int cin, int cout, int kh, int kw) : base(cin, cout, kh, kw) { }

    /// <summary>Sizes the buffers for a batch split into <paramref name="chunks"/> chunks of at most
    /// <paramref name="maxChunk"/> images; packs the weights for the forward product (forward) or
    /// the flipped, transposed weights for the dX product (backward).</summary>
    public void Prepare(in ConvGeometry g, int batch, int chunks, int maxChunk, bool backward, ReadOnlySpan<float> w)
    {
        int rows = BeginPrepare(g, batch, chunks, backward);
        var l = ShiftedRowsConv.Layout.ForImages(g.H, g.W, g.PH, g.PW, maxChunk);
        int kk = _kh * _kw, nbMax = l.NbMax;
        if (_l != l || _offX.Length != _cin * kk || _offDy.Length != _cout * kk)
        {
            _offX = new nint[_cin * kk];
            _offDy = new nint[_cout * kk];
            ShiftedRowsConv.RowOffsets(_cin, _kh, _kw, l, _offX);
            ShiftedRowsConv.RowOffsets(_cout, _kh, _kw, l, _offDy);
            ClearPlanes();
        }
        _l = l;
        for (int c = 0; c < chunks; c++)
        {
            EnsurePlanes(c, (maxChunk + nbMax - 1) / nbMax, l.BufferLength(_cin));
            if (backward) EnsureDyPlanes(c, l.BufferLength(_cout)); // one group of images at a time
            Scratch.Ensure(ref _stage[c], ScratchRole.ProductStage, c, rows, l.OutputStride);
        }
        _w.Pack(backward, w, _cout, _cin, _kh, _kw);
    }

    /// <summary>y of this chunk's images; x's channels go through <paramref name="input"/> on their
    /// way into the planes when it is not empty (a deferred batch-norm); a non-empty
    /// <paramref name="outStats"/> receives y's plane statistics as each group is written
    /// (<see cref="GroupEpilogue.OutputPlaneStats"/>).</summary>
    public void Forward(int chunk, int start, int end, ReadOnlySpan<float> x, ReadOnlySpan<float> bias, Span<float> y, in ChannelAffine input,
        Span<double> outStats)
    {
        var l = _l;
        int nbMax = l.NbMax, ldq = l.OutputStride, kk = _geo.ColRows, hw = _geo.H * _geo.W;
        int inLen = _cin * hw, outLen = _cout * hw, slot = l.BufferLength(_cin);
        var pad = _pad[chunk]!.Span;
        var stage = _stage[chunk]!.Span;
        for (int n0 = start; n0 < end; n0 += nbMax)
        {
            int nb = Math.Min(nbMax, end - n0);
            var padX = pad.Slice((n0 - start) / nbMax * slot, slot);
            ShiftedRowsConv.Pad(x.Slice(n0 * inLen, nb * inLen), nb, _cin, l, padX, input);
            // y_q[Cout, q] = W[Cout, C·KH·KW] · rows(x)
            RowsKernels.Product(_cout, l.Cols(nb), kk, _w.Forward, padX, _offX, stage, ldq);
            ShiftedRowsConv.Compact(stage, ldq, nb, _cout, l, bias, y.Slice(n0 * outLen, nb * outLen));
            if (!outStats.IsEmpty) GroupEpilogue.OutputPlaneStats(n0, nb, _cout, hw, y, outStats);
        }
    }

    /// <summary>dW (this chunk's part, overwritten) and dX as products over the padded x and dy;
    /// no col2im. An empty <paramref name="dx"/> skips the dX product; dy goes through
    /// <paramref name="dyIn"/> (a deferred batch-norm's backward) when that is not empty; a
    /// non-empty <paramref name="inputSums"/> receives the plane sums of the deferred batch-norm
    /// on x (<see cref="GroupEpilogue.InputNormSums"/>) as each group's dx is written; a non-empty
    /// <paramref name="dxAdd"/> is added to dx group by group (the other branch of a residual block).</summary>
    public void Backward(int chunk, int start, int end, ReadOnlySpan<float> x, in ChannelAffine input, ReadOnlySpan<float> dy,
        in ChannelGradAffine dyIn, Span<float> dw, Span<float> dx, Span<double> inputSums, ReadOnlySpan<float> dxAdd)
    {
        var l = _l;
        int nbMax = l.NbMax, ldq = l.OutputStride, kk = _geo.ColRows, kkOut = _cout * _kh * _kw, hw = _geo.H * _geo.W;
        int inLen = _cin * hw, outLen = _cout * hw, s = l.ChannelStride, slot = l.BufferLength(_cin);
        var pad = _pad[chunk]!.Span;
        var dyPad = _dyPad[chunk]!.Span;
        var stage = _stage[chunk]!.Span;
        bool reusePads = _reuse.Reusable;
        for (int n0 = start; n0 < end; n0 += nbMax)
        {
            int nb = Math.Min(nbMax, end - n0), cols = l.Cols(nb);
            var padX = pad.Slice((n0 - start) / nbMax * slot, slot);
            if (!reusePads) ShiftedRowsConv.Pad(x.Slice(n0 * inLen, nb * inLen), nb, _cin, l, padX, input);
            if (dyIn.IsEmpty) ShiftedRowsConv.Pad(dy.Slice(n0 * outLen, nb * outLen), nb, _cout, l, dyPad);
            else ShiftedRowsConv.PadGradient(dy.Slice(n0 * outLen, nb * outLen), dyIn.X.Span.Slice(n0 * outLen, nb * outLen), nb, _cout, l, dyPad, dyIn);
            // dW[Cout, C·KH·KW] += dy_q[Cout, q] · rows(x)ᵀ
            RowsKernels.DotProduct(_cout, kk, cols, dyPad[l.Origin..], s, padX, _offX, n0 == start ? 0f : 1f, dw, kk);
            if (dx.IsEmpty) continue; // no input gradient wanted
            // dx_q[C, q] = Wflip[C, Cout·KH·KW] · rows(dy)
            RowsKernels.Product(_cin, cols, kkOut, _w.Backward, dyPad, _offDy, stage, ldq);
            ShiftedRowsConv.Compact(stage, ldq, nb, _cin, l, default, dx.Slice(n0 * inLen, nb * inLen));
            GroupEpilogue.AddWhileInCache(dx, dxAdd, n0 * inLen, nb * inLen);
            if (!inputSums.IsEmpty) GroupEpilogue.InputNormSums(n0, nb, _cin, hw, x, input, dx, inputSums);
        }
    }
}
