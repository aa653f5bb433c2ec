using SparseSwitch.Nn;
using SparseSwitch.Serialization;

namespace SparseSwitch.Tests.Parity;

public sealed class AdaptiveAvgPool2dParity : IParityOp
{
    public string Op => "adaptive_avgpool2d";

    public void Run(SafeTensors.File f, string path) => PoolParity.Check(new GlobalAvgPool2d(), f, path);
}
