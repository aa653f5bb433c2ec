using SparseSwitch.Serialization;
using SparseSwitch.Sparsity;
using SparseSwitch.Tests.Support;
using Xunit.Sdk;

namespace SparseSwitch.Tests.Parity;

/// <summary>transposable_nm fixtures: the exact solver reaches the enumerated optimum (kept L1) and
/// returns the optimal mask.</summary>
public sealed class TransposableNmParity : IParityOp
{
    public string Op => "transposable_nm";

    public void Run(SafeTensors.File f, string path)
    {
        int n = int.Parse(f.Meta("n")!), m = int.Parse(f.Meta("m")!);
        var tiles = f.Float("tiles");
        var optMask = f.Float("optimal_mask");
        var optL1 = f.Float("optimal_kept_l1");
        int count = tiles.Dim(0), mm = m * m;
        var keep = new byte[mm];
        var l1 = new float[count];
        for (int t = 0; t < count; t++)
        {
            var tile = tiles.Span.Slice(t * mm, mm);
            l1[t] = (float)TransposableNm.SolveTile(tile, n, m, TransposableMethod.Exact, keep);
            for (int i = 0; i < mm; i++)
                if (keep[i] != optMask.Span[t * mm + i])
                    throw new XunitException($"{Path.GetFileName(path)}: tile {t} mask differs at entry {i} (got {keep[i]}, expected {optMask.Span[t * mm + i]}).");
        }
        Close.Assert(optL1.Span, l1, 1e-5, 1e-5, $"{Path.GetFileName(path)} kept L1");
    }
}
