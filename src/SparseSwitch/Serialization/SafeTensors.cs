using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using SparseSwitch.Tensors;

namespace SparseSwitch.Serialization;

/// <summary>A safetensors file is malformed; the message names the file, the field or byte offset,
/// and what was expected.</summary>
public sealed class SafeTensorsFormatException : FileFormatException
{
    public SafeTensorsFormatException(string message, Exception? inner = null) : base(message, inner) { }
}

public enum SafeDType { F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL }

/// <summary>One tensor as stored: dtype, shape and its raw little-endian bytes.</summary>
public sealed class SafeTensor
{
    public SafeDType DType { get; }
    public long[] Shape { get; }
    public ReadOnlyMemory<byte> Bytes { get; }

    public SafeTensor(SafeDType dtype, long[] shape, ReadOnlyMemory<byte> bytes)
    {
        DType = dtype; Shape = shape; Bytes = bytes;
    }

    public long ElementCount => Shape.Aggregate(1L, (a, b) => a * b);

    public int[] IntShape() => Shape.Select(d => checked((int)d)).ToArray();

    /// <summary>F32 data as a tensor (other float types are converted).</summary>
    public Tensor ToTensor()
    {
        var shape = IntShape();
        var t = new Tensor(shape);
        var dst = t.Span;
        var src = Bytes.Span;
        switch (DType)
        {
            case SafeDType.F32:
                MemoryMarshal.Cast<byte, float>(src).CopyTo(dst);
                if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("Big-endian hosts are not supported.");
                break;
            case SafeDType.F64:
                for (int i = 0; i < dst.Length; i++) dst[i] = (float)BinaryPrimitives.ReadDoubleLittleEndian(src[(i * 8)..]);
                break;
            case SafeDType.F16:
                for (int i = 0; i < dst.Length; i++) dst[i] = (float)BinaryPrimitives.ReadHalfLittleEndian(src[(i * 2)..]);
                break;
            case SafeDType.BF16:
                for (int i = 0; i < dst.Length; i++) dst[i] = BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(src[(i * 2)..]) << 16);
                break;
            default:
                throw new InvalidOperationException($"Tensor of dtype {DType} is not a float tensor.");
        }
        return t;
    }

    /// <summary>Integer data (I64/I32/U8/I8/I16/BOOL) widened to long.</summary>
    public long[] ToInt64()
    {
        var src = Bytes.Span;
        long n = ElementCount;
        var r = new long[n];
        for (int i = 0; i < n; i++)
            r[i] = DType switch
            {
                SafeDType.I64 => BinaryPrimitives.ReadInt64LittleEndian(src[(i * 8)..]),
                SafeDType.I32 => BinaryPrimitives.ReadInt32LittleEndian(src[(i * 4)..]),
                SafeDType.I16 => BinaryPrimitives.ReadInt16LittleEndian(src[(i * 2)..]),
                SafeDType.I8 => (sbyte)src[i],
                SafeDType.U8 or SafeDType.BOOL => src[i],
                _ => throw new InvalidOperationException($"Tensor of dtype {DType} is not an integer tensor."),
            };
        return r;
    }
}

/// <summary>
/// The safetensors format: 8-byte little-endian header length N, N bytes of UTF-8 JSON mapping
/// tensor names to {dtype, shape, data_offsets [begin, end)} relative to the data section (plus an
/// optional "__metadata__" string map), then the data. The reader treats every file as hostile:
/// every length, offset and size is checked against the file before anything is allocated.
/// </summary>
public static class SafeTensors
{
    /// <summary>Largest header we accept (the reference implementation's limit).</summary>
    public const long MaxHeaderBytes = 100_000_000;

    public static int DTypeSize(SafeDType d) => d switch
    {
        SafeDType.F64 or SafeDType.I64 => 8,
        SafeDType.F32 or SafeDType.I32 => 4,
        SafeDType.F16 or SafeDType.BF16 or SafeDType.I16 => 2,
        _ => 1,
    };

    public sealed class File
    {
        public IReadOnlyDictionary<string, SafeTensor> Tensors { get; }
        public IReadOnlyDictionary<string, string> Metadata { get; }
        /// <summary>Tensor names in file header order.</summary>
        public IReadOnlyList<string> Names { get; }

        internal File(Dictionary<string, SafeTensor> t, Dictionary<string, string> m, List<string> names)
        {
            Tensors = t; Metadata = m; Names = names;
        }

