namespace SparseSwitch.Data.Download;

/// <summary>One file to fetch: its name on the mirror (also its local name), the published MD5 of
/// the file as served, and its size in bytes when published (null if not).</summary>
public sealed record RemoteFile(string Name, string Md5, long? Size = null);

/// <summary>Files to extract from a downloaded tar.gz archive: archive member path → local name.</summary>
public sealed record ArchiveLayout(string ArchiveName, IReadOnlyDictionary<string, string> Members);

/// <summary>How to download one data set: mirrors tried in order (base URLs ending in '/'), the
/// files, and for archive distributions which members to extract.</summary>
public sealed record DownloadSpec(string Name, IReadOnlyList<string> Mirrors, IReadOnlyList<RemoteFile> Files,
    ArchiveLayout? Archive = null, string Notes = "");
