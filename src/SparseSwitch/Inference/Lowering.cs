using SparseSwitch.Nn;
using SparseSwitch.Nn.Models;
using SparseSwitch.Tensors;
using SparseSwitch.Tensors.Conv;

namespace SparseSwitch.Inference;

/// <summary>The shape of one image's activation: C planes of H × W (features: C × 1 × 1).</summary>
public readonly record struct ActivationShape(int C, int H, int W)
{
    public int Length => C * H * W;
    public override string ToString() => H == 1 && W == 1 ? $"[{C}]" : $"[{C}, {H}, {W}]";
}

/// <summary>One operation of a lowered network, on activations numbered in order of creation
/// (0 is the input). Products carry their weights with batch-norm folded in and the sub-net's
/// mask (null: dense); their epilogue adds the bias, an optional residual and applies ReLU.</summary>
public abstract record LayerSpec(int Input, int Output)
{
    /// <summary>The parameter path of the weight (products), or the operation's name.</summary>
    public abstract string Name { get; }
}

/// <summary>A convolution (groups 1) with folded batch-norm: y = act(W ⊛ x + bias (+ residual)).</summary>
public sealed record ConvSpec(int Input, int Output, string WeightName, ConvGeometry Geometry, int OutChannels,
    float[] Weight, BitMask? Mask, float[] Bias, bool Relu, int Residual) : LayerSpec(Input, Output)
{
    public override string Name => WeightName;
    public int Rows => OutChannels;
    public int Depth => Geometry.ColRows;
}

/// <summary>y = act(W x + bias) on the flattened activation.</summary>
public sealed record LinearSpec(int Input, int Output, string WeightName, int InFeatures, int OutFeatures,
    float[] Weight, BitMask? Mask, float[] Bias, bool Relu) : LayerSpec(Input, Output)
{
    public override string Name => WeightName;
}

public sealed record MaxPoolSpec(int Input, int Output, int Kernel, int Stride, int Padding) : LayerSpec(Input, Output)
{
    public override string Name => "maxpool";
}

public sealed record GlobalAvgPoolSpec(int Input, int Output) : LayerSpec(Input, Output)
{
    public override string Name => "global-avgpool";
}

public sealed record ReluSpec(int Input, int Output) : LayerSpec(Input, Output)
{
    public override string Name => "relu";
}

/// <summary>Option-A shortcut: every Stride-th pixel, channels zero-padded on both sides.</summary>
public sealed record PadShortcutSpec(int Input, int Output, int OutChannels, int Stride) : LayerSpec(Input, Output)
{
    public override string Name => "pad-shortcut";
}

/// <summary>A network as a list of operations on numbered activations, for one sub-net.</summary>
public sealed record LoweredNetwork(IReadOnlyList<LayerSpec> Layers, IReadOnlyList<ActivationShape> Shapes)
{
    public ActivationShape InputShape => Shapes[0];
    public int OutputValue => Layers[^1].Output;
    public ActivationShape OutputShape => Shapes[OutputValue];
}

/// <summary>
/// Turns a model of the zoo, as one sub-net sees it (its masks, its batch-norm set, eval mode),
/// into a <see cref="LoweredNetwork"/>: each batch-norm folded into the convolution before it,
/// ReLUs and residual joins moved into the epilogue of the product before them, Flatten and
/// Dropout dropped. Models are walked in the order their Forward runs; a module it does not know
/// gives a NotSupportedException naming it.
/// </summary>
public static class Lowering
{
    public static LoweredNetwork Lower(Module model, int inChannels, int imageSize, IReadOnlyDictionary<string, BitMask>? masks, int batchNormSet)
    {
        ArgumentNullException.ThrowIfNull(model);
        var b = new Builder(model, masks, batchNormSet);
        int x = b.NewValue(new ActivationShape(inChannels, imageSize, imageSize));
        b.Module(model, x);
        if (b.Layers.Count == 0) throw new NotSupportedException("Lowering: the model has no operations.");
        return new LoweredNetwork(b.Layers, b.Shapes);
    }

    private sealed class Builder
    {
        public readonly List<LayerSpec> Layers = [];
        public readonly List<ActivationShape> Shapes = [];
        private readonly Dictionary<Parameter, string> _names = [];
        private readonly IReadOnlyDictionary<string, BitMask>? _masks;
        private readonly int _set;

