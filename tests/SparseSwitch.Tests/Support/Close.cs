using Xunit.Sdk;

namespace SparseSwitch.Tests.Support;

/// <summary>Element-wise comparison |a − e| ≤ atol + rtol·|e|; a failure reports the largest absolute
/// and relative errors and the first failing index.</summary>
public static class Close
{
    public static void Assert(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, double atol, double rtol, string what = "")
    {
        if (expected.Length != actual.Length)
            throw new XunitException($"{what}: length {actual.Length}, expected {expected.Length}.");
        double maxAbs = 0, maxRel = 0;
        int firstBad = -1;
        for (int i = 0; i < expected.Length; i++)
        {
            double e = expected[i], a = actual[i];
            double err = Math.Abs(a - e);
            if (double.IsNaN(a) != double.IsNaN(e)) err = double.PositiveInfinity;
            if (err > maxAbs) maxAbs = err;
            double rel = err / Math.Max(Math.Abs(e), 1e-30);
            if (err > 0 && rel > maxRel) maxRel = rel;
            if (firstBad < 0 && !(err <= atol + rtol * Math.Abs(e))) firstBad = i;
        }
        if (firstBad >= 0)
            throw new XunitException(
                $"{what}: mismatch at index {firstBad}: got {actual[firstBad]}, expected {expected[firstBad]} " +
                $"(atol {atol}, rtol {rtol}); max abs err {maxAbs:g4}, max rel err {maxRel:g4} over {expected.Length} elements.");
    }
}
