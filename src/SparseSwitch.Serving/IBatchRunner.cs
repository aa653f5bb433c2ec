using SparseSwitch.Inference;

namespace SparseSwitch.Serving;

/// <summary>What the server's workers run a batch on: output[images, classes] = sub-net's logits
/// for input[images, C, H, W]. The server uses a compiled <see cref="InferenceModel"/>.</summary>
public interface IBatchRunner
{
    int InputLength { get; }
    int OutputLength { get; }
    void Run(int subnet, ReadOnlySpan<float> input, Span<float> output, int images);
}

/// <summary>A compiled model as a batch runner.</summary>
public sealed class CompiledRunner(InferenceModel model) : IBatchRunner
{
    public InferenceModel Model { get; } = model;
    public int InputLength => Model.InputShape.Length;
    public int OutputLength => Model.OutputLength;
    public void Run(int subnet, ReadOnlySpan<float> input, Span<float> output, int images) => Model.Run(subnet, input, output, images);
}
