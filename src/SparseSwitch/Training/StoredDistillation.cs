using SparseSwitch.Data;
using SparseSwitch.Nn;
using SparseSwitch.Tensors;

namespace SparseSwitch.Training;

/// <summary>
/// Distillation from the densest sub-net at no extra cost: when the densest sub-net trains on a
/// batch, its predicted distribution (softmax of the logits it computes anyway) is stored per
/// training image; when a sparser sub-net trains on an image that the densest has predicted, its loss
/// takes that stored distribution as a soft target with weight α (see <see cref="CrossEntropyLoss"/>),
/// the labels the rest. Images the densest has not seen yet keep the plain loss. The store is one row
/// of class probabilities per training image (NaN until predicted), kept by checkpoints.
/// </summary>
public sealed class StoredDistillation
{
    /// <summary>The teacher: the sub-net of the highest final density (the first of equals).</summary>
    public int Teacher { get; }

    public double Alpha { get; }

    /// <summary>[images, classes]: the teacher's latest prediction per training image; a row starting with NaN has none yet.</summary>
    public Tensor Store { get; }

    /// <summary>Rows of sparser sub-nets' batches that had a stored target, in this process (for tests).</summary>
    public long Used { get; private set; }

    public StoredDistillation(SubnetList subnets, int images, int classes, double alpha)
    {
        ArgumentNullException.ThrowIfNull(subnets);
        if (!(alpha > 0 && alpha <= 1)) throw new ArgumentOutOfRangeException(nameof(alpha), $"Distillation weight must be in (0, 1], got {alpha}.");
        Teacher = Enumerable.Range(0, subnets.Count).MaxBy(k => subnets[k].FinalDensity);
        Alpha = alpha;
        Store = new Tensor(images, classes);
        Store.Fill(float.NaN);
    }

    private float[] _rows = [], _weights = [];

    /// <summary>The loss of sub-net <paramref name="k"/> on <paramref name="batch"/>: with the stored
    /// soft targets for a sparser sub-net; the teacher's own loss is plain and its predictions are stored.</summary>
    public float Loss(CrossEntropyLoss loss, Tensor logits, Batch batch, int k)
    {
        int b = batch.Count, c = Store.Dim(1);
        var store = Store.Span;
        if (k == Teacher)
        {
            float value = loss.Forward(logits, batch.Labels);
            for (int i = 0; i < b; i++) loss.Probabilities(i).CopyTo(store.Slice(batch.SourceIndices[i] * c, c));
            return value;
        }
        if (_rows.Length < b * c) _rows = new float[b * c];
        if (_weights.Length < b) _weights = new float[b];
        for (int i = 0; i < b; i++)
        {
            var row = store.Slice(batch.SourceIndices[i] * c, c);
            bool have = !float.IsNaN(row[0]);
            _weights[i] = have ? (float)Alpha : 0f;
            if (have) { row.CopyTo(_rows.AsSpan(i * c, c)); Used++; }
        }
        return loss.Forward(logits, batch.Labels, _rows.AsSpan(0, b * c), _weights.AsSpan(0, b));
    }
}
