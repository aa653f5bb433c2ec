using SparseSwitch.Nn.Models;
using SparseSwitch.Serialization;
using SparseSwitch.Tensors;

namespace SparseSwitch.Tests.Parity;

/// <summary>op "mlp": the 784-300-100-10 ReLU network, paths 1./3./5. as nn.Sequential; fast and
/// highest matmul precision (<see cref="ModelParity.Check"/>).</summary>
public sealed class MlpParity : IParityOp
{
    public string Op => "mlp";

    public void Run(SafeTensors.File f, string path)
    {
        int[] sizes = (f.Meta("layers") ?? "784-300-100-10").Split('-').Select(int.Parse).ToArray();
        var state = ModelParity.Prefixed(f, "state.");
        ModelParity.Check(f, Path.GetFileName(path), () =>
        {
            var model = new Mlp(sizes[0], sizes[1..^1], sizes[^1], new Rng(1));
            model.LoadStateDict(state);
            return model;
        });
    }
}
