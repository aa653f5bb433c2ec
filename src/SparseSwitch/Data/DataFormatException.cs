namespace SparseSwitch.Data;

/// <summary>A data-set file is malformed: wrong magic number, impossible dimensions, a count that
/// disagrees with the file length, a label out of range, a corrupt compressed stream. The message
/// names the file, the byte offset or field, and what was expected. Every data reader raises this
/// type (and only this type) for bad content.</summary>
public sealed class DataFormatException : FileFormatException
{
    /// <summary>The file that was being read.</summary>
    public string FilePath { get; }

    /// <summary>Where in the file: a byte offset ("byte 8") or a field ("header.count").</summary>
    public string Where { get; }

    public DataFormatException(string filePath, string where, string problem, Exception? inner = null)
        : base($"{filePath}: {where}: {problem}", inner)
    {
        FilePath = filePath;
        Where = where;
    }
}
