using System.Numerics;
using System.Runtime.Intrinsics;

namespace SparseSwitch.Tensors;

/// <summary>
/// A 0/1 mask of <see cref="Length"/> positions, one bit each: the one stored form of a sparsity
/// mask (<c>Parameter.Mask</c> refers to it; nothing keeps a float copy). Bit i is bit i % 64 of
/// word i / 64 of <see cref="Words"/>; bits past the end are always 0. A mask may be a view
/// (<see cref="Slice"/>) on a word-aligned part of a longer one, so that the masks of many
/// parameters live in one flat array laid out like a flat parameter buffer. Serialised as
/// ⌈Length/8⌉ bytes, bit i in byte i/8 at bit i%8 (numpy <c>packbits(bitorder='little')</c>).
/// Unpacking to 0/1 floats and masking values are vectorised and allocate nothing.
/// </summary>
public sealed class BitMask
{
    private readonly ulong[] _words;
    private readonly int _start;   // first word of this mask in _words
    private readonly int _count;   // words of this mask: ⌈Length/64⌉

    public int Length { get; }

    public BitMask(int length, bool value = false)
    {
        if (length < 0) throw new ArgumentOutOfRangeException(nameof(length), "Mask length must be non-negative.");
        Length = length;
        _count = (length + 63) >> 6;
        _words = new ulong[_count];
        if (value) SetAll(true);
    }

    private BitMask(ulong[] words, int start, int length)
    {
        _words = words;
        _start = start;
        Length = length;
        _count = (length + 63) >> 6;
    }

    /// <summary>A view of positions [<paramref name="start"/>, start + <paramref name="length"/>)
    /// sharing this mask's storage; <paramref name="start"/> must be a multiple of 64. The view's
    /// last word may hold positions of this mask past the view's end: they must be 0 (padding)
    /// and stay 0 — the view's operations keep them so, and writes to this mask must too.</summary>
    public BitMask Slice(int start, int length)
    {
        if ((start & 63) != 0) throw new ArgumentException($"A mask view starts on a 64-bit word (position {start} is not a multiple of 64).", nameof(start));
        if (start < 0 || length < 0 || start > Length - length)
            throw new ArgumentOutOfRangeException(nameof(length), $"View [{start}, {(long)start + length}) outside the mask's {Length} positions.");
        return new BitMask(_words, _start + (start >> 6), length);
    }

    /// <summary>The packed words of this mask (for fast loops over masks of equal length).</summary>
    public Span<ulong> Words => _words.AsSpan(_start, _count);

    public bool this[int i]
    {
        get
        {
            if ((uint)i >= (uint)Length) throw new IndexOutOfRangeException($"Mask index {i} outside [0, {Length}).");
            return (_words[_start + (i >> 6)] >> (i & 63) & 1) != 0;
        }
        set
        {
            if ((uint)i >= (uint)Length) throw new IndexOutOfRangeException($"Mask index {i} outside [0, {Length}).");
            if (value) _words[_start + (i >> 6)] |= 1UL << (i & 63);
            else _words[_start + (i >> 6)] &= ~(1UL << (i & 63));
        }
    }

    public void SetAll(bool value)
    {
        Words.Fill(value ? ~0UL : 0UL);
        if (value) ClearTail();
    }

    private void ClearTail()
    {
        int r = Length & 63;
        if (r != 0) _words[_start + _count - 1] &= (1UL << r) - 1;
    }

    /// <summary>Number of kept (1) positions.</summary>
    public long Count()
    {
        long c = 0;
        foreach (ulong w in Words) c += BitOperations.PopCount(w);
        return c;
    }

    public double Density => Length == 0 ? 1.0 : (double)Count() / Length;

    /// <summary>A new mask (not a view) with the same bits.</summary>
    public BitMask Clone()
    {
        var m = new BitMask(Length);
        Words.CopyTo(m._words);
        return m;
    }

    public void CopyFrom(BitMask other)
    {
        CheckSameLength(other, nameof(other));
        other.Words.CopyTo(Words);
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
        ReadOnlySpan<ulong> a = Words, b = other.Words;
        long c = 0;
        for (int i = 0; i < a.Length; i++) c += BitOperations.PopCount(a[i] & b[i]);
        return c;
    }

    /// <summary>Hamming distance |this ⊕ other| (positions that differ).</summary>
    public long HammingDistance(BitMask other)
    {
        CheckSameLength(other, nameof(other));
        ReadOnlySpan<ulong> a = Words, b = other.Words;
        long c = 0;
        for (int i = 0; i < a.Length; i++) c += BitOperations.PopCount(a[i] ^ b[i]);
        return c;
    }

    /// <summary>Whether every kept position of this mask is kept in <paramref name="superset"/>.</summary>
    public bool IsSubsetOf(BitMask superset)
    {
        CheckSameLength(superset, nameof(superset));
        ReadOnlySpan<ulong> a = Words, b = superset.Words;
        for (int i = 0; i < a.Length; i++)
            if ((a[i] & ~b[i]) != 0) return false;
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
        BitKernels.Pack(values, Words);
    }

