using SparseSwitch.Tensors;

namespace SparseSwitch.Nn.Models;

/// <summary>
/// VGG with batch-norm for small images (the common CIFAR variant): <c>features</c> is a
/// Sequential of 3×3 conv (padding 1, no bias) → batch-norm → ReLU blocks and 2×2 max-pools
/// following a configuration such as VGG-11 [64, M, 128, M, 256, 256, M, 512, 512, M, 512, 512, M];
/// then global average pooling and one Linear <c>classifier</c>. All convs but the first and the
/// classifier are prunable; with bnSets &gt; 1 every batch-norm but the first is switchable. The
/// first conv computes no input gradient (its input is data): Backward returns an empty tensor.
/// </summary>
public sealed class Vgg : Module
{
    /// <summary>-1 stands for a 2×2 max-pool.</summary>
    public const int Pool = -1;

    public static readonly int[] Vgg11 = [64, Pool, 128, Pool, 256, 256, Pool, 512, 512, Pool, 512, 512, Pool];
    public static readonly int[] Vgg13 = [64, 64, Pool, 128, 128, Pool, 256, 256, Pool, 512, 512, Pool, 512, 512, Pool];
    public static readonly int[] Vgg16 = [64, 64, Pool, 128, 128, Pool, 256, 256, 256, Pool, 512, 512, 512, Pool, 512, 512, 512, Pool];
    public static readonly int[] Vgg19 = [64, 64, Pool, 128, 128, Pool, 256, 256, 256, 256, Pool, 512, 512, 512, 512, Pool, 512, 512, 512, 512, Pool];

    public Sequential Features { get; }
    public Linear Classifier { get; }

    private readonly GlobalAvgPool2d _pool = new();
    private readonly Flatten _flatten = new();

    public Vgg(int[] config, int inChannels = 3, int imageSize = 32, int numClasses = 10, int bnSets = 1, Rng? rng = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (inChannels < 1) throw new ArgumentOutOfRangeException(nameof(inChannels), inChannels, "inChannels must be ≥ 1.");
        if (numClasses < 1) throw new ArgumentOutOfRangeException(nameof(numClasses), numClasses, "numClasses must be ≥ 1.");
        if (!config.Any(c => c > 0)) throw new ArgumentException("A VGG configuration needs at least one convolution.", nameof(config));
        rng ??= new Rng(0);
        Features = RegisterModule("features", new Sequential());
        int channels = inChannels, size = imageSize;
        Conv2d? stem = null;
        foreach (int c in config)
        {
            if (c == Pool)
            {
                if (size < 2) throw new ArgumentOutOfRangeException(nameof(imageSize), imageSize, $"Images of {imageSize}×{imageSize} are too small for {config.Count(x => x == Pool)} max-pools.");
                Features.Add(new MaxPool2d(2, 2, 0));
                size /= 2;
                continue;
            }
            if (c < 1) throw new ArgumentException($"VGG configuration entry {c}: expected a channel count ≥ 1 or Vgg.Pool (-1).", nameof(config));
            // The first conv's input is data: no input gradient (Backward returns an empty tensor).
            var conv = new Conv2d(channels, c, 3, 1, 1, bias: false, rng: rng) { ComputeInputGradient = stem is not null };
            Features.Add(conv);
            Features.Add(stem is null ? new BatchNorm2d(c) : SubNets.BatchNorm(c, bnSets));
            Features.Add(new ReLU());
            stem ??= conv;
            channels = c;
        }
        Classifier = RegisterModule("classifier", new Linear(channels, numClasses, rng: rng));
        ModelInit.KaimingNormalConvAndLinear(this, rng);
        SubNets.MarkPrunable(this, stem, Classifier);
    }

    public override Tensor Forward(Tensor x) => Classifier.Forward(_flatten.Forward(_pool.Forward(Features.Forward(x))));

    public override Tensor Backward(Tensor dy) => Features.Backward(_pool.Backward(_flatten.Backward(Classifier.Backward(dy))));
}
