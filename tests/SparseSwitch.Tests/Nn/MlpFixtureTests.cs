using SparseSwitch.Nn;
using SparseSwitch.Serialization;
using SparseSwitch.Tests.Support;
using Xunit;

namespace SparseSwitch.Tests.Nn;

/// <summary>The layers composed with <see cref="Sequential"/> reproduce the PyTorch MLP fixture
/// (Flatten, Linear, ReLU, Linear, ReLU, Linear; names 1., 3., 5.): logits, loss and every
/// parameter gradient, at the README's whole-network tolerance.</summary>
public class MlpFixtureTests
{
    [Fact]
    public void SequentialMlpMatchesPyTorch()
    {
        var f = SafeTensors.Load(Paths.Fixture("mlp_784_300_100_10.safetensors"));
        var net = new Sequential(new Flatten(), new Linear(784, 300), new ReLU(), new Linear(300, 100), new ReLU(), new Linear(100, 10));
        var state = f.Names.Where(n => n.StartsWith("state.", StringComparison.Ordinal))
            .ToDictionary(n => n["state.".Length..], n => f.Float(n));
        net.LoadStateDict(state);
        var targets = f["target"].ToInt64().Select(t => checked((int)t)).ToArray();
        var ce = new CrossEntropyLoss();
        var logits = net.Forward(f.Float("input"));
        Close.Assert(f.Float("logits").Span, logits.Span, 1e-5, 1e-4, "logits");
        float loss = ce.Forward(logits, targets);
        Close.Assert(f.Float("loss").Span, [loss], 1e-5, 1e-4, "loss");
        net.ZeroGrad();
        net.Backward(ce.Backward());
        foreach (var (path, p) in net.NamedParameters())
            Close.Assert(f.Float("grad." + path).Span, p.Grad.Span, 1e-5, 1e-3, $"grad.{path}");
    }
}