    /// <summary>Writes the mask as 0/1 floats (vectorised).</summary>
    public void WriteFloats(Span<float> dst)
    {
        if (dst.Length != Length) throw new ArgumentException($"Destination has {dst.Length} elements, mask has {Length}.", nameof(dst));
        BitKernels.Unpack(Words, dst);
    }

    /// <summary>values[i] ← 0 where bit i is 0 (g ⊙ m), vectorised.</summary>
    public void ApplyTo(Span<float> values)
    {
        if (values.Length != Length) throw new ArgumentException($"Span has {values.Length} elements, mask has {Length}.", nameof(values));
        BitKernels.MaskInPlace(Words, values);
    }

    /// <summary>dst[i] ← src[i] where bit i is 1, +0 where it is 0 (the masked weight W ⊙ m, with
    /// +0 rather than W·0's signed zero), vectorised; dst may be src.</summary>
    public void ApplyTo(ReadOnlySpan<float> src, Span<float> dst)
    {
        if (src.Length != Length || dst.Length != Length)
            throw new ArgumentException($"Source has {src.Length} and destination {dst.Length} elements, mask has {Length}.", nameof(dst));
        BitKernels.MaskCopy(Words, src, dst);
    }

    public byte[] ToBytes()
    {
        var bytes = new byte[(Length + 7) >> 3];
        ReadOnlySpan<ulong> w = Words;
        for (int i = 0; i < bytes.Length; i++) bytes[i] = (byte)(w[i >> 3] >> ((i & 7) * 8));
        return bytes;
    }

    public static BitMask FromBytes(ReadOnlySpan<byte> bytes, int length)
    {
        var m = new BitMask(length);
        m.SetFromBytes(bytes);
        return m;
    }

    /// <summary>Sets this mask from bytes written by <see cref="ToBytes"/> (in place, so a view
    /// loads into its storage); bits set past <see cref="Length"/> are rejected.</summary>
    public void SetFromBytes(ReadOnlySpan<byte> bytes)
    {
        int need = (Length + 7) >> 3;
        if (bytes.Length != need)
            throw new ArgumentException($"A mask of {Length} positions needs {need} bytes, got {bytes.Length}.", nameof(bytes));
        int r = Length & 7;
        if (r != 0 && (bytes[need - 1] >> r) != 0)
            throw new ArgumentException($"Mask bytes have bits set past position {Length}.", nameof(bytes));
        var w = Words;
        w.Clear();
        for (int i = 0; i < need; i++) w[i >> 3] |= (ulong)bytes[i] << ((i & 7) * 8);
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

    /// <summary>dst[i] = src[i] where bit i is set, else +0 (dst may be src).</summary>
    public static void MaskCopy(ReadOnlySpan<ulong> words, ReadOnlySpan<float> src, Span<float> dst)
    {
        int n = src.Length, full = n >> 6;
        for (int w = 0; w < full; w++)
        {
            ulong bits = words[w];
            var s = src.Slice(w << 6, 64);
            var d = dst.Slice(w << 6, 64);
            if (bits == ~0UL) { s.CopyTo(d); continue; }
            if (bits == 0) { d.Clear(); continue; }
            if (Vector512.IsHardwareAccelerated)
            {
                var lane = Vector512.Create(1u, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768);
                for (int q = 0; q < 4; q++)
                {
                    var keep = ~Vector512.Equals(Vector512.Create((uint)(bits >> (q * 16))) & lane, Vector512<uint>.Zero);
                    (Vector512.Create(s.Slice(q * 16, 16)).AsUInt32() & keep).AsSingle().CopyTo(d.Slice(q * 16));
                }
            }
            else if (Vector256.IsHardwareAccelerated)
            {
                var lane = Vector256.Create(1u, 2, 4, 8, 16, 32, 64, 128);
                for (int q = 0; q < 8; q++)
                {
                    var keep = ~Vector256.Equals(Vector256.Create((uint)(bits >> (q * 8))) & lane, Vector256<uint>.Zero);
                    (Vector256.Create(s.Slice(q * 8, 8)).AsUInt32() & keep).AsSingle().CopyTo(d.Slice(q * 8));
                }
            }
            else
            {
                for (int j = 0; j < 64; j++) d[j] = (bits >> j & 1) != 0 ? s[j] : 0f;
            }
        }
        for (int i = full << 6; i < n; i++) dst[i] = (words[i >> 6] >> (i & 63) & 1) != 0 ? src[i] : 0f;
    }

    public static void MaskCopyScalar(ReadOnlySpan<ulong> words, ReadOnlySpan<float> src, Span<float> dst)
    {
        for (int i = 0; i < src.Length; i++) dst[i] = (words[i >> 6] >> (i & 63) & 1) != 0 ? src[i] : 0f;
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
