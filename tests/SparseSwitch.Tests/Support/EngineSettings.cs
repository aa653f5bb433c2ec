using SparseSwitch.Tensors;

namespace SparseSwitch.Tests.Support;

/// <summary>The one place the tests set the engine's matmul precision, a process-wide static today
/// (<see cref="Engine.MatmulPrecision"/>): run a piece of code at a given precision and restore the
/// previous one. Callers belong to <see cref="EngineThreadsCollection"/>, which runs alone.</summary>
public static class EngineSettings
{
    public static T WithMatmulPrecision<T>(MatmulPrecision precision, Func<T> run)
    {
        var saved = Engine.MatmulPrecision;
        Engine.MatmulPrecision = precision;
        try { return run(); }
        finally { Engine.MatmulPrecision = saved; }
    }

    public static void WithMatmulPrecision(MatmulPrecision precision, Action run) =>
        WithMatmulPrecision(precision, () => { run(); return 0; });
}
