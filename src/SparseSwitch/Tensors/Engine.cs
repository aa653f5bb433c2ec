namespace SparseSwitch.Tensors;

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

    static Engine()
    {
        var env = Environment.GetEnvironmentVariable("SPARSESWITCH_THREADS");
        if (int.TryParse(env, out int n) && n >= 1) _threads = n;
    }
}
