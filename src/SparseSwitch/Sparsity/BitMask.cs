using System.Numerics;
using System.Runtime.Intrinsics;

namespace SparseSwitch.Sparsity;

/// <summary>
/// A 0/1 mask of <see cref="Length"/> positions, one bit each (bit i is bit i % 64 of word i / 64;
/// bits past the end are always 0). Serialised as ⌈Length/8⌉ bytes, bit i in byte i/8 at bit i%8
/// (numpy <c>packbits(bitorder='little')</c>). Unpacking to 0/1 floats and masking a gradient are
/// vectorised and allocate nothing.
/// </summary>
public sealed class BitMask
{
    private readonly ulong[] _words;

    public int Length { get; }

    public BitMask(int length, bool value = false)
    {
        if (length < 0) throw new ArgumentOutOfRangeException(nameof(length), "Mask length must be non-negative.");
        Length = length;
        _words = new ulong[(length + 63) >> 6];
        if (value) SetAll(true);
    }

    /// <summary>The packed words (for fast loops over masks of equal length).</summary>
    public Span<ulong> Words => _words;

    public bool this[int i]
    {
        get
        {
            if ((uint)i >= (uint)Length) throw new IndexOutOfRangeException($"Mask index {i} outside [0, {Length}).");
            return (_words[i >> 6] >> (i & 63) & 1) != 0;
        }
        set
        {
            if ((uint)i >= (uint)Length) throw new IndexOutOfRangeException($"Mask index {i} outside [0, {Length}).");
            if (value) _words[i >> 6] |= 1UL << (i & 63);
            else _words[i >> 6] &= ~(1UL << (i & 63));
        }
    }

    public void SetAll(bool value)
    {
        Array.Fill(_words, value ? ~0UL : 0UL);
        if (value) ClearTail();
    }

    private void ClearTail()
    {
        int r = Length & 63;
        if (r != 0) _words[^1] &= (1UL << r) - 1;
    }

    /// <summary>Number of kept (1) positions.</summary>
    public long Count()
    {
        long c = 0;
        foreach (ulong w in _words) c += BitOperations.PopCount(w);
        return c;
    }

    public double Density => Length == 0 ? 1.0 : (double)Count() / Length;

    public BitMask Clone()
    {
        var m = new BitMask(Length);
        _words.CopyTo(m._words, 0);
        return m;
    }

    public void CopyFrom(BitMask other)
    {
        CheckSameLength(other, nameof(other));
        other._words.CopyTo(_words, 0);
    }

    internal void CheckSameLength(BitMask other, string what)
    {
        if (other.Length != Length)
            throw new ArgumentException($"Mask '{what}' has {other.Length} positions, expected {Length}.", what);
    }

    /// <summary>|this ∧ other|.</summary>
    public long IntersectionCount(BitMask other)
    {
        CheckSameLength(other, nameof(other));
        long c = 0;
        for (int i = 0; i < _words.Length; i++) c += BitOperations.PopCount(_words[i] & other._words[i]);
        return c;
    }

    /// <summary>Hamming distance |this ⊕ other| (positions that differ).</summary>
    public long HammingDistance(BitMask other)
    {
        CheckSameLength(other, nameof(other));
        long c = 0;
        for (int i = 0; i < _words.Length; i++) c += BitOperations.PopCount(_words[i] ^ other._words[i]);
        return c;
    }

    /// <summary>Whether every kept position of this mask is kept in <paramref name="superset"/>.</summary>
    public bool IsSubsetOf(BitMask superset)
    {
        CheckSameLength(superset, nameof(superset));
        for (int i = 0; i < _words.Length; i++)
            if ((_words[i] & ~superset._words[i]) != 0) return false;
        return true;
    }

    /// <summary>Sets bit i where values[i] ≠ 0.</summary>
    public static BitMask FromFloats(ReadOnlySpan<float> values)
    {
        var m = new BitMask(values.Length);
        m.SetFromFloats(values);
        return m;
    }

    public void SetFromFloats(ReadOnlySpan<float> values)
    {
        if (values.Length != Length) throw new ArgumentException($"{values.Length} values for a mask of {Length} positions.", nameof(values));
        BitKernels.Pack(values, _words);
    }

    /// <summary>Writes the mask as 0/1 floats (vectorised).</summary>
    public void WriteFloats(Span<float> dst)
    {
        if (dst.Length != Length) throw new ArgumentException($"Destination has {dst.Length} elements, mask has {Length}.", nameof(dst));
        BitKernels.Unpack(_words, dst);
    }

    /// <summary>values[i] ← 0 where bit i is 0 (g ⊙ m), vectorised.</summary>
    public void ApplyTo(Span<float> values)
    {
        if (values.Length != Length) throw new ArgumentException($"Span has {values.Length} elements, mask has {Length}.", nameof(values));
        BitKernels.MaskInPlace(_words, values);
    }

    public byte[] ToBytes()
    {
        var bytes = new byte[(Length + 7) >> 3];
        for (int i = 0; i < bytes.Length; i++) bytes[i] = (byte)(_words[i >> 3] >> ((i & 7) * 8));
        return bytes;
    }

