using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using SparseSwitch.Tensors;

namespace SparseSwitch.Nn;

/// <summary>
/// y = x·Wᵀ + b. x: [..., in] (leading dimensions are flattened into a batch B), W: [out, in],
/// b: [out], y: [..., out]. With a mask on W the product uses W ⊙ M, and dW is the gradient with
/// respect to W ⊙ M (unmasked).
/// </summary>
public sealed class Linear : Module
{
    public int InFeatures { get; }
    public int OutFeatures { get; }
    public Parameter Weight { get; }
    public Parameter? Bias { get; }

    private Tensor? _y, _dx, _wEff;
    private Tensor _x = null!;
    private Tensor _wUsed = null!;
    private int[] _yShape = [];

    public Linear(int inFeatures, int outFeatures, bool bias = true, Rng? rng = null)
    {
        if (inFeatures < 1) throw new ArgumentOutOfRangeException(nameof(inFeatures), "Linear needs inFeatures ≥ 1.");
        if (outFeatures < 1) throw new ArgumentOutOfRangeException(nameof(outFeatures), "Linear needs outFeatures ≥ 1.");
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        Weight = RegisterParameter("weight", new Parameter(outFeatures, inFeatures));
        if (bias) Bias = RegisterParameter("bias", new Parameter(outFeatures));
        Init.PyTorchDefault(Weight, Bias, inFeatures, rng ?? Init.DefaultRng());
    }

    public override Tensor Forward(Tensor x)
    {
        if (x.Rank < 1 || x.Dim(-1) != InFeatures)
            throw new ArgumentException($"Linear({InFeatures}, {OutFeatures}): input shape {Buffers.ShapeText(x.Shape)}, expected [..., {InFeatures}].");
        int b = x.Length / InFeatures;
        _x = x;
        ObserveInput(x);
        _wUsed = EffectiveWeight.Compute(Weight, ref _wEff);
        if (_yShape.Length != x.Rank) _yShape = new int[x.Rank];
        x.Shape.AsSpan().CopyTo(_yShape);
        _yShape[^1] = OutFeatures;
        var y = Buffers.Ensure(ref _y, _yShape);
        // y[B, out] = x[B, in] · W[out, in]ᵀ
        Gemm.Sgemm(false, true, b, OutFeatures, InFeatures, 1f, x.Span, InFeatures, _wUsed.Span, InFeatures, 0f, y.Span, OutFeatures, Options);
        if (Bias is not null)
        {
            var ys = y.Span;
            var bs = Bias.Data.Span;
            for (int i = 0; i < b; i++) TensorPrimitives.Add(ys.Slice(i * OutFeatures, OutFeatures), bs, ys.Slice(i * OutFeatures, OutFeatures));
        }
        return y;
    }

    public override Tensor Backward(Tensor dy)
    {
        if (_x is null) throw new InvalidOperationException("Linear.Backward called before Forward.");
        if (!dy.SameShape(_y!.Shape))
            throw new ArgumentException($"Linear.Backward: dy shape {Buffers.ShapeText(dy.Shape)}, expected {Buffers.ShapeText(_y.Shape)}.");
        int b = _x.Length / InFeatures;
        // dW[out, in] += dy[B, out]ᵀ · x[B, in]
        Gemm.Sgemm(true, false, OutFeatures, InFeatures, b, 1f, dy.Span, OutFeatures, _x.Span, InFeatures, 1f, Weight.Grad.Span, InFeatures, Options);
        if (Bias is not null)
        {
            // db[out] += Σ_B dy[B, out]
            var g = Bias.Grad.Span;
            var d = dy.Span;
            for (int i = 0; i < b; i++) TensorPrimitives.Add(g, d.Slice(i * OutFeatures, OutFeatures), g);
        }
        // dx[B, in] = dy[B, out] · W_eff[out, in]
        var dx = Buffers.Ensure(ref _dx, _x.Shape);
        Gemm.Sgemm(false, false, b, InFeatures, OutFeatures, 1f, dy.Span, OutFeatures, _wUsed.Span, InFeatures, 0f, dx.Span, InFeatures, Options);
        return dx;
    }
}
