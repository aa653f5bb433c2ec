using SparseSwitch.Inference;

namespace SparseSwitch.Serving;

/// <summary>Settings of an <see cref="InferenceServer"/>.</summary>
public sealed record ServerOptions
{
    /// <summary>The latency objective (the p99 to hold), milliseconds from arrival to answer.</summary>
    public required double ObjectiveMs { get; init; }
    /// <summary>Address to listen on (an IP address, or "localhost"); loopback by default.</summary>
    public string Host { get; init; } = "127.0.0.1";
    /// <summary>TCP port (0: any free port; <see cref="InferenceServer.Address"/> tells which).</summary>
    public int Port { get; init; } = 8080;
    /// <summary>Serve every unpinned request with this sub-net (no switching).</summary>
    public int? Pin { get; init; }
    /// <summary>Most images run together.</summary>
    public int MaxBatch { get; init; } = 8;
    /// <summary>Most requests waiting; beyond it requests are refused with 503.</summary>
    public int QueueBound { get; init; } = 256;
    /// <summary>Workers running batches concurrently (each call of the model uses the engine's threads).</summary>
    public int Workers { get; init; } = 1;
    /// <summary>Largest request body, bytes (larger: 413).</summary>
    public long MaxBodyBytes { get; init; } = 8 << 20;
    /// <summary>Most images one request may carry.</summary>
    public int MaxImagesPerRequest { get; init; } = 64;
    /// <summary>How the model is compiled (engine threads, weight formats).</summary>
    public InferenceOptions Inference { get; init; } = new();
    /// <summary>Batch sizes profiled at warm-up (null: 1, 2, 4, … up to <see cref="MaxBatch"/>, and <see cref="MaxBatch"/>).</summary>
    public IReadOnlyList<int>? ProfileBatchSizes { get; init; }
    /// <summary>Interleaved rounds of the warm-up profile.</summary>
    public int ProfileRounds { get; init; } = 7;
    /// <summary>A latency table to use instead of profiling at warm-up (it must hold batch 1 for every sub-net).</summary>
    public IReadOnlyList<LatencyEntry>? Latency { get; init; }
    public ControllerSettings Controller { get; init; } = new();
    /// <summary>Stop on SIGINT/SIGTERM (the host's console lifetime); off for servers embedded in another program.</summary>
    public bool HandleSignals { get; init; } = true;
    /// <summary>How long a graceful stop may take before connections are cut.</summary>
    public TimeSpan ShutdownTimeout { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>Where progress lines go (warm-up, stop); null: nowhere.</summary>
    public Action<string>? Log { get; init; }
    /// <summary>Wraps the compiled model's runner (tests hold or slow it down).</summary>
    internal Func<IBatchRunner, IBatchRunner>? WrapRunner { get; init; }

    /// <summary>The batch sizes the warm-up profiles.</summary>
    public IReadOnlyList<int> ProfileSizes()
    {
        if (ProfileBatchSizes is { } given) return given.Append(1).Distinct().Order().ToArray();
        var sizes = new List<int>();
        for (int b = 1; b < MaxBatch; b *= 2) sizes.Add(b);
        sizes.Add(MaxBatch);
        return sizes;
    }

    /// <summary>Checks the settings against the model; errors name the setting.</summary>
    public void Check(ModelArtifact artifact)
    {
        ArgumentNullException.ThrowIfNull(artifact);
        if (!(ObjectiveMs > 0) || double.IsInfinity(ObjectiveMs)) throw new ArgumentOutOfRangeException(nameof(ObjectiveMs), ObjectiveMs, "the latency objective must be a positive number of milliseconds.");
        if (Port is < 0 or > 65535) throw new ArgumentOutOfRangeException(nameof(Port), Port, "the port must be 0 … 65535.");
        if (Pin is int p && (p < 0 || p >= artifact.SubnetCount)) throw new ArgumentOutOfRangeException(nameof(Pin), p, $"the model has sub-nets 0 … {artifact.SubnetCount - 1}.");
        if (MaxBatch is < 1 or > 1024) throw new ArgumentOutOfRangeException(nameof(MaxBatch), MaxBatch, "the largest batch must be 1 … 1024.");
        if (QueueBound is < 1 or > 1_000_000) throw new ArgumentOutOfRangeException(nameof(QueueBound), QueueBound, "the queue bound must be 1 … 1000000.");
        if (Workers is < 1 or > 64) throw new ArgumentOutOfRangeException(nameof(Workers), Workers, "workers must be 1 … 64.");
        if (MaxBodyBytes < 1024) throw new ArgumentOutOfRangeException(nameof(MaxBodyBytes), MaxBodyBytes, "the body limit must be ≥ 1024 bytes.");
        if (MaxImagesPerRequest is < 1 or > 4096) throw new ArgumentOutOfRangeException(nameof(MaxImagesPerRequest), MaxImagesPerRequest, "images per request must be 1 … 4096.");
        if (ProfileRounds < 1) throw new ArgumentOutOfRangeException(nameof(ProfileRounds), ProfileRounds, "profile rounds must be ≥ 1.");
        if (ProfileBatchSizes is { } sizes && sizes.Any(b => b < 1 || b > 4096)) throw new ArgumentOutOfRangeException(nameof(ProfileBatchSizes), "profiled batch sizes must be 1 … 4096.");
        Controller.Check();
        if (Latency is { } table) _ = new LatencyModel(table, artifact.SubnetCount);
    }
}