        public SafeTensor this[string name] =>
            Tensors.TryGetValue(name, out var t) ? t : throw new KeyNotFoundException($"No tensor named '{name}' in the file.");

        public bool Contains(string name) => Tensors.ContainsKey(name);
        public Tensor Float(string name) => this[name].ToTensor();
        public string? Meta(string key) => Metadata.TryGetValue(key, out var v) ? v : null;
    }

    public static File Load(string path)
    {
        byte[] bytes;
        try { bytes = System.IO.File.ReadAllBytes(path); }
        catch (IOException e) { throw new SafeTensorsFormatException($"{path}: cannot read: {e.Message}", e); }
        return Parse(bytes, path);
    }

    /// <summary>The string metadata of a file, reading only its header (the tensors' bytes are
    /// neither read nor checked). A malformed header fails as <see cref="Parse"/> would.</summary>
    public static IReadOnlyDictionary<string, string> ReadMetadata(string path)
    {
        using var stream = System.IO.File.OpenRead(path);
        Span<byte> len = stackalloc byte[8];
        if (stream.ReadAtLeast(len, 8, throwOnEndOfStream: false) < 8)
            throw new SafeTensorsFormatException($"{path}: file is {stream.Length} bytes; a safetensors file starts with an 8-byte header length.");
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(len);
        if (n > (ulong)(stream.Length - 8))
            throw new SafeTensorsFormatException($"{path}: header length {n} at offset 0 runs past the end of the file ({stream.Length} bytes).");
        if (n > MaxHeaderBytes)
            throw new SafeTensorsFormatException($"{path}: header length {n} exceeds the limit of {MaxHeaderBytes} bytes.");
        var header = new byte[n];
        stream.ReadExactly(header);
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        try
        {
            using var doc = JsonDocument.Parse(header, new JsonDocumentOptions { MaxDepth = 8 });
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw new SafeTensorsFormatException($"{path}: header must be a JSON object, found {doc.RootElement.ValueKind}.");
            if (doc.RootElement.TryGetProperty("__metadata__", out var meta))
            {
                if (meta.ValueKind != JsonValueKind.Object)
                    throw new SafeTensorsFormatException($"{path}: '__metadata__' must be an object of strings.");
                foreach (var m in meta.EnumerateObject())
                {
                    if (m.Value.ValueKind != JsonValueKind.String)
                        throw new SafeTensorsFormatException($"{path}: metadata '{m.Name}' must be a string, found {m.Value.ValueKind}.");
                    metadata[m.Name] = m.Value.GetString()!;
                }
            }
        }
        catch (Exception e) when (e is JsonException or ArgumentException or DecoderFallbackException)
        {
            throw new SafeTensorsFormatException($"{path}: header (bytes 8..{8 + (long)n}) is not valid JSON: {e.Message}", e);
        }
        return metadata;
    }

