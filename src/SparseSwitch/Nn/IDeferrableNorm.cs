using SparseSwitch.Tensors;

namespace SparseSwitch.Nn;

/// <summary>A normalisation layer that can leave its output, and its input gradient, to their
/// consumers (<see cref="ChannelAffine"/>, <see cref="ChannelGradAffine"/>). After
/// <see cref="ForwardDeferred"/> its Backward works as after Forward.</summary>
public interface IDeferrableNorm
{
    /// <summary>The statistics pass of Forward (running statistics updated in training), without
    /// writing the output: the transform the consumer applies instead. Per-plane statistics taken
    /// by the producer of x (see <see cref="BatchNorm2d.ForwardDeferred"/>) skip the pass.</summary>
    ChannelAffine ForwardDeferred(Tensor x, ReadOnlySpan<double> planeStats = default);

    /// <summary>The sums pass of Backward (weight and bias gradients accumulated), without
    /// writing dL/dx: the transform the consumer applies to dy instead. Per-plane sums computed by
    /// the producer of dy (see <see cref="BatchNorm2d.BackwardDeferred"/>) skip the pass.</summary>
    ChannelGradAffine BackwardDeferred(Tensor dy, ReadOnlySpan<double> planeSums = default);
}
