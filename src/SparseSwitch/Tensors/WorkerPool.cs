namespace SparseSwitch.Tensors;

/// <summary>The body of a parallel loop: Execute(i) for i in [0, count). Implement it on a class
/// the caller allocates once and reuses (set its fields, then run), so that a parallel call
/// allocates nothing.</summary>
public interface IParallelBody
{
    void Execute(int index);
}

/// <summary>
/// A fixed set of worker threads (<see cref="Engine.Threads"/> − 1 of them plus the calling
/// thread). <see cref="For"/> hands out indices [0, count) dynamically and returns when all are
/// done. Allocation-free per call. Nested calls from inside a body run serially on the caller.
/// Results must not depend on which thread ran which index (write disjoint outputs).
/// </summary>
public static class WorkerPool
{
    private static readonly object Gate = new();
    private static Worker[] _workers = [];
    private static IParallelBody? _body;
    private static int _count;
    private static int _next;
    private static int _pending;
    private static Exception? _error;
    [ThreadStatic] private static bool _inside;
    private static readonly ManualResetEventSlim Done = new(false);

    private sealed class Worker
    {
        public readonly SemaphoreSlim Start = new(0);
        public Thread Thread = null!;
    }

    /// <summary>Runs body.Execute(i) for every i in [0, count) on up to <paramref name="maxThreads"/>
    /// threads (default <see cref="Engine.Threads"/>).</summary>
    public static void For(int count, IParallelBody body, int maxThreads = 0)
    {
        if (count <= 0) return;
        int threads = Math.Min(maxThreads > 0 ? maxThreads : Engine.Threads, Math.Min(Engine.Threads, count));
        if (threads <= 1 || _inside)
        {
            for (int i = 0; i < count; i++) body.Execute(i);
            return;
        }
        lock (Gate)
        {
            EnsureWorkers(threads - 1);
            _body = body;
            _count = count;
            _next = 0;
            _error = null;
            _pending = threads - 1;
            Done.Reset();
            for (int w = 0; w < threads - 1; w++) _workers[w].Start.Release();
            _inside = true;
            try { Drain(); }
            finally { _inside = false; }
            Done.Wait();
            _body = null;
            if (_error is { } e) throw new AggregateException("A parallel kernel failed.", e);
        }
    }

    private static void Drain()
    {
        var body = _body!;
        int count = _count;
        while (true)
        {
            int i = Interlocked.Increment(ref _next) - 1;
            if (i >= count) return;
            try { body.Execute(i); }
            catch (Exception e) { Interlocked.CompareExchange(ref _error, e, null); }
        }
    }

    private static void EnsureWorkers(int n)
    {
        if (_workers.Length >= n) return;
        var list = new Worker[n];
        Array.Copy(_workers, list, _workers.Length);
        for (int w = _workers.Length; w < n; w++)
        {
            var worker = new Worker();
            worker.Thread = new Thread(() => Loop(worker)) { IsBackground = true, Name = $"SparseSwitch worker {w}" };
            worker.Thread.Start();
            list[w] = worker;
        }
        _workers = list;
    }

    private static void Loop(Worker me)
    {
        _inside = true;
        while (true)
        {
            me.Start.Wait();
            Drain();
            if (Interlocked.Decrement(ref _pending) == 0) Done.Set();
        }
    }
}
