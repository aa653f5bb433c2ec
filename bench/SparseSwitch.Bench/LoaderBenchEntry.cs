using System.Diagnostics;
using System.Globalization;
using SparseSwitch.Tensors;

namespace SparseSwitch.Bench;

/// <summary>
/// loader: the data pipeline against the training step it must feed. First measures our own
/// ResNet-20 training step (batch 128, forward + backward + SGD, all threads) in this process, then
/// runs <see cref="LoaderBench"/> with that step rate as the baseline, so the printed ratio is
/// loader batches/s ÷ ResNet-20 training steps/s (goal ≥ 5). --step-rate N skips the measurement.
/// </summary>
public sealed class LoaderBenchEntry : IBench
{
    public string Name => "loader";
    public string Description => "CIFAR-10 loader batches/s (crop+flip+normalise) vs our ResNet-20 training steps/s measured in the same run";

    public int Run(BenchOptions options, Harness harness)
    {
        var args = new List<string>(options.Rest);
        if (!args.Contains("--step-rate"))
        {
            var step = new TrainStepBench.OurStep("resnet20", 3, 32, 128, EngineOptions.Default);
            step.Run(); step.Run(); // warm-up: buffers, JIT
            int steps = options.Quick ? 3 : 8;
            var sw = Stopwatch.StartNew();
            for (int i = 0; i < steps; i++) step.Run();
            double rate = steps / sw.Elapsed.TotalSeconds;
            Console.WriteLine($"ResNet-20 training step (batch 128, {EngineOptions.Default.Threads} threads): {rate:F2} steps/s ({rate * 128:F0} img/s), measured over {steps} steps");
            args.Add("--step-rate");
            args.Add(rate.ToString("R", CultureInfo.InvariantCulture));
        }
        if (options.JsonPath is { } j) { args.Add("--json"); args.Add(j); }
        if (options.Quick) { args.Add("--rounds"); args.Add("2"); }
        return LoaderBench.Run(args.ToArray());
    }
}
