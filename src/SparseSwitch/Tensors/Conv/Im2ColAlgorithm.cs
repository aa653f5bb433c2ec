using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;

namespace SparseSwitch.Tensors.Conv;

/// <summary>
/// <see cref="ConvAlgorithm.Im2Col"/>, the fallback for every geometry: per image group and
/// convolution group one GEMM, y_g[Cout/g, P] = W_g[Cout/g, K_g] · col_g[K_g, P] with
/// K_g = Cin/g·KH·KW, P = OH·OW (im2col skipped for 1×1 stride-1 unpadded kernels, which read the
/// image in place). When P is small several images share one wider GEMM
/// (<see cref="ImagesPerGemm"/>). Backward: dW_g += dy_g · col_gᵀ and dcol_g = W_gᵀ · dy_g folded
/// back into dx (col2im).
/// </summary>
internal sealed class Im2ColAlgorithm(int cin, int cout, int groups) : IConvAlgorithm
{
    private ConvGeometry _geo;
    private Tensor _w = null!, _masked = null!;
    private EngineOptions _o = EngineOptions.Default;
    private Tensor?[] _col = [], _stage = [];

    /// <summary>Target GEMM width (columns) when batching images of small output size; 512
    /// measured best on ResNet-20 shapes (256 leaves the 16×16 stage unbatched, 1024 was slower).</summary>
    public const int MinGemmColumns = 512;

    public ConvAlgorithm Kind => ConvAlgorithm.Im2Col;
    public bool TransformsInput => false;
    public bool TransformsGradient => false;

    /// <summary>
    /// Images per GEMM: small outputs (P = OH·OW below <see cref="MinGemmColumns"/>) are batched
    /// side by side, col = [K, n·P], so the products stay wide enough for the GEMM's register
    /// blocks (a 64-column product wastes a third of a 48-wide panel). 1×1 stride-1 kernels read
    /// the image in place and go one image at a time.
    /// </summary>
    private int ImagesPerGemm => _geo.IsIdentityIm2Col ? 1 : Math.Max(1, (MinGemmColumns + _geo.ColCols - 1) / _geo.ColCols);

    public void Prepare(in ConvGeometry g, ConvBatch batch, bool backward, Tensor weight, BitMask? mask, EngineOptions options)
    {
        (_geo, _w, _o) = (g, MaskedWeights.Of(weight, mask, ref _masked!), options);
        if (_col.Length < batch.Chunks)
        {
            Array.Resize(ref _col, batch.Chunks);
            Array.Resize(ref _stage, batch.Chunks);
        }
        int nb = Math.Min(ImagesPerGemm, batch.MaxChunk);
        for (int c = 0; c < batch.Chunks; c++)
        {
            // col holds im2col (or, in backward, dcol) of nb images; stage holds y or dy of nb images.
            if (!g.IsIdentityIm2Col) Scratch.Ensure(ref _col[c], ScratchRole.Im2Col, c, g.ColRows, nb * g.ColCols);
            if (nb > 1) Scratch.Ensure(ref _stage[c], ScratchRole.ProductStage, c, cout, nb * g.ColCols);
        }
    }

    public void ForwardDone() { }

