using SparseSwitch.Tensors;

namespace SparseSwitch.Nn.Models;

/// <summary>
/// He et al.'s option-A shortcut: y = x[:, :, ::s, ::s] with (outC − inC)/2 zero channels added
/// on each side. x: [N, inC, H, W] → y: [N, outC, ⌈H/s⌉, ⌈W/s⌉]. No parameters.
/// Backward: dx[n, c, s·i, s·j] = dy[n, c + pad, i, j], zero elsewhere.
/// </summary>
public sealed class IdentityPadShortcut : Module
{
    public int InChannels { get; }
    public int OutChannels { get; }
    public int Stride { get; }

    private Tensor? _y, _dx;
    private int[] _xShape = [];

    public IdentityPadShortcut(int inChannels, int outChannels, int stride)
    {
        if (inChannels < 1 || outChannels < inChannels || (outChannels - inChannels) % 2 != 0)
            throw new ArgumentException($"IdentityPadShortcut: cannot pad {inChannels} channels to {outChannels} (needs outChannels ≥ inChannels with an even difference).");
        if (stride < 1) throw new ArgumentOutOfRangeException(nameof(stride), stride, "stride must be ≥ 1.");
        InChannels = inChannels; OutChannels = outChannels; Stride = stride;
    }

    private int Pad => (OutChannels - InChannels) / 2;

    /// <summary>Where Backward writes dL/dx when set: a buffer the model shares between layers whose
    /// input gradients are never needed at once (<see cref="CifarResNet"/>); null: the shortcut's own.</summary>
    internal SharedBuffer? InputGradientBuffer { get; set; }

    public override Tensor Forward(Tensor x)
    {
        if (x.Rank != 4 || x.Dim(1) != InChannels)
            throw new ArgumentException($"IdentityPadShortcut: input [{string.Join(", ", x.Shape)}], expected [N, {InChannels}, H, W].");
        int n = x.Dim(0), h = x.Dim(2), w = x.Dim(3), s = Stride;
        int ho = (h + s - 1) / s, wo = (w + s - 1) / s;
        _xShape = x.Shape;
        var y = Buffers.Ensure(ref _y, n, OutChannels, ho, wo);
        y.Clear();
        var xs = x.Span; var ys = y.Span;
        for (int b = 0; b < n; b++)
        for (int c = 0; c < InChannels; c++)
        {
            int xBase = (b * InChannels + c) * h * w, yBase = (b * OutChannels + c + Pad) * ho * wo;
            for (int i = 0; i < ho; i++)
            for (int j = 0; j < wo; j++)
                ys[yBase + i * wo + j] = xs[xBase + i * s * w + j * s];
        }
        return y;
    }

    public override Tensor Backward(Tensor dy)
    {
        if (_y is null) throw new InvalidOperationException("IdentityPadShortcut.Backward called before Forward.");
        if (!dy.SameShape(_y.Shape)) throw new ArgumentException($"IdentityPadShortcut.Backward: dy [{string.Join(", ", dy.Shape)}], expected [{string.Join(", ", _y.Shape)}].");
        int n = _xShape[0], h = _xShape[2], w = _xShape[3], s = Stride, ho = _y.Dim(2), wo = _y.Dim(3);
        var dx = Buffers.Ensure(ref InputGradientBuffer is { } shared ? ref shared.Tensor : ref _dx, _xShape);
        dx.Clear();
        var ds = dy.Span; var dxs = dx.Span;
        for (int b = 0; b < n; b++)
        for (int c = 0; c < InChannels; c++)
        {
            int xBase = (b * InChannels + c) * h * w, yBase = (b * OutChannels + c + Pad) * ho * wo;
            for (int i = 0; i < ho; i++)
            for (int j = 0; j < wo; j++)
                dxs[xBase + i * s * w + j * s] = ds[yBase + i * wo + j];
        }
        return dx;
    }
}
