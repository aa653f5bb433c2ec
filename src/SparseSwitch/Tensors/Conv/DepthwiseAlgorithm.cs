using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;

namespace SparseSwitch.Tensors.Conv;

/// <summary><see cref="ConvAlgorithm.Depthwise"/>: groups = Cin, image by image through the direct
/// kernels of <see cref="DepthwiseConv"/> (no im2col, no GEMM).</summary>
internal sealed class DepthwiseAlgorithm(int cin, int cout) : IConvAlgorithm
{
    private ConvGeometry _geo;
    private Tensor _w = null!;
    private Tensor? _masked;

    public ConvAlgorithm Kind => ConvAlgorithm.Depthwise;
    public bool TransformsInput => false;
    public bool TransformsGradient => false;

    public void Prepare(in ConvGeometry g, ConvBatch batch, bool backward, Tensor weight, BitMask? mask, EngineOptions options) =>
        (_geo, _w) = (g, MaskedWeights.Of(weight, mask, ref _masked));

    public void ForwardDone() { }

    public void Forward(int chunk, int start, int end, in ConvForward a)
    {
        var g = _geo;
        int m = cout / cin, inLen = cin * g.H * g.W, outLen = cout * g.ColCols;
        for (int n = start; n < end; n++)
            DepthwiseConv.Forward(g, m, _w.Span, a.Bias, a.X.Slice(n * inLen, inLen), a.Y.Slice(n * outLen, outLen));
        if (!a.OutStats.IsEmpty) GroupEpilogue.OutputPlaneStats(start, end - start, cout, g.ColCols, a.Y, a.OutStats);
    }

    public void Backward(int chunk, int start, int end, in ConvBackward a)
    {
        var g = _geo;
        int m = cout / cin, inLen = cin * g.H * g.W, outLen = cout * g.ColCols;
        for (int n = start; n < end; n++)
        {
            var dyn = a.Dy.Slice(n * outLen, outLen);
            DepthwiseConv.BackwardWeight(g, m, dyn, a.X.Slice(n * inLen, inLen), a.Dw, n != start);
            if (!a.Dx.IsEmpty)
            {
                DepthwiseConv.BackwardData(g, m, _w.Span, dyn, a.Dx.Slice(n * inLen, inLen));
                GroupEpilogue.AddWhileInCache(a.Dx, a.DxAdd, n * inLen, inLen);
            }
            if (!a.Db.IsEmpty)
                for (int o = 0; o < cout; o++)
                {
                    float s = TensorPrimitives.Sum(dyn.Slice(o * g.ColCols, g.ColCols));
                    a.Db[o] = n == start ? s : a.Db[o] + s;
                }
        }
    }
}
