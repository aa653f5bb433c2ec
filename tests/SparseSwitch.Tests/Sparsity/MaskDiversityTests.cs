using System.Numerics;
using SparseSwitch.Sparsity;
using Xunit;

namespace SparseSwitch.Tests.Sparsity;

public class MaskDiversityTests
{
    [Fact]
    public void RegularMatrixCountsMatchTheCheckValues()
    {
        Assert.Equal(new BigInteger(90), MaskDiversity.RegularBinaryMatrices(4, 2));
        Assert.Equal(BigInteger.Parse("116963796250"), MaskDiversity.RegularBinaryMatrices(8, 4));
        // Small cases against brute-force enumeration.
        for (int m = 1; m <= 5; m++)
            for (int n = 0; n <= m; n++)
                Assert.Equal(new BigInteger(BruteForceTransposable.CountRegular(m, n)), MaskDiversity.RegularBinaryMatrices(m, n));
        Assert.Equal(new BigInteger(24), MaskDiversity.RegularBinaryMatrices(4, 1)); // permutation matrices: 4!
    }

    [Fact]
    public void EightByEightRegionFigures()
    {
        // One 8×8 region = 64 weights at 50 % density.
        var rowWise24 = MaskDiversity.RowWise(64, 2, 4);          // C(4,2)^16 = 6^16
        var trans48 = MaskDiversity.Transposable(64, 4, 8);       // A(8,4)^1
        var trans24 = MaskDiversity.Transposable(64, 2, 4);       // A(4,2)^4 = 90^4
        var unstructured = MaskDiversity.Unstructured(64, 0.5);   // C(64,32)
        Assert.Equal(BigInteger.Pow(6, 16), rowWise24);
        Assert.Equal(BigInteger.Pow(90, 4), trans24);
        Assert.Equal("2.82e12", Sci(rowWise24));
        Assert.Equal("1.17e11", Sci(trans48));
        Assert.Equal("6.56e07", Sci(trans24));
        Assert.Equal(BigInteger.Parse("1832624140942590534"), unstructured);
        Assert.True(unstructured > rowWise24 && rowWise24 > trans48 && trans48 > trans24);
    }

    private static string Sci(BigInteger x)
    {
        double lg = MaskDiversity.Log10(x);
        int e = (int)Math.Floor(lg);
        return $"{Math.Pow(10, lg - e):0.00}e{e:00}";
    }

    [Fact]
    public void InvalidArgumentsAreRejected()
    {
        Assert.Throws<ArgumentException>(() => MaskDiversity.RowWise(63, 2, 4));
        Assert.Throws<ArgumentException>(() => MaskDiversity.Transposable(32, 2, 4 * 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => MaskDiversity.Unstructured(64, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => MaskDiversity.Unstructured(64, 1.5));
        Assert.Throws<ArgumentOutOfRangeException>(() => MaskDiversity.RowWise(64, 4, 4));
    }
}
