using System.Diagnostics;

namespace SparseSwitch.Serving;

/// <summary>The server's monotonic clock, in milliseconds.</summary>
public static class Clock
{
    private static readonly double MsPerTick = 1000.0 / Stopwatch.Frequency;
    public static double NowMs => Stopwatch.GetTimestamp() * MsPerTick;
}
