using SparseSwitch.Tensors;


namespace SparseSwitch.Tensors.Conv;

/// <summary>
/// <see cref="ConvAlgorithm.ShiftedRows"/>: stride-1 "same" convolutions on shared-padding planes
/// read in place (<see cref="ShiftedRowsConv"/>). One instance per layer holds the per-chunk padded
/// planes of x (one slot per image group, kept from the forward for the backward), the padded dy
/// planes, the product staging buffers, the row offsets and the packed weights; allocates only when
/// shapes change.
/// </summary>
internal sealed class ShiftedRowsAlgorithm : StrideOnePlanes, IConvAlgorithm
{
    private ShiftedRowsConv.Layout _l;

    public ShiftedRowsAlgorithm(int cin, int cout, int kh, int kw) : base(cin, cout, kh, kw) { }

    public ConvAlgorithm Kind => ConvAlgorithm.ShiftedRows;

    /// <summary>Sizes the buffers; packs the weights for the forward product (forward) or the
    /// flipped, transposed weights for the dX product (backward).</summary>
    public void Prepare(in ConvGeometry g, ConvBatch batch, bool backward, Tensor weight, BitMask? mask, EngineOptions options)
    {
        int rows = BeginPrepare(g, batch, backward, options);
        int chunks = batch.Chunks, maxChunk = batch.MaxChunk;
        var l = ShiftedRowsConv.Layout.ForImages(g.H, g.W, g.PH, g.PW, maxChunk, options.ShiftedRowsTargetColumns);
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
        _w.Pack(backward, weight.Span, mask, _cout, _cin, _kh, _kw);
    }

    public void Forward(int chunk, int start, int end, in ConvForward a)
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
            ShiftedRowsConv.Pad(a.X.Slice(n0 * inLen, nb * inLen), nb, _cin, l, padX, a.Input);
            // y_q[Cout, q] = W[Cout, C·KH·KW] · rows(x)
            RowsKernels.Product(_cout, l.Cols(nb), kk, _w.Forward, padX, _offX, stage, ldq, _o);
            ShiftedRowsConv.Compact(stage, ldq, nb, _cout, l, a.Bias, a.Y.Slice(n0 * outLen, nb * outLen));
            if (!a.OutStats.IsEmpty) GroupEpilogue.OutputPlaneStats(n0, nb, _cout, hw, a.Y, a.OutStats);
        }
    }

    /// <summary>dW and dX as products over the padded x and dy; no col2im.</summary>
    public void Backward(int chunk, int start, int end, in ConvBackward a)
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
            if (!reusePads) ShiftedRowsConv.Pad(a.X.Slice(n0 * inLen, nb * inLen), nb, _cin, l, padX, a.Input);
            if (a.DyIn.IsEmpty) ShiftedRowsConv.Pad(a.Dy.Slice(n0 * outLen, nb * outLen), nb, _cout, l, dyPad);
            else ShiftedRowsConv.PadGradient(a.Dy.Slice(n0 * outLen, nb * outLen), a.DyIn.X.Span.Slice(n0 * outLen, nb * outLen), nb, _cout, l, dyPad, a.DyIn);
            // dW[Cout, C·KH·KW] += dy_q[Cout, q] · rows(x)ᵀ
            RowsKernels.DotProduct(_cout, kk, cols, dyPad[l.Origin..], s, padX, _offX, n0 == start ? 0f : 1f, a.Dw, kk, _o);
            if (a.Dx.IsEmpty) continue; // no input gradient wanted
            // dx_q[C, q] = Wflip[C, Cout·KH·KW] · rows(dy)
            RowsKernels.Product(_cin, cols, kkOut, _w.Backward, dyPad, _offDy, stage, ldq, _o);
            ShiftedRowsConv.Compact(stage, ldq, nb, _cin, l, default, a.Dx.Slice(n0 * inLen, nb * inLen));
            GroupEpilogue.AddWhileInCache(a.Dx, a.DxAdd, n0 * inLen, nb * inLen);
            if (!a.InputSums.IsEmpty) GroupEpilogue.InputNormSums(n0, nb, _cin, hw, a.X, a.Input, a.Dx, a.InputSums);
        }
        GroupEpilogue.BiasGradient(start, end, _cout, _geo.OH * _geo.OW, a.Dy, a.Db);
    }
}
