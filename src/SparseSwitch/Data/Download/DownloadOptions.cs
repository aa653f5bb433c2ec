namespace SparseSwitch.Data.Download;

/// <summary>Time limits, retries and progress reporting for downloads.</summary>
public sealed record DownloadOptions
{
    /// <summary>Longest wait for a connection and the response headers.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>A transfer that delivers no byte for this long is treated as stalled and aborted.</summary>
    public TimeSpan StallTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Attempts per file and mirror; each retry resumes from the bytes already saved.</summary>
    public int MaxAttempts { get; init; } = 3;

    /// <summary>Pause before a retry.</summary>
    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Receives one line per event (start, resume, retry, verified).</summary>
    public Action<string>? Log { get; init; }

    public static DownloadOptions Default { get; } = new();
}
