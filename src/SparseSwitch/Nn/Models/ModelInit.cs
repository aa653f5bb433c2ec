using SparseSwitch.Tensors;

namespace SparseSwitch.Nn.Models;

/// <summary>Initialisations the model zoo uses on top of the layers' PyTorch defaults.</summary>
public static class ModelInit
{
    /// <summary>PyTorch's kaiming_normal_ with its defaults (fan_in, ReLU gain): N(0, 2/fan_in),
    /// fan_in = product of all weight dimensions but the first.</summary>
    public static void KaimingNormal(Parameter weight, Rng rng)
    {
        int fanIn = weight.Shape.Length > 1 ? weight.Length / weight.Shape[0] : weight.Length;
        rng.FillNormal(weight.Data.Span, 0f, MathF.Sqrt(2f / Math.Max(fanIn, 1)));
    }

    /// <summary>Kaiming-normal on the weight of every Conv2d and Linear in <paramref name="model"/>
    /// (the CIFAR ResNet reference code's _weights_init); biases keep their defaults.</summary>
    public static void KaimingNormalConvAndLinear(Module model, Rng rng)
    {
        foreach (var (_, m) in model.NamedModules())
        {
            if (m is Conv2d c) KaimingNormal(c.Weight, rng);
            else if (m is Linear l) KaimingNormal(l.Weight, rng);
        }
    }

    /// <summary>He-normal with fan-out: N(0, 2/fan_out), fan_out = out channels · kernel area
    /// (PyTorch's kaiming_normal_(mode="fan_out", nonlinearity="relu")).</summary>
    public static void KaimingNormalFanOut(Parameter weight, Rng rng)
    {
        int fanOut = weight.Shape.Length > 2 ? weight.Shape[0] * (weight.Length / (weight.Shape[0] * weight.Shape[1])) : weight.Shape[0];
        rng.FillNormal(weight.Data.Span, 0f, MathF.Sqrt(2f / Math.Max(fanOut, 1)));
    }

    /// <summary>The published AST code's ResNet initialisation (its uresnet20): every Conv2d weight
    /// He-normal with fan-out (std √(2/(k²·C_out))), every Linear weight Kaiming-normal (fan-in) with
    /// a zero bias; batch-norms keep weight 1, bias 0.</summary>
    public static void HeFanOutConvKaimingLinear(Module model, Rng rng)
    {
        foreach (var (_, m) in model.NamedModules())
        {
            if (m is Conv2d c)
            {
                KaimingNormalFanOut(c.Weight, rng);
                c.Bias?.Data.Span.Clear();
            }
            else if (m is Linear l)
            {
                KaimingNormal(l.Weight, rng);
                l.Bias?.Data.Span.Clear();
            }
        }
    }
}
