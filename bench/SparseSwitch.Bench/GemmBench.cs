using SparseSwitch.Tensors;

namespace SparseSwitch.Bench;

/// <summary>Our SGEMM against OpenBLAS cblas_sgemm, GFLOP/s, square sizes and convolution-shaped
/// products, 1 and 2 threads, interleaved in one process.</summary>
public sealed class GemmBench : IBench
{
    public string Name => "gemm";
    public string Description => "SGEMM GFLOP/s vs OpenBLAS cblas_sgemm (options: --sizes 256,512 --no-conv (drops conv and gemv cases) --openblas-core SkylakeX)";

    private sealed record Case(string Label, bool TransA, bool TransB, int M, int N, int K)
    {
        /// <summary>A matrix–vector product: the baseline is cblas_sgemv on the matrix operand.</summary>
        public bool Gemv { get; init; }
    }

    public unsafe int Run(BenchOptions options, Harness harness)
    {
        int[] sizes = options.Quick ? [256, 512] : [256, 512, 1024, 2048];
        bool conv = true;
        string core = "SkylakeX";
        for (int i = 0; i < options.Rest.Count; i++)
        {
            if (options.Rest[i] == "--openblas-core" && i + 1 < options.Rest.Count) { core = options.Rest[++i]; continue; }
            if (options.Rest[i] == "--sizes" && i + 1 < options.Rest.Count)
                sizes = options.Rest[++i].Split(',').Select(int.Parse).ToArray();
            else if (options.Rest[i] == "--no-conv") conv = false;
            else { Console.Error.WriteLine($"gemm: unknown option {options.Rest[i]}"); return 2; }
        }
        if (OpenBlas.PrepareEnvironment(core) is int rc) return rc;
        var cases = sizes.Select(s => new Case($"n={s}", false, false, s, s, s)).ToList();
        if (conv)
        {
            // im2col products: forward W[co×ci·9]·col, dX = Wᵀ·dY, dW = dY·colᵀ.
            cases.Add(new Case("conv fwd 16x1024x144", false, false, 16, 1024, 144));
            cases.Add(new Case("conv fwd 32x4096x27", false, false, 32, 4096, 27));
            cases.Add(new Case("conv fwd 64x1024x576", false, false, 64, 1024, 576));
            cases.Add(new Case("conv fwd 128x1024x1152", false, false, 128, 1024, 1152));
            cases.Add(new Case("conv dX T,N 576x1024x64", true, false, 576, 1024, 64));
            cases.Add(new Case("conv dW N,T 64x576x1024", false, true, 64, 576, 1024));
        }
        if (conv)
        {
            // Batch-1 Linear layers (1024×1024 weight): the baseline is cblas_sgemv, as BASELINES says.
            cases.Add(new Case("gemv W·x 1024x1x1024", false, false, 1024, 1, 1024) { Gemv = true });
            cases.Add(new Case("gemv x·Wt 1x1024x1024", false, true, 1, 1024, 1024) { Gemv = true });
        }
        int[] threadCounts = options.ThreadCountsOr(1, 2);
        bool blas = OpenBlas.Unavailable == "";
        if (blas)
            Console.WriteLine($"OpenBLAS core: {OpenBlas.CoreName}; config: {OpenBlas.Config}; " +
                              $"OPENBLAS_CORETYPE={Environment.GetEnvironmentVariable("OPENBLAS_CORETYPE") ?? "(unset)"}, " +
                              $"OPENBLAS_L2_SIZE={Environment.GetEnvironmentVariable("OPENBLAS_L2_SIZE") ?? "(unset)"}");
        else
            Console.WriteLine($"OpenBLAS unavailable: {OpenBlas.Unavailable}; printing ours only.");
        Console.WriteLine($"Our kernel: {(System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated ? "Vector512" : "Vector256/128")}, " +
                          $"threads {string.Join(",", threadCounts)}");

        {
            foreach (var cs in cases)
            {
                int lda = cs.TransA ? cs.M : cs.K, ldb = cs.TransB ? cs.K : cs.N;
                var a = new Tensor(cs.M * cs.K);
                var b = new Tensor(cs.K * cs.N);
                var c = new Tensor(cs.M * cs.N);
                var rng = new Rng(1);
                rng.FillUniform(a.Span, -1f, 1f);
                rng.FillUniform(b.Span, -1f, 1f);
                double flop = 2.0 * cs.M * cs.N * cs.K;
                foreach (int t in threadCounts)
                {
                    // Each side's thread count is its own setting, so both are set once here.
                    var engine = EngineOptions.Default with { Threads = t };
                    if (blas) OpenBlas.openblas_set_num_threads(t);
                    var variants = new List<Harness.Variant>
                    {
                        new("ours", () =>
                        {
                            Gemm.Sgemm(cs.TransA, cs.TransB, cs.M, cs.N, cs.K, 1f, a.Span, lda, b.Span, ldb, 0f, c.Span, cs.N, engine);
                        }),
                    };
                    if (blas)
                        variants.Add(new("openblas", () =>
                        {
                            fixed (float* pa = a.Span, pb = b.Span, pc = c.Span)
                                if (cs.Gemv && cs.N == 1) // y[m] = A[m×k] · x
                                    OpenBlas.cblas_sgemv(OpenBlas.RowMajor, OpenBlas.NoTrans, cs.M, cs.K, 1f, pa, lda, pb, 1, 0f, pc, 1);
                                else if (cs.Gemv) // y[n] = B[n×k] · x (B stored transposed)
                                    OpenBlas.cblas_sgemv(OpenBlas.RowMajor, OpenBlas.NoTrans, cs.N, cs.K, 1f, pb, ldb, pa, 1, 0f, pc, 1);
                                else
                                    OpenBlas.cblas_sgemm(OpenBlas.RowMajor, cs.TransA ? OpenBlas.Trans : OpenBlas.NoTrans,
                                        cs.TransB ? OpenBlas.Trans : OpenBlas.NoTrans, cs.M, cs.N, cs.K, 1f, pa, lda, pb, ldb, 0f, pc, cs.N);
                        }));
                    var timing = harness.Measure(variants.ToArray());
                    double ours = timing["ours"];
                    double? theirs = blas ? timing["openblas"] : null;
                    harness.ReportThroughput($"{cs.Label} t={t}", flop / ours * 1e-9, theirs is double s ? flop / s * 1e-9 : null,
                        "GFLOP/s", ours, theirs);
                }
            }
        }
        return 0;
    }
}
