using System.Globalization;

namespace SparseSwitch.Training;

/// <summary>
/// One sub-net of the list: either an unstructured density in (0, 1] or an N:M pattern (N kept out
/// of every M, 1 ≤ N &lt; M). Parsed from "0.1,0.05,0.02" or "2:4,1:4,1:8"; a list mixes no kinds.
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

    public override string ToString() =>
        IsNm ? $"{N}:{M}" : Density.ToString("0.####", CultureInfo.InvariantCulture);

    /// <summary>Parses a comma-separated list; errors name the offending item.</summary>
    public static IReadOnlyList<SubnetSpec> ParseList(string text)
    {
        if (string.IsNullOrWhiteSpace(text)) throw new ArgumentException("--subnets: the sub-net list is empty; give densities like 0.1,0.05,0.02 or N:M patterns like 2:4,1:4,1:8.");
        var items = text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        var list = new List<SubnetSpec>();
        foreach (var item in items)
        {
            SubnetSpec s;
            if (item.Contains(':'))
            {
                var parts = item.Split(':');
                if (parts.Length != 2 || !int.TryParse(parts[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out int n)
                    || !int.TryParse(parts[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out int m))
                    throw new ArgumentException($"--subnets: '{item}' is not an N:M pattern like 2:4.");
                s = NOfM(n, m);
            }
            else
            {
                if (!double.TryParse(item, NumberStyles.Float, CultureInfo.InvariantCulture, out double d))
                    throw new ArgumentException($"--subnets: '{item}' is neither a density like 0.05 nor an N:M pattern like 2:4.");
                s = Unstructured(d);
            }
            list.Add(s);
        }
        if (list.Select(s => s.IsNm).Distinct().Count() > 1)
            throw new ArgumentException("--subnets: mix of densities and N:M patterns; use one kind.");
        if (list.Distinct().Count() != list.Count)
            throw new ArgumentException($"--subnets: '{text}' lists a sub-net twice.");
        return list;
    }
}
