using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using SparseSwitch.Tensors;

namespace SparseSwitch.Bench;

/// <summary>
/// peak: the machine's fused multiply-add throughput (GFLOP/s) with the widest accelerated vector,
/// 1 and 2 threads: 12 independent accumulator chains, no memory traffic. The ceiling against
/// which the GEMM and convolution kernels' figures can be read.
/// </summary>
public sealed class PeakBench : IBench
{
    public string Name => "peak";
    public string Description => "FMA throughput ceiling of this machine (GFLOP/s, 1 and 2 threads)";

    public int Run(BenchOptions options, Harness harness)
    {
        int width = Vector512.IsHardwareAccelerated ? 16 : 8;
        Console.WriteLine($"vector width {width} floats");
        Chains(1000);
        foreach (int t in options.ThreadCountsOr(1, 2))
        {
            const long iters = 50_000_000;
            double best = 0;
            for (int r = 0; r < 5; r++)
            {
                long t0 = Stopwatch.GetTimestamp();
                var threads = Enumerable.Range(0, t).Select(_ => new Thread(() => Chains(iters))).ToList();
                threads.ForEach(th => th.Start());
                threads.ForEach(th => th.Join());
                double s = Stopwatch.GetElapsedTime(t0).TotalSeconds;
                best = Math.Max(best, iters * 12.0 * width * 2 * t / s / 1e9);
            }
            Console.WriteLine($"threads {t}: {best:0.0} GFLOP/s (best of 5)");
        }
        return 0;
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float Chains(long iters)
    {
        if (Vector512.IsHardwareAccelerated)
        {
            var m = Vector512.Create(0.999f); var c = Vector512.Create(0.001f);
            Vector512<float> a0 = Vector512.Create(1f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0;
            for (long i = 0; i < iters; i++)
            {
                a0 = Vector512.FusedMultiplyAdd(a0, m, c); a1 = Vector512.FusedMultiplyAdd(a1, m, c); a2 = Vector512.FusedMultiplyAdd(a2, m, c);
                a3 = Vector512.FusedMultiplyAdd(a3, m, c); a4 = Vector512.FusedMultiplyAdd(a4, m, c); a5 = Vector512.FusedMultiplyAdd(a5, m, c);
                a6 = Vector512.FusedMultiplyAdd(a6, m, c); a7 = Vector512.FusedMultiplyAdd(a7, m, c); a8 = Vector512.FusedMultiplyAdd(a8, m, c);
                a9 = Vector512.FusedMultiplyAdd(a9, m, c); a10 = Vector512.FusedMultiplyAdd(a10, m, c); a11 = Vector512.FusedMultiplyAdd(a11, m, c);
            }
            return Vector512.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11);
        }
        else
        {
            var m = Vector256.Create(0.999f); var c = Vector256.Create(0.001f);
            Vector256<float> a0 = Vector256.Create(1f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0;
            for (long i = 0; i < iters; i++)
            {
                a0 = Vector256.FusedMultiplyAdd(a0, m, c); a1 = Vector256.FusedMultiplyAdd(a1, m, c); a2 = Vector256.FusedMultiplyAdd(a2, m, c);
                a3 = Vector256.FusedMultiplyAdd(a3, m, c); a4 = Vector256.FusedMultiplyAdd(a4, m, c); a5 = Vector256.FusedMultiplyAdd(a5, m, c);
                a6 = Vector256.FusedMultiplyAdd(a6, m, c); a7 = Vector256.FusedMultiplyAdd(a7, m, c); a8 = Vector256.FusedMultiplyAdd(a8, m, c);
                a9 = Vector256.FusedMultiplyAdd(a9, m, c); a10 = Vector256.FusedMultiplyAdd(a10, m, c); a11 = Vector256.FusedMultiplyAdd(a11, m, c);
            }
            return Vector256.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11);
        }
    }
}
