namespace SparseSwitch.Data;

/// <summary>
/// An in-memory image classification data set: <see cref="Count"/> images of
/// <see cref="Channels"/>×<see cref="Height"/>×<see cref="Width"/> unsigned bytes, stored
/// image after image in CHW order (N×C×H×W), and one label per image in [0, NumClasses).
/// </summary>
public sealed class ImageDataset
{
    public string Name { get; }
    public int Count { get; }
    public int Channels { get; }
    public int Height { get; }
    public int Width { get; }
    public int NumClasses { get; }
    public string[] ClassNames { get; }

    /// <summary>N×C×H×W bytes, CHW per image.</summary>
    public byte[] Pixels { get; }

    public int[] Labels { get; }

    /// <summary>Where the images came from (files, split rule, generator seed), for reports.</summary>
    public string Source { get; init; } = "";

    /// <summary>Bytes per image (C·H·W).</summary>
    public int ImageSize => Channels * Height * Width;

    public ImageDataset(string name, int channels, int height, int width, int numClasses,
        string[]? classNames, byte[] pixels, int[] labels)
    {
        ArgumentNullException.ThrowIfNull(pixels);
        ArgumentNullException.ThrowIfNull(labels);
        if (channels < 1 || height < 1 || width < 1)
            throw new ArgumentException($"Image shape {channels}×{height}×{width} must be positive.");
        if (numClasses < 1) throw new ArgumentException($"numClasses must be at least 1, got {numClasses}.");
        long image = (long)channels * height * width;
        if ((long)labels.Length * image != pixels.LongLength)
            throw new ArgumentException(
                $"{pixels.LongLength} pixel bytes do not hold {labels.Length} images of {channels}×{height}×{width}.");
        for (int i = 0; i < labels.Length; i++)
            if ((uint)labels[i] >= (uint)numClasses)
                throw new ArgumentException($"Label {labels[i]} of image {i} is outside [0, {numClasses}).");
        classNames ??= Enumerable.Range(0, numClasses).Select(c => c.ToString()).ToArray();
        if (classNames.Length != numClasses)
            throw new ArgumentException($"{classNames.Length} class names for {numClasses} classes.");
        Name = name;
        Channels = channels;
        Height = height;
        Width = width;
        NumClasses = numClasses;
        ClassNames = classNames;
        Pixels = pixels;
        Labels = labels;
        Count = labels.Length;
    }

    /// <summary>The bytes of image <paramref name="index"/> (C×H×W).</summary>
    public ReadOnlySpan<byte> Image(int index) =>
        Pixels.AsSpan(checked(index * ImageSize), ImageSize);

    /// <summary>Number of images of each class.</summary>
    public int[] ClassCounts()
    {
        var counts = new int[NumClasses];
        foreach (int l in Labels) counts[l]++;
        return counts;
    }

    /// <summary>A new data set holding copies of the given images, in the given order.</summary>
    public ImageDataset Subset(int[] indices)
    {
        ArgumentNullException.ThrowIfNull(indices);
        int size = ImageSize;
        var pixels = new byte[(long)indices.Length * size];
        var labels = new int[indices.Length];
        for (int i = 0; i < indices.Length; i++)
        {
            int j = indices[i];
            if ((uint)j >= (uint)Count)
                throw new ArgumentOutOfRangeException(nameof(indices), $"Index {j} at position {i} is outside [0, {Count}).");
            Buffer.BlockCopy(Pixels, j * size, pixels, i * size, size);
            labels[i] = Labels[j];
        }
        return new ImageDataset(Name, Channels, Height, Width, NumClasses, ClassNames, pixels, labels) { Source = Source };
    }

    /// <summary>Stratified split: from each class, a seeded random ⌊fraction·count + ½⌋ of its images
    /// go to validation, the rest to train; both keep the original order.</summary>
    public (ImageDataset Train, ImageDataset Validation) Split(double validationFraction, ulong seed)
    {
        if (!(validationFraction >= 0 && validationFraction < 1))
            throw new ArgumentOutOfRangeException(nameof(validationFraction), $"Expected a fraction in [0, 1), got {validationFraction}.");
        var rng = new Tensors.Rng(seed);
        var isVal = new bool[Count];
        var byClass = new List<int>[NumClasses];
        for (int c = 0; c < NumClasses; c++) byClass[c] = new List<int>();
        for (int i = 0; i < Count; i++) byClass[Labels[i]].Add(i);
        foreach (var members in byClass)
        {
            var arr = members.ToArray();
            rng.Shuffle(arr.AsSpan());
            int take = (int)Math.Floor(validationFraction * arr.Length + 0.5);
            for (int k = 0; k < take; k++) isVal[arr[k]] = true;
        }
        var train = new List<int>(Count);
        var val = new List<int>();
        for (int i = 0; i < Count; i++) (isVal[i] ? val : train).Add(i);
        return (Subset(train.ToArray()), Subset(val.ToArray()));
    }

    /// <summary>Concatenates data sets of the same shape and classes.</summary>
    public static ImageDataset Concat(string name, IReadOnlyList<ImageDataset> parts)
    {
        if (parts.Count == 0) throw new ArgumentException("Nothing to concatenate.");
        var f = parts[0];
        foreach (var p in parts)
            if (p.Channels != f.Channels || p.Height != f.Height || p.Width != f.Width || p.NumClasses != f.NumClasses)
                throw new ArgumentException($"Cannot concatenate {p.Name} ({p.Channels}×{p.Height}×{p.Width}, {p.NumClasses} classes) with {f.Name}.");
        var pixels = new byte[parts.Sum(p => p.Pixels.LongLength)];
        var labels = new int[parts.Sum(p => p.Count)];
        long po = 0; int lo = 0;
        foreach (var p in parts)
        {
            Buffer.BlockCopy(p.Pixels, 0, pixels, (int)po, p.Pixels.Length);
            p.Labels.CopyTo(labels, lo);
            po += p.Pixels.LongLength; lo += p.Count;
        }
        return new ImageDataset(name, f.Channels, f.Height, f.Width, f.NumClasses, f.ClassNames, pixels, labels);
    }

    public override string ToString() => $"{Name}: {Count} images {Channels}×{Height}×{Width}, {NumClasses} classes";
}
