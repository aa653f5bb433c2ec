
namespace SparseSwitch.Tensors.Conv;

/// <summary>Sizes of one 2-D convolution or pooling window over a [C, H, W] image: kernel
/// KH×KW, stride, zero padding and dilation per axis; output OH×OW as PyTorch computes it
/// (floor mode).</summary>
public readonly record struct ConvGeometry(int C, int H, int W, int KH, int KW, int SH, int SW, int PH, int PW, int DH = 1, int DW = 1)
{
    public int OH => (H + 2 * PH - DH * (KH - 1) - 1) / SH + 1;
    public int OW => (W + 2 * PW - DW * (KW - 1) - 1) / SW + 1;

    /// <summary>Rows of the im2col matrix: C·KH·KW.</summary>
    public int ColRows => C * KH * KW;

    /// <summary>Columns of the im2col matrix: OH·OW.</summary>
    public int ColCols => OH * OW;

    /// <summary>True when im2col would copy the image unchanged (1×1 kernel, stride 1, no padding).</summary>
    public bool IsIdentityIm2Col => KH == 1 && KW == 1 && SH == 1 && SW == 1 && PH == 0 && PW == 0;

    /// <summary>The output columns ow whose input column ow·SW − PW + kj·DW lies inside [0, W).</summary>
    public (int Lo, int Hi) ValidOw(int kj)
    {
        int off = kj * DW - PW; // iw = ow·SW + off
        int lo = off >= 0 ? 0 : (-off + SW - 1) / SW;
        int hiExcl = W - off <= 0 ? 0 : (W - off + SW - 1) / SW; // iw < W ⇔ ow < (W − off)/SW
        return (lo, Math.Min(Math.Max(hiExcl, lo), OW));
    }
}
