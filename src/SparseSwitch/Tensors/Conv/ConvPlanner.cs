using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SparseSwitch.Tensors.Conv;

/// <summary>What the planner knows of a layer: its geometry, channels and groups.</summary>
public readonly record struct ConvShape(ConvGeometry Geometry, int InChannels, int OutChannels, int Groups);

/// <summary>
/// Chooses the convolution algorithm of a layer: the first row of <see cref="Table"/> whose
/// algorithm the options allow and whose rule holds for the geometry, the CPU and the options.
/// The order is the measured preference (see each rule); im2col takes everything else.
/// </summary>
public static class ConvPlanner
{
    private delegate bool Rule(in ConvShape s, EngineOptions o);

    private static readonly (ConvAlgorithm Algorithm, ConvAlgorithms Switch, Rule Applies)[] Table =
    [
        // 3×3 with ≥ 64 channels on even planes: 2.25× fewer multiply-adds; slower at 32 channels.
        (ConvAlgorithm.Winograd, ConvAlgorithms.Winograd, static (in ConvShape s, EngineOptions o) =>
            s.Groups == 1 && WinogradConv.Applies(s.Geometry, s.InChannels, s.OutChannels, o)),
        // Planes of 16×16 and smaller, products at least 64 deep: no work on padding, aligned loads.
        (ConvAlgorithm.InterleavedPlanes, ConvAlgorithms.InterleavedPlanes, static (in ConvShape s, EngineOptions o) =>
            s.Groups == 1 && InterleavedConv.Applies(s.Geometry, o)),
        // Every other stride-1 "same" convolution (faster than im2col down to 1→6 channels).
        (ConvAlgorithm.ShiftedRows, ConvAlgorithms.ShiftedRows, static (in ConvShape s, EngineOptions o) =>
            s.Groups == 1 && ShiftedRowsConv.Applies(s.Geometry)),
        (ConvAlgorithm.PhasePlanes, ConvAlgorithms.PhasePlanes, static (in ConvShape s, EngineOptions o) =>
            s.Groups == 1 && PhasePlanesAlgorithm.Applies(s.Geometry)),
        (ConvAlgorithm.Depthwise, ConvAlgorithms.None, static (in ConvShape s, EngineOptions o) =>
            s.Groups == s.InChannels && s.Groups > 1),
        (ConvAlgorithm.Im2Col, ConvAlgorithms.None, static (in ConvShape s, EngineOptions o) => true),
    ];

    public static ConvAlgorithm Choose(in ConvShape s, EngineOptions options)
    {
        foreach (var (algorithm, flag, applies) in Table)
            if ((options.ConvAlgorithms & flag) == flag && applies(s, options)) return algorithm;
        throw new InvalidOperationException("The planner's table ends with a rule that always holds.");
    }

    /// <summary>Whether the CPU runs the 512-bit kernels of the image-interleaved algorithms.</summary>
    internal static bool HasAvx512 => Vector512.IsHardwareAccelerated && Avx512F.IsSupported;

    /// <summary>A new instance of an algorithm for a layer.</summary>
    internal static IConvAlgorithm Create(ConvAlgorithm algorithm, int cin, int cout, int kh, int kw, int groups) => algorithm switch
    {
        ConvAlgorithm.Winograd => new InterleavedPlanesAlgorithm(cin, cout, kh, kw, winograd: true),
        ConvAlgorithm.InterleavedPlanes => new InterleavedPlanesAlgorithm(cin, cout, kh, kw, winograd: false),
        ConvAlgorithm.ShiftedRows => new ShiftedRowsAlgorithm(cin, cout, kh, kw),
        ConvAlgorithm.PhasePlanes => new PhasePlanesAlgorithm(cin, cout, kh, kw),
        ConvAlgorithm.Depthwise => new DepthwiseAlgorithm(cin, cout),
        ConvAlgorithm.Im2Col => new Im2ColAlgorithm(cin, cout, groups),
        _ => throw new ArgumentOutOfRangeException(nameof(algorithm), algorithm, "Unknown convolution algorithm."),
    };
}
