namespace SparseSwitch.Sparsity;

/// <summary>
/// Exact top-k selection over several layers by an unsigned key (the bit pattern of a non-negative
/// float is monotone in its value): radix select on the high then the low 16 bits finds the k-th
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
        var hist = new long[65536];
        for (int l = 0; l < keys.Count; l++)
        {
            var key = keys[l]; var c = candidates[l];
            for (int i = 0; i < key.Length; i++) if (c is null || c[i]) hist[key[i] >> 16]++;
        }
        long above = 0; int hi = 65535;
        while (hi >= 0 && above + hist[hi] < k) { above += hist[hi]; hi--; }
        if (hi < 0) throw new ArgumentException($"Cannot select {k} positions from {above} candidates.");
        Array.Clear(hist);
        for (int l = 0; l < keys.Count; l++)
        {
            var key = keys[l]; var c = candidates[l];
            for (int i = 0; i < key.Length; i++)
                if ((key[i] >> 16) == (uint)hi && (c is null || c[i])) hist[key[i] & 0xFFFF]++;
        }
        int lo = 65535;
        while (above + hist[lo] < k) { above += hist[lo]; lo--; }
        uint t = ((uint)hi << 16) | (uint)lo;
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
