namespace SparseSwitch.Tensors;

/// <summary>How matrix products accumulate: <see cref="Fast"/> uses the packed float32 SIMD kernels;
/// <see cref="Highest"/> accumulates every dot product in double (scalar, slow) — for reference
/// runs where float rounding must not decide a ReLU at a pre-activation within rounding of zero.</summary>
public enum MatmulPrecision { Fast, Highest }

/// <summary>
/// The engine settings that change what runs: thread count, matmul precision, which convolution
/// algorithms the planner may choose, and the blocking and tuning values of the kernels. An
/// immutable value passed down (a module holds one, <c>Module.UseOptions</c> sets it on a whole
/// model; kernels take it as an argument), so that tests and benchmarks build their own with
/// <c>with { ... }</c> and nothing process-wide changes under another caller. Results are bit for
/// bit the same for equal options.
/// </summary>
public sealed record EngineOptions
{
    /// <summary>The process default: <see cref="Threads"/> from SPARSESWITCH_THREADS when set,
    /// else the processor count; every other value as initialised below.</summary>
    public static EngineOptions Default { get; } = new()
    {
        Threads = int.TryParse(Environment.GetEnvironmentVariable("SPARSESWITCH_THREADS"), out int n) && n >= 1
            ? n : Math.Max(1, Environment.ProcessorCount),
    };

    private readonly int _threads = 1;

    /// <summary>Number of threads the kernels use (fixed, so results are reproducible for a given
    /// count; the reductions' chunking depends on it).</summary>
    public int Threads
    {
        get => _threads;
        init => _threads = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(Threads), value, "The thread count must be at least 1.");
    }

    /// <summary>Accumulation precision of the matrix products (GEMM and the convolution row kernels).</summary>
    public MatmulPrecision MatmulPrecision { get; init; } = MatmulPrecision.Fast;

    /// <summary>The convolution algorithms the planner may choose (im2col and depthwise are always
    /// there as the fallback). Default: all.</summary>
    public ConvAlgorithms ConvAlgorithms { get; init; } = ConvAlgorithms.All;

    /// <summary>Whether residual blocks' batch-norms leave their outputs to their consumers
    /// (IDeferrableNorm): bn1 + ReLU is applied while conv2 fills its padded planes and bn2 inside
    /// the join, so neither normalised tensor is written, and their statistics are taken by the
    /// convs as they write their outputs; in the backward each batch-norm's input gradient is
    /// applied by the conv below it while it fills dy's planes (two passes over memory fewer each;
    /// the same bits).</summary>
    public bool DeferNorms { get; init; } = true;

    /// <summary>GEMM block sizes (<see cref="GemmBlocking"/>).</summary>
    public GemmBlocking Gemm { get; init; } = GemmBlocking.Default;

    /// <summary>Depth of the k-slices of the row kernels' products (partial sums added to C), so
    /// B rows stay in L1 for wide layers.</summary>
    public int RowsKSlice { get; init; } = 288;

    /// <summary>Bytes of each operand the weight-gradient dot-product kernel keeps in L2.</summary>
    public int DotL2Bytes { get; init; } = 512 << 10;

    /// <summary>Winograd F(2×2, 3×3) applies from this many channels in and out (measured: slower at 32).</summary>
    public int WinogradMinChannels { get; init; } = 64;

    /// <summary>Bytes of a block of Winograd-transformed tiles (kept in L2).</summary>
    public int WinogradBlockBytes { get; init; } = 1 << 20;

    /// <summary>Image-interleaved planes apply where shared padding would waste at least this many
    /// per cent of the work …</summary>
    public int InterleavedMinWastePercent { get; init; } = 10;

    /// <summary>… and the products are at least this deep (C·KH·KW).</summary>
    public int InterleavedMinDepth { get; init; } = 64;

    /// <summary>Target product width (columns) of the shifted-rows layout: how many images share one set of planes.</summary>
    public int ShiftedRowsTargetColumns { get; init; } = 2048;

    /// <summary>How long the worker threads watch for the next parallel loop (and the caller for
    /// the workers to finish) before they block, in microseconds (0: block at once).</summary>
    public int SpinMicroseconds { get; init; } = 1000;
}

/// <summary>The convolution algorithms the planner may choose beyond im2col and depthwise
/// (<see cref="EngineOptions.ConvAlgorithms"/>).</summary>
[Flags]
public enum ConvAlgorithms
{
    None = 0,
    /// <summary>Stride-1 "same" convolutions on shared-padding planes read in place.</summary>
    ShiftedRows = 1,
    /// <summary>Stride-1 "same" convolutions on image-interleaved planes (AVX-512).</summary>
    InterleavedPlanes = 2,
    /// <summary>Winograd F(2×2, 3×3) on image-interleaved planes (AVX-512, Fast precision).</summary>
    Winograd = 4,
    /// <summary>Stride-2 1×1 / 3×3 convolutions on phase planes read in place.</summary>
    PhasePlanes = 8,
    /// <summary>Every algorithm that reads rows in place instead of unfolding with im2col.</summary>
    RowPaths = ShiftedRows | InterleavedPlanes | Winograd | PhasePlanes,
    All = RowPaths,
}
