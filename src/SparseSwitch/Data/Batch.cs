using SparseSwitch.Tensors;

namespace SparseSwitch.Data;

/// <summary>
/// One mini-batch from a <see cref="DataLoader"/>: normalised (and augmented) images
/// [Count, C, H, W] and their labels. Batches live in a small ring of reused buffers: a batch is
/// valid until the next-but-one MoveNext of the epoch's enumerator (so the current and the previous
/// batch may be used together); copy what must live longer.
/// </summary>
public sealed class Batch
{
    /// <summary>Images [Count, C, H, W], float32.</summary>
    public Tensor Images { get; }

    /// <summary>Labels, exactly <see cref="Count"/> of them.</summary>
    public int[] Labels { get; }

    public int Count => Labels.Length;

    /// <summary>Position of this batch in its epoch.</summary>
    public int Index { get; internal set; }

    /// <summary>The epoch this batch belongs to.</summary>
    public int Epoch { get; internal set; }

    /// <summary>Images in the whole batch across the ranks of a data-parallel job (this rank holds
    /// <see cref="Count"/> of them); equal to Count in one process.</summary>
    public int GlobalCount { get; internal set; }

    /// <summary>Indices into the data set of the images in this batch (length Count).</summary>
    public int[] SourceIndices { get; }

    internal Batch(Tensor images, int[] labels, int[] sourceIndices)
    {
        Images = images;
        Labels = labels;
        SourceIndices = sourceIndices;
        GlobalCount = labels.Length;
    }
}