    /// <summary>Parses a whole safetensors file held in memory. <paramref name="source"/> names it in errors.</summary>
    public static File Parse(byte[] data, string source = "<memory>")
    {
        if (data.Length < 8)
            throw new SafeTensorsFormatException($"{source}: file is {data.Length} bytes; a safetensors file starts with an 8-byte header length.");
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(data);
        if (n > (ulong)(data.Length - 8))
            throw new SafeTensorsFormatException($"{source}: header length {n} at offset 0 runs past the end of the file ({data.Length} bytes).");
        if (n > MaxHeaderBytes)
            throw new SafeTensorsFormatException($"{source}: header length {n} exceeds the limit of {MaxHeaderBytes} bytes.");
        if (n < 2)
            throw new SafeTensorsFormatException($"{source}: header length {n} is too small to hold a JSON object.");
        int headerLen = (int)n;
        var header = new ReadOnlyMemory<byte>(data, 8, headerLen);
        int dataStart = 8 + headerLen;
        long dataLen = data.Length - dataStart;

        var tensors = new Dictionary<string, SafeTensor>(StringComparer.Ordinal);
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        var names = new List<string>();
        var spans = new List<(long Begin, long End, string Name)>();

        if (!System.Text.Unicode.Utf8.IsValid(header.Span))
            throw new SafeTensorsFormatException($"{source}: header (bytes 8..{dataStart}) is not valid UTF-8.");
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(header, new JsonDocumentOptions { MaxDepth = 8 });
        }
        catch (Exception e) when (e is JsonException or ArgumentException or DecoderFallbackException)
        {
            throw new SafeTensorsFormatException($"{source}: header (bytes 8..{dataStart}) is not valid JSON: {e.Message}", e);
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw new SafeTensorsFormatException($"{source}: header must be a JSON object, found {doc.RootElement.ValueKind}.");
            foreach (var prop in doc.RootElement.EnumerateObject())
            {
                string name = prop.Name;
                if (name == "__metadata__")
                {
                    if (prop.Value.ValueKind != JsonValueKind.Object)
                        throw new SafeTensorsFormatException($"{source}: '__metadata__' must be an object of strings.");
                    foreach (var m in prop.Value.EnumerateObject())
                    {
                        if (m.Value.ValueKind != JsonValueKind.String)
                            throw new SafeTensorsFormatException($"{source}: metadata '{m.Name}' must be a string, found {m.Value.ValueKind}.");
                        if (!metadata.TryAdd(m.Name, m.Value.GetString()!))
                            throw new SafeTensorsFormatException($"{source}: metadata key '{m.Name}' appears twice.");
                    }
                    continue;
                }
                if (tensors.ContainsKey(name))
                    throw new SafeTensorsFormatException($"{source}: tensor '{name}' appears twice in the header.");
                var t = ParseEntry(prop.Value, name, source, dataLen, data, dataStart, out long begin, out long end);
                tensors[name] = t;
                names.Add(name);
                spans.Add((begin, end, name));
            }
        }

