using SparseSwitch.Tensors;

namespace SparseSwitch.Nn.Models;

/// <summary>
/// Builds the models by name (recipes and the CLI use these names). Names are case-insensitive:
/// mlp (784-300-100-10 for 28×28×1), lenet5, lenet5-caffe (20-50-500), resnet20, resnet32, resnet44,
/// resnet56, resnet110 (widths 16-32-64, 1×1-conv shortcuts), wrn32 (ResNet-32 with widths
/// 32-64-128), resnet18 (CIFAR ResNet-18), vgg11, vgg13, vgg16, vgg19 (with batch-norm).
/// A "-a" suffix on the CIFAR ResNets (resnet20-a, wrn32-a) selects option-A (identity,
/// zero-padded) shortcuts. A "-u" suffix (resnet20-u, …, wrn32-u) selects the published AST code's
/// variant (its uresnet20): 1×1-conv shortcuts whose batch-norm all sub-nets share, convolutions
/// He-normal with fan-out, the classifier Kaiming-normal with a zero bias (the stem stays dense).
/// </summary>
public static class ModelZoo
{
    private static readonly string[] Known =
    [
        "mlp", "lenet5", "lenet5-caffe", "resnet20", "resnet32", "resnet44", "resnet56", "resnet110", "wrn32",
        "resnet20-a", "resnet32-a", "resnet44-a", "resnet56-a", "resnet110-a", "wrn32-a",
        "resnet20-u", "resnet32-u", "resnet44-u", "resnet56-u", "resnet110-u", "wrn32-u", "resnet18",
        "vgg11", "vgg13", "vgg16", "vgg19",
    ];

    /// <summary>The model names <see cref="Create"/> accepts.</summary>
    public static IReadOnlyList<string> Names => Known;

    public static Module Create(string name, int inChannels, int imageSize, int numClasses, int bnSets, Rng rng)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(rng);
        if (inChannels < 1) throw new ArgumentOutOfRangeException(nameof(inChannels), inChannels, "inChannels must be ≥ 1.");
        if (imageSize < 1) throw new ArgumentOutOfRangeException(nameof(imageSize), imageSize, "imageSize must be ≥ 1.");
        if (numClasses < 1) throw new ArgumentOutOfRangeException(nameof(numClasses), numClasses, "numClasses must be ≥ 1.");
        if (bnSets < 1) throw new ArgumentOutOfRangeException(nameof(bnSets), bnSets, "bnSets (the number of sub-nets) must be ≥ 1.");
        string key = name.Trim().ToLowerInvariant();
        var shortcut = ShortcutKind.ProjectionConv;
        bool published = false;
        if ((key.EndsWith("-a", StringComparison.Ordinal) || key.EndsWith("-u", StringComparison.Ordinal))
            && (key.StartsWith("resnet", StringComparison.Ordinal) || key.StartsWith("wrn", StringComparison.Ordinal)))
        {
            published = key.EndsWith("-u", StringComparison.Ordinal);
            shortcut = published ? ShortcutKind.ProjectionConvSharedNorm : ShortcutKind.IdentityPad;
            key = key[..^2];
            if (key == "resnet18") throw Unknown(name);
        }
        var model = Build(key, name, shortcut, inChannels, imageSize, numClasses, bnSets, rng);
        if (published) ModelInit.HeFanOutConvKaimingLinear(model, rng);
        return model;
    }

    private static Module Build(string key, string name, ShortcutKind shortcut, int inChannels, int imageSize, int numClasses, int bnSets, Rng rng)
    {
        return key switch
        {
            "mlp" => new Mlp(inChannels * imageSize * imageSize, [300, 100], numClasses, rng),
            "lenet5" => new LeNet5(inChannels, imageSize, numClasses, LeNetVariant.Classic, rng),
            "lenet5-caffe" => new LeNet5(inChannels, imageSize, numClasses, LeNetVariant.Caffe, rng),
            "resnet20" => new CifarResNet(20, 16, shortcut, numClasses, bnSets, rng, inChannels),
            "resnet32" => new CifarResNet(32, 16, shortcut, numClasses, bnSets, rng, inChannels),
            "resnet44" => new CifarResNet(44, 16, shortcut, numClasses, bnSets, rng, inChannels),
            "resnet56" => new CifarResNet(56, 16, shortcut, numClasses, bnSets, rng, inChannels),
            "resnet110" => new CifarResNet(110, 16, shortcut, numClasses, bnSets, rng, inChannels),
            "wrn32" => new CifarResNet(32, 32, shortcut, numClasses, bnSets, rng, inChannels),
            "resnet18" => new CifarResNet18(numClasses, bnSets, rng, inChannels),
            "vgg11" => new Vgg(Vgg.Vgg11, inChannels, imageSize, numClasses, bnSets, rng),
            "vgg13" => new Vgg(Vgg.Vgg13, inChannels, imageSize, numClasses, bnSets, rng),
            "vgg16" => new Vgg(Vgg.Vgg16, inChannels, imageSize, numClasses, bnSets, rng),
            "vgg19" => new Vgg(Vgg.Vgg19, inChannels, imageSize, numClasses, bnSets, rng),
            _ => throw Unknown(name),
        };
    }

    private static ArgumentException Unknown(string name) =>
        new($"Unknown model '{name}'. Known models: {string.Join(", ", Known)}.", nameof(name));
}