        public Builder(Module model, IReadOnlyDictionary<string, BitMask>? masks, int set)
        {
            foreach (var (path, p) in model.NamedParameters()) _names[p] = path;
            _masks = masks;
            _set = set;
            if (masks is not null)
                foreach (var name in masks.Keys)
                    if (!_names.ContainsValue(name)) throw new ArgumentException($"Lowering: a mask names '{name}', which is not a parameter of the model.");
        }

        public int NewValue(ActivationShape s)
        {
            Shapes.Add(s);
            return Shapes.Count - 1;
        }

        /// <summary>Lowers <paramref name="m"/> applied to value <paramref name="x"/>; returns its output value.</summary>
        public int Module(Module m, int x)
        {
            switch (m)
            {
                case CifarResNet r:
                {
                    x = Conv(r.Conv1, x, r.Bn1);
                    foreach (var stage in r.Layers) x = Module(stage, x);
                    x = Add(new GlobalAvgPoolSpec(x, NewValue(new ActivationShape(Shapes[x].C, 1, 1))));
                    return Linear(r.Classifier, x);
                }
                case BasicBlock blk:
                {
                    int h = Conv(blk.Conv1, x, blk.Bn1);
                    int shortcut = blk.Shortcut switch
                    {
                        null => x,
                        IdentityPadShortcut pad => Add(new PadShortcutSpec(x, NewValue(PaddedShape(Shapes[x], pad)), pad.OutChannels, pad.Stride)),
                        Sequential { Count: 2 } seq when seq[0] is Conv2d sc => Conv(sc, x, seq[1]),
                        var other => throw Unsupported(other),
                    };
                    return Conv(blk.Conv2, h, blk.Bn2, forceRelu: true, residual: shortcut);
                }
                case LeNet5 lenet: return Chain(lenet.Chain, x);
                case Mlp mlp: return Chain(mlp.Layers, x);
                case Vgg vgg:
                {
                    x = Module(vgg.Features, x);
                    x = Add(new GlobalAvgPoolSpec(x, NewValue(new ActivationShape(Shapes[x].C, 1, 1))));
                    return Linear(vgg.Classifier, x);
                }
                case Sequential seq: return Chain(Enumerable.Range(0, seq.Count).Select(i => seq[i]).ToList(), x);
                default: return Chain([m], x);
            }
        }

        private static ActivationShape PaddedShape(ActivationShape s, IdentityPadShortcut pad) =>
            new(pad.OutChannels, (s.H + pad.Stride - 1) / pad.Stride, (s.W + pad.Stride - 1) / pad.Stride);

        /// <summary>Modules run one after another: batch-norms fold into the conv before them and
        /// ReLUs into the product before them.</summary>
        private int Chain(IReadOnlyList<Module> chain, int x)
        {
            for (int i = 0; i < chain.Count; i++)
            {
                var m = chain[i];
                switch (m)
                {
                    case Conv2d c:
                        Module? bn = i + 1 < chain.Count && IsNorm(chain[i + 1]) ? chain[++i] : null;
                        x = Conv(c, x, bn);
                        break;
                    case Linear l: x = Linear(l, x); break;
                    case ReLU:
                        if (Layers.Count > 0 && Layers[^1].Output == x && Layers[^1] is ConvSpec { Relu: false } cs) Layers[^1] = cs with { Relu = true };
                        else if (Layers.Count > 0 && Layers[^1].Output == x && Layers[^1] is LinearSpec { Relu: false } ls) Layers[^1] = ls with { Relu = true };
                        else x = Add(new ReluSpec(x, NewValue(Shapes[x])));
                        break;
                    case MaxPool2d p:
                    {
                        var s = Shapes[x];
                        int oh = (s.H + 2 * p.Padding - p.Kernel) / p.Stride + 1, ow = (s.W + 2 * p.Padding - p.Kernel) / p.Stride + 1;
                        x = Add(new MaxPoolSpec(x, NewValue(new ActivationShape(s.C, oh, ow)), p.Kernel, p.Stride, p.Padding));
                        break;
                    }
                    case GlobalAvgPool2d:
                        x = Add(new GlobalAvgPoolSpec(x, NewValue(new ActivationShape(Shapes[x].C, 1, 1))));
                        break;
                    case Flatten or Dropout:
                        break; // one image's activation is already contiguous; dropout is the identity in eval
                    case Sequential or CifarResNet or BasicBlock or Vgg or LeNet5 or Mlp:
                        x = Module(m, x);
                        break;
                    default: throw Unsupported(m);
                }
            }
            return x;
        }

