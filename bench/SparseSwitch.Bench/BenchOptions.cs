using System.Globalization;

namespace SparseSwitch.Bench;

/// <summary>Options every bench understands: --json PATH, --threads N[,N...], --quick,
/// --rounds N, --sample SECONDS (least time per sample), --fastest (report each variant's fastest
/// sample rather than the median: on a crowded machine the fastest short sample is the one least
/// disturbed), --thread-cpu (time by the calling thread's CPU time, which leaves out time spent
/// waiting for a core; meaningful for single-threaded variants only). Anything else is left in <see cref="Rest"/> for the bench itself.</summary>
public sealed class BenchOptions
{
    public string? JsonPath { get; private set; }
    /// <summary>Thread counts asked for (null: the bench's default).</summary>
    public int[]? Threads { get; private set; }
    public bool Quick { get; private set; }
    public int Rounds { get; private set; } = 11;
    public double? SampleSeconds { get; private set; }
    public bool Fastest { get; private set; }
    public bool ThreadCpu { get; private set; }
    public List<string> Rest { get; } = [];

    public static BenchOptions Parse(IReadOnlyList<string> args)
    {
        var o = new BenchOptions();
        for (int i = 0; i < args.Count; i++)
        {
            string a = args[i];
            string Value() => i + 1 < args.Count ? args[++i] : throw new ArgumentException($"{a} needs a value.");
            switch (a)
            {
                case "--json": o.JsonPath = Value(); break;
                case "--quick": o.Quick = true; break;
                case "--fastest": o.Fastest = true; break;
                case "--thread-cpu": o.ThreadCpu = true; break;
                case "--sample":
                    o.SampleSeconds = double.TryParse(Value(), NumberStyles.Float, CultureInfo.InvariantCulture, out double sec) && sec > 0
                        ? sec : throw new ArgumentException("--sample expects a positive number of seconds.");
                    break;
                case "--rounds":
                    o.Rounds = int.TryParse(Value(), NumberStyles.Integer, CultureInfo.InvariantCulture, out int r) && r >= 1
                        ? r : throw new ArgumentException("--rounds expects a positive integer.");
                    break;
                case "--threads":
                    var parts = Value().Split(',', StringSplitOptions.RemoveEmptyEntries);
                    o.Threads = parts.Select(p => int.TryParse(p, NumberStyles.Integer, CultureInfo.InvariantCulture, out int t) && t >= 1
                        ? t : throw new ArgumentException($"--threads expects positive integers separated by commas, got '{p}'.")).ToArray();
                    break;
                default: o.Rest.Add(a); break;
            }
        }
        return o;
    }

    /// <summary>The thread counts to run: those asked for, else <paramref name="defaults"/>.</summary>
    public int[] ThreadCountsOr(params int[] defaults) => Threads ?? defaults;
}
