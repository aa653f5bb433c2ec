using System.Globalization;
using SparseSwitch.Nn;
using SparseSwitch.Serialization;
using SparseSwitch.Tests.Support;
using static SparseSwitch.Tests.Parity.ParityTolerance;

namespace SparseSwitch.Tests.Parity;

/// <summary>Train-mode forward/backward and running-stat update, then an eval-mode forward with
/// the updated statistics.</summary>
public sealed class BatchNorm2dParity : IParityOp
{
    public string Op => "batchnorm2d";

    public void Run(SafeTensors.File f, string path)
    {
        float eps = float.Parse(f.Meta("eps")!, CultureInfo.InvariantCulture);
        float momentum = float.Parse(f.Meta("momentum")!, CultureInfo.InvariantCulture);
        var x = f.Float("x");
        var bn = new BatchNorm2d(x.Dim(1), eps, momentum);
        f.Float("weight").Span.CopyTo(bn.Weight.Data.Span);
        f.Float("bias").Span.CopyTo(bn.Bias.Data.Span);
        f.Float("running_mean_before").Span.CopyTo(bn.RunningMean.Span);
        f.Float("running_var_before").Span.CopyTo(bn.RunningVar.Span);
        bn.Train();
        var y = bn.Forward(x);
        Close.Assert(f.Float("y").Span, y.Span, Atol, Rtol, $"{path}: y");
        Close.Assert(f.Float("running_mean_after").Span, bn.RunningMean.Span, Atol, Rtol, $"{path}: running_mean");
        Close.Assert(f.Float("running_var_after").Span, bn.RunningVar.Span, Atol, Rtol, $"{path}: running_var");
        var dx = bn.Backward(f.Float("dy"));
        Close.Assert(f.Float("dx").Span, dx.Span, Atol, Rtol, $"{path}: dx");
        Close.Assert(f.Float("dweight").Span, bn.Weight.Grad.Span, Atol, Rtol, $"{path}: dweight");
        Close.Assert(f.Float("dbias").Span, bn.Bias.Grad.Span, Atol, Rtol, $"{path}: dbias");
        bn.Eval();
        var yEval = bn.Forward(f.Float("x_eval"));
        Close.Assert(f.Float("y_eval").Span, yEval.Span, Atol, Rtol, $"{path}: y_eval");
    }
}
