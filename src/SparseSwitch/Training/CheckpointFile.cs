using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using SparseSwitch.Serialization;
using SparseSwitch.Tensors;

namespace SparseSwitch.Training;

/// <summary>
/// Collects the named parts of a training checkpoint (F32 tensors, I64 counters, U8 bit-packed
/// masks, string metadata) and writes them as one safetensors file, atomically (a temporary file
/// renamed over the target), with a SHA-256 of its content in the metadata
/// (<see cref="CheckpointChecksum"/>). Values are copied when added, so the live tensors may change after.
/// </summary>
public sealed class CheckpointWriter
{
    private readonly List<(string Name, SafeDType DType, long[] Shape, ReadOnlyMemory<byte> Bytes)> _entries = new();
    private readonly Dictionary<string, string> _meta = new();

    public void Add(string name, Tensor t) =>
        _entries.Add((name, SafeDType.F32, t.Shape.Select(d => (long)d).ToArray(), MemoryMarshal.AsBytes(t.Span).ToArray()));

    public void Add(string name, ReadOnlySpan<long> values) =>
        _entries.Add((name, SafeDType.I64, [values.Length], MemoryMarshal.AsBytes(values).ToArray()));

    public void Add(string name, ReadOnlySpan<ulong> values) =>
        _entries.Add((name, SafeDType.I64, [values.Length], MemoryMarshal.AsBytes(values).ToArray()));

    public void AddDoubles(string name, ReadOnlySpan<double> values) =>
        _entries.Add((name, SafeDType.F64, [values.Length], MemoryMarshal.AsBytes(values).ToArray()));

    public void AddBytes(string name, byte[] bytes) =>
        _entries.Add((name, SafeDType.U8, [bytes.Length], bytes));

    public void Meta(string key, string value) => _meta[key] = value;

    public void Save(string path)
    {
        var meta = new Dictionary<string, string>(_meta) { [CheckpointChecksum.Key] = CheckpointChecksum.Compute(_entries, _meta) };
        SafeTensors.SaveRaw(path, _entries, meta);
    }
}

/// <summary>The SHA-256 a checkpoint records of its own content (metadata key <see cref="Key"/>):
/// every other metadata entry, and every tensor's name, dtype, shape and bytes, in name order. A
/// damaged file whose header still parses is told apart from a good one by it. Checkpoints
/// without it (written before it existed) are read unchecked.</summary>
public static class CheckpointChecksum
{
    public const string Key = "sha256";

    public static string Compute(IEnumerable<(string Name, SafeDType DType, long[] Shape, ReadOnlyMemory<byte> Bytes)> entries,
        IEnumerable<KeyValuePair<string, string>> metadata)
    {
        using var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var length = new byte[8];
        void Bytes(ReadOnlySpan<byte> b)
        {
            BinaryPrimitives.WriteInt64LittleEndian(length, b.Length);
            h.AppendData(length);
            h.AppendData(b);
        }
        void Text(string s) => Bytes(Encoding.UTF8.GetBytes(s));
        foreach (var (k, v) in metadata.Where(kv => kv.Key != Key).OrderBy(kv => kv.Key, StringComparer.Ordinal)) { Text(k); Text(v); }
        foreach (var (name, dtype, shape, data) in entries.OrderBy(e => e.Name, StringComparer.Ordinal))
        {
            Text(name);
            Text(dtype.ToString());
            Text(string.Join(",", shape));
            Bytes(data.Span);
        }
        return Convert.ToHexStringLower(h.GetHashAndReset());
    }

    /// <summary>Throws if <paramref name="file"/> records a checksum that its content does not match.</summary>
    public static void Verify(SafeTensors.File file, string path)
    {
        if (file.Meta(Key) is not { } recorded) return;
        string actual = Compute(file.Names.Select(n => (n, file[n].DType, file[n].Shape, file[n].Bytes)), file.Metadata);
        if (!string.Equals(actual, recorded, StringComparison.OrdinalIgnoreCase))
            throw new SafeTensorsFormatException($"{path}: the checkpoint is damaged: the SHA-256 of its content is {actual}, the file records {recorded}.");
    }
}

/// <summary>Reads back what <see cref="CheckpointWriter"/> wrote, after checking its checksum; errors
/// name the file and the entry.</summary>
public sealed class CheckpointReader
{
    private readonly SafeTensors.File _file;
    public string Path { get; }

    public CheckpointReader(string path)
    {
        Path = path;
        if (!System.IO.File.Exists(path)) throw new FileNotFoundException($"{path}: no checkpoint to resume from.");
        _file = SafeTensors.Load(path);
        CheckpointChecksum.Verify(_file, path);
    }

    public bool Contains(string name) => _file.Contains(name);

    private SafeTensor Get(string name, SafeDType dtype)
    {
        if (!_file.Contains(name)) throw new SafeTensorsFormatException($"{Path}: checkpoint has no entry '{name}'.");
        var t = _file[name];
        if (t.DType != dtype) throw new SafeTensorsFormatException($"{Path}: entry '{name}' is {t.DType}, expected {dtype}.");
        return t;
    }

    /// <summary>Copies F32 entry <paramref name="name"/> into <paramref name="dst"/> (shapes must match).</summary>
    public void ReadInto(string name, Tensor dst)
    {
        var t = Get(name, SafeDType.F32);
        if (!t.IntShape().AsSpan().SequenceEqual(dst.Shape))
            throw new SafeTensorsFormatException($"{Path}: entry '{name}' has shape [{string.Join(", ", t.Shape)}], the model expects [{string.Join(", ", dst.Shape)}].");
        MemoryMarshal.Cast<byte, float>(t.Bytes.Span).CopyTo(dst.Span);
    }

    public long[] Longs(string name) => MemoryMarshal.Cast<byte, long>(Get(name, SafeDType.I64).Bytes.Span).ToArray();
    public ulong[] ULongs(string name) => MemoryMarshal.Cast<byte, ulong>(Get(name, SafeDType.I64).Bytes.Span).ToArray();
    public double[] Doubles(string name) => MemoryMarshal.Cast<byte, double>(Get(name, SafeDType.F64).Bytes.Span).ToArray();
    public byte[] Bytes(string name) => Get(name, SafeDType.U8).Bytes.ToArray();

    /// <summary>Loads U8 entry <paramref name="name"/> (bit-packed, as <see cref="BitMask.ToBytes"/>
    /// writes it) into <paramref name="mask"/>.</summary>
    public void ReadMask(string name, BitMask mask)
    {
        var t = Get(name, SafeDType.U8);
        try { mask.SetFromBytes(t.Bytes.Span); }
        catch (ArgumentException e) { throw new SafeTensorsFormatException($"{Path}: entry '{name}': {e.Message}"); }
    }

    public string Meta(string key) =>
        _file.Meta(key) ?? throw new SafeTensorsFormatException($"{Path}: checkpoint metadata has no key '{key}'.");
}
