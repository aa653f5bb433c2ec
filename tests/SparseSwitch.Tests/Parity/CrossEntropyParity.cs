using System.Globalization;
using SparseSwitch.Nn;
using SparseSwitch.Serialization;
using SparseSwitch.Tests.Support;
using static SparseSwitch.Tests.Parity.ParityTolerance;

namespace SparseSwitch.Tests.Parity;

public sealed class CrossEntropyParity : IParityOp
{
    public string Op => "cross_entropy";

    public void Run(SafeTensors.File f, string path)
    {
        float eps = float.Parse(f.Meta("label_smoothing")!, CultureInfo.InvariantCulture);
        var logits = f.Float("logits");
        var targets = f["target"].ToInt64().Select(t => checked((int)t)).ToArray();
        var ce = new CrossEntropyLoss(eps);
        float loss = ce.Forward(logits, targets);
        Close.Assert(f.Float("loss").Span, [loss], Atol, Rtol, $"{path}: loss");
        Close.Assert(f.Float("dlogits").Span, ce.Backward().Span, Atol, Rtol, $"{path}: dlogits");
    }
}
