namespace SparseSwitch.Tensors;

/// <summary>How matrix products accumulate: <see cref="Fast"/> uses the packed float32 SIMD kernels;
/// <see cref="Highest"/> accumulates every dot product in double (scalar, slow) — for reference
/// runs where float rounding must not decide a ReLU at a pre-activation within rounding of zero.</summary>
public enum MatmulPrecision { Fast, Highest }

/// <summary>Process-wide engine settings.</summary>
public static class Engine
{
    private static int _threads = Math.Max(1, Environment.ProcessorCount);

    /// <summary>Number of threads the kernels use (fixed, so results are reproducible for a given
    /// count). Defaults to the processor count; set SPARSESWITCH_THREADS to override at start-up.</summary>
    public static int Threads
    {
        get => _threads;
        set
        {
            if (value < 1) throw new ArgumentOutOfRangeException(nameof(value), "Thread count must be at least 1.");
            _threads = value;
        }
    }

    /// <summary>Accumulation precision of <see cref="Gemm.Sgemm"/> (process-wide).</summary>
    public static MatmulPrecision MatmulPrecision { get; set; } = MatmulPrecision.Fast;

    static Engine()
    {
        var env = Environment.GetEnvironmentVariable("SPARSESWITCH_THREADS");
        if (int.TryParse(env, out int n) && n >= 1) _threads = n;
    }
}
