namespace SparseSwitch.Bench;

/// <summary>Dispatch entry for `train-step`: forwards the shared options to <see cref="TrainStepBench.Run"/>.</summary>
public sealed class TrainStepDispatch : IBench
{
    public string Name => TrainStepBench.Name;
    public string Description => TrainStepBench.Description;

    public int Run(BenchOptions options, Harness harness)
    {
        var args = new List<string>(options.Rest);
        if (options.Quick) args.Add("--quick");
        if (options.JsonPath is not null) { args.Add("--json"); args.Add(options.JsonPath); }
        if (options.Threads is { Length: > 0 } t) { args.Add("--threads"); args.Add(t[0].ToString(System.Globalization.CultureInfo.InvariantCulture)); }
        if (!options.Quick && options.Rounds != 11) { args.Add("--rounds"); args.Add(options.Rounds.ToString(System.Globalization.CultureInfo.InvariantCulture)); }
        return TrainStepBench.Run(args.ToArray());
    }
}
