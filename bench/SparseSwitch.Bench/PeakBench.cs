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

    private static float Chains(long iters) =>
        Vector512.IsHardwareAccelerated ? Chains<Vector512<float>, Gemm512>(iters) : Chains<Vector256<float>, Gemm256>(iters);

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float Chains<TV, TO>(long iters) where TV : struct where TO : struct, IGemmVector<TV>
    {
        TV m = TO.Broadcast(0.999f), c = TO.Broadcast(0.001f);
        TV a0 = TO.Broadcast(1f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0;
        for (long i = 0; i < iters; i++)
        {
            a0 = TO.MulAdd(a0, m, c); a1 = TO.MulAdd(a1, m, c); a2 = TO.MulAdd(a2, m, c); a3 = TO.MulAdd(a3, m, c);
            a4 = TO.MulAdd(a4, m, c); a5 = TO.MulAdd(a5, m, c); a6 = TO.MulAdd(a6, m, c); a7 = TO.MulAdd(a7, m, c);
            a8 = TO.MulAdd(a8, m, c); a9 = TO.MulAdd(a9, m, c); a10 = TO.MulAdd(a10, m, c); a11 = TO.MulAdd(a11, m, c);
        }
        return TO.Sum(TO.Add(TO.Add(TO.Add(a0, a1), TO.Add(a2, a3)), TO.Add(TO.Add(TO.Add(a4, a5), TO.Add(a6, a7)), TO.Add(TO.Add(a8, a9), TO.Add(a10, a11)))));
    }
}
