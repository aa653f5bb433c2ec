using System.Globalization;
using SparseSwitch.Nn;
using SparseSwitch.Serialization;
using SparseSwitch.Tensors;
using SparseSwitch.Tests.Support;
using static SparseSwitch.Tests.Parity.ParityTolerance;

namespace SparseSwitch.Tests.Parity;

/// <summary>Shared check for the pooling fixtures: forward y, backward dx.</summary>
internal static class PoolParity
{
    public static int Int(SafeTensors.File f, string key) =>
        int.Parse(f.Meta(key) ?? throw new InvalidDataException($"pool fixture without '{key}'."), CultureInfo.InvariantCulture);

    public static void Check(Module pool, SafeTensors.File f, string path)
    {
        var y = pool.Forward(f.Float("x"));
        Close.Assert(f.Float("y").Span, y.Span, Atol, Rtol, $"{path}: y");
        Tensor dx = pool.Backward(f.Float("dy"));
        Close.Assert(f.Float("dx").Span, dx.Span, Atol, Rtol, $"{path}: dx");
    }
}
