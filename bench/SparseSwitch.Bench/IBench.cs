namespace SparseSwitch.Bench;

/// <summary>One benchmark, run as `SparseSwitch.Bench &lt;Name&gt; [options]`. Implement it on a
/// public class with a parameterless constructor anywhere in this project; Program finds it by
/// reflection, so adding a bench is a one-file change.</summary>
public interface IBench
{
    string Name { get; }
    string Description { get; }
    /// <summary>Measures and reports through <paramref name="harness"/>; returns the exit code.</summary>
    int Run(BenchOptions options, Harness harness);
}
