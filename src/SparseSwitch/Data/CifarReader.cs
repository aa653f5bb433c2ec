namespace SparseSwitch.Data;

/// <summary>
/// Reader for the CIFAR-10 / CIFAR-100 binary formats (raw or gzip). Each record is the label
/// byte(s) followed by 3072 pixel bytes: 1024 red, 1024 green, 1024 blue, each plane 32×32
/// row-major — already the CHW layout of <see cref="ImageDataset"/>. CIFAR-10 records have one
/// label byte (0–9); CIFAR-100 records have a coarse label (0–19) then a fine label (0–99).
/// </summary>
public static class CifarReader
{
    public const int Side = 32, Channels = 3, PixelBytes = Channels * Side * Side;

    /// <summary>The content of one binary batch file.</summary>
    public sealed record CifarBatch(string Path, byte[] Pixels, int[] Labels, int[]? CoarseLabels);

    /// <summary>Reads a CIFAR-10 batch (data_batch_N.bin, test_batch.bin).
    /// <paramref name="expectedRecords"/> (0 = any positive count) pins the record count.</summary>
    public static CifarBatch ReadCifar10(string path, int expectedRecords = 0) =>
        Read(path, labelBytes: 1, numClasses: 10, coarseClasses: 0, expectedRecords);

    /// <summary>Reads a CIFAR-100 file (train.bin, test.bin); Labels are the fine labels.</summary>
    public static CifarBatch ReadCifar100(string path, int expectedRecords = 0) =>
        Read(path, labelBytes: 2, numClasses: 100, coarseClasses: 20, expectedRecords);

    private static CifarBatch Read(string path, int labelBytes, int numClasses, int coarseClasses, int expectedRecords)
    {
        var (s, _, rawLength) = DataSource.Open(path);
        using (s) return Read(s, path, rawLength, labelBytes, numClasses, coarseClasses, expectedRecords);
    }

    /// <summary>Reads CIFAR-10 records from a stream (<paramref name="path"/> names it in errors).</summary>
    public static CifarBatch ReadCifar10(Stream s, string path, long? rawLength, int expectedRecords = 0) =>
        Read(s, path, rawLength, 1, 10, 0, expectedRecords);

    /// <summary>Reads CIFAR-100 records from a stream (<paramref name="path"/> names it in errors).</summary>
    public static CifarBatch ReadCifar100(Stream s, string path, long? rawLength, int expectedRecords = 0) =>
        Read(s, path, rawLength, 2, 100, 20, expectedRecords);

    private static CifarBatch Read(Stream s, string path, long? rawLength, int labelBytes, int numClasses,
        int coarseClasses, int expectedRecords)
    {
        int recordSize = labelBytes + PixelBytes;
        byte[] content;
        {
            if (rawLength is long len)
            {
                if (len == 0 || len % recordSize != 0)
                    throw new DataFormatException(path, "file length",
                        $"expected a positive multiple of the {recordSize}-byte record size, found {len} bytes" +
                        (len % recordSize != 0 ? $" (last record cut at byte {len - len % recordSize})" : ""));
                if (expectedRecords > 0 && len != (long)expectedRecords * recordSize)
                    throw new DataFormatException(path, "file length",
                        $"expected {expectedRecords} records ({(long)expectedRecords * recordSize} bytes), found {len / recordSize} ({len} bytes)");
                content = DataSource.ReadBody(s, len, path, 0, "records");
            }
            else
            {
                long limit = expectedRecords > 0 ? (long)expectedRecords * recordSize : DataSource.MaxContentBytes;
                content = ReadToEnd(s, limit, path, expectedRecords > 0);
                if (content.Length == 0 || content.Length % recordSize != 0)
                    throw new DataFormatException(path, "decompressed length",
                        $"expected a positive multiple of the {recordSize}-byte record size, found {content.Length} bytes");
                if (expectedRecords > 0 && content.Length != limit)
                    throw new DataFormatException(path, $"byte {content.Length}",
                        $"expected {expectedRecords} records ({limit} bytes), the content ends after {content.Length / recordSize}; the file is truncated");
            }
        }

        int n = content.Length / recordSize;
        var pixels = new byte[(long)n * PixelBytes];
        var labels = new int[n];
        int[]? coarse = coarseClasses > 0 ? new int[n] : null;
        for (int i = 0; i < n; i++)
        {
            long off = (long)i * recordSize;
            if (coarse is not null)
            {
                int c = content[off];
                if (c >= coarseClasses)
                    throw new DataFormatException(path, $"byte {off} (record {i}, coarse label)",
                        $"expected a class index in [0, {coarseClasses}), found {c}");
                coarse[i] = c;
            }
            int fine = content[off + labelBytes - 1];
            if (fine >= numClasses)
                throw new DataFormatException(path, $"byte {off + labelBytes - 1} (record {i}, label)",
                    $"expected a class index in [0, {numClasses}), found {fine}");
            labels[i] = fine;
            Buffer.BlockCopy(content, (int)off + labelBytes, pixels, i * PixelBytes, PixelBytes);
        }
        return new CifarBatch(path, pixels, labels, coarse);
    }

    /// <summary>Reads a stream to its end, growing the buffer as data arrives, failing past
    /// <paramref name="limit"/> bytes.</summary>
    private static byte[] ReadToEnd(Stream s, long limit, string path, bool limitIsExact)
    {
        byte[] buf = new byte[1 << 20];
        int have = 0;
        try
        {
            while (true)
            {
                if (have == buf.Length)
                {
                    if (have > limit)
                        throw new DataFormatException(path, $"byte {limit}",
                            limitIsExact ? $"unexpected data after the expected end of the file ({limit} bytes)"
                                         : $"content exceeds the {limit}-byte limit for a data file");
                    Array.Resize(ref buf, (int)Math.Min((long)buf.Length * 2, limit + 1));
                }
                int n = s.Read(buf, have, buf.Length - have);
                if (n == 0) break;
                have += n;
            }
        }
        catch (InvalidDataException e)
        {
            throw new DataFormatException(path, $"compressed stream near content byte {have}", $"corrupt gzip data ({e.Message})", e);
        }
        if (have > limit)
            throw new DataFormatException(path, $"byte {limit}",
                limitIsExact ? $"unexpected data after the expected end of the file ({limit} bytes)"
                             : $"content exceeds the {limit}-byte limit for a data file");
        Array.Resize(ref buf, have);
        return buf;
    }
}
