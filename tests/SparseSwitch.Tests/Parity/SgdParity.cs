using System.Globalization;
using SparseSwitch.Nn;
using SparseSwitch.Optim;
using SparseSwitch.Serialization;
using SparseSwitch.Tests.Support;

namespace SparseSwitch.Tests.Parity;

/// <summary>op "sgd": param0, grad0..grad{steps-1}, param1..param{steps}; lr, momentum,
/// weight_decay, nesterov, steps. Runs our SGD step by step and compares every parameter state.</summary>
public sealed class SgdParity : IParityOp
{
    public string Op => "sgd";

    public void Run(SafeTensors.File f, string path)
    {
        string name = Path.GetFileName(path);
        double Num(string key) => double.Parse(f.Meta(key) ?? throw new InvalidDataException($"{name}: no '{key}'."), CultureInfo.InvariantCulture);
        bool nesterov = bool.Parse(f.Meta("nesterov") ?? "false");
        int steps = (int)Num("steps");
        var p0 = f.Float("param0");
        var p = new Parameter(p0.Shape);
        p0.Span.CopyTo(p.Data.Span);
        var opt = new Sgd([("p", p)], Num("lr"), Num("momentum"), Num("weight_decay"), nesterov);
        for (int s = 0; s < steps; s++)
        {
            opt.ZeroGrad();
            f.Float($"grad{s}").Span.CopyTo(p.Grad.Span);
            opt.Step();
            Close.Assert(f.Float($"param{s + 1}").Span, p.Data.Span, 1e-5, 1e-4, $"{name} param{s + 1}");
        }
    }
}
