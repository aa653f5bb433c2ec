using System.Diagnostics;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;

namespace SparseSwitch.Bench;

/// <summary>
/// OpenBLAS (Debian libopenblas0-pthread) through P/Invoke, as a baseline. OpenBLAS reads
/// OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE from the native environment when it loads; presets of
/// those select slower kernels, and Environment.SetEnvironmentVariable does not reach the native
/// environment, so <see cref="PrepareEnvironment"/> restarts the process without them.
/// </summary>
public static unsafe partial class OpenBlas
{
    private const string Lib = "libopenblas.so.0";
    public const int RowMajor = 101, NoTrans = 111, Trans = 112;
    private static readonly string[] Presets = ["OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"];
    private const string ReexecMarker = "SPARSESWITCH_BENCH_REEXEC";

    /// <summary>Null when the library loads; otherwise why it does not.</summary>
    public static string? Unavailable { get; } = Probe();

    private static string? Probe()
    {
        if (NativeLibrary.TryLoad(Lib, out _)) return null;
        return $"{Lib} not found (install with `apt-get install -y libopenblas0-pthread`)";
    }

    /// <summary>
    /// Makes sure OpenBLAS runs its best kernels, re-running this same command line in a child
    /// process when the environment has to change (returns the child's exit code; null: carry on
    /// in this process). Presets of OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are removed. If OpenBLAS's
    /// own detection then misses an AVX-512 CPU (0.3.21 does not know every model and falls back
    /// to Prescott SSE3 kernels), OPENBLAS_CORETYPE is set to <paramref name="avx512Core"/>.
    /// </summary>
    public static int? PrepareEnvironment(string avx512Core = "SkylakeX")
    {
        string stage = Environment.GetEnvironmentVariable(ReexecMarker) ?? "";
        var found = Presets.Where(p => Environment.GetEnvironmentVariable(p) is not null).ToList();
        if (stage == "")
        {
            if (found.Count > 0)
            {
                Console.WriteLine($"re-executing without {string.Join(", ", found.Select(p => $"{p}={Environment.GetEnvironmentVariable(p)}"))} so OpenBLAS picks its kernels itself");
                return Reexec(found, null, "clean");
            }
            stage = "clean";
        }
        if (stage == "clean" && Unavailable is null && Avx512F.IsSupported && Avx512BW.IsSupported && Avx512DQ.IsSupported)
        {
            string detected = CoreName;
            if (!Avx512Cores.Contains(detected, StringComparer.OrdinalIgnoreCase))
            {
                Console.WriteLine($"OpenBLAS detected core '{detected}' on an AVX-512 CPU; re-executing with OPENBLAS_CORETYPE={avx512Core}");
                return Reexec([], avx512Core, "forced");
            }
        }
        return null;
    }

    private static readonly string[] Avx512Cores = ["SkylakeX", "Cooperlake", "SapphireRapids"];

    private static int Reexec(List<string> remove, string? coreType, string stage)
    {
        string exe = Environment.ProcessPath ?? throw new InvalidOperationException("Cannot find this process's path to re-execute it.");
        var psi = new ProcessStartInfo(exe) { UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(exe) == "dotnet") psi.ArgumentList.Add(Assembly.GetEntryAssembly()!.Location);
        foreach (var a in Environment.GetCommandLineArgs().Skip(1)) psi.ArgumentList.Add(a);
        foreach (var p in remove) psi.Environment.Remove(p);
        if (coreType is not null) psi.Environment["OPENBLAS_CORETYPE"] = coreType;
        psi.Environment[ReexecMarker] = stage;
        using var child = Process.Start(psi)!;
        child.WaitForExit();
        return child.ExitCode;
    }

    [LibraryImport(Lib)] public static partial void cblas_sgemm(int order, int transA, int transB, int m, int n, int k,
        float alpha, float* a, int lda, float* b, int ldb, float beta, float* c, int ldc);
    [LibraryImport(Lib)] public static partial void openblas_set_num_threads(int n);
    [LibraryImport(Lib)] public static partial int openblas_get_num_threads();
    [LibraryImport(Lib)] private static partial nint openblas_get_corename();
    [LibraryImport(Lib)] private static partial nint openblas_get_config();

    public static string CoreName => Marshal.PtrToStringUTF8(openblas_get_corename()) ?? "?";
    public static string Config => Marshal.PtrToStringUTF8(openblas_get_config()) ?? "?";
}
