using Microsoft.ML.OnnxRuntime;
using SparseSwitch.Export;
using SparseSwitch.Nn;

namespace SparseSwitch.Bench;

/// <summary>
/// ONNX Runtime (CPU) running one of our models exported to ONNX, configured as BASELINES.md
/// says is its best here: intra-op threads = ours, one inter-op thread, all graph optimisations
/// (batch-norm folded, its blocked layouts). Inputs and outputs are bound once to preallocated
/// buffers, so a call is the session's run alone.
/// </summary>
public sealed class OrtPeer : IDisposable
{
    private readonly InferenceSession _session;
    private readonly OrtValue _input, _output;
    private readonly RunOptions _run = new();
    private readonly string[] _inNames = [OnnxExporter.InputName], _outNames = [OnnxExporter.OutputName];
    private readonly OrtValue[] _ins, _outs;

    /// <summary>The model as it is (its current masks and batch-norm set), for batches of <paramref name="batch"/>.</summary>
    public OrtPeer(Module model, int channels, int size, int classes, int batch, int threads, float[] input, float[] output)
    {
        using var ms = new MemoryStream();
        OnnxExporter.Export(model, ms, channels, size);
        using var options = new SessionOptions
        {
            IntraOpNumThreads = threads, InterOpNumThreads = 1,
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
        };
        _session = new InferenceSession(ms.ToArray(), options);
        _input = OrtValue.CreateTensorValueFromMemory(input, [batch, channels, size, size]);
        _output = OrtValue.CreateTensorValueFromMemory(output, [batch, classes]);
        _ins = [_input];
        _outs = [_output];
    }

    public void Run() => _session.Run(_run, _inNames, _ins, _outNames, _outs);

    public void Dispose()
    {
        _input.Dispose();
        _output.Dispose();
        _run.Dispose();
        _session.Dispose();
    }
}
