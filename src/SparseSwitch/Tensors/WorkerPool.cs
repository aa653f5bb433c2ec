using System.Diagnostics;

namespace SparseSwitch.Tensors;

/// <summary>The body of a parallel loop: Execute(i) for i in [0, count). Implement it on a class
/// the caller allocates once and reuses (set its fields, then run), so that a parallel call
/// allocates nothing.</summary>
public interface IParallelBody
{
    void Execute(int index);
}

/// <summary>
/// A set of worker threads shared by the process (as many as the largest
/// <see cref="EngineOptions.Threads"/> asked for, less one, plus the calling thread). <see cref="For"/> hands out indices [0, count) dynamically and returns when all are
/// done. Allocation-free per call. Nested calls from inside a body run serially on the caller.
/// Results must not depend on which thread ran which index (write disjoint outputs).
/// <para>A training step is hundreds of short parallel loops with a little serial work between
/// them. Waking a thread blocked in the kernel takes tens of microseconds (more in a virtual
/// machine), and a loop split into one chunk per thread waits for its slowest chunk, so after a
/// loop the workers spin for <see cref="EngineOptions.SpinMicroseconds"/> (of the last loop's options) watching for the next one before they
/// block; the caller likewise spins for the workers' last chunks before blocking. Spinning is off
/// when there are more threads than processors (a spinning thread would take a core from one with
/// work).</para>
/// </summary>
public static class WorkerPool
{
    private static readonly object Gate = new();
    private static Worker[] _workers = [];
    private static IParallelBody? _body;
    private static int _count;
    private static int _next;
    private static int _pending;
    private static int _active;
    private static long _generation;
    private static Exception? _error;
    [ThreadStatic] private static bool _inside;
    private static readonly ManualResetEventSlim Done = new(false);

    // The spin of the last loop started (EngineOptions.SpinMicroseconds), read by the workers after it.
    private static int _spinMicroseconds = EngineOptions.Default.SpinMicroseconds;

    private sealed class Worker
    {
        public readonly SemaphoreSlim Start = new(0);
        /// <summary>While the worker is blocked (or about to block) on <see cref="Start"/>: the number
        /// of the loop it waits for; 0 otherwise. A number rather than a flag, so that a caller
        /// late to wake this worker for one loop cannot wake it for the next (which the worker may
        /// already be waiting for, having taken part in the first without being woken).</summary>
        public long Sleeping;
        public int Id;
        /// <summary>Loops started before this worker did (read once at its start).</summary>
        public long Seen;
        public Thread Thread = null!;
    }

    private static long SpinTicks =>
        _workers.Length + 1 > Environment.ProcessorCount ? 0 : Volatile.Read(ref _spinMicroseconds) * Stopwatch.Frequency / 1_000_000;

    /// <summary>Runs body.Execute(i) for every i in [0, count) on up to <paramref name="maxThreads"/>
    /// threads (default and at most <paramref name="options"/>.Threads).</summary>
    public static void For(int count, IParallelBody body, EngineOptions options, int maxThreads = 0)
    {
        if (count <= 0) return;
        int threads = Math.Min(maxThreads > 0 ? maxThreads : options.Threads, Math.Min(options.Threads, count));
        if (threads <= 1 || _inside)
        {
            for (int i = 0; i < count; i++) body.Execute(i);
            return;
        }
        lock (Gate)
        {
            EnsureWorkers(threads - 1);
            Volatile.Write(ref _spinMicroseconds, options.SpinMicroseconds);
            _body = body;
            _count = count;
            _next = 0;
            _error = null;
            // Every worker joins a loop (only the first threads − 1 take indices), so that a
            // worker's count of loops never falls behind.
            _active = threads - 1;
            _pending = _workers.Length;
            Done.Reset();
            long loop = Interlocked.Increment(ref _generation); // publishes the fields above
            foreach (var w in _workers)
                if (Interlocked.CompareExchange(ref w.Sleeping, 0, loop) == loop) w.Start.Release();
            _inside = true;
            try { Drain(); }
            finally { _inside = false; }
            WaitForWorkers();
            _body = null;
            if (_error is { } e) throw new AggregateException("A parallel kernel failed.", e);
        }
    }

    private static void WaitForWorkers()
    {
        long ticks = SpinTicks;
        if (ticks > 0)
        {
            long until = Stopwatch.GetTimestamp() + ticks;
            while (Volatile.Read(ref _pending) != 0)
            {
                if (Stopwatch.GetTimestamp() > until) break;
                Thread.SpinWait(8);
            }
        }
        Done.Wait();
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
            var worker = new Worker { Id = w, Seen = Volatile.Read(ref _generation) };
            worker.Thread = new Thread(() => Loop(worker)) { IsBackground = true, Name = $"SparseSwitch worker {w}" };
            worker.Thread.Start();
            list[w] = worker;
        }
        _workers = list;
    }

    private static void Loop(Worker me)
    {
        _inside = true;
        long seen = me.Seen;
        while (true)
        {
            WaitForLoop(me, seen);
            seen++;
            if (me.Id < _active) Drain();
            if (Interlocked.Decrement(ref _pending) == 0) Done.Set();
        }
    }

    /// <summary>Returns once loop number seen + 1 has started: spins for a while, then blocks.</summary>
    private static void WaitForLoop(Worker me, long seen)
    {
        long ticks = SpinTicks;
        if (ticks > 0)
        {
            long until = Stopwatch.GetTimestamp() + ticks;
            while (Volatile.Read(ref _generation) == seen)
            {
                if (Stopwatch.GetTimestamp() > until) break;
                Thread.SpinWait(8);
            }
            if (Volatile.Read(ref _generation) != seen) return;
        }
        // Announce the sleep, then look again: a loop started after this look finds its number in
        // Sleeping and releases the semaphore; one that started before it either took the number
        // (and releases: consume that) or did not (take the number back and go on).
        Interlocked.Exchange(ref me.Sleeping, seen + 1);
        if (Volatile.Read(ref _generation) != seen && Interlocked.Exchange(ref me.Sleeping, 0) != 0) return;
        me.Start.Wait();
    }
}
