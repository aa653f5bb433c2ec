using System.Globalization;

namespace SparseSwitch.Training;

/// <summary>
/// One sub-net of the list: either an unstructured density in (0, 1] or an N:M pattern (N kept out
/// of every M, 1 ≤ N &lt; M). Lists of them are <see cref="SubnetList"/> (parsed from
/// "0.1,0.05,0.02" or "2:4,1:4,1:8").
/// </summary>
public readonly record struct SubnetSpec(double Density, int N, int M)
{
    public bool IsNm => M > 0;

    /// <summary>Density the sub-net ends at (N/M for N:M).</summary>
    public double FinalDensity => IsNm ? (double)N / M : Density;

    public static SubnetSpec Unstructured(double density)
    {
        if (!(density > 0 && density <= 1))
            throw new ArgumentException($"Sub-net density must be in (0, 1], got {density.ToString(CultureInfo.InvariantCulture)}.");
        return new SubnetSpec(density, 0, 0);
    }

    public static SubnetSpec NOfM(int n, int m)
    {
        if (m < 2 || n < 1 || n >= m)
            throw new ArgumentException($"N:M pattern {n}:{m} is invalid: need 1 ≤ N < M (N counts kept weights).");
        return new SubnetSpec((double)n / m, n, m);
    }

    /// <summary>Display form (metrics' spec column, progress lines): N:M, or the density to four decimals.</summary>
    public override string ToString() =>
        IsNm ? $"{N}:{M}" : Density.ToString("0.####", CultureInfo.InvariantCulture);

    /// <summary>The form that parses back to this value exactly (recipes): N:M, or the shortest
    /// round-trip text of the density.</summary>
    public string ToExactString() =>
        IsNm ? $"{N}:{M}" : Density.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>Throws unless this value is one <see cref="Unstructured"/> or <see cref="NOfM"/> could make.</summary>
    public void Check()
    {
        if ((IsNm ? NOfM(N, M) : Unstructured(Density)) != this)
            throw new ArgumentException($"Sub-net (density {Density.ToString(CultureInfo.InvariantCulture)}, {N}:{M}) is neither a density nor an N:M pattern.");
    }
}
