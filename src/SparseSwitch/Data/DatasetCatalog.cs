namespace SparseSwitch.Data;

/// <summary>The on-disk layout of a data set.</summary>
public enum DatasetFormat { Idx, Cifar10, Cifar100, Synthetic }

/// <summary>What the library knows about a named data set: its format, image shape, classes,
/// the canonical split sizes, and the published MD5 of each file's uncompressed content
/// (null where no published value is known; a ".gz" copy is checked after decompression).</summary>
public sealed record DatasetSpec(
    string Name,
    DatasetFormat Format,
    int Channels, int Height, int Width, int NumClasses,
    string[] ClassNames,
    int TrainCount, int TestCount,
    IReadOnlyDictionary<string, string?> ContentMd5);

public static class DatasetCatalog
{
    private static readonly string[] Digits = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

    public static readonly DatasetSpec Mnist = new("mnist", DatasetFormat.Idx, 1, 28, 28, 10, Digits, 60_000, 10_000,
        new Dictionary<string, string?>
        {
            ["train-images-idx3-ubyte"] = "6bbc9ace898e44ae57da46a324031adb",
            ["train-labels-idx1-ubyte"] = "a25bea736e30d166cdddb491f175f624",
            ["t10k-images-idx3-ubyte"] = "2646ac647ad5339dbf082846283269ea",
            ["t10k-labels-idx1-ubyte"] = "27ae3e4e09519cfbb04c329615203637",
        });

    public static readonly DatasetSpec FashionMnist = new("fashion-mnist", DatasetFormat.Idx, 1, 28, 28, 10,
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"],
        60_000, 10_000, IdxNoContentMd5());

    public static readonly DatasetSpec Kmnist = new("kmnist", DatasetFormat.Idx, 1, 28, 28, 10,
        ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"], 60_000, 10_000, IdxNoContentMd5());

    public static readonly DatasetSpec Cifar10 = new("cifar10", DatasetFormat.Cifar10, 3, 32, 32, 10,
        ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"],
        50_000, 10_000,
        new Dictionary<string, string?>
        {
            ["data_batch_1.bin"] = "5dd7e06a14cb22eb9f671a540d1b7c25",
            ["data_batch_2.bin"] = "5ea93a67294ea407fff1d09f752e9692",
            ["data_batch_3.bin"] = "942cd6a4bcdd0dd3c604fbe906cb4421",
            ["data_batch_4.bin"] = "ae636b3ba5c66a11e91e8cb52e771fcb",
            ["data_batch_5.bin"] = "53f37980c15c3d472c316c40844f3f0d",
            ["test_batch.bin"] = null,
        });

    public static readonly DatasetSpec Cifar100 = new("cifar100", DatasetFormat.Cifar100, 3, 32, 32, 100,
        Enumerable.Range(0, 100).Select(i => $"class_{i}").ToArray(), 50_000, 10_000,
        new Dictionary<string, string?> { ["train.bin"] = null, ["test.bin"] = null });

    public static readonly DatasetSpec Synthetic = new("synthetic", DatasetFormat.Synthetic, 3, 32, 32, 10,
        Data.Synthetic.ClassNames, Data.Synthetic.DefaultTrainCount, Data.Synthetic.DefaultTestCount,
        new Dictionary<string, string?>());

    public static IReadOnlyList<DatasetSpec> All { get; } = [Mnist, FashionMnist, Kmnist, Cifar10, Cifar100, Synthetic];

    public static IEnumerable<string> Names => All.Select(s => s.Name);

    /// <summary>The spec for a name (case-insensitive; "cifar-10", "fashion_mnist" and similar
    /// spellings are accepted).</summary>
    public static DatasetSpec Get(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        string key = name.Trim().ToLowerInvariant().Replace("_", "-") switch
        {
            "cifar-10" => "cifar10",
            "cifar-100" => "cifar100",
            "fashionmnist" or "fmnist" => "fashion-mnist",
            "k-mnist" => "kmnist",
            var k => k,
        };
        return All.FirstOrDefault(s => s.Name == key)
            ?? throw new ArgumentException($"Unknown data set '{name}'. Known: {string.Join(", ", Names)}.", nameof(name));
    }

    private static Dictionary<string, string?> IdxNoContentMd5() => new()
    {
        ["train-images-idx3-ubyte"] = null,
        ["train-labels-idx1-ubyte"] = null,
        ["t10k-images-idx3-ubyte"] = null,
        ["t10k-labels-idx1-ubyte"] = null,
    };
}
