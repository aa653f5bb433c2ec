using SparseSwitch.Tensors;
using SparseSwitch.Tests.Support;
using Xunit;

namespace SparseSwitch.Tests.Tensors;

public class MatmulPrecisionTests
{
    [Fact]
    public void HighestPrecisionEqualsTheDoubleAccumulatingTwinBitForBit()
    {
        var rng = new Rng(5);
        int m = 37, n = 53, k = 301;
        var a = new float[m * k]; var b = new float[k * n];
        rng.FillNormal(a, 0, 1); rng.FillNormal(b, 0, 1);
        var expected = new float[m * n]; var fast = new float[m * n]; var highest = new float[m * n];
        Gemm.SgemmReference(false, false, m, n, k, 1f, a, k, b, n, 0f, expected, n);
        Gemm.Sgemm(false, false, m, n, k, 1f, a, k, b, n, 0f, highest, n, EngineOptions.Default with { MatmulPrecision = MatmulPrecision.Highest });
        Gemm.Sgemm(false, false, m, n, k, 1f, a, k, b, n, 0f, fast, n, EngineOptions.Default with { MatmulPrecision = MatmulPrecision.Fast });
        Assert.Equal(expected, highest);
        Assert.NotEqual(expected, fast); // the fast path really is a different (float32) summation
        Close.Assert(expected, fast, 1e-4, 1e-4, "fast vs double-accumulated");
    }
}
