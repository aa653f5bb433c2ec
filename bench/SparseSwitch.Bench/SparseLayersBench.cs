using SparseSwitch.Inference;
using SparseSwitch.Nn;
using SparseSwitch.Sparsity;
using SparseSwitch.Tensors;
using SparseSwitch.Tensors.Conv;
using SparseSwitch.Tensors.Sparse;

namespace SparseSwitch.Bench;

/// <summary>
/// `sparse-layers`: one layer's inference forward with sparse weights, compiled as the inference
/// plans run it (CSR, or N:M packed for N:M patterns), against the best dense forward measured in
/// the same run — ours (the training engine's layer; the same layer compiled dense) or OpenBLAS at its best (cblas_sgemv at batch 1, never a one-column GEMM;
/// cblas_sgemm, for convolutions on im2col columns). Cases: Linear 1024×1024, Conv2d 3×3 128→128 on
/// 8×8 and 32→32 on 32×32; batch 1 and 64; unstructured 50–98 % and N:M 2:4, 1:4, 1:8 (magnitude
/// masks of random weights). Ratio = best dense time / sparse time. Threads: --threads (default 2).
/// </summary>
public sealed unsafe class SparseLayersBench : IBench
{
    public string Name => "sparse-layers";
    public string Description => "sparse vs best dense (ours, OpenBLAS) per layer: Linear 1024, Conv 3x3 128@8x8 and 32@32x32, batch 1 and 64";

    private static readonly string[] Patterns = ["unstructured-50%", "unstructured-80%", "unstructured-90%", "unstructured-95%", "unstructured-98%", "2:4", "1:4", "1:8"];

    public int Run(BenchOptions options, Harness harness)
    {
        var layers = new List<string> { "linear-1024", "conv3x3-c128-8x8", "conv3x3-c32-32x32" };
        var batches = new List<int> { 1, 64 };
        var patterns = Patterns.ToList();
        for (int i = 0; i < options.Rest.Count; i++)
        {
            string a = options.Rest[i];
            string Value() => i + 1 < options.Rest.Count ? options.Rest[++i] : throw new ArgumentException($"{a} needs a value");
            try
            {
                switch (a)
                {
                    case "--layers": layers = [.. Value().Split(',')]; break;
                    case "--batches": batches = [.. Value().Split(',').Select(int.Parse)]; break;
                    case "--patterns": patterns = [.. Value().Split(',')]; break;
                    default: throw new ArgumentException($"unknown option {a} (--layers, --batches, --patterns)");
                }
            }
            catch (Exception e) when (e is ArgumentException or FormatException)
            {
                Console.Error.WriteLine($"sparse-layers: {e.Message}");
                return 2;
            }
        }
        if (OpenBlas.PrepareEnvironment() is int rc) return rc;
        int threads = options.ThreadCountsOr(2)[0];
        var engine = EngineOptions.Default with { Threads = threads };
        bool blas = OpenBlas.Unavailable == "";
        if (blas) OpenBlas.openblas_set_num_threads(threads);
        Console.WriteLine($"sparse-layers: {threads} threads; OpenBLAS: {(blas ? OpenBlas.CoreName : OpenBlas.Unavailable)}");
        foreach (string layer in layers)
            foreach (int batch in batches)
            {
                var dense = DenseVariants(layer, batch, engine, blas, out var weight, out int rows, out int cols, out var sparseFor);
                foreach (string pattern in patterns)
                {
                    var mask = Mask(weight, rows, cols, pattern, layer.StartsWith("conv") ? 9 : 1);
                    var csr = CsrMatrix.FromDense(weight, rows, cols, mask);
                    // Each sparse form the plans have for this mask: CSR; N:M packed for an N:M pattern;
                    // sliced for a Linear layer at one image.
                    var sparseForms = new List<Harness.Variant> { new("csr", sparseFor(mask, WeightFormat.Csr, null)) };
                    if (pattern.Contains(':')) sparseForms.Add(new("nm-packed", sparseFor(mask, WeightFormat.NmPacked, Pattern(pattern))));
                    if (layer.StartsWith("linear") && batch == 1) sparseForms.Add(new("sliced", sparseFor(mask, WeightFormat.Sliced, null)));
                    var variants = dense.Concat(sparseForms).ToArray();
                    var t = harness.Measure(variants);
                    int best = 0;
                    for (int v = 1; v < dense.Count; v++) if (t.MedianSeconds[v] < t.MedianSeconds[best]) best = v;
                    int bestSparse = dense.Count;
                    for (int v = dense.Count + 1; v < variants.Length; v++) if (t.MedianSeconds[v] < t.MedianSeconds[bestSparse]) bestSparse = v;
                    double sparse = t.MedianSeconds[bestSparse], bestDense = t.MedianSeconds[best];
                    harness.ReportTime($"{layer} {pattern} batch={batch}", sparse * 1e6, bestDense * 1e6, "us",
                        $"sparse: {variants[bestSparse].Name}; "+
                        $"best dense: {dense[best].Name}; density {csr.Density:0.000}; weights {csr.Bytes / 1024} KiB vs {rows * (long)cols * 4 / 1024} KiB");
                }
            }
        return 0;
    }

