namespace SparseSwitch.Tensors;

/// <summary>
/// Seeded random numbers (xoshiro256**). Deterministic across platforms and runs; the state can be
/// saved and restored exactly (checkpoints). Not thread-safe: give each consumer its own stream,
/// derived with <see cref="Fork"/>.
/// </summary>
public sealed class Rng
{
    private ulong _s0, _s1, _s2, _s3;
    private double _spareNormal;
    private bool _hasSpare;

    public Rng(ulong seed)
    {
        ulong x = seed;
        _s0 = SplitMix(ref x); _s1 = SplitMix(ref x); _s2 = SplitMix(ref x); _s3 = SplitMix(ref x);
    }

    private static ulong SplitMix(ref ulong x)
    {
        ulong z = x += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    private static ulong Rotl(ulong x, int k) => (x << k) | (x >> (64 - k));

    public ulong NextULong()
    {
        ulong result = Rotl(_s1 * 5, 7) * 9;
        ulong t = _s1 << 17;
        _s2 ^= _s0; _s3 ^= _s1; _s1 ^= _s2; _s0 ^= _s3;
        _s2 ^= t; _s3 = Rotl(_s3, 45);
        return result;
    }

    /// <summary>Uniform in [0, 1) with 53 random bits.</summary>
    public double NextDouble() => (NextULong() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform in [0, 1) as float (24 random bits).</summary>
    public float NextFloat() => (NextULong() >> 40) * (1.0f / (1 << 24));

    /// <summary>Uniform integer in [0, n), unbiased (Lemire's method).</summary>
    public int NextInt(int n)
    {
        if (n <= 0) throw new ArgumentOutOfRangeException(nameof(n));
        ulong range = (ulong)n;
        while (true)
        {
            ulong x = NextULong() >> 32;
            ulong m = x * range;
            ulong low = m & 0xFFFFFFFFUL;
            if (low >= range || low >= ((0x1_0000_0000UL - range) % range))
                return (int)(m >> 32);
        }
    }

    /// <summary>Standard normal (Box–Muller, caching the second value).</summary>
    public double NextNormal()
    {
        if (_hasSpare) { _hasSpare = false; return _spareNormal; }
        double u1;
        do u1 = NextDouble(); while (u1 <= double.Epsilon);
        double u2 = NextDouble();
        double r = Math.Sqrt(-2.0 * Math.Log(u1));
        _spareNormal = r * Math.Sin(2 * Math.PI * u2);
        _hasSpare = true;
        return r * Math.Cos(2 * Math.PI * u2);
    }

    public void FillUniform(Span<float> dst, float lo, float hi)
    {
        for (int i = 0; i < dst.Length; i++) dst[i] = lo + (hi - lo) * NextFloat();
    }

    public void FillNormal(Span<float> dst, float mean, float std)
    {
        for (int i = 0; i < dst.Length; i++) dst[i] = (float)(mean + std * NextNormal());
    }

    /// <summary>Fisher–Yates shuffle.</summary>
    public void Shuffle<T>(Span<T> items)
    {
        for (int i = items.Length - 1; i > 0; i--)
        {
            int j = NextInt(i + 1);
            (items[i], items[j]) = (items[j], items[i]);
        }
    }

    /// <summary>An independent stream derived from this one (advances this stream).</summary>
    public Rng Fork() => new Rng(NextULong());

    /// <summary>The complete state, for checkpoints.</summary>
    public ulong[] GetState() => [_s0, _s1, _s2, _s3, _hasSpare ? 1UL : 0UL, BitConverter.DoubleToUInt64Bits(_spareNormal)];

    public void SetState(ReadOnlySpan<ulong> state)
    {
        if (state.Length != 6) throw new ArgumentException("RNG state must have 6 words.");
        _s0 = state[0]; _s1 = state[1]; _s2 = state[2]; _s3 = state[3];
        _hasSpare = state[4] != 0; _spareNormal = BitConverter.UInt64BitsToDouble(state[5]);
    }
}
