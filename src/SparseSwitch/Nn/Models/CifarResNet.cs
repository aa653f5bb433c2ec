using SparseSwitch.Tensors;

namespace SparseSwitch.Nn.Models;

/// <summary>
/// ResNet for 32×32 images (He et al. 2016, §4.2): a 3×3 stem conv + batch-norm + ReLU, stages of
/// <see cref="BasicBlock"/>s (the first block of every stage after the first halves the
/// resolution and doubles the width), global average pooling and a linear classifier.
/// Parameter paths are PyTorch's: conv1, bn1, layer1.0.conv1, …, layer2.0.shortcut.0, linear.
/// Depth 6n+2 gives three stages of n blocks with widths w, 2w, 4w (ResNet-20/32/56; w = 16, or 32
/// for the wide ResNet-32). Conv and linear weights are Kaiming-normal initialised; conv and
/// linear weights except the stem are prunable; with bnSets &gt; 1 every batch-norm but the stem's
/// is switchable. The stem computes no input gradient (its input is data), so Backward returns
/// an empty tensor; set <c>Conv1.ComputeInputGradient</c> to get dL/dx.
/// </summary>
public class CifarResNet : Module
{
    public Conv2d Conv1 { get; }
    public Module Bn1 { get; }
    public IReadOnlyList<Sequential> Layers { get; }
    public Linear Classifier { get; }

    private readonly GlobalAvgPool2d _pool = new();
    private readonly Flatten _flatten = new();

    public CifarResNet(int depth, int width = 16, ShortcutKind shortcut = ShortcutKind.ProjectionConv,
        int numClasses = 10, int bnSets = 1, Rng? rng = null, int inChannels = 3)
        : this(StagesForDepth(depth), [width, 2 * width, 4 * width], shortcut, numClasses, bnSets, rng, inChannels, width)
    {
    }

    /// <summary>General form: stage i has <paramref name="blocks"/>[i] blocks of width
    /// <paramref name="widths"/>[i]; the stem has <paramref name="stemWidth"/> channels.</summary>
    protected CifarResNet(int[] blocks, int[] widths, ShortcutKind shortcut, int numClasses, int bnSets, Rng? rng,
        int inChannels, int stemWidth)
    {
        if (blocks.Length != widths.Length || blocks.Length == 0) throw new ArgumentException("One width per stage is needed.");
        if (widths.Any(w => w < 1) || stemWidth < 1) throw new ArgumentOutOfRangeException(nameof(widths), "Widths must be ≥ 1.");
        if (numClasses < 1) throw new ArgumentOutOfRangeException(nameof(numClasses), numClasses, "numClasses must be ≥ 1.");
        if (inChannels < 1) throw new ArgumentOutOfRangeException(nameof(inChannels), inChannels, "inChannels must be ≥ 1.");
        rng ??= new Rng(0);
        // The stem's input is data: no input gradient (Backward returns an empty tensor).
        Conv1 = RegisterModule("conv1", new Conv2d(inChannels, stemWidth, 3, 1, 1, bias: false, rng: rng) { ComputeInputGradient = false });
        Bn1 = RegisterModule("bn1", new BatchNorm2d(stemWidth, fuseRelu: true)); // stem bn + relu
        var layers = new List<Sequential>();
        int inPlanes = stemWidth;
        // The blocks' gradients run down the chain one block at a time, so blocks of one shape share
        // their backward buffers (BasicBlock.ShareGradientBuffers): the join's and conv2's input
        // gradients per stage, conv1's per input shape (channels and resolution), and a shortcut's
        // input gradient takes the join buffer of the stage below.
        var conv1Input = new Dictionary<(int Planes, int Level), SharedBuffer>();
        var joins = new Dictionary<(int Planes, int Level), SharedBuffer>();
        for (int s = 0; s < blocks.Length; s++)
        {
            var stage = new Sequential();
            SharedBuffer join = joins[(widths[s], s)] = new(), conv2Input = new();
            for (int b = 0; b < blocks[s]; b++)
            {
                int stride = s > 0 && b == 0 ? 2 : 1;
                var block = new BasicBlock(inPlanes, widths[s], stride, shortcut, bnSets, rng);
                var inputKey = (inPlanes, stride == 2 ? s - 1 : s);
                if (!conv1Input.TryGetValue(inputKey, out var input)) conv1Input[inputKey] = input = new SharedBuffer();
                block.ShareGradientBuffers(join, conv2Input, input, joins.GetValueOrDefault(inputKey) is { } below && below != join ? below : null);
                stage.Add(block);
                inPlanes = widths[s];
            }
            layers.Add(RegisterModule($"layer{s + 1}", stage));
        }
        Layers = layers;
        Classifier = RegisterModule("linear", new Linear(inPlanes, numClasses, rng: rng));
        ModelInit.KaimingNormalConvAndLinear(this, rng);
        SubNets.MarkPrunable(this, Conv1, Classifier);
    }

    private static int[] StagesForDepth(int depth)
    {
        if (depth < 8 || (depth - 2) % 6 != 0)
            throw new ArgumentOutOfRangeException(nameof(depth), depth, "A CIFAR ResNet's depth must be 6n+2 with n ≥ 1 (20, 32, 44, 56, 110, …).");
        int n = (depth - 2) / 6;
        return [n, n, n];
    }

    public override Tensor Forward(Tensor x)
    {
        // The stem conv takes its output's plane statistics for the stem batch-norm as it writes it;
        // the batch-norm's output feeds two branches, so it is written.
        var o = Conv1.Forward(x, default, outputStats: Training);
        o = Bn1 is BatchNorm2d bn && Options.DeferNorms ? bn.Forward(o, Conv1.OutputPlaneStats) : Bn1.Forward(o);
        for (int s = 0; s < Layers.Count; s++) o = Layers[s].Forward(o);
        o = _flatten.Forward(_pool.Forward(o));
        return Classifier.Forward(o);
    }

    public override Tensor Backward(Tensor dy)
    {
        var d = _pool.Backward(_flatten.Backward(Classifier.Backward(dy)));
        for (int s = Layers.Count - 1; s >= 0; s--) d = Layers[s].Backward(d);
        // The stem batch-norm's input gradient is applied by the stem conv as it fills dy's planes.
        if (Bn1 is IDeferrableNorm n && Options.DeferNorms) return Conv1.Backward(d, n.BackwardDeferred(d));
        return Conv1.Backward(Bn1.Backward(d));
    }
}
