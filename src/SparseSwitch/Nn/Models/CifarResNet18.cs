using SparseSwitch.Tensors;

namespace SparseSwitch.Nn.Models;

/// <summary>
/// ResNet-18 for 32×32 images (the common CIFAR variant): 3×3 stem with 64 channels and no
/// max-pool, four stages of two basic blocks with widths 64-128-256-512, 1×1 conv + batch-norm
/// shortcuts, global average pooling and a linear classifier. Same paths and sub-net rules as
/// <see cref="CifarResNet"/>.
/// </summary>
public sealed class CifarResNet18 : CifarResNet
{
    public CifarResNet18(int numClasses = 10, int bnSets = 1, Rng? rng = null, int inChannels = 3)
        : base([2, 2, 2, 2], [64, 128, 256, 512], ShortcutKind.ProjectionConv, numClasses, bnSets, rng, inChannels, 64)
    {
    }
}
