using System.IO.Compression;

namespace SparseSwitch.Data;

/// <summary>
/// Opens data-set files that may be gzip-compressed (detected by the gzip magic bytes 1F 8B, not by
/// the file name) and reads exact byte counts from them. Reads never trust a declared size: buffers
/// grow only as real bytes arrive, so a header claiming gigabytes in a small file fails with a
/// <see cref="DataFormatException"/> instead of an out-of-memory error.
/// </summary>
public static class DataSource
{
    /// <summary>Largest decompressed content any reader accepts (CIFAR-100 train.bin is 154 MB).</summary>
    public const long MaxContentBytes = 1L << 30;

    /// <summary>A readable stream of the file's (decompressed) content, and whether it was gzip.</summary>
    public static (Stream Stream, bool Gzip, long? RawLength) Open(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Data file not found: {path}", path);
        var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        try { return Wrap(fs); }
        catch
        {
            fs.Dispose();
            throw;
        }
    }

    /// <summary>Wraps a seekable stream positioned at 0: decompressing if it starts with the gzip
    /// magic bytes, else as is with its length. The returned stream owns <paramref name="raw"/>.</summary>
    public static (Stream Stream, bool Gzip, long? RawLength) Wrap(Stream raw)
    {
        Span<byte> magic = stackalloc byte[2];
        int got = raw.ReadAtLeast(magic, 2, throwOnEndOfStream: false);
        raw.Position = 0;
        if (got == 2 && magic[0] == 0x1F && magic[1] == 0x8B)
            return (new CheckedGzipStream(raw), true, null);
        return (raw, false, raw.Length);
    }

    /// <summary>Reads exactly <paramref name="buffer"/>.Length bytes at content offset
    /// <paramref name="offset"/>; a short read is a truncated file.</summary>
    public static void ReadExactly(Stream s, Span<byte> buffer, string path, long offset, string what)
    {
        int got;
        try { got = s.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false); }
        catch (InvalidDataException e) { throw Corrupt(path, offset, e); }
        if (got < buffer.Length)
            throw new DataFormatException(path, $"byte {offset + got}",
                $"file ends inside the {what} (expected {buffer.Length} bytes from byte {offset}, got {got}); the file is truncated");
    }

    /// <summary>Reads exactly <paramref name="length"/> content bytes starting at content offset
    /// <paramref name="offset"/>, then requires the end of the file. The buffer grows as data arrives.</summary>
    public static byte[] ReadBody(Stream s, long length, string path, long offset, string what)
    {
        if (length < 0 || offset + length > MaxContentBytes)
            throw new DataFormatException(path, what,
                $"declared size of {offset + length} bytes exceeds the {MaxContentBytes}-byte limit for a data file");
        int target = (int)length;
        byte[] buf = new byte[Math.Min(target, 1 << 22)];
        int have = 0;
        try
        {
            while (have < target)
            {
                if (have == buf.Length) Array.Resize(ref buf, (int)Math.Min((long)buf.Length * 2, target));
                int n = s.Read(buf, have, buf.Length - have);
                if (n == 0)
                    throw new DataFormatException(path, $"byte {offset + have}",
                        $"file ends inside the {what}: expected {length} bytes of {what} from byte {offset} " +
                        $"(file length {offset + length}), got {have}; the file is truncated");
                have += n;
            }
            Span<byte> probe = stackalloc byte[1];
            if (s.Read(probe) != 0)
                throw new DataFormatException(path, $"byte {offset + length}",
                    $"unexpected data after the declared end of the file (expected file length {offset + length} bytes)");
        }
        catch (InvalidDataException e) { throw Corrupt(path, offset + have, e); }
        return buf;
    }

    /// <summary>Checks a raw (uncompressed) file's length before anything is allocated.</summary>
    public static void CheckRawLength(long? rawLength, long expected, string path, string what)
    {
        if (rawLength is long len && len != expected)
            throw new DataFormatException(path, "file length",
                $"{what} implies {expected} bytes but the file has {len}" + (len < expected ? " (truncated)" : " (extra data)"));
    }

    private static DataFormatException Corrupt(string path, long offset, Exception e) =>
        new(path, $"compressed stream near content byte {offset}", $"corrupt gzip data ({e.Message})", e);
}
