using System.Globalization;
using SparseSwitch.Nn;
using SparseSwitch.Serialization;
using SparseSwitch.Tests.Support;
using static SparseSwitch.Tests.Parity.ParityTolerance;

namespace SparseSwitch.Tests.Parity;

public sealed class Conv2dParity : IParityOp
{
    public string Op => "conv2d";

    private static int Int(SafeTensors.File f, string key) =>
        int.Parse(f.Meta(key) ?? throw new InvalidDataException($"conv2d fixture without '{key}'."), CultureInfo.InvariantCulture);

    public void Run(SafeTensors.File f, string path)
    {
        var w = f.Float("weight");
        var x = f.Float("x");
        bool bias = f.Meta("bias") == "True";
        int groups = Int(f, "groups");
        if (w.Dim(2) != w.Dim(3)) throw new InvalidDataException($"{path}: non-square kernel.");
        var layer = new Conv2d(x.Dim(1), w.Dim(0), w.Dim(2), Int(f, "stride"), Int(f, "padding"), groups, bias, Int(f, "dilation"));
        w.Span.CopyTo(layer.Weight.Data.Span);
        if (bias) f.Float("bias").Span.CopyTo(layer.Bias!.Data.Span);
        var y = layer.Forward(x);
        Close.Assert(f.Float("y").Span, y.Span, Atol, Rtol, $"{path}: y");
        var dx = layer.Backward(f.Float("dy"));
        Close.Assert(f.Float("dx").Span, dx.Span, Atol, Rtol, $"{path}: dx");
        Close.Assert(f.Float("dweight").Span, layer.Weight.Grad.Span, Atol, Rtol, $"{path}: dweight");
        if (bias) Close.Assert(f.Float("dbias").Span, layer.Bias!.Grad.Span, Atol, Rtol, $"{path}: dbias");
    }
}
