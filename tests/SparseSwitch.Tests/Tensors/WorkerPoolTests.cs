using SparseSwitch.Tensors;
using SparseSwitch.Tests.Support;
using Xunit;

namespace SparseSwitch.Tests.Tensors;

public class WorkerPoolTests
{
    /// <summary>Counts how often each index ran and which threads ran them.</summary>
    private sealed class Census : IParallelBody
    {
        public int[] Runs = [];
        public readonly System.Collections.Concurrent.ConcurrentDictionary<int, bool> Threads = new();
        public void Execute(int i)
        {
            Interlocked.Increment(ref Runs[i]);
            Threads[Environment.CurrentManagedThreadId] = true;
            Thread.SpinWait(200); // long enough that a second thread takes some indices
        }
    }

    [Theory]
    [InlineData(2, 1000)] // workers catch loops in quick succession while spinning
    [InlineData(2, 0)]    // workers block between loops
    [InlineData(3, 1000)] // more threads than this machine may have cores: no spinning
    public void LoopsBackToBackAndAfterPausesRunEveryIndexOnce(int threads, int spinMicroseconds)
    {
        var options = EngineOptions.Default with { Threads = threads, SpinMicroseconds = spinMicroseconds };
        {
            for (int rep = 0; rep < 600; rep++)
            {
                var body = new Census { Runs = new int[1 + rep % 37] };
                int maxThreads = rep % 3; // 0: all, 1: the caller alone, 2: two at most
                WorkerPool.For(body.Runs.Length, body, options, maxThreads);
                Assert.All(body.Runs, r => Assert.Equal(1, r));
                Assert.True(body.Threads.Count <= (maxThreads == 0 ? threads : maxThreads),
                    $"loop {rep}: {body.Threads.Count} threads ran a loop limited to {maxThreads}");
                // Every few loops a pause longer than the spin, so the workers go to sleep and are woken.
                if (rep % 10 == 9) Thread.Sleep(3);
            }
        }
    }

    private sealed class Square : IParallelBody
    {
        public int[] Out = [];
        public void Execute(int i) => Out[i] = i * i;
    }

    private sealed class Thrower : IParallelBody
    {
        public void Execute(int i) { if (i == 7) throw new InvalidOperationException("boom"); }
    }

    [Fact]
    public void RunsEveryIndexOnce()
    {
        var body = new Square { Out = new int[1000] };
        for (int rep = 0; rep < 50; rep++)
        {
            Array.Fill(body.Out, -1);
            WorkerPool.For(body.Out.Length, body, EngineOptions.Default);
            for (int i = 0; i < body.Out.Length; i++) Assert.Equal(i * i, body.Out[i]);
        }
    }

    [Fact]
    public void PropagatesExceptions()
    {
        var e = Assert.Throws<AggregateException>(() => WorkerPool.For(20, new Thrower(), EngineOptions.Default));
        Assert.IsType<InvalidOperationException>(e.InnerException);
        var body = new Square { Out = new int[10] };
        WorkerPool.For(10, body, EngineOptions.Default); // still usable afterwards
        Assert.Equal(81, body.Out[9]);
    }
}
