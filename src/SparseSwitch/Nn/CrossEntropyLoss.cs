using SparseSwitch.Tensors;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;

namespace SparseSwitch.Nn;

/// <summary>
/// Mean cross-entropy over a batch of logits [B, C] with integer targets, with PyTorch's label
/// smoothing ε: per row, log p = z − max z − log Σ exp(z − max z) and
/// loss = (1 − ε)·(−log p[target]) + ε·mean_c(−log p[c]); the result is the batch mean.
/// dL/dz = (p − q)/B with q = (1 − ε)·onehot(target) + ε/C. Not a <see cref="Module"/>: it has
/// two inputs and a scalar output.
/// Soft targets (distillation): with a distribution s_i and a weight w_i per row, the row's loss is
/// (1 − w_i)·(the above) + w_i·(−Σ_c s_ic·log p_c) and its target q_i becomes (1 − w_i)·q_i + w_i·s_i.
/// </summary>
public sealed class CrossEntropyLoss
{
    public float LabelSmoothing { get; }

    private Tensor? _probs, _grad;
    private int[] _targets = [];
    private float[] _soft = [], _softWeight = [];
    private bool _hasSoft;
    private int _b, _c;

    public CrossEntropyLoss(float labelSmoothing = 0f)
    {
        if (!(labelSmoothing >= 0f && labelSmoothing <= 1f))
            throw new ArgumentOutOfRangeException(nameof(labelSmoothing), $"Label smoothing must be in [0, 1], got {labelSmoothing}.");
        LabelSmoothing = labelSmoothing;
    }

    /// <summary>Mean loss over the batch. logits: [B, C]; targets: B class indices in [0, C).</summary>
    public float Forward(Tensor logits, ReadOnlySpan<int> targets) => Forward(logits, targets, default, default);

    /// <summary>Mean loss over the batch with soft targets: <paramref name="soft"/> [B, C] (each row a
    /// distribution) weighted per row by <paramref name="softWeight"/> (B values in [0, 1]; a row of
    /// weight 0 is the plain loss and its soft row is not read).</summary>
    public float Forward(Tensor logits, ReadOnlySpan<int> targets, ReadOnlySpan<float> soft, ReadOnlySpan<float> softWeight)
    {
        if (logits.Rank != 2)
            throw new ArgumentException($"CrossEntropyLoss: logits shape {Buffers.ShapeText(logits.Shape)}, expected [B, C].");
        int b = logits.Dim(0), c = logits.Dim(1);
        if (targets.Length != b)
            throw new ArgumentException($"CrossEntropyLoss: {targets.Length} targets for a batch of {b}.");
        if (b == 0 || c == 0) throw new ArgumentException("CrossEntropyLoss: empty batch or no classes.");
        for (int i = 0; i < b; i++)
            if ((uint)targets[i] >= (uint)c)
                throw new ArgumentOutOfRangeException(nameof(targets), $"CrossEntropyLoss: target {targets[i]} at index {i} is outside [0, {c}).");
        _b = b; _c = c;
        if (_targets.Length < b) _targets = new int[b];
        targets.CopyTo(_targets);
        _hasSoft = !softWeight.IsEmpty;
        if (_hasSoft)
        {
            if (softWeight.Length != b || soft.Length != b * c)
                throw new ArgumentException($"CrossEntropyLoss: soft targets of {soft.Length} values and {softWeight.Length} weights for a batch of {b} × {c}.");
            if (_soft.Length < b * c) _soft = new float[b * c];
            if (_softWeight.Length < b) _softWeight = new float[b];
            softWeight.CopyTo(_softWeight);
            for (int i = 0; i < b; i++)
            {
                if (!(softWeight[i] >= 0 && softWeight[i] <= 1))
                    throw new ArgumentOutOfRangeException(nameof(softWeight), $"CrossEntropyLoss: soft-target weight {softWeight[i]} at row {i} is outside [0, 1].");
                if (softWeight[i] > 0) soft.Slice(i * c, c).CopyTo(_soft.AsSpan(i * c, c));
            }
        }
        var probs = Buffers.Ensure(ref _probs, b, c).Span;
        var z = logits.Span;
        double eps = LabelSmoothing, total = 0;
        for (int i = 0; i < b; i++)
        {
            var row = z.Slice(i * c, c);
            var p = probs.Slice(i * c, c);
            float max = TensorPrimitives.Max(row);
            TensorPrimitives.Subtract(row, max, p);          // p = z − max
            double sumShifted = TensorPrimitives.Sum(p);      // Σ (z − max), for the smoothing term
            TensorPrimitives.Exp(p, p);
            double sumExp = TensorPrimitives.Sum(p);
            double logSumExp = Math.Log(sumExp);
            double nll = -((row[targets[i]] - max) - logSumExp);
            double meanNeg = -(sumShifted / c - logSumExp);   // mean_c(−log p[c])
            double hard = (1 - eps) * nll + eps * meanNeg;
            if (_hasSoft && _softWeight[i] > 0)
            {
                // −Σ s·log p = logSumExp − Σ s·(z − max), for Σ s = 1.
                var s = _soft.AsSpan(i * c, c);
                double softNll = logSumExp * TensorPrimitives.Sum(s) - (TensorPrimitives.Dot(s, row) - max * TensorPrimitives.Sum(s));
                hard = (1 - _softWeight[i]) * hard + _softWeight[i] * softNll;
            }
            total += hard;
            TensorPrimitives.Multiply(p, (float)(1.0 / sumExp), p);
        }
        return (float)(total / b);
    }

