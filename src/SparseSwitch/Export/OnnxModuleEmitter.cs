using SparseSwitch.Nn;
using SparseSwitch.Nn.Models;
using static SparseSwitch.Export.OnnxGraphBuilder;

namespace SparseSwitch.Export;

/// <summary>
/// Emits the eval-mode function of a module as ONNX nodes, one switch over module types: the
/// layers map to one or two operators each (weights with their current mask applied, batch-norms
/// with their running statistics, a switchable batch-norm as its active set); the models walk
/// their parts in the order their Forward runs them. Shapes are followed along (the batch stays
/// symbolic) and checked where a layer's Forward checks them. A module it does not know fails with
/// <see cref="NotSupportedException"/> naming its type and path.
/// </summary>
internal sealed class OnnxModuleEmitter
{
    private readonly OnnxGraphBuilder _g;
    private readonly Dictionary<Module, string> _paths = new(ReferenceEqualityComparer.Instance);

    public OnnxModuleEmitter(OnnxGraphBuilder graph, Module root)
    {
        _g = graph;
        foreach (var (path, m) in root.NamedModules()) _paths.TryAdd(m, path);
    }

    /// <summary>The nodes of <paramref name="m"/> applied to <paramref name="x"/>; returns its output.
    /// <paramref name="fallbackPath"/> names modules that are not registered children (parameter-free
    /// layers a model holds privately).</summary>
    public OnnxValue Emit(Module m, OnnxValue x, string fallbackPath)
    {
        string path = _paths.TryGetValue(m, out var p) ? p : fallbackPath;
        string name = path.Length == 0 ? m.GetType().Name.ToLowerInvariant() : path;
        switch (m)
        {
            case Sequential s:
                for (int i = 0; i < s.Count; i++) x = Emit(s[i], x, Join(path, i.ToString(System.Globalization.CultureInfo.InvariantCulture)));
                return x;
            case Mlp mlp:
                return Chain(mlp.Layers, x, path);
            case LeNet5 lenet:
                return Chain(lenet.Chain, x, path);
            case CifarResNet resnet:
                x = Emit(resnet.Conv1, x, Join(path, "conv1"));
                x = Emit(resnet.Bn1, x, Join(path, "bn1"));
                foreach (var stage in resnet.Layers) x = Emit(stage, x, Join(path, "layer"));
                return Classifier(resnet.Classifier, x, path);
            case Vgg vgg:
                return Classifier(vgg.Classifier, Emit(vgg.Features, x, Join(path, "features")), path);
            case BasicBlock block:
                return Block(block, x, path);
            case Conv2d conv:
                return Conv(conv, x, name);
            case Linear linear:
                return Dense(linear, x, name);
            case BatchNorm2d bn:
                return BatchNorm(bn, x, name);
            case SwitchableBatchNorm2d sbn:
                return BatchNorm(sbn.Active, x, Join(name, sbn.ActiveSet.ToString(System.Globalization.CultureInfo.InvariantCulture)));
            case ReLU:
                return _g.Node("Relu", name, x.Shape, [x.Name]);
            case MaxPool2d mp:
                return Pool("MaxPool", x, name, mp.Kernel, mp.Stride, mp.Padding);
            case AvgPool2d ap:
                return Pool("AveragePool", x, name, ap.Kernel, ap.Stride, ap.Padding, Int("count_include_pad", 1));
            case GlobalAvgPool2d:
                Rank(x, 4, m, path);
                return _g.Node("GlobalAveragePool", name, [x.Dim(0), x.Dim(1), 1, 1], [x.Name]);
            case Flatten:
                return FlattenNode(x, name);
            case Dropout:
                return x;   // eval: the identity
            case IdentityPadShortcut pad:
                return PadShortcut(pad, x, name);
            default:
                throw new NotSupportedException(
                    $"ONNX export: module '{(path.Length == 0 ? "(root)" : path)}' of type {m.GetType().FullName} is not supported.");
        }
    }

    private static string Join(string path, string child) => path.Length == 0 ? child : path + "." + child;

    private OnnxValue Chain(IReadOnlyList<Module> layers, OnnxValue x, string path)
    {
        for (int i = 0; i < layers.Count; i++)
            x = Emit(layers[i], x, Join(path, $"{layers[i].GetType().Name.ToLowerInvariant()}{i}"));
        return x;
    }

    /// <summary>Global average pooling, flatten and the linear classifier (the CIFAR models' head).</summary>
    private OnnxValue Classifier(Linear classifier, OnnxValue x, string path)
    {
        Rank(x, 4, classifier, path);
        x = _g.Node("GlobalAveragePool", Join(path, "pool"), [x.Dim(0), x.Dim(1), 1, 1], [x.Name]);
        x = FlattenNode(x, Join(path, "flatten"));
        return Emit(classifier, x, Join(path, "classifier"));
    }

