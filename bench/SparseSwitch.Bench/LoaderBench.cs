using System.Diagnostics;
using System.Text.Json;
using SparseSwitch.Data;
using SparseSwitch.Tensors;

namespace SparseSwitch.Bench;

/// <summary>
/// Data-loader throughput: batches/s of the CIFAR-10 training loader (batch 128, random crop with
/// padding 4, horizontal flip, normalisation), compared with the rate a ResNet-20 training step
/// needs (PyTorch on this machine: ~1020 img/s ≈ 8 batches/s of 128; pass --step-rate to use a
/// measured rate of our own). Cases, interleaved over several rounds, medians reported:
///   background — the loader with its background thread, consumer doing nothing;
///   inline     — batches prepared on the caller's thread (prefetch 0), the producer's raw speed;
///   training   — the consumer busy on both cores for 1/step-rate s per batch (a stand-in for the
///                training step): reports the consumer's wait for data per batch (ideally ~0).
/// Usage: Run(["--json", PATH, "--step-rate", "8", "--rounds", "5"]); the bench dispatch in
/// Program.cs routes the name "loader" here. JSON lines (bench "loader") carry the two throughput
/// cases with the step rate as baseline; the both-core case is printed only (its figure is a wait time). Uses ../shared/datasets/cifar10
/// when present, else the built-in synthetic set (same image shape).
/// </summary>
public static class LoaderBench
{
    public static int Run(string[] args)
    {
        string? json = Arg(args, "--json");
        double stepRate = double.Parse(Arg(args, "--step-rate") ?? "8", System.Globalization.CultureInfo.InvariantCulture);
        int rounds = int.Parse(Arg(args, "--rounds") ?? "5");
        int batches = int.Parse(Arg(args, "--batches") ?? "150");

        ImageDataset train;
        string source;
        try
        {
            (train, _) = Datasets.Load("cifar10");
            source = train.Source;
        }
        catch (IOException)
        {
            (train, _) = Synthetic.Generate(20_000, 0, 1);
            source = "synthetic (cifar10 not found)";
        }
        Console.WriteLine($"loader bench: {train.Count} images from {source}; batch 128, {Augmentation.Standard}, CIFAR-10 normalisation; threads {EngineOptions.Default.Threads}");

        var results = new Dictionary<string, List<double>> { ["background"] = [], ["inline"] = [], ["training-wait-ms"] = [], ["training"] = [] };
        using var background = new DataLoader(train, 128, true, Augmentation.Standard, Normalization.Cifar10, 1, dropLast: true, prefetch: 3);
        using var inline = new DataLoader(train, 128, true, Augmentation.Standard, Normalization.Cifar10, 1, dropLast: true, prefetch: 0);
        var work = new BusyBody();
        for (int r = 0; r < rounds + 1; r++)
        {
            double bg = Throughput(background, r, batches, null, out _);
            double il = Throughput(inline, r, batches, null, out _);
            double tr = Throughput(background, r, Math.Min(batches, (int)(stepRate * 3) + 1), () => work.Run(1.0 / stepRate), out double waitMs);
            if (r == 0) continue; // warm-up round
            results["background"].Add(bg);
            results["inline"].Add(il);
            results["training"].Add(tr);
            results["training-wait-ms"].Add(waitMs);
        }

        double bgMed = Median(results["background"]), ilMed = Median(results["inline"]);
        double waitMed = Median(results["training-wait-ms"]), trMed = Median(results["training"]);
        Console.WriteLine($"{"case",-34} {"median",12} {"vs step rate",14}");
        Console.WriteLine($"{"background loader (batches/s)",-34} {bgMed,12:F1} {bgMed / stepRate,13:F1}×");
        Console.WriteLine($"{"inline, one thread (batches/s)",-34} {ilMed,12:F1} {ilMed / stepRate,13:F1}×");
        Console.WriteLine($"{"with a both-core step (batches/s)",-34} {trMed,12:F2} {trMed / stepRate,13:F2}×");
        Console.WriteLine($"{"  consumer wait per batch (ms)",-34} {waitMed,12:F3}");
        Console.WriteLine($"(step rate {stepRate} batches/s; ≥ 5× needed; rounds {rounds}, {batches} batches each)");

        if (json is not null)
        {
            using var w = new StreamWriter(json, append: true);
            void Line(string c, double ours, double baseline, string unit) => w.WriteLine(JsonSerializer.Serialize(new
            { bench = "loader", @case = c, ours, baseline, unit, ratio = ours / baseline }));
            Line("cifar10-b128-crop-flip-norm background", bgMed, stepRate, "batches/s");
            Line("cifar10-b128-crop-flip-norm inline", ilMed, stepRate, "batches/s");
        }
        return 0;
    }

    /// <summary>Batches per second over <paramref name="count"/> batches of an epoch; with a step
    /// action, also the mean time the consumer waited for each batch.</summary>
    private static double Throughput(DataLoader loader, int epoch, int count, Action? step, out double waitMs)
    {
        var sw = Stopwatch.StartNew();
        double waited = 0;
        int n = 0;
        using var e = loader.Epoch(epoch).GetEnumerator();
        while (n < count)
        {
            long t0 = Stopwatch.GetTimestamp();
            if (!e.MoveNext()) break;
            if (n > 0) waited += Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            n++;
            step?.Invoke();
        }
        waitMs = n > 1 ? waited / (n - 1) : 0;
        return n / sw.Elapsed.TotalSeconds;
    }

    private static double Median(List<double> xs)
    {
        var s = xs.Order().ToArray();
        return s.Length == 0 ? double.NaN : s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
    }

    private static string? Arg(string[] args, string name)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }

    /// <summary>Keeps every kernel thread busy for a given time (stand-in for a training step).</summary>
    private sealed class BusyBody : IParallelBody
    {
        private long _until;
        private double _sink;

        public void Run(double seconds)
        {
            _until = Stopwatch.GetTimestamp() + (long)(seconds * Stopwatch.Frequency);
            WorkerPool.For(EngineOptions.Default.Threads, this, EngineOptions.Default);
        }

        public void Execute(int index)
        {
            double x = index;
            while (Stopwatch.GetTimestamp() < _until)
                for (int i = 0; i < 1000; i++) x = x * 1.0000001 + 1e-9;
            _sink += x;
        }
    }
}
