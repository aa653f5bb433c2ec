namespace SparseSwitch;

/// <summary>Base of every "this file is malformed" error the library raises. Messages name the
/// file, the byte offset or field, and what was expected.</summary>
public class FileFormatException : IOException
{
    public FileFormatException(string message, Exception? inner = null) : base(message, inner) { }
}
