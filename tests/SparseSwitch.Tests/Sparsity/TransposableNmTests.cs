using FsCheck;
using FsCheck.Fluent;
using SparseSwitch.Sparsity;
using SparseSwitch.Tensors;
using SparseSwitch.Tests.Support;
using Xunit;

namespace SparseSwitch.Tests.Sparsity;

public class TransposableNmTests
{
    private static double Kept(ReadOnlySpan<float> w, ReadOnlySpan<byte> keep)
    {
        double s = 0;
        for (int i = 0; i < w.Length; i++) if (keep[i] != 0) s += Math.Abs(w[i]);
        return s;
    }

    [Fact]
    public void ExactEqualsBruteForceOnSmallTiles()
    {
        var gen = from seed in Gen.Choose(0, int.MaxValue)
                  from nm in Gen.Elements((1, 4), (2, 4), (3, 4), (1, 3), (2, 3), (2, 5), (1, 5))
                  from ties in Gen.Elements(false, true)
                  select (seed, nm.Item1, nm.Item2, ties);
        Prop.ForAll(gen.ToArbitrary(), t =>
        {
            var (seed, n, m, ties) = t;
            var tile = SparsityGen.Weights(seed, m * m, ties);
            var keep = new byte[m * m];
            double exact = TransposableNm.SolveTile(tile, n, m, TransposableMethod.Exact, keep);
            var (best, bestMask) = BruteForceTransposable.Optimum(tile, n, m);
            if (!RowsAndColumns(keep, n, m, exactly: true)) return false;
            if (Math.Abs(exact - best) > 1e-5 * Math.Max(1, best)) return false;
            return ties || keep.AsSpan().SequenceEqual(bestMask); // without ties the optimum is unique
        }).Check(SparsityGen.Quick.WithMaxTest(120));
    }

    [Fact]
    public void ExactEqualsBruteForceOnSixBySixTiles()
    {
        foreach (var (n, seed) in new[] { (3, 1), (3, 2), (2, 3) })
        {
            var tile = SparsityGen.Weights(seed, 36);
            var keep = new byte[36];
            double exact = TransposableNm.SolveTile(tile, n, 6, TransposableMethod.Exact, keep);
            var (best, mask) = BruteForceTransposable.Optimum(tile, n, 6);
            Assert.Equal(best, exact, 5);
            Assert.Equal(mask, keep);
        }
    }

    [Fact]
    public void GreedyKeepsAtLeastHalfTheOptimumAndFixUpCompletesTiles()
    {
        var gen = from seed in Gen.Choose(0, int.MaxValue)
                  from m in Gen.Elements(2, 3, 4, 5, 8, 16)
                  from n in Gen.Choose(1, m - 1)
                  from ties in Gen.Elements(false, true)
                  select (seed, n, m, ties);
        Prop.ForAll(gen.ToArbitrary(), t =>
        {
            var (seed, n, m, ties) = t;
            var tile = SparsityGen.Weights(seed, m * m, ties);
            var e = new byte[m * m]; var g = new byte[m * m]; var f = new byte[m * m];
            double opt = TransposableNm.SolveTile(tile, n, m, TransposableMethod.Exact, e);
            double greedy = TransposableNm.SolveTile(tile, n, m, TransposableMethod.Greedy, g);
            double fixedUp = TransposableNm.SolveTile(tile, n, m, TransposableMethod.GreedyFixUp, f);
            return RowsAndColumns(e, n, m, true) && RowsAndColumns(g, n, m, false) && RowsAndColumns(f, n, m, true)
                && greedy >= 0.5 * opt - 1e-9 && fixedUp <= opt + 1e-6 * opt + 1e-9;
            // (Greedy may exceed the exact optimum: it may keep fewer than N, a looser constraint.)
        }).Check(SparsityGen.Quick.WithMaxTest(300));
    }

