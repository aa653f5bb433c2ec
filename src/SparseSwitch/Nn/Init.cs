using SparseSwitch.Tensors;

namespace SparseSwitch.Nn;

/// <summary>PyTorch's default initialisation of Linear and Conv layers.</summary>
public static class Init
{
    /// <summary>kaiming_uniform_(a = √5) on the weight and U(±1/√fan_in) on the bias, which both
    /// come out as U(±1/√fan_in): gain = √(2/(1+a²)) = √(1/3), bound = gain·√(3/fan_in).</summary>
    public static void PyTorchDefault(Parameter weight, Parameter? bias, int fanIn, Rng rng)
    {
        float bound = fanIn > 0 ? 1f / MathF.Sqrt(fanIn) : 0f;
        rng.FillUniform(weight.Data.Span, -bound, bound);
        if (bias is not null) rng.FillUniform(bias.Data.Span, -bound, bound);
    }

    /// <summary>The seed of a layer constructed without an explicit <see cref="Rng"/>: every such
    /// layer starts from this same stream, so its weights depend only on its shape, never on what
    /// else the process built before it. Models pass one <see cref="Rng"/> through all their layers
    /// so that each layer gets its own values.</summary>
    public const ulong DefaultSeed = 0x5EED_0000UL;

    internal static Rng DefaultRng() => new Rng(DefaultSeed);
}
