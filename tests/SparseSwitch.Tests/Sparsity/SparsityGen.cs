using FsCheck;
using FsCheck.Fluent;
using SparseSwitch.Tensors;

namespace SparseSwitch.Tests.Sparsity;

/// <summary>Shared generators and random data for the sparsity property tests.</summary>
internal static class SparsityGen
{
    public static readonly Config Quick = Config.QuickThrowOnFailure.WithMaxTest(150);

    /// <summary>Random weights: normal, with some exact zeros and duplicated magnitudes so ties occur.</summary>
    public static float[] Weights(int seed, int length, bool ties = false)
    {
        var rng = new Rng((ulong)seed);
        var w = new float[length];
        rng.FillNormal(w, 0, 1);
        if (ties)
            for (int i = 0; i < length; i++)
            {
                int r = rng.NextInt(8);
                if (r == 0) w[i] = 0;
                else if (r == 1) w[i] = MathF.Round(w[i] * 2) / 2;
            }
        return w;
    }

    public static Arbitrary<(int Seed, int N, int M)> NmPairs(params int[] ms) =>
        (from seed in Gen.Choose(0, int.MaxValue)
         from m in Gen.Elements(ms)
         from n in Gen.Choose(1, m - 1)
         select (seed, n, m)).ToArbitrary();
}