    /// <summary>relu(bn2(conv2(bn1+relu(conv1(x)))) + shortcut(x)): the same function on both of
    /// BasicBlock's forward paths (the deferred-norm one applies the same transforms elsewhere).</summary>
    private OnnxValue Block(BasicBlock block, OnnxValue x, string path)
    {
        var main = Emit(block.Conv1, x, Join(path, "conv1"));
        main = Emit(block.Bn1, main, Join(path, "bn1"));
        main = Emit(block.Conv2, main, Join(path, "conv2"));
        main = Emit(block.Bn2, main, Join(path, "bn2"));
        var shortcut = block.Shortcut is null ? x : Emit(block.Shortcut, x, Join(path, "shortcut"));
        if (!shortcut.Shape.AsSpan().SequenceEqual(main.Shape))
            throw new ArgumentException($"ONNX export: block '{path}': residual shape [{string.Join(", ", main.Shape)}] differs from shortcut shape [{string.Join(", ", shortcut.Shape)}].");
        var sum = _g.Node("Add", Join(path, "add"), main.Shape, [main.Name, shortcut.Name]);
        return _g.Node("Relu", Join(path, "relu"), sum.Shape, [sum.Name]);
    }

    private OnnxValue Conv(Conv2d conv, OnnxValue x, string name)
    {
        if (x.Rank != 4 || x.Dim(1) != conv.InChannels)
            throw new ArgumentException($"ONNX export: '{name}' (Conv2d {conv.InChannels}→{conv.OutChannels}) gets [{ShapeText(x.Shape)}], expected [N, {conv.InChannels}, H, W].");
        int oh = OutSize(x.Dim(2), conv.KernelH, conv.StrideH, conv.PaddingH, conv.DilationH);
        int ow = OutSize(x.Dim(3), conv.KernelW, conv.StrideW, conv.PaddingW, conv.DilationW);
        if (oh < 1 || ow < 1) throw new ArgumentException($"ONNX export: '{name}': input {x.Dim(2)}×{x.Dim(3)} is smaller than the kernel.");
        var inputs = new List<string> { x.Name, Weight(conv.Weight, name) };
        if (conv.Bias is { } b) inputs.Add(_g.Initializer(name + ".bias", b.Data.Span, b.Shape));
        return _g.Node("Conv", name, [x.Dim(0), conv.OutChannels, oh, ow], inputs.ToArray(),
            Ints("kernel_shape", conv.KernelH, conv.KernelW),
            Ints("strides", conv.StrideH, conv.StrideW),
            Ints("pads", conv.PaddingH, conv.PaddingW, conv.PaddingH, conv.PaddingW),
            Ints("dilations", conv.DilationH, conv.DilationW),
            Int("group", conv.Groups));
    }

    /// <summary>y = x·Wᵀ + b: Gemm (transB) on a [N, in] input, MatMul with Wᵀ and Add on other ranks.</summary>
    private OnnxValue Dense(Linear linear, OnnxValue x, string name)
    {
        if (x.Rank < 1 || x.Dim(-1) != linear.InFeatures)
            throw new ArgumentException($"ONNX export: '{name}' (Linear {linear.InFeatures}→{linear.OutFeatures}) gets [{ShapeText(x.Shape)}], expected [..., {linear.InFeatures}].");
        var shape = (int[])x.Shape.Clone();
        shape[^1] = linear.OutFeatures;
        if (x.Rank == 2)
        {
            var inputs = new List<string> { x.Name, Weight(linear.Weight, name) };
            if (linear.Bias is { } b) inputs.Add(_g.Initializer(name + ".bias", b.Data.Span, b.Shape));
            return _g.Node("Gemm", name, shape, inputs.ToArray(), Int("transB", 1));
        }
        // W ⊙ M transposed to [in, out] for MatMul.
        var w = Masked(linear.Weight);
        int o = linear.OutFeatures, n = linear.InFeatures;
        var wt = new float[w.Length];
        for (int r = 0; r < o; r++)
            for (int c = 0; c < n; c++) wt[c * o + r] = w[r * n + c];
        var y = _g.Node("MatMul", name, shape, [x.Name, _g.Initializer(name + ".weight_t", wt, [n, o])]);
        if (linear.Bias is not { } bias) return y;
        return _g.Node("Add", name + ".add", shape, [y.Name, _g.Initializer(name + ".bias", bias.Data.Span, bias.Shape)]);
    }

