using SparseSwitch.Tensors;

namespace SparseSwitch.Bench;

/// <summary>Our SGEMM under different block sizes (KC/MC/NC), interleaved; the first choice is the
/// baseline of the ratios. Options: --size N (square), --blockings KC:MC:NC:PackedBLimit(floats)[,...].</summary>
public sealed class GemmTuneBench : IBench
{
    public string Name => "gemm-tune";
    public string Description => "compare SGEMM block sizes (--size 1024 --blockings 256:96:384:524288,128:96:384:524288)";

    public int Run(BenchOptions options, Harness harness)
    {
        var shapes = new List<(int M, int N, int K)>();
        string blockings = "256:96:384:524288,128:96:384:524288,256:192:384:524288,256:96:192:524288,256:96:384:4194304";
        for (int i = 0; i < options.Rest.Count; i++)
        {
            if (options.Rest[i] == "--size" && i + 1 < options.Rest.Count)
                foreach (var s in options.Rest[++i].Split(','))
                {
                    var d = s.Split('x').Select(int.Parse).ToArray();
                    shapes.Add(d.Length == 3 ? (d[0], d[1], d[2]) : (d[0], d[0], d[0]));
                }
            else if (options.Rest[i] == "--blockings" && i + 1 < options.Rest.Count) blockings = options.Rest[++i];
            else { Console.Error.WriteLine($"gemm-tune: unknown option {options.Rest[i]}"); return 2; }
        }
        if (shapes.Count == 0) shapes.Add((1024, 1024, 1024));
        var choices = blockings.Split(',').Select(b => b.Split(':').Select(long.Parse).ToArray()).ToArray();
        {
            foreach (var (m, n, k) in shapes)
            foreach (int t in options.ThreadCountsOr(1))
            {
                var engine = EngineOptions.Default with { Threads = t };
                var a = new Tensor(m * k);
                var b = new Tensor(k * n);
                var c = new Tensor(m * n);
                new Rng(1).FillUniform(a.Span, -1f, 1f);
                new Rng(2).FillUniform(b.Span, -1f, 1f);
                var variants = choices.Select(ch =>
                {
                    var o = engine with { Gemm = new GemmBlocking { KC = (int)ch[0], MC = (int)ch[1], NC = (int)ch[2], PackedBLimit = ch[3] } };
                    return new Harness.Variant(string.Join(":", ch), () => Gemm.Sgemm(false, false, m, n, k, 1f, a.Span, k, b.Span, n, 0f, c.Span, n, o));
                }).ToArray();
                var timing = harness.Measure(variants);
                double flop = 2.0 * m * n * k;
                double baseS = timing.MedianSeconds[0];
                for (int v = 0; v < variants.Length; v++)
                    harness.ReportThroughput($"{m}x{n}x{k} t={t} {variants[v].Name}", flop / timing.MedianSeconds[v] * 1e-9,
                        flop / baseS * 1e-9, "GFLOP/s", timing.MedianSeconds[v], baseS);
            }
        }
        return 0;
    }
}
