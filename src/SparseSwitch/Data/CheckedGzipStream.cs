using System.Buffers.Binary;
using System.IO.Compression;

namespace SparseSwitch.Data;

/// <summary>
/// Decompresses a gzip file and, at its end, checks the trailer's ISIZE field (content length
/// mod 2³²) against the bytes produced. The decompressor verifies the CRC-32 only when the trailer
/// is complete and accepts a file whose trailer was cut off; this check closes that gap, so a
/// truncated .gz always fails. Problems surface as <see cref="InvalidDataException"/>, which the
/// readers turn into <see cref="DataFormatException"/>.
/// </summary>
internal sealed class CheckedGzipStream : Stream
{
    private readonly GZipStream _inner;
    private readonly uint _expectedSize;
    private readonly bool _trailerPresent;
    private long _produced;
    private bool _checked;

    /// <summary><paramref name="raw"/> must be seekable and positioned at 0.</summary>
    public CheckedGzipStream(Stream raw)
    {
        long len = raw.Length;
        _trailerPresent = len >= 18; // 10-byte header + empty deflate block + 8-byte trailer
        if (_trailerPresent)
        {
            Span<byte> tail = stackalloc byte[4];
            raw.Position = len - 4;
            raw.ReadExactly(tail);
            _expectedSize = BinaryPrimitives.ReadUInt32LittleEndian(tail);
        }
        raw.Position = 0;
        _inner = new GZipStream(raw, CompressionMode.Decompress, leaveOpen: false);
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        int n = _inner.Read(buffer);
        _produced += n;
        if (n == 0 && buffer.Length > 0 && !_checked)
        {
            _checked = true;
            if (!_trailerPresent)
                throw new InvalidDataException("the gzip file is shorter than a gzip header and trailer");
            if ((uint)_produced != _expectedSize)
                throw new InvalidDataException(
                    $"the gzip trailer is missing or damaged: {_produced} bytes were decompressed but the trailer's " +
                    $"size field says {_expectedSize} (mod 2^32); the file is truncated");
        }
        return n;
    }

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => _produced; set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing) _inner.Dispose();
        base.Dispose(disposing);
    }
}