        // Tensors must tile the data section exactly: no overlap, no holes, nothing after the end.
        spans.Sort((x, y) => x.Begin != y.Begin ? x.Begin.CompareTo(y.Begin) : x.End.CompareTo(y.End));
        long expected = 0;
        foreach (var (b, e, nm) in spans)
        {
            if (b < expected)
                throw new SafeTensorsFormatException($"{source}: tensor '{nm}' data [{b}, {e}) overlaps the previous tensor (which ends at {expected}).");
            if (b > expected)
                throw new SafeTensorsFormatException($"{source}: gap in the data section before tensor '{nm}' (bytes {expected}..{b} are not used by any tensor).");
            expected = e;
        }
        if (expected != dataLen)
            throw new SafeTensorsFormatException($"{source}: the data section is {dataLen} bytes but the tensors cover {expected}.");
        return new File(tensors, metadata, names);
    }

    private static SafeTensor ParseEntry(JsonElement e, string name, string source, long dataLen, byte[] data, int dataStart,
        out long begin, out long end)
    {
        if (e.ValueKind != JsonValueKind.Object)
            throw new SafeTensorsFormatException($"{source}: tensor '{name}' must be an object with dtype, shape and data_offsets.");
        if (!e.TryGetProperty("dtype", out var dt) || dt.ValueKind != JsonValueKind.String)
            throw new SafeTensorsFormatException($"{source}: tensor '{name}' has no string field 'dtype'.");
        if (!Enum.TryParse<SafeDType>(dt.GetString(), ignoreCase: false, out var dtype) || !Enum.IsDefined(dtype) || int.TryParse(dt.GetString(), out _))
            throw new SafeTensorsFormatException($"{source}: tensor '{name}': dtype '{dt.GetString()}' is not one of {string.Join(", ", Enum.GetNames<SafeDType>())}.");
        if (!e.TryGetProperty("shape", out var sh) || sh.ValueKind != JsonValueKind.Array)
            throw new SafeTensorsFormatException($"{source}: tensor '{name}' has no array field 'shape'.");
        if (sh.GetArrayLength() > 16)
            throw new SafeTensorsFormatException($"{source}: tensor '{name}' has {sh.GetArrayLength()} dimensions; at most 16 are supported.");
        var shape = new long[sh.GetArrayLength()];
        long count = 1;
        int i = 0;
        foreach (var d in sh.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out long v) || v < 0)
                throw new SafeTensorsFormatException($"{source}: tensor '{name}': shape[{i}] must be a non-negative integer.");
            shape[i++] = v;
            // Saturate: anything larger than the file cannot match the byte count anyway.
            count = (v != 0 && count > dataLen / v + 1) ? dataLen + 1 : count * v;
        }
        if (!e.TryGetProperty("data_offsets", out var off) || off.ValueKind != JsonValueKind.Array || off.GetArrayLength() != 2)
            throw new SafeTensorsFormatException($"{source}: tensor '{name}' needs 'data_offsets' as [begin, end].");
        var o0 = off[0]; var o1 = off[1];
        if (o0.ValueKind != JsonValueKind.Number || !o0.TryGetInt64(out begin) || o1.ValueKind != JsonValueKind.Number || !o1.TryGetInt64(out end))
            throw new SafeTensorsFormatException($"{source}: tensor '{name}': data_offsets must be two integers.");
        if (begin < 0 || end < begin || end > dataLen)
            throw new SafeTensorsFormatException($"{source}: tensor '{name}': data_offsets [{begin}, {end}) out of range of the data section ({dataLen} bytes).");
        int size = DTypeSize(dtype);
        if (count > dataLen || count * size != end - begin)
            throw new SafeTensorsFormatException(
                $"{source}: tensor '{name}': {end - begin} bytes stored but dtype {dtype} × shape [{string.Join(", ", shape)}] needs {(count > dataLen ? "more than the file holds" : (count * size).ToString())}.");
        if (count > int.MaxValue)
            throw new SafeTensorsFormatException($"{source}: tensor '{name}' has {count} elements; at most {int.MaxValue} are supported.");
        return new SafeTensor(dtype, shape, new ReadOnlyMemory<byte>(data, dataStart + (int)begin, (int)(end - begin)));
    }

    /// <summary>Writes F32 tensors (in the given order) and string metadata. The header is padded
    /// with spaces to a multiple of 8 bytes, as PyTorch's writer does. Written atomically: a
    /// temporary file is renamed over the target once complete.</summary>
    public static void Save(string path, IEnumerable<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var entries = tensors.Select(kv => (kv.Key, SafeDType.F32, kv.Value.Shape.Select(d => (long)d).ToArray(),
            (ReadOnlyMemory<byte>)MemoryMarshal.AsBytes(kv.Value.Span).ToArray())).ToList();
        SaveRaw(path, entries, metadata);
    }

    /// <summary>Writes tensors of any dtype given as raw little-endian bytes.</summary>
    public static void SaveRaw(string path, IReadOnlyList<(string Name, SafeDType DType, long[] Shape, ReadOnlyMemory<byte> Bytes)> entries,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        var bytes = Serialize(entries, metadata);
        string tmp = path + ".tmp-" + Environment.ProcessId;
        System.IO.File.WriteAllBytes(tmp, bytes);
        System.IO.File.Move(tmp, path, overwrite: true);
    }

    public static byte[] Serialize(IReadOnlyList<(string Name, SafeDType DType, long[] Shape, ReadOnlyMemory<byte> Bytes)> entries,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                w.WriteStartObject("__metadata__");
                foreach (var (k, v) in metadata) w.WriteString(k, v);
                w.WriteEndObject();
            }
            long offset = 0;
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var (name, dtype, shape, data) in entries)
            {
                if (name == "__metadata__" || !seen.Add(name)) throw new ArgumentException($"Tensor name '{name}' is reserved or repeated.");
                long need = shape.Aggregate(1L, (a, b) => a * b) * DTypeSize(dtype);
                if (need != data.Length) throw new ArgumentException($"Tensor '{name}': {data.Length} bytes for {need} expected.");
                w.WriteStartObject(name);
                w.WriteString("dtype", dtype.ToString());
                w.WriteStartArray("shape");
                foreach (var d in shape) w.WriteNumberValue(d);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(offset);
                w.WriteNumberValue(offset + data.Length);
                w.WriteEndArray();
                w.WriteEndObject();
                offset += data.Length;
            }
            w.WriteEndObject();
        }
        var header = ms.ToArray();
        int padded = (header.Length + 7) / 8 * 8;
        long total = 8 + padded + entries.Sum(e => (long)e.Bytes.Length);
        var result = new byte[total];
        BinaryPrimitives.WriteUInt64LittleEndian(result, (ulong)padded);
        header.CopyTo(result, 8);
        for (int i = 8 + header.Length; i < 8 + padded; i++) result[i] = (byte)' ';
        long pos = 8 + padded;
        foreach (var e in entries)
        {
            e.Bytes.Span.CopyTo(result.AsSpan((int)pos));
            pos += e.Bytes.Length;
        }
        return result;
    }
}