        private static bool IsNorm(Module m) => m is BatchNorm2d or SwitchableBatchNorm2d;

        private int Add(LayerSpec layer)
        {
            Layers.Add(layer);
            return layer.Output;
        }

        private BitMask? MaskOf(Parameter w)
        {
            string name = _names[w];
            if (_masks is not null && _masks.TryGetValue(name, out var m))
            {
                if (m.Length != w.Length) throw new ArgumentException($"Lowering: the mask of '{name}' has {m.Length} bits for {w.Length} weights.");
                return m;
            }
            return null;
        }

        private int Conv(Conv2d c, int x, Module? norm, bool forceRelu = false, int residual = -1)
        {
            var s = Shapes[x];
            if (c.Groups != 1) throw new NotSupportedException($"Lowering: grouped convolution ({_names[c.Weight]}, groups {c.Groups}) is not supported by the inference engine.");
            if (s.C != c.InChannels) throw new ArgumentException($"Lowering: {_names[c.Weight]} takes {c.InChannels} channels, its input has {s.C}.");
            var g = new ConvGeometry(s.C, s.H, s.W, c.KernelH, c.KernelW, c.StrideH, c.StrideW, c.PaddingH, c.PaddingW, c.DilationH, c.DilationW);
            int cout = c.OutChannels, k = g.ColRows;
            var mask = MaskOf(c.Weight);
            float[] w = c.Weight.Data.Span.ToArray();
            mask?.ApplyTo(w);
            float[] bias = c.Bias is null ? new float[cout] : c.Bias.Data.Span.ToArray();
            bool relu = forceRelu;
            if (norm is not null)
            {
                var bn = norm switch
                {
                    BatchNorm2d b1 => b1,
                    SwitchableBatchNorm2d sw => _set < sw.Sets ? sw[_set] : throw new ArgumentOutOfRangeException(nameof(norm), $"Lowering: batch-norm set {_set} does not exist ({sw.Sets} sets)."),
                    _ => throw Unsupported(norm),
                };
                if (bn.Channels != cout) throw new ArgumentException($"Lowering: a batch-norm of {bn.Channels} channels follows {_names[c.Weight]} ({cout} outputs).");
                Fold(w, bias, k, bn);
                relu |= bn.FusedReLU;
            }
            if (residual >= 0 && Shapes[residual] != new ActivationShape(cout, g.OH, g.OW))
                throw new ArgumentException($"Lowering: residual {Shapes[residual]} does not match {_names[c.Weight]}'s output [{cout}, {g.OH}, {g.OW}].");
            return Add(new ConvSpec(x, NewValue(new ActivationShape(cout, g.OH, g.OW)), _names[c.Weight], g, cout, w, mask, bias, relu, residual));
        }

        /// <summary>W'[o] = W[o]·s[o], b'[o] = (b[o] − mean[o])·s[o] + β[o], s = γ / √(var + eps),
        /// in double, each rounded once.</summary>
        private static void Fold(float[] w, float[] bias, int k, BatchNorm2d bn)
        {
            var gamma = bn.Weight.Data.Span; var beta = bn.Bias.Data.Span;
            var mean = bn.RunningMean.Span; var var = bn.RunningVar.Span;
            for (int o = 0; o < bias.Length; o++)
            {
                double s = gamma[o] / Math.Sqrt((double)var[o] + bn.Eps);
                for (int i = o * k; i < (o + 1) * k; i++) w[i] = (float)(w[i] * s);
                bias[o] = (float)((bias[o] - (double)mean[o]) * s + beta[o]);
            }
        }

        private int Linear(Linear l, int x)
        {
            var s = Shapes[x];
            if (s.Length != l.InFeatures) throw new ArgumentException($"Lowering: {_names[l.Weight]} takes {l.InFeatures} features, its input has {s.Length} ({s}).");
            var mask = MaskOf(l.Weight);
            float[] w = l.Weight.Data.Span.ToArray();
            mask?.ApplyTo(w);
            float[] bias = l.Bias is null ? new float[l.OutFeatures] : l.Bias.Data.Span.ToArray();
            return Add(new LinearSpec(x, NewValue(new ActivationShape(l.OutFeatures, 1, 1)), _names[l.Weight], l.InFeatures, l.OutFeatures, w, mask, bias, false));
        }

        private NotSupportedException Unsupported(Module m) =>
            new($"Lowering: the inference engine does not support {m.GetType().Name} modules.");
    }
}
