using System.Globalization;
using SparseSwitch.Nn;
using SparseSwitch.Nn.Models;
using SparseSwitch.Serialization;
using SparseSwitch.Tensors;
using SparseSwitch.Tests.Support;

namespace SparseSwitch.Tests.Parity;

/// <summary>op "cifar_resnet": depth, width; 1×1 conv + BN shortcuts. The fixture's running stats
/// are those after its one train-mode forward, so the weights are loaded, the running stats reset
/// to PyTorch's initial values (mean 0, var 1), and after our forward they must match again. Logits,
/// loss and gradients are compared with the fast float32 kernels and with double-accumulated
/// products (<see cref="ModelParity.Check"/>: the fast path's gradients where the fixture records
/// that no pre-ReLU activation lies within float32 rounding of zero).</summary>
public sealed class CifarResNetParity : IParityOp
{
    public string Op => "cifar_resnet";

    public void Run(SafeTensors.File f, string path)
    {
        string name = Path.GetFileName(path);
        int depth = int.Parse(f.Meta("depth") ?? throw new InvalidDataException($"{name}: no 'depth'."), CultureInfo.InvariantCulture);
        int width = int.Parse(f.Meta("width") ?? "16", CultureInfo.InvariantCulture);
        int classes = f["state.linear.bias"].IntShape()[0];
        int inChannels = f["input"].IntShape()[1];
        var state = ModelParity.Prefixed(f, "state.");
        ModelParity.Check(f, name, () =>
        {
            var model = new CifarResNet(depth, width, ShortcutKind.ProjectionConv, classes, bnSets: 1, new Rng(1), inChannels);
            model.LoadStateDict(state);
            foreach (var (_, m) in model.NamedModules())
                if (m is BatchNorm2d bn) { bn.RunningMean.Fill(0f); bn.RunningVar.Fill(1f); }
            return model;
        }, after: (model, label) =>
        {
            foreach (var (p, buffer) in model.NamedBuffers())
                Close.Assert(state[p].Span, buffer.Span, 1e-5, 1e-4, $"{label} {p} after the forward");
        });
    }
}