    public void Forward(int chunk, int start, int end, in ConvForward a)
    {
        var g = _geo;
        int p = g.ColCols, ocg = cout / groups, kg = g.ColRows / groups, imgLen = cin * g.H * g.W;
        int nbMax = Math.Min(ImagesPerGemm, end - start);
        var w = _w.Span;
        var xs = a.X;
        var ys = a.Y;
        var bias = a.Bias;
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
            var outBuf = nb == 1 ? ys.Slice(n0 * cout * p, cout * p) : _stage[chunk]!.Span;
            for (int gi = 0; gi < groups; gi++)
                Gemm.Sgemm(false, false, ocg, ld, kg, 1f, w.Slice(gi * ocg * kg), kg, col.Slice(gi * kg * ld), ld, 0f, outBuf.Slice(gi * ocg * ld), ld, _o);
            for (int j = 0; j < nb; j++)
            {
                var yn = ys.Slice((n0 + j) * cout * p, cout * p);
                for (int o = 0; o < cout; o++)
                {
                    var row = yn.Slice(o * p, p);
                    if (nb > 1)
                    {
                        var src = outBuf.Slice(o * ld + j * p, p);
                        if (bias.IsEmpty) src.CopyTo(row);
                        else TensorPrimitives.Add(src, bias[o], row);
                    }
                    else if (!bias.IsEmpty) TensorPrimitives.Add(row, bias[o], row);
                }
            }
        }
        if (!a.OutStats.IsEmpty) GroupEpilogue.OutputPlaneStats(start, end - start, cout, p, ys, a.OutStats);
    }

    public void Backward(int chunk, int start, int end, in ConvBackward a)
    {
        var g = _geo;
        int p = g.ColCols, ocg = cout / groups, kg = g.ColRows / groups, imgLen = cin * g.H * g.W;
        int nbMax = Math.Min(ImagesPerGemm, end - start);
        var w = _w.Span;
        var xs = a.X;
        var dys = a.Dy;
        var dxs = a.Dx;
        var col = g.IsIdentityIm2Col ? default : _col[chunk]!.Span;
        var dw = a.Dw;
        for (int n0 = start; n0 < end; n0 += nbMax)
        {
            int nb = Math.Min(nbMax, end - n0), ld = nb * p;
            float beta = n0 == start ? 0f : 1f;
            // dy of the nb images side by side: [Cout, nb·P]
            ReadOnlySpan<float> dyb;
            if (nb == 1) dyb = dys.Slice(n0 * cout * p, cout * p);
            else
            {
                var st = _stage[chunk]!.Span;
                for (int j = 0; j < nb; j++)
                {
                    var dyn = dys.Slice((n0 + j) * cout * p, cout * p);
                    for (int o = 0; o < cout; o++) dyn.Slice(o * p, p).CopyTo(st.Slice(o * ld + j * p, p));
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
            for (int gi = 0; gi < groups; gi++)
                Gemm.Sgemm(false, true, ocg, kg, ld, 1f, dyb.Slice(gi * ocg * ld), ld, colIn.Slice(gi * kg * ld), ld, beta, dw.Slice(gi * ocg * kg), kg, _o);
            // dcol_g[K_g, nb·P] = W_g[ocg, K_g]ᵀ · dy_g[ocg, nb·P]; dx = fold(dcol). A 1×1 stride-1
            // kernel's dcol is dx itself.
            if (!dxs.IsEmpty)
            {
                var dcol = g.IsIdentityIm2Col ? dxs.Slice(n0 * imgLen, imgLen) : col;
                for (int gi = 0; gi < groups; gi++)
                    Gemm.Sgemm(true, false, kg, ld, ocg, 1f, w.Slice(gi * ocg * kg), kg, dyb.Slice(gi * ocg * ld), ld, 0f, dcol.Slice(gi * kg * ld), ld, _o);
                if (!g.IsIdentityIm2Col)
                    for (int j = 0; j < nb; j++)
                    {
                        var dxn = dxs.Slice((n0 + j) * imgLen, imgLen);
                        dxn.Clear();
                        Im2Col.FoldAdd(g, col[(j * p)..], dxn, ld);
                    }
                GroupEpilogue.AddWhileInCache(dxs, a.DxAdd, n0 * imgLen, nb * imgLen);
            }
            if (!a.Db.IsEmpty)
            {
                // db[o] += Σ_P dy[n, o, P]
                var db = a.Db;
                for (int o = 0; o < cout; o++)
                {
                    float s = TensorPrimitives.Sum(dyb.Slice(o * ld, ld));
                    db[o] = n0 == start ? s : db[o] + s;
                }
            }
        }
    }
}
