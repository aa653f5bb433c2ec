using SparseSwitch.Tensors;

namespace SparseSwitch.Nn;

/// <summary>Body of a chunked loop: process items [start, end) as chunk number <paramref name="chunk"/>.</summary>
public delegate void RangeBody(int chunk, int start, int end);

/// <summary>
/// Splits [0, count) into at most <see cref="EngineOptions.Threads"/> contiguous chunks (each at least
/// <c>grain</c> items) and runs them on the <see cref="WorkerPool"/>. Chunk boundaries depend only
/// on count, grain and the thread count, so per-chunk partial results reduced in chunk order are
/// deterministic. Create one per call site (holding a delegate bound once) and reuse it: a run
/// allocates nothing.
/// </summary>
public sealed class ParallelRange : IParallelBody
{
    private readonly RangeBody _body;
    private int _count, _chunks;

    public ParallelRange(RangeBody body) => _body = body;

    /// <summary>How many chunks <see cref="Run"/> will use for this count and grain.</summary>
    public static int ChunkCount(int count, int threads, int grain = 1)
    {
        if (count <= 0) return 0;
        int byGrain = (count + Math.Max(1, grain) - 1) / Math.Max(1, grain);
        return Math.Max(1, Math.Min(threads, byGrain));
    }

    public void Run(int count, EngineOptions options, int grain = 1)
    {
        _count = count;
        _chunks = ChunkCount(count, options.Threads, grain);
        if (_chunks == 0) return;
        if (_chunks == 1) { _body(0, 0, count); return; }
        WorkerPool.For(_chunks, this, options);
    }

    public static (int Start, int End) Bounds(int chunk, int chunks, int count) =>
        ((int)((long)count * chunk / chunks), (int)((long)count * (chunk + 1) / chunks));

    void IParallelBody.Execute(int index)
    {
        var (s, e) = Bounds(index, _chunks, _count);
        if (e > s) _body(index, s, e);
    }
}
