using SparseSwitch.Tensors;

namespace SparseSwitch.Nn.Models;

/// <summary>Which LeNet-5.</summary>
public enum LeNetVariant
{
    /// <summary>conv 6 → conv 16 (5×5) → fc 120 → 84 → classes (LeCun et al. 1998).</summary>
    Classic,
    /// <summary>conv 20 → conv 50 (5×5) → fc 500 → classes (the Caffe "LeNet" used in pruning papers).</summary>
    Caffe,
}

/// <summary>
/// LeNet-5: conv1 (5×5) → ReLU → max-pool 2 → conv2 (5×5) → ReLU → max-pool 2 → fc1 → ReLU → fc2
/// (→ ReLU → fc3 in the classic variant). For 28×28 inputs the classic variant pads conv1 by 2 so
/// the feature map before fc1 is 16×5×5, as with 32×32 inputs. Parameters conv1, conv2, fc1, fc2,
/// fc3; all but conv1 (the stem) prunable. conv1 computes no input gradient (its input is data),
/// so Backward returns an empty tensor.
/// </summary>
public sealed class LeNet5 : Module
{
    private readonly Module[] _chain;

    public LeNetVariant Variant { get; }

    /// <summary>The layers Forward runs, in order (the registered ones and the parameter-free
    /// ReLUs, pools and flatten between them): what the ONNX exporter walks.</summary>
    internal IReadOnlyList<Module> Chain => _chain;

    public LeNet5(int inChannels = 1, int imageSize = 28, int numClasses = 10, LeNetVariant variant = LeNetVariant.Classic, Rng? rng = null)
    {
        if (inChannels < 1) throw new ArgumentOutOfRangeException(nameof(inChannels), inChannels, "inChannels must be ≥ 1.");
        if (numClasses < 1) throw new ArgumentOutOfRangeException(nameof(numClasses), numClasses, "numClasses must be ≥ 1.");
        rng ??= new Rng(0);
        Variant = variant;
        bool classic = variant == LeNetVariant.Classic;
        int c1 = classic ? 6 : 20, c2 = classic ? 16 : 50;
        int pad1 = classic && imageSize == 28 ? 2 : 0;
        int s = (imageSize + 2 * pad1 - 4) / 2;   // conv1 then pool
        s = (s - 4) / 2;                          // conv2 then pool
        if (imageSize + 2 * pad1 - 4 < 2 || s < 1)
            throw new ArgumentOutOfRangeException(nameof(imageSize), imageSize, "LeNet-5 needs images of at least 16×16 (12×12 with padding).");
        // The first layer's input is data: no input gradient (Backward returns an empty tensor).
        var conv1 = RegisterModule("conv1", new Conv2d(inChannels, c1, 5, 1, pad1, rng: rng) { ComputeInputGradient = false });
        var conv2 = RegisterModule("conv2", new Conv2d(c1, c2, 5, rng: rng));
        var fc1 = RegisterModule("fc1", new Linear(c2 * s * s, classic ? 120 : 500, rng: rng));
        Linear head;
        if (classic)
        {
            var fc2 = RegisterModule("fc2", new Linear(120, 84, rng: rng));
            head = RegisterModule("fc3", new Linear(84, numClasses, rng: rng));
            _chain = [conv1, new ReLU(), new MaxPool2d(2, 2, 0), conv2, new ReLU(), new MaxPool2d(2, 2, 0), new Flatten(),
                fc1, new ReLU(), fc2, new ReLU(), head];
        }
        else
        {
            head = RegisterModule("fc2", new Linear(500, numClasses, rng: rng));
            _chain = [conv1, new ReLU(), new MaxPool2d(2, 2, 0), conv2, new ReLU(), new MaxPool2d(2, 2, 0), new Flatten(),
                fc1, new ReLU(), head];
        }
        SubNets.MarkPrunable(this, conv1, head);
    }

    public override Tensor Forward(Tensor x)
    {
        foreach (var m in _chain) x = m.Forward(x);
        return x;
    }

    public override Tensor Backward(Tensor dy)
    {
        for (int i = _chain.Length - 1; i >= 0; i--) dy = _chain[i].Backward(dy);
        return dy;
    }
}
