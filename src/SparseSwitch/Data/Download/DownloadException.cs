namespace SparseSwitch.Data.Download;

/// <summary>A download failed: HTTP error, stalled or cut connection after all retries, or a file
/// whose checksum does not match the published value (that file is refused and removed).</summary>
public sealed class DownloadException(string message, Exception? inner = null) : IOException(message, inner);
