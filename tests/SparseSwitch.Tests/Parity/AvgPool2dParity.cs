using SparseSwitch.Nn;
using SparseSwitch.Serialization;

namespace SparseSwitch.Tests.Parity;

public sealed class AvgPool2dParity : IParityOp
{
    public string Op => "avgpool2d";

    public void Run(SafeTensors.File f, string path) =>
        PoolParity.Check(new AvgPool2d(PoolParity.Int(f, "kernel"), PoolParity.Int(f, "stride"), PoolParity.Int(f, "padding")), f, path);
}
