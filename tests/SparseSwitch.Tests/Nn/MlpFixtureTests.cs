using SparseSwitch.Nn;
using SparseSwitch.Serialization;
using SparseSwitch.Tests.Parity;
using SparseSwitch.Tests.Support;
using Xunit;

namespace SparseSwitch.Tests.Nn;

/// <summary>The layers composed with <see cref="Sequential"/> reproduce the committed PyTorch MLP
/// fixture (Flatten, Linear, ReLU, Linear, ReLU, Linear; names 1., 3., 5.): logits, loss and every
/// parameter gradient, at the README's whole-network tolerance, with the fast kernels and at
/// highest matmul precision.</summary>
public class MlpFixtureTests
{
    [Fact]
    public void SequentialMlpMatchesPyTorch()
    {
        var f = SafeTensors.Load(Paths.Fixture("mlp_784_300_100_10.safetensors"));
        Assert.True(ModelParity.HasReluMargin(f));
        var state = ModelParity.Prefixed(f, "state.");
        ModelParity.Check(f, "mlp", () =>
        {
            var net = new Sequential(new Flatten(), new Linear(784, 300), new ReLU(), new Linear(300, 100), new ReLU(), new Linear(100, 10));
            net.LoadStateDict(state);
            return net;
        });
    }
}
