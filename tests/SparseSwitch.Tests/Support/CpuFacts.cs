using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Xunit;

namespace SparseSwitch.Tests.Support;

/// <summary>A CPU capability that some kernels need.</summary>
public enum CpuFeature
{
    /// <summary>512-bit vectors with AVX-512F (what the image-interleaved and Winograd
    /// convolutions require).</summary>
    Avx512,
    /// <summary>Hardware-accelerated 256-bit vectors.</summary>
    Vector256,
    /// <summary>Hardware-accelerated 128-bit vectors.</summary>
    Vector128,
}

public static class Cpu
{
    /// <summary>Whether this process's CPU (as the runtime sees it) has the feature; checked on
    /// the hardware itself, never through the code under test.</summary>
    public static bool Has(CpuFeature feature) => feature switch
    {
        CpuFeature.Avx512 => Vector512.IsHardwareAccelerated && Avx512F.IsSupported,
        CpuFeature.Vector256 => Vector256.IsHardwareAccelerated,
        CpuFeature.Vector128 => Vector128.IsHardwareAccelerated,
        _ => throw new ArgumentOutOfRangeException(nameof(feature)),
    };

    /// <summary>Null when the test can run: the feature is present (or, with
    /// <paramref name="present"/> false, absent); otherwise why it is skipped.</summary>
    public static string? SkipReason(CpuFeature feature, bool present = true) =>
        Has(feature) == present ? null
        : present ? $"needs {feature}, which this CPU (or runtime configuration) does not provide"
        : $"checks behaviour without {feature}, which this CPU provides";
}

/// <summary>A fact that runs only where the CPU has (or, with present: false, lacks) a feature;
/// elsewhere it is reported as skipped with the reason, not as passed.</summary>
public sealed class CpuFactAttribute : FactAttribute
{
    public CpuFactAttribute(CpuFeature feature, bool present = true) => Skip = Cpu.SkipReason(feature, present);
}

/// <summary>The theory counterpart of <see cref="CpuFactAttribute"/>.</summary>
public sealed class CpuTheoryAttribute : TheoryAttribute
{
    public CpuTheoryAttribute(CpuFeature feature, bool present = true) => Skip = Cpu.SkipReason(feature, present);
}
