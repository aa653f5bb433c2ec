using System.Globalization;
using SparseSwitch.Inference;
using SparseSwitch.Nn.Models;
using SparseSwitch.Serving;
using SparseSwitch.Tensors;

namespace SparseSwitch.Tests.Serving;

/// <summary>What the serving tests share: a small model file made directly (an MLP on 1×8×8 inputs,
/// three sub-nets of random masks, densities about 0.5, 0.2 and 0.1) and a synthetic latency table,
/// so that the controller's choices depend on the table and not on this machine's speed.</summary>
public static class ServingFixture
{
    public const int Channels = 1, Size = 8, Image = Channels * Size * Size, Classes = 10;

    /// <summary>Accuracies written into the model file (fixture values: sub-net 0 most accurate).</summary>
    public static readonly double[] Accuracy = [0.9, 0.8, 0.7];

    private static readonly Lazy<ModelArtifact> Shared = new(Build);
    public static ModelArtifact Artifact => Shared.Value;

    private static ModelArtifact Build()
    {
        var rng = new Rng(21);
        var model = ModelZoo.Create("mlp", Channels, Size, Classes, 1, rng);
        var prunable = model.NamedParameters().Where(p => p.Param.Prunable).ToList();
        double[] keep = [0.5, 0.2, 0.1];
        var masks = new List<IReadOnlyDictionary<string, BitMask>>();
        var infos = new List<SubnetInfo>();
        for (int k = 0; k < keep.Length; k++)
        {
            var dict = new Dictionary<string, BitMask>();
            long kept = 0, all = 0;
            foreach (var (path, p) in prunable)
            {
                var m = new BitMask(p.Length);
                for (int i = 0; i < m.Length; i++) m[i] = rng.NextFloat() < keep[k];
                dict[path] = m;
                kept += m.Count();
                all += m.Length;
            }
            masks.Add(dict);
            infos.Add(new SubnetInfo(keep[k].ToString(CultureInfo.InvariantCulture), SubnetKind.Density, (double)kept / all, Accuracy[k], 1.0 + k));
        }
        var info = new ModelInfo
        {
            Architecture = "mlp", InChannels = Channels, ImageSize = Size, NumClasses = Classes,
            ClassNames = Enumerable.Range(0, Classes).Select(c => $"class-{c}").ToList(),
            Mean = [0.5f], Std = [0.25f], MaskedParameters = prunable.Select(p => p.Path).ToList(), Subnets = infos, Data = "synthetic",
            Created = new DateTimeOffset(2025, 1, 1, 0, 0, 0, TimeSpan.Zero),
        };
        return new ModelArtifact(info, model.StateDict(), masks);
    }

    /// <summary>Synthetic latencies (ms): sub-net k takes 40/20/10 ms for one image and 120/60/30 for eight.</summary>
    public static readonly LatencyEntry[] Table =
    [
        new(0, 1, 1, 40, "synthetic"), new(0, 8, 1, 120, "synthetic"),
        new(1, 1, 1, 20, "synthetic"), new(1, 8, 1, 60, "synthetic"),
        new(2, 1, 1, 10, "synthetic"), new(2, 8, 1, 30, "synthetic"),
    ];

    /// <summary>Settings for a test server: loopback, any port, no signal handling, the synthetic
    /// table, predictions from the table alone (no observed slowdown), a generous objective, and no
    /// moves for utilisation (with the table's 40 ms an image, a test's burst of requests would
    /// otherwise move a shared server off its most accurate sub-net, and the tests that follow
    /// would see another).</summary>
    public static ServerOptions Options(double objectiveMs = 60_000) => new()
    {
        ObjectiveMs = objectiveMs,
        Port = 0,
        HandleSignals = false,
        Latency = Table,
        Inference = new InferenceOptions { Engine = EngineOptions.Default with { Threads = 1 }, Formats = FormatChoice.Density },
        Controller = new ControllerSettings { SlowdownWeight = 0, DownUtilization = 1e12, UpUtilization = 1e12 },
        ShutdownTimeout = TimeSpan.FromSeconds(20),
    };

    /// <summary>The compiled model's logits for <paramref name="x"/> on sub-net <paramref name="k"/>, one image at a time.</summary>
    public static float[] Expected(int k, float[] x)
    {
        var model = Compiled.Value;
        int n = x.Length / Image;
        var y = new float[n * Classes];
        for (int i = 0; i < n; i++) model.Run(k, x.AsSpan(i * Image, Image), y.AsSpan(i * Classes, Classes), 1);
        return y;
    }

    private static readonly Lazy<InferenceModel> Compiled = new(() => InferenceModel.Compile(Artifact, Options().Inference));

    public static float[] Images(int n, ulong seed)
    {
        var x = new float[n * Image];
        new Rng(seed).FillNormal(x, 0, 1);
        return x;
    }
}

/// <summary>A runner that runs the real model but can be held: while <see cref="Gate"/> is closed,
/// a run waits inside <see cref="Run"/> (tests fill the queue behind it).</summary>
public sealed class GatedRunner(IBatchRunner inner) : IBatchRunner
{
    public ManualResetEventSlim Gate { get; } = new(true);
    private int _entered;
    public int Entered => Volatile.Read(ref _entered);
    public int InputLength => inner.InputLength;
    public int OutputLength => inner.OutputLength;

    public void Run(int subnet, ReadOnlySpan<float> input, Span<float> output, int images)
    {
        Interlocked.Increment(ref _entered);
        if (!Gate.Wait(TimeSpan.FromSeconds(30))) throw new TimeoutException("the test never opened the gate.");
        inner.Run(subnet, input, output, images);
    }
}
