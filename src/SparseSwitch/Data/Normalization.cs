namespace SparseSwitch.Data;

/// <summary>
/// Per-channel normalisation of byte pixels: x = (p/255 − mean[c]) / std[c], with mean and std on
/// the [0, 1] scale (the torchvision ToTensor + Normalize convention). Standard values are given
/// for the public data sets; <see cref="Compute"/> measures them on a data set (used for synthetic).
/// </summary>
public sealed class Normalization
{
    public float[] Mean { get; }
    public float[] Std { get; }
    public int Channels => Mean.Length;

    public Normalization(float[] mean, float[] std)
    {
        ArgumentNullException.ThrowIfNull(mean);
        ArgumentNullException.ThrowIfNull(std);
        if (mean.Length == 0 || mean.Length != std.Length)
            throw new ArgumentException($"Normalization needs one mean and one std per channel (got {mean.Length} and {std.Length}).");
        foreach (var s in std)
            if (!(s > 0) || float.IsInfinity(s)) throw new ArgumentException($"Normalization std must be positive and finite, got {s}.");
        foreach (var m in mean)
            if (!float.IsFinite(m)) throw new ArgumentException($"Normalization mean must be finite, got {m}.");
        Mean = (float[])mean.Clone();
        Std = (float[])std.Clone();
    }

    /// <summary>Only scaling to [0, 1] (mean 0, std 1).</summary>
    public static Normalization Identity(int channels) =>
        new(new float[channels], Enumerable.Repeat(1f, channels).ToArray());

    public static Normalization Mnist { get; } = new([0.1307f], [0.3081f]);
    public static Normalization FashionMnist { get; } = new([0.2860f], [0.3530f]);
    public static Normalization Kmnist { get; } = new([0.1918f], [0.3483f]);
    public static Normalization Cifar10 { get; } = new([0.4914f, 0.4822f, 0.4465f], [0.2470f, 0.2435f, 0.2616f]);
    public static Normalization Cifar100 { get; } = new([0.5071f, 0.4865f, 0.4409f], [0.2673f, 0.2564f, 0.2762f]);

    /// <summary>Standard values for a named data set; for synthetic (or unknown names) the values
    /// are computed from <paramref name="train"/>.</summary>
    public static Normalization For(string name, ImageDataset? train = null) =>
        Standard(name) ?? (train is not null ? Compute(train)
            : throw new ArgumentException($"No standard normalisation for data set '{name}'; pass the training set to compute it."));

    /// <summary>The standard values of a named data set, or null where there are none (synthetic,
    /// unknown names).</summary>
    public static Normalization? Standard(string name) => name.ToLowerInvariant() switch
    {
        "mnist" => Mnist,
        "fashion-mnist" => FashionMnist,
        "kmnist" => Kmnist,
        "cifar10" => Cifar10,
        "cifar100" => Cifar100,
        _ => null,
    };

    /// <summary>Per-channel mean and (population) standard deviation of the data set's pixels on
    /// the [0, 1] scale, accumulated exactly with integer histograms.</summary>
    public static Normalization Compute(ImageDataset ds)
    {
        int plane = ds.Height * ds.Width;
        var hist = new long[ds.Channels, 256];
        for (int i = 0; i < ds.Count; i++)
        {
            var img = ds.Image(i);
            for (int c = 0; c < ds.Channels; c++)
                foreach (byte b in img.Slice(c * plane, plane)) hist[c, b]++;
        }
        var mean = new float[ds.Channels];
        var std = new float[ds.Channels];
        for (int c = 0; c < ds.Channels; c++)
        {
            double n = 0, s = 0, s2 = 0;
            for (int v = 0; v < 256; v++)
            {
                double x = v / 255.0;
                n += hist[c, v]; s += hist[c, v] * x; s2 += hist[c, v] * x * x;
            }
            double m = n > 0 ? s / n : 0;
            double var = n > 0 ? Math.Max(s2 / n - m * m, 0) : 1;
            mean[c] = (float)m;
            std[c] = (float)Math.Max(Math.Sqrt(var), 1e-6);
        }
        return new Normalization(mean, std);
    }

    /// <summary>A 256-entry lookup table per channel: lut[c·256 + p] = (p/255 − mean[c]) / std[c].</summary>
    public float[] BuildLookup()
    {
        var lut = new float[Channels * 256];
        for (int c = 0; c < Channels; c++)
            for (int p = 0; p < 256; p++)
                lut[c * 256 + p] = (float)((p / 255.0 - Mean[c]) / Std[c]);
        return lut;
    }

    public override string ToString() =>
        $"mean [{string.Join(", ", Mean.Select(m => m.ToString("F4")))}], std [{string.Join(", ", Std.Select(s => s.ToString("F4")))}]";
}