    public static BitMask FromBytes(ReadOnlySpan<byte> bytes, int length)
    {
        var m = new BitMask(length);
        int need = (length + 7) >> 3;
        if (bytes.Length != need)
            throw new ArgumentException($"A mask of {length} positions needs {need} bytes, got {bytes.Length}.", nameof(bytes));
        for (int i = 0; i < need; i++) m._words[i >> 3] |= (ulong)bytes[i] << ((i & 7) * 8);
        int r = length & 7;
        if (r != 0 && (bytes[need - 1] >> r) != 0)
            throw new ArgumentException($"Mask bytes have bits set past position {length}.", nameof(bytes));
        return m;
    }
}

/// <summary>Bit-unpacking kernels: packed words → 0/1 floats and g ⊙ m. Vector512/Vector256 with a
/// scalar twin (<see cref="UnpackScalar"/>, <see cref="MaskInPlaceScalar"/>) as test oracle.</summary>
internal static class BitKernels
{
    public static void Unpack(ReadOnlySpan<ulong> words, Span<float> dst)
    {
        int n = dst.Length, full = n >> 6;
        for (int w = 0; w < full; w++)
        {
            ulong bits = words[w];
            var d = dst.Slice(w << 6, 64);
            if (bits == 0) { d.Clear(); continue; }
            if (bits == ~0UL) { d.Fill(1f); continue; }
            if (Vector512.IsHardwareAccelerated)
            {
                var lane = Vector512.Create(1u, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768);
                var one = Vector512.Create(1f).AsUInt32();
                for (int q = 0; q < 4; q++)
                {
                    var v = Vector512.Create((uint)(bits >> (q * 16))) & lane;
                    (~Vector512.Equals(v, Vector512<uint>.Zero) & one).AsSingle().CopyTo(d.Slice(q * 16));
                }
            }
            else if (Vector256.IsHardwareAccelerated)
            {
                var lane = Vector256.Create(1u, 2, 4, 8, 16, 32, 64, 128);
                var one = Vector256.Create(1f).AsUInt32();
                for (int q = 0; q < 8; q++)
                {
                    var v = Vector256.Create((uint)(bits >> (q * 8))) & lane;
                    (~Vector256.Equals(v, Vector256<uint>.Zero) & one).AsSingle().CopyTo(d.Slice(q * 8));
                }
            }
            else
            {
                for (int j = 0; j < 64; j++) d[j] = (bits >> j & 1) != 0 ? 1f : 0f;
            }
        }
        for (int i = full << 6; i < n; i++) dst[i] = (words[i >> 6] >> (i & 63) & 1) != 0 ? 1f : 0f;
    }

    public static void MaskInPlace(ReadOnlySpan<ulong> words, Span<float> values)
    {
        int n = values.Length, full = n >> 6;
        for (int w = 0; w < full; w++)
        {
            ulong bits = words[w];
            if (bits == ~0UL) continue;
            var d = values.Slice(w << 6, 64);
            if (bits == 0) { d.Clear(); continue; }
            if (Vector512.IsHardwareAccelerated)
            {
                var lane = Vector512.Create(1u, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768);
                for (int q = 0; q < 4; q++)
                {
                    var keep = ~Vector512.Equals(Vector512.Create((uint)(bits >> (q * 16))) & lane, Vector512<uint>.Zero);
                    var s = d.Slice(q * 16);
                    (Vector512.Create((ReadOnlySpan<float>)s).AsUInt32() & keep).AsSingle().CopyTo(s);
                }
            }
            else
            {
                for (int j = 0; j < 64; j++) if ((bits >> j & 1) == 0) d[j] = 0f;
            }
        }
        for (int i = full << 6; i < n; i++) if ((words[i >> 6] >> (i & 63) & 1) == 0) values[i] = 0f;
    }

    /// <summary>words ← bit i set where src[i] ≠ 0 (vectorised compare + movemask).</summary>
    public static void Pack(ReadOnlySpan<float> src, Span<ulong> words)
    {
        int n = src.Length, full = n >> 6;
        for (int w = 0; w < full; w++)
        {
            var s = src.Slice(w << 6, 64);
            if (Vector512.IsHardwareAccelerated)
            {
                ulong bits = 0;
                for (int q = 0; q < 4; q++)
                {
                    var v = Vector512.Create(s.Slice(q * 16, 16));
                    bits |= (ulong)(~Vector512.Equals(v, Vector512<float>.Zero).ExtractMostSignificantBits() & 0xFFFF) << (q * 16);
                }
                words[w] = bits;
            }
            else
            {
                ulong bits = 0;
                for (int j = 0; j < 64; j++) if (s[j] != 0f) bits |= 1UL << j;
                words[w] = bits;
            }
        }
        if ((n & 63) != 0)
        {
            ulong bits = 0;
            for (int i = full << 6; i < n; i++) if (src[i] != 0f) bits |= 1UL << (i & 63);
            words[full] = bits;
        }
    }

    public static void PackScalar(ReadOnlySpan<float> src, Span<ulong> words)
    {
        words.Clear();
        for (int i = 0; i < src.Length; i++) if (src[i] != 0f) words[i >> 6] |= 1UL << (i & 63);
    }

    public static void UnpackScalar(ReadOnlySpan<ulong> words, Span<float> dst)
    {
        for (int i = 0; i < dst.Length; i++) dst[i] = (words[i >> 6] >> (i & 63) & 1) != 0 ? 1f : 0f;
    }

    public static void MaskInPlaceScalar(ReadOnlySpan<ulong> words, Span<float> values)
    {
        for (int i = 0; i < values.Length; i++) if ((words[i >> 6] >> (i & 63) & 1) == 0) values[i] = 0f;
    }
}