    /// <summary>Eval-mode batch-norm (running statistics, the layer's ε), then the fused ReLU if any.</summary>
    private OnnxValue BatchNorm(BatchNorm2d bn, OnnxValue x, string name)
    {
        if (x.Rank != 4 || x.Dim(1) != bn.Channels)
            throw new ArgumentException($"ONNX export: '{name}' (BatchNorm2d({bn.Channels})) gets [{ShapeText(x.Shape)}], expected [N, {bn.Channels}, H, W].");
        var y = _g.Node("BatchNormalization", name, x.Shape,
            [
                x.Name,
                _g.Initializer(name + ".weight", bn.Weight.Data.Span, bn.Weight.Shape),
                _g.Initializer(name + ".bias", bn.Bias.Data.Span, bn.Bias.Shape),
                _g.Initializer(name + ".running_mean", bn.RunningMean.Span, bn.RunningMean.Shape),
                _g.Initializer(name + ".running_var", bn.RunningVar.Span, bn.RunningVar.Shape),
            ],
            Float("epsilon", bn.Eps));
        return bn.FusedReLU ? _g.Node("Relu", name + ".relu", y.Shape, [y.Name]) : y;
    }

    private OnnxValue Pool(string op, OnnxValue x, string name, int kernel, int stride, int padding, params Onnx.AttributeProto[] extra)
    {
        if (x.Rank != 4) throw new ArgumentException($"ONNX export: '{name}' ({op}) gets [{ShapeText(x.Shape)}], expected [N, C, H, W].");
        int oh = OutSize(x.Dim(2), kernel, stride, padding, 1), ow = OutSize(x.Dim(3), kernel, stride, padding, 1);
        if (oh < 1 || ow < 1) throw new ArgumentException($"ONNX export: '{name}': input {x.Dim(2)}×{x.Dim(3)} is smaller than the window.");
        var attributes = new List<Onnx.AttributeProto>
        {
            Ints("kernel_shape", kernel, kernel),
            Ints("strides", stride, stride),
            Ints("pads", padding, padding, padding, padding),
        };
        attributes.AddRange(extra);
        return _g.Node(op, name, [x.Dim(0), x.Dim(1), oh, ow], [x.Name], attributes.ToArray());
    }

    private OnnxValue FlattenNode(OnnxValue x, string name)
    {
        if (x.Rank < 1) throw new ArgumentException($"ONNX export: '{name}' (Flatten) needs a batch dimension.");
        int features = 1;
        for (int i = 1; i < x.Rank; i++) features *= x.Dim(i);
        return _g.Node("Flatten", name, [x.Dim(0), features], [x.Name], Int("axis", 1));
    }

    /// <summary>Option A: x[:, :, ::s, ::s] (Slice with steps) and (outC − inC)/2 zero channels on
    /// each side (Pad).</summary>
    private OnnxValue PadShortcut(IdentityPadShortcut pad, OnnxValue x, string name)
    {
        if (x.Rank != 4 || x.Dim(1) != pad.InChannels)
            throw new ArgumentException($"ONNX export: '{name}' (IdentityPadShortcut) gets [{ShapeText(x.Shape)}], expected [N, {pad.InChannels}, H, W].");
        int s = pad.Stride, extra = (pad.OutChannels - pad.InChannels) / 2;
        if (s > 1)
        {
            x = _g.Node("Slice", name + ".subsample", [x.Dim(0), x.Dim(1), (x.Dim(2) + s - 1) / s, (x.Dim(3) + s - 1) / s],
                [
                    x.Name,
                    _g.Initializer(name + ".starts", [0L, 0L]),
                    _g.Initializer(name + ".ends", [long.MaxValue, long.MaxValue]),
                    _g.Initializer(name + ".axes", [2L, 3L]),
                    _g.Initializer(name + ".steps", [(long)s, s]),
                ]);
        }
        if (extra == 0) return x;
        return _g.Node("Pad", name + ".pad", [x.Dim(0), pad.OutChannels, x.Dim(2), x.Dim(3)],
            [x.Name, _g.Initializer(name + ".pads", [0L, extra, 0L, 0L, 0L, extra, 0L, 0L])]);
    }

    /// <summary>The weight as the layer multiplies with it (Data ⊙ Mask), as an initializer named
    /// after the parameter.</summary>
    private string Weight(Parameter w, string layer) => _g.Initializer(layer + ".weight", Masked(w), w.Shape);

    private static float[] Masked(Parameter w)
    {
        var values = w.Data.Span.ToArray();
        if (w.Mask is { } mask)
        {
            if (mask.Length != w.Length)
                throw new ArgumentException($"ONNX export: a mask of {mask.Length} positions on a weight of {w.Length} elements.");
            mask.ApplyTo(values);
        }
        return values;
    }

    private static void Rank(OnnxValue x, int rank, Module m, string path)
    {
        if (x.Rank != rank)
            throw new ArgumentException($"ONNX export: '{path}' ({m.GetType().Name}) gets [{ShapeText(x.Shape)}], expected rank {rank}.");
    }

    private static int OutSize(int size, int kernel, int stride, int padding, int dilation)
    {
        int span = size + 2 * padding - dilation * (kernel - 1) - 1;
        return span < 0 ? 0 : span / stride + 1;
    }

    private static string ShapeText(int[] shape) => string.Join(", ", shape.Select(d => d < 0 ? BatchDim : d.ToString(System.Globalization.CultureInfo.InvariantCulture)));
}