    /// <summary>A mask of <paramref name="w"/> [rows, cols]: the largest magnitudes for an
    /// unstructured density, or N of every M along the input dimension for N:M (groups along
    /// input channels; <paramref name="taps"/> kernel positions per channel for convolutions).</summary>
    private static BitMask Mask(float[] w, int rows, int cols, string pattern, int taps)
    {
        if (pattern.StartsWith("unstructured-"))
        {
            double density = 1 - double.Parse(pattern["unstructured-".Length..].TrimEnd('%')) / 100;
            return InferBench.Magnitude(w, density);
        }
        var nm = pattern.Split(':').Select(int.Parse).ToArray();
        int[] shape = taps == 1 ? [rows, cols] : [rows, cols / taps, 3, 3];
        return NmMask.Compute(w, shape, nm[0], nm[1]);
    }

    private static List<Harness.Variant> DenseVariants(string layer, int batch, EngineOptions engine, bool blas,
        out float[] weight, out int rows, out int cols, out Func<BitMask, WeightFormat, NmPattern?, Action> sparse)
    {
        var rng = new Rng(7);
        var list = new List<Harness.Variant>();
        if (layer == "linear-1024")
        {
            const int n = 1024;
            var lin = new Linear(n, n, bias: false, rng: rng);
            lin.UseOptions(engine);
            lin.Eval();
            var x = new Tensor(batch, n);
            rng.FillNormal(x.Span, 0, 1);
            var y = new float[batch * n];
            var w = lin.Weight.Data;
            weight = w.Span.ToArray();
            (rows, cols) = (n, n);
            list.Add(new("ours dense", () => lin.Forward(x)));
            if (blas)
                list.Add(new("openblas", () =>
                {
                    fixed (float* pw = w.Span, px = x.Span, py = y)
                        if (batch == 1) OpenBlas.cblas_sgemv(OpenBlas.RowMajor, OpenBlas.NoTrans, n, n, 1f, pw, n, px, 1, 0f, py, 1);
                        else OpenBlas.cblas_sgemm(OpenBlas.RowMajor, OpenBlas.NoTrans, OpenBlas.Trans, batch, n, n, 1f, px, n, pw, n, 0f, py, n);
                }));
            var yd = new float[batch * n];
            var compiledDense = Compiled(lin, n, 1, null, null, batch, engine, FormatChoice.Dense);
            list.Add(new("ours compiled dense", () => compiledDense.Run(0, x.Span, yd, batch)));
            sparse = (mask, form, pattern) =>
            {
                var m = Compiled(lin, n, 1, mask, pattern, batch, engine, FormatChoice.Sparse, form);
                return () => m.Run(0, x.Span, y, batch);
            };
            return list;
        }
        var (c, size) = layer switch
        {
            "conv3x3-c128-8x8" => (128, 8),
            "conv3x3-c32-32x32" => (32, 32),
            _ => throw new ArgumentException($"unknown layer '{layer}' (linear-1024, conv3x3-c128-8x8, conv3x3-c32-32x32)"),
        };
        var conv = new Conv2d(c, c, 3, 1, 1, bias: false, rng: rng);
        conv.UseOptions(engine);
        conv.Eval();
        var xs = new Tensor(batch, c, size, size);
        rng.FillNormal(xs.Span, 0, 1);
        var ys = new float[batch * c * size * size];
        weight = conv.Weight.Data.Span.ToArray();
        (rows, cols) = (c, c * 9);
        list.Add(new("ours dense", () => conv.Forward(xs)));
        if (blas)
        {
            // im2col of the whole batch side by side, then one sgemm [c, 9c] · [9c, batch·P].
            var g = new ConvGeometry(c, size, size, 3, 3, 1, 1, 1, 1);
            int p = g.ColCols, ld = batch * p;
            var col = new float[g.ColRows * ld];
            var wv = conv.Weight.Data;
            var yc = new float[c * ld];
            list.Add(new("openblas im2col", () =>
            {
                for (int j = 0; j < batch; j++) Im2Col.Unfold(g, xs.Span.Slice(j * c * size * size, c * size * size), col.AsSpan(j * p), ld);
                fixed (float* pw = wv.Span, pc = col, py = yc)
                    OpenBlas.cblas_sgemm(OpenBlas.RowMajor, OpenBlas.NoTrans, OpenBlas.NoTrans, c, ld, g.ColRows, 1f, pw, g.ColRows, pc, ld, 0f, py, ld);
            }));
        }
        var ysd = new float[batch * c * size * size];
        var convDense = Compiled(conv, c, size, null, null, batch, engine, FormatChoice.Dense);
        list.Add(new("ours compiled dense", () => convDense.Run(0, xs.Span, ysd, batch)));
        sparse = (mask, form, pattern) =>
        {
            var m = Compiled(conv, c, size, mask, pattern, batch, engine, FormatChoice.Sparse, form);
            return () => m.Run(0, xs.Span, ys, batch);
        };
        return list;
    }

    /// <summary>The layer alone compiled as the inference plans run it (with <paramref name="formats"/>
    /// Sparse: in <paramref name="form"/>), in the plans' groups of images.</summary>
    private static InferenceModel Compiled(Module layer, int c, int size, BitMask? mask, NmPattern? pattern, int batch, EngineOptions engine, FormatChoice formats, WeightFormat? form = null) =>
        InferenceModel.Compile(layer, c, size, [mask is null ? null : new Dictionary<string, BitMask> { ["weight"] = mask }],
            new InferenceOptions { Engine = engine, Formats = formats, SparseForm = form }, [pattern]);

    private static NmPattern? Pattern(string pattern) =>
        pattern.Contains(':') ? new NmPattern(pattern[0] - '0', pattern[2] - '0') : null;
}
