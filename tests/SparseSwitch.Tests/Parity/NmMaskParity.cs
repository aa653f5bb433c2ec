using SparseSwitch.Serialization;
using SparseSwitch.Sparsity;
using Xunit.Sdk;

namespace SparseSwitch.Tests.Parity;

/// <summary>nm_mask fixtures: our N:M mask must equal PyTorch's exactly.</summary>
public sealed class NmMaskParity : IParityOp
{
    public string Op => "nm_mask";

    public void Run(SafeTensors.File f, string path)
    {
        int n = int.Parse(f.Meta("n")!), m = int.Parse(f.Meta("m")!);
        var w = f.Float("weight");
        var expected = f.Float("mask");
        var got = new float[w.Length];
        NmMask.ComputeFloats(w.Span, w.Shape, n, m, got);
        for (int i = 0; i < got.Length; i++)
            if (got[i] != expected.Span[i])
                throw new XunitException($"{Path.GetFileName(path)}: mask differs at index {i} (got {got[i]}, expected {expected.Span[i]}).");
    }
}
