using SparseSwitch.Tensors;

namespace SparseSwitch.Sparsity;

/// <summary>
/// Exact top-k selection over several layers by an unsigned key (the bit pattern of a non-negative
/// float is monotone in its value): radix select in three passes (11, 11, 10 bits) finds the k-th
/// key t; every candidate with key &gt; t is selected, and candidates with key = t in (layer, index)
/// order until exactly k are chosen. O(total) time, deterministic.
/// </summary>
internal static class MagnitudeSelect
{
    /// <summary>Key of |x| (larger |x| → larger key).</summary>
    public static uint AbsKey(float x) => BitConverter.SingleToUInt32Bits(x) & 0x7FFF_FFFFu;

    /// <summary>Sets in <paramref name="result"/> the k candidates of largest key. A null candidate
    /// mask means every position of that layer is a candidate.</summary>
    public static void SelectLargest(IReadOnlyList<uint[]> keys, IReadOnlyList<BitMask?> candidates, long k, IReadOnlyList<BitMask> result)
    {
        if (k <= 0) return;
        // Three radix passes (bits 31..21, 20..10, 9..0) narrow down the k-th largest key t.
        var hist = new long[2048];
        uint prefix = 0, prefixMask = 0;
        long above = 0;
        foreach (var (shift, width) in new[] { (21, 11), (10, 11), (0, 10) })
        {
            Array.Clear(hist);
            uint bucketMask = (1u << width) - 1;
            for (int l = 0; l < keys.Count; l++)
            {
                var key = keys[l]; var c = candidates[l];
                for (int i = 0; i < key.Length; i++)
                    if ((key[i] & prefixMask) == prefix && (c is null || c[i])) hist[(key[i] >> shift) & bucketMask]++;
            }
            int bucket = (int)bucketMask;
            while (bucket >= 0 && above + hist[bucket] < k) { above += hist[bucket]; bucket--; }
            if (bucket < 0) throw new ArgumentException($"Cannot select {k} positions from {above} candidates.");
            prefix |= (uint)bucket << shift;
            prefixMask |= bucketMask << shift;
        }
        uint t = prefix;
        long ties = k - above;
        for (int l = 0; l < keys.Count; l++)
        {
            var key = keys[l]; var c = candidates[l]; var r = result[l];
            for (int i = 0; i < key.Length; i++)
            {
                if (c is not null && !c[i]) continue;
                if (key[i] > t) r[i] = true;
                else if (key[i] == t && ties > 0) { r[i] = true; ties--; }
            }
        }
    }

    public static uint[] AbsKeys(ReadOnlySpan<float> values, bool invert = false)
    {
        var k = new uint[values.Length];
        uint x = invert ? 0x7FFF_FFFFu : 0u;
        for (int i = 0; i < values.Length; i++) k[i] = AbsKey(values[i]) ^ x;
        return k;
    }
}
