using System.Buffers.Binary;

namespace SparseSwitch.Data;

/// <summary>
/// Reader for the IDX format of MNIST, Fashion-MNIST and KMNIST (raw or gzip). Layout: two zero
/// bytes, a type code (0x08 = unsigned byte, the only one these data sets use), the number of
/// dimensions, then each dimension as a big-endian int32, then the data, row-major. Everything is
/// validated; errors are <see cref="DataFormatException"/> naming the file and byte offset.
/// </summary>
public static class IdxReader
{
    public const byte UnsignedByteType = 0x08;
    private const int MaxDims = 4;

    /// <summary>An IDX array of unsigned bytes.</summary>
    public sealed record IdxArray(string Path, int[] Dims, byte[] Data);

    /// <summary>Reads any unsigned-byte IDX file with <paramref name="expectedDims"/> dimensions
    /// (0 = any, up to 4).</summary>
    public static IdxArray Read(string path, int expectedDims = 0)
    {
        var (s, _, rawLength) = DataSource.Open(path);
        using (s) return Read(s, path, rawLength, expectedDims);
    }

    /// <summary>Reads IDX content from a stream; <paramref name="path"/> names it in errors and
    /// <paramref name="rawLength"/> (when known) is checked against the header before reading.</summary>
    public static IdxArray Read(Stream s, string path, long? rawLength, int expectedDims = 0)
    {
        {
            Span<byte> head = stackalloc byte[4];
            DataSource.ReadExactly(s, head, path, 0, "IDX magic number");
            if (head[0] != 0 || head[1] != 0)
                throw new DataFormatException(path, "byte 0 (magic number)",
                    $"expected an IDX file starting with 00 00, found {head[0]:X2} {head[1]:X2}");
            if (head[2] != UnsignedByteType)
                throw new DataFormatException(path, "byte 2 (type code)",
                    $"expected 0x08 (unsigned byte), found 0x{head[2]:X2}");
            int ndims = head[3];
            if (ndims < 1 || ndims > MaxDims || (expectedDims > 0 && ndims != expectedDims))
                throw new DataFormatException(path, "byte 3 (number of dimensions)",
                    expectedDims > 0 ? $"expected {expectedDims}, found {ndims}" : $"expected 1 to {MaxDims}, found {ndims}");

            Span<byte> dimBytes = stackalloc byte[4 * MaxDims];
            dimBytes = dimBytes[..(4 * ndims)];
            DataSource.ReadExactly(s, dimBytes, path, 4, "IDX dimension list");
            var dims = new int[ndims];
            long count = 1;
            for (int d = 0; d < ndims; d++)
            {
                int v = BinaryPrimitives.ReadInt32BigEndian(dimBytes.Slice(4 * d, 4));
                if (v <= 0)
                    throw new DataFormatException(path, $"byte {4 + 4 * d} (dimension {d})",
                        $"expected a positive size, found {v}");
                dims[d] = v;
                count *= v;
                if (count > DataSource.MaxContentBytes)
                    throw new DataFormatException(path, $"byte {4 + 4 * d} (dimension {d})",
                        $"dimensions [{string.Join(", ", dims[..(d + 1)])}] exceed the {DataSource.MaxContentBytes}-byte limit for a data file");
            }
            long headerLength = 4 + 4L * ndims;
            DataSource.CheckRawLength(rawLength, headerLength + count, path,
                $"header (dimensions [{string.Join(", ", dims)}])");
            var data = DataSource.ReadBody(s, count, path, headerLength, "IDX data");
            return new IdxArray(path, dims, data);
        }
    }

    /// <summary>Reads an image file [N, H, W] (pixels row-major, one channel).</summary>
    public static IdxArray ReadImages(string path) => Read(path, 3);

    /// <summary>Reads a label file [N] and checks every label is below <paramref name="numClasses"/>.</summary>
    public static int[] ReadLabels(string path, int numClasses) => Labels(Read(path, 1), numClasses);

    /// <summary>Checks a one-dimensional IDX array holds labels below <paramref name="numClasses"/>.</summary>
    public static int[] Labels(IdxArray a, int numClasses)
    {
        string path = a.Path;
        if (a.Dims.Length != 1)
            throw new DataFormatException(path, "byte 3 (number of dimensions)", $"expected 1 for a label file, found {a.Dims.Length}");
        var labels = new int[a.Dims[0]];
        for (int i = 0; i < labels.Length; i++)
        {
            int v = a.Data[i];
            if (v >= numClasses)
                throw new DataFormatException(path, $"byte {8 + i} (label {i})",
                    $"expected a class index in [0, {numClasses}), found {v}");
            labels[i] = v;
        }
        return labels;
    }
}
