namespace SparseSwitch.Data;

/// <summary>
/// Training-time augmentation, drawn from the loader's seeded RNG: a random crop of the image
/// zero-padded by <see cref="RandomCropPadding"/> pixels on every side (offsets uniform in
/// [−padding, padding], the torchvision RandomCrop(size, padding) rule, padding with pixel value 0
/// before normalisation), then a horizontal flip with probability ½.
/// </summary>
public sealed record Augmentation
{
    public int RandomCropPadding { get; init; }
    public bool HorizontalFlip { get; init; }

    public Augmentation(int randomCropPadding = 0, bool horizontalFlip = false)
    {
        if (randomCropPadding < 0)
            throw new ArgumentOutOfRangeException(nameof(randomCropPadding), $"Crop padding must be ≥ 0, got {randomCropPadding}.");
        RandomCropPadding = randomCropPadding;
        HorizontalFlip = horizontalFlip;
    }

    /// <summary>Random crop with the given zero padding (no flip).</summary>
    public static Augmentation RandomCrop(int padding) => new(padding, false);

    /// <summary>Horizontal flip only (or nothing when false).</summary>
    public static Augmentation Flip(bool horizontalFlip = true) => new(0, horizontalFlip);

    /// <summary>The standard CIFAR recipe: pad 4, random 32×32 crop, random horizontal flip.</summary>
    public static Augmentation Standard { get; } = new(4, true);

    public Augmentation WithHorizontalFlip(bool on = true) => this with { HorizontalFlip = on };
    public Augmentation WithRandomCrop(int padding) => new(padding, HorizontalFlip);

    public bool IsIdentity => RandomCropPadding == 0 && !HorizontalFlip;

    /// <summary>Draws one image's parameters: crop offsets (dy, dx) and flip, in that order.</summary>
    public (int Dy, int Dx, bool Flip) Draw(Tensors.Rng rng)
    {
        int dy = 0, dx = 0;
        if (RandomCropPadding > 0)
        {
            int span = 2 * RandomCropPadding + 1;
            dy = rng.NextInt(span) - RandomCropPadding;
            dx = rng.NextInt(span) - RandomCropPadding;
        }
        bool flip = HorizontalFlip && (rng.NextULong() >> 63) != 0;
        return (dy, dx, flip);
    }

    public override string ToString() =>
        IsIdentity ? "none" : string.Join(" + ", new[] {
            RandomCropPadding > 0 ? $"random crop (padding {RandomCropPadding})" : null,
            HorizontalFlip ? "horizontal flip" : null }.Where(s => s is not null));
}
