namespace SparseSwitch.Data;

/// <summary>Derives independent seeds from (seed, index) pairs (a SplitMix64 finaliser), so a stream
/// for epoch e, batch b or image i can be created directly without replaying earlier streams.</summary>
public static class SeedMix
{
    public static ulong Mix(ulong seed, ulong index)
    {
        ulong z = seed ^ (index + 1) * 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