    /// <summary>dL/dlogits for the mean loss of the last <see cref="Forward"/> (owned buffer).</summary>
    public Tensor Backward()
    {
        if (_probs is null) throw new InvalidOperationException("CrossEntropyLoss.Backward called before Forward.");
        var g = Buffers.Ensure(ref _grad, _b, _c);
        var gs = g.Span;
        float invB = 1f / _b;
        float smooth = LabelSmoothing / _c;
        // g = (p − ε/C − (1 − ε)·onehot)/B
        if (!_hasSoft)
        {
            TensorPrimitives.Subtract(_probs.Span, smooth, gs);
            for (int i = 0; i < _b; i++) gs[i * _c + _targets[i]] -= 1f - LabelSmoothing;
        }
        else
        {
            // g = (p − (1 − w)·q − w·s)/B per row.
            var p = _probs.Span;
            for (int i = 0; i < _b; i++)
            {
                var row = gs.Slice(i * _c, _c);
                float w = _softWeight[i], keep = 1f - w;
                TensorPrimitives.Subtract(p.Slice(i * _c, _c), keep * smooth, row);
                row[_targets[i]] -= keep * (1f - LabelSmoothing);
                if (w > 0) TensorPrimitives.MultiplyAdd(_soft.AsSpan(i * _c, _c), -w, row, row);
            }
        }
        TensorPrimitives.Multiply(gs, invB, gs);
        return g;
    }

    /// <summary>Row <paramref name="i"/> of softmax(logits) of the last <see cref="Forward"/>.</summary>
    public ReadOnlySpan<float> Probabilities(int i)
    {
        if (_probs is null) throw new InvalidOperationException("CrossEntropyLoss.Probabilities called before Forward.");
        if ((uint)i >= (uint)_b) throw new ArgumentOutOfRangeException(nameof(i), $"Row {i} outside [0, {_b}).");
        return _probs.Span.Slice(i * _c, _c);
    }

    /// <summary>How many rows' arg-max (the first maximum) equals the target.</summary>
    public static int CountCorrect(Tensor logits, ReadOnlySpan<int> targets)
    {
        if (logits.Rank != 2 || logits.Dim(0) != targets.Length)
            throw new ArgumentException($"CountCorrect: logits {Buffers.ShapeText(logits.Shape)} and {targets.Length} targets do not match.");
        int c = logits.Dim(1), correct = 0;
        var z = logits.Span;
        for (int i = 0; i < targets.Length; i++)
            if (TensorPrimitives.IndexOfMax(z.Slice(i * c, c)) == targets[i]) correct++;
        return correct;
    }
}