    [Fact]
    public void MatrixMasksAreTransposableNmIncludingEdgeTiles()
    {
        var gen = from seed in Gen.Choose(0, int.MaxValue)
                  from m in Gen.Elements(4, 8)
                  from n in Gen.Choose(1, m - 1)
                  from rows in Gen.Choose(1, 21)
                  from cols in Gen.Choose(1, 21)
                  from method in Gen.Elements(TransposableMethod.Exact, TransposableMethod.Greedy, TransposableMethod.GreedyFixUp)
                  select (seed, n, m, rows, cols, method);
        Prop.ForAll(gen.ToArbitrary(), t =>
        {
            var (seed, n, m, rows, cols, method) = t;
            var w = SparsityGen.Weights(seed, rows * cols);
            var mask = TransposableNm.ComputeMatrix(w, rows, cols, n, m, method);
            bool full = method != TransposableMethod.Greedy;
            if (!TransposableNm.IsValidMatrix(mask, rows, cols, n, m, exact: full)) return false;
            // The transpose is transposable N:M too (rows and columns of tiles swap roles).
            var tw = new float[rows * cols];
            var tm = new BitMask(rows * cols);
            for (int i = 0; i < rows; i++)
                for (int j = 0; j < cols; j++) { tm[j * rows + i] = mask[i * cols + j]; tw[j * rows + i] = w[i * cols + j]; }
            if (!TransposableNm.IsValidMatrix(tm, cols, rows, n, m, exact: full)) return false;
            // Aligned matrices: the exact mask's rows are N:M in the row-wise sense as well.
            if (full && rows % m == 0 && cols % m == 0 && !NmMask.IsValid(mask, [rows, cols], n, m)) return false;
            if (full && rows % m == 0 && cols % m == 0 && !NmMask.IsValid(tm, [cols, rows], n, m)) return false;
            return true;
        }).Check(SparsityGen.Quick);
    }

    [Fact]
    public void ResultDoesNotDependOnThreadCount()
    {
        var w = SparsityGen.Weights(3, 64 * 72);
        var one = TransposableNm.ComputeMatrix(w, 64, 72, 4, 8, TransposableMethod.Exact, SparseSwitch.Tensors.EngineOptions.Default with { Threads = 1 });
        var two = TransposableNm.ComputeMatrix(w, 64, 72, 4, 8, TransposableMethod.Exact, SparseSwitch.Tensors.EngineOptions.Default with { Threads = 2 });
        Assert.Equal(0, one.HammingDistance(two));
    }

    [Fact]
    public void ConvWeightsUseTheReductionLayout()
    {
        // [out=8, in=8, 3, 3]: the matrix is [8, 9·8]; mask in storage order must be row-wise 4:8 along channels.
        int[] shape = [8, 8, 3, 3];
        var w = SparsityGen.Weights(11, 8 * 8 * 9);
        var mask = TransposableNm.Compute(w, shape, 4, 8, TransposableMethod.Exact);
        Assert.True(NmMask.IsValid(mask, shape, 4, 8));
        // Columns: for each kernel position and channel, the 8 outputs keep 4.
        for (int c = 0; c < 8; c++)
            for (int p = 0; p < 9; p++)
            {
                int k = 0;
                for (int o = 0; o < 8; o++) if (mask[(o * 8 + c) * 9 + p]) k++;
                Assert.Equal(4, k);
            }
    }

    [Fact]
    public void InvalidSettingsAreRejected()
    {
        var w = new float[64];
        Assert.Throws<ArgumentOutOfRangeException>(() => TransposableNm.ComputeMatrix(w, 8, 8, 8, 8, TransposableMethod.Exact));
        Assert.Throws<ArgumentOutOfRangeException>(() => TransposableNm.ComputeMatrix(w, 8, 8, 0, 8, TransposableMethod.Exact));
        Assert.Throws<ArgumentException>(() => TransposableNm.ComputeMatrix(w, 8, 9, 2, 4, TransposableMethod.Greedy));
    }

    private static bool RowsAndColumns(byte[] keep, int n, int m, bool exactly)
    {
        for (int i = 0; i < m; i++)
        {
            int r = 0, c = 0;
            for (int j = 0; j < m; j++) { r += keep[i * m + j]; c += keep[j * m + i]; }
            if (r > n || c > n || (exactly && (r != n || c != n))) return false;
        }
        return true;
    }
}

public class TransposableGreedyTwinTests
{
    [Fact]
    public void VectorRankingMatchesScalarTwin()
    {
        foreach (int m in new[] { 2, 3, 4, 5, 8, 11, 16 })
            for (int seed = 0; seed < 40; seed++)
            {
                var tile = SparsityGen.Weights(seed * 31 + m, m * m, ties: seed % 2 == 0);
                int n = 1 + seed % (m - 1);
                var a = new byte[m * m]; var b = new byte[m * m];
                TransposableGreedy.Solve(tile, n, m, a);
                TransposableGreedy.SolveScalar(tile, n, m, b);
                Assert.Equal(b, a);
            }
    }
}
