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
}
