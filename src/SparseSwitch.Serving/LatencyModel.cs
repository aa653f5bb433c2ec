using SparseSwitch.Inference;

namespace SparseSwitch.Serving;

/// <summary>
/// Every sub-net's service time as a function of the images run together, from a profiled latency
/// table (<see cref="SubnetSelector.Profile"/>): exact at the profiled batch sizes, linear between
/// them, and beyond the largest size L as whole runs of L plus the remainder (the compiled plans run
/// large batches in groups). The table must hold batch 1 for every sub-net.
/// </summary>
public sealed class LatencyModel
{
    private readonly int[] _sizes;       // ascending, _sizes[0] == 1
    private readonly double[][] _ms;     // [sub-net][size index]

    public int SubnetCount => _ms.Length;
    public IReadOnlyList<int> BatchSizes => _sizes;
    public IReadOnlyList<LatencyEntry> Table { get; }

    public LatencyModel(IReadOnlyList<LatencyEntry> table, int subnets)
    {
        ArgumentNullException.ThrowIfNull(table);
        if (subnets < 1) throw new ArgumentOutOfRangeException(nameof(subnets), subnets, "at least one sub-net is needed.");
        _sizes = table.Select(e => e.BatchSize).Distinct().Order().ToArray();
        if (_sizes.Length == 0 || _sizes[0] != 1)
            throw new ArgumentException("The latency table must hold batch size 1.", nameof(table));
        _ms = new double[subnets][];
        for (int k = 0; k < subnets; k++)
        {
            _ms[k] = new double[_sizes.Length];
            for (int i = 0; i < _sizes.Length; i++)
            {
                var rows = table.Where(e => e.Subnet == k && e.BatchSize == _sizes[i]).ToList();
                if (rows.Count != 1)
                    throw new ArgumentException($"The latency table has {rows.Count} entries for sub-net {k} at batch {_sizes[i]}; one is needed.", nameof(table));
                if (!(rows[0].MedianMs > 0) || double.IsInfinity(rows[0].MedianMs))
                    throw new ArgumentException($"The latency of sub-net {k} at batch {_sizes[i]} is {rows[0].MedianMs} ms; it must be positive.", nameof(table));
                _ms[k][i] = rows[0].MedianMs;
            }
        }
        if (table.Any(e => e.Subnet < 0 || e.Subnet >= subnets))
            throw new ArgumentException($"The latency table names a sub-net outside 0 … {subnets - 1}.", nameof(table));
        Table = table.ToList();
    }

    /// <summary>Profiled milliseconds of one run of sub-net <paramref name="subnet"/> on <paramref name="images"/> images (≥ 1).</summary>
    public double Ms(int subnet, int images)
    {
        if (images < 1) return 0;
        var t = _ms[subnet];
        int largest = _sizes[^1];
        if (images > largest) return images / largest * t[^1] + Ms(subnet, images % largest);
        int i = Array.BinarySearch(_sizes, images);
        if (i >= 0) return t[i];
        int hi = ~i, lo = hi - 1;
        double f = (double)(images - _sizes[lo]) / (_sizes[hi] - _sizes[lo]);
        return t[lo] + f * (t[hi] - t[lo]);
    }

    /// <summary>Profiled milliseconds to run <paramref name="images"/> queued images in batches of at most <paramref name="maxBatch"/>.</summary>
    public double Drain(int subnet, int images, int maxBatch)
    {
        if (images < 1) return 0;
        int full = images / maxBatch, rest = images % maxBatch;
        return full * Ms(subnet, maxBatch) + Ms(subnet, rest);
    }
}
