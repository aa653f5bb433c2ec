using SparseSwitch.Nn;
using SparseSwitch.Serialization;
using SparseSwitch.Tests.Support;
using static SparseSwitch.Tests.Parity.ParityTolerance;

namespace SparseSwitch.Tests.Parity;

public sealed class LinearParity : IParityOp
{
    public string Op => "linear";

    public void Run(SafeTensors.File f, string path)
    {
        var w = f.Float("weight");
        bool bias = f.Meta("bias") == "True";
        var layer = new Linear(w.Dim(1), w.Dim(0), bias);
        w.Span.CopyTo(layer.Weight.Data.Span);
        if (bias) f.Float("bias").Span.CopyTo(layer.Bias!.Data.Span);
        var y = layer.Forward(f.Float("x"));
        Close.Assert(f.Float("y").Span, y.Span, Atol, Rtol, $"{path}: y");
        var dx = layer.Backward(f.Float("dy"));
        Close.Assert(f.Float("dx").Span, dx.Span, Atol, Rtol, $"{path}: dx");
        Close.Assert(f.Float("dweight").Span, layer.Weight.Grad.Span, Atol, Rtol, $"{path}: dweight");
        if (bias) Close.Assert(f.Float("dbias").Span, layer.Bias!.Grad.Span, Atol, Rtol, $"{path}: dbias");
    }
}
