using System.Globalization;
using System.Threading.Channels;

namespace SparseSwitch.Serving;

/// <summary>Why a request was not queued.</summary>
public readonly record struct Admission(bool Admitted, string? Reason, string? Message, int RetryAfterSeconds, double PredictedMs)
{
    public static Admission Yes(double predictedMs) => new(true, null, null, 0, predictedMs);
    public static Admission No(string reason, string message, int retryAfter, double predictedMs = double.NaN) => new(false, reason, message, retryAfter, predictedMs);
}

/// <summary>
/// The bounded queue and its workers. <see cref="TryAdmit"/> refuses at once what cannot be served
/// in time (the queue holds its bound of requests, or the request's predicted completion — the run
/// in progress, then everything queued ahead of it and itself, on the fastest sub-net or the one it
/// is pinned to — exceeds its budget). Each worker (a thread of its own) takes whatever is queued,
/// up to <c>maxBatch</c> images (a request larger than that runs alone), asks the controller for
/// the sub-net, and runs the batch: requests pinned to a sub-net or carrying their own budget (the
/// most accurate sub-net predicted to finish in what is left of it) run as separate groups. A
/// request whose deadline passed while it waited is answered as expired rather than run. Buffers
/// are allocated once per worker. <see cref="Close"/> stops admission and returns when every queued
/// request has been answered.
/// </summary>
public sealed class Batcher
{
    private readonly Channel<WorkItem> _queue;
    private readonly IBatchRunner _runner;
    private readonly SubnetController _controller;
    private ServingMetrics? _metrics;
    private readonly int _maxBatch, _maxImagesPerRun, _bound;
    private readonly Thread[] _workers;
    // Wakes a worker on the writer's thread (a channel's own wait would go through the thread pool).
    private readonly SemaphoreSlim _signal = new(0);
    private int _queuedImages;
    private long _busyUntilBits, _lastRunEndBits;
    /// <summary>How often an idle server admits a request its prediction would refuse (see <see cref="TryAdmit"/>).</summary>
    public const double ProbeIntervalMs = 1000;
    private volatile bool _closed;
    private long _answered;

    public int QueueBound => _bound;
    public int QueuedImages => Volatile.Read(ref _queuedImages);
    public int QueuedRequests => _queue.Reader.Count;
    public long Answered => Interlocked.Read(ref _answered);
    public SubnetController Controller => _controller;
    /// <summary>Where queue depths, run sizes and refusals are recorded (null: nowhere).</summary>
    public ServingMetrics? Metrics { get => _metrics; set => _metrics = value; }

    public Batcher(IBatchRunner runner, SubnetController controller, int queueBound, int maxImagesPerRequest, ServingMetrics? metrics = null)
    {
        ArgumentNullException.ThrowIfNull(runner);
        ArgumentNullException.ThrowIfNull(controller);
        if (queueBound < 1) throw new ArgumentOutOfRangeException(nameof(queueBound), queueBound, "the queue bound must be ≥ 1.");
        if (maxImagesPerRequest < 1) throw new ArgumentOutOfRangeException(nameof(maxImagesPerRequest), maxImagesPerRequest, "must be ≥ 1.");
        _runner = runner;
        _controller = controller;
        _metrics = metrics;
        _bound = queueBound;
        _maxBatch = controller.MaxBatch;
        _maxImagesPerRun = Math.Max(_maxBatch, maxImagesPerRequest);
        _queue = Channel.CreateBounded<WorkItem>(new BoundedChannelOptions(queueBound)
        {
            FullMode = BoundedChannelFullMode.Wait, SingleReader = controller.Workers == 1, SingleWriter = false,
        });
        _workers = new Thread[controller.Workers];
        for (int w = 0; w < _workers.Length; w++)
        {
            _workers[w] = new Thread(Work) { IsBackground = true, Name = $"sparseswitch-worker-{w}" };
            _workers[w].Start();
        }
    }

    private double BusyUntilMs
    {
        get => BitConverter.Int64BitsToDouble(Interlocked.Read(ref _busyUntilBits));
        set => Interlocked.Exchange(ref _busyUntilBits, BitConverter.DoubleToInt64Bits(value));
    }

    private double LastRunEndMs
    {
        get => BitConverter.Int64BitsToDouble(Interlocked.Read(ref _lastRunEndBits));
        set => Interlocked.Exchange(ref _lastRunEndBits, BitConverter.DoubleToInt64Bits(value));
    }

    private static int RetrySeconds(double ms) => (int)Math.Clamp(Math.Ceiling(ms / 1000), 1, 3600);

    /// <summary>Queues the request, or says at once why not (and when to retry).</summary>
    public Admission TryAdmit(WorkItem item, double nowMs)
    {
        if (_closed) return Admission.No("shutting_down", "the server is shutting down", 1);
        _controller.Arrived(item.Images);
        int ahead = Volatile.Read(ref _queuedImages);
        int k = item.Pin ?? _controller.Pin ?? _controller.Fastest;
        double inFlight = Math.Max(0, BusyUntilMs - nowMs);
        double predicted = inFlight + _controller.Drain(k, ahead + item.Images);
        double budget = item.DeadlineMs - item.ArrivalMs;
        // An idle server takes a request on the server's objective that its profile says it can answer
        // in time even when recent runs were slower, and one a second whatever the prediction: refusing
        // costs nobody anything then, and the run corrects an estimate that has become pessimistic (a
        // profile or runs timed while another process held the cores) — without it, refusals would
        // leave nothing to observe and the estimate would never recover.
        bool idleProbe = ahead == 0 && inFlight == 0 && item.BudgetMs is null
            && (_controller.Latency.Ms(k, item.Images) <= budget || nowMs - LastRunEndMs >= ProbeIntervalMs);
        if (predicted > budget && !idleProbe)
            return Admission.No("deadline", string.Create(CultureInfo.InvariantCulture,
                $"cannot answer within {budget:G4} ms: predicted {predicted:G4} ms on sub-net {k} with {ahead} image(s) queued ahead"),
                RetrySeconds(inFlight + _controller.Drain(k, ahead)), predicted);
        Interlocked.Add(ref _queuedImages, item.Images);
        if (!_queue.Writer.TryWrite(item))
        {
            int left = Interlocked.Add(ref _queuedImages, -item.Images);
            return Admission.No(_closed ? "shutting_down" : "queue_full",
                _closed ? "the server is shutting down" : $"the queue is full ({_bound} requests waiting)",
                RetrySeconds(inFlight + _controller.Drain(k, left)), predicted);
        }
        _signal.Release();
        _metrics?.QueueDepth(Volatile.Read(ref _queuedImages));
        return Admission.Yes(predicted);
    }

    /// <summary>Stops admission and waits until every queued request has been answered.</summary>
    public void Close()
    {
        if (_closed && _workers.All(t => !t.IsAlive)) return;
        _closed = true;
        _queue.Writer.TryComplete();
        _signal.Release(_workers.Length);
        foreach (var t in _workers) t.Join();
    }

    private void Work()
    {
        int inLen = _runner.InputLength, outLen = _runner.OutputLength;
        var x = new float[_maxImagesPerRun * inLen];
        var y = new float[_maxImagesPerRun * outLen];
        var items = new List<WorkItem>(_maxBatch);
        var subnetOf = new int[_maxBatch];
        var reader = _queue.Reader;
        while (true)
        {
            if (!reader.TryPeek(out _))
            {
                if (reader.Completion.IsCompleted) break; // closed and drained
                _signal.Wait();
                continue;
            }
            items.Clear();
            int images = 0;
            while (items.Count < _maxBatch && reader.TryPeek(out var next))
            {
                if (items.Count > 0 && images + next.Images > _maxBatch) break;
                if (!reader.TryRead(out next)) break;
                items.Add(next);
                images += next.Images;
                if (images >= _maxBatch) break;
            }
            if (items.Count == 0) continue;
            int waiting = Interlocked.Add(ref _queuedImages, -images);
            _metrics?.QueueDepth(waiting);
            RunBatch(items, images, waiting, subnetOf, x, y, inLen, outLen);
        }
    }

    private void RunBatch(List<WorkItem> items, int images, int waiting, int[] subnetOf, float[] x, float[] y, int inLen, int outLen)
    {
        double now = Clock.NowMs;
        int current = _controller.Decide(now, images + waiting, now - items[0].ArrivalMs);
        for (int i = 0; i < items.Count; i++)
        {
            var it = items[i];
            it.QueueMs = now - it.ArrivalMs;
            if (now > it.DeadlineMs)
            {
                subnetOf[i] = -1;
                _metrics?.Refused("expired");
                Finish(it, WorkStatus.Expired, string.Create(CultureInfo.InvariantCulture,
                    $"deadline passed while queued (waited {it.QueueMs:G4} ms, budget {it.DeadlineMs - it.ArrivalMs:G4} ms)"));
                continue;
            }
            subnetOf[i] = it.Pin ?? (it.BudgetMs is not null && _controller.Pin is null ? _controller.MostAccurateWithin(it.DeadlineMs - now, images) : current);
        }
        for (int i = 0; i < items.Count; i++)
        {
            int s = subnetOf[i];
            if (s < 0) continue;
            int n = 0;
            for (int j = i; j < items.Count; j++)
            {
                if (subnetOf[j] != s) continue;
                items[j].Input.AsSpan(0, items[j].Images * inLen).CopyTo(x.AsSpan(n * inLen));
                n += items[j].Images;
            }
            double t0 = Clock.NowMs;
            BusyUntilMs = t0 + _controller.Service(s, n);
            string? error = null;
            try { _runner.Run(s, x.AsSpan(0, n * inLen), y.AsSpan(0, n * outLen), n); }
            catch (Exception e) when (e is not OutOfMemoryException) { error = $"inference failed: {e.Message}"; }
            double t1 = Clock.NowMs, ms = t1 - t0;
            BusyUntilMs = 0;
            LastRunEndMs = t1;
            if (error is null)
            {
                _controller.Observe(s, n, ms);
                _metrics?.Batch(n);
            }
            int offset = 0;
            for (int j = i; j < items.Count; j++)
            {
                if (subnetOf[j] != s) continue;
                var it = items[j];
                subnetOf[j] = -1;
                if (error is not null) { Finish(it, WorkStatus.Failed, error); continue; }
                y.AsSpan(offset * outLen, it.Images * outLen).CopyTo(it.Output);
                offset += it.Images;
                it.Subnet = s;
                it.ServiceMs = ms;
                it.RunImages = n;
                Finish(it, WorkStatus.Done);
            }
        }
    }

    private void Finish(WorkItem item, WorkStatus status, string? error = null)
    {
        Interlocked.Increment(ref _answered);
        item.Complete(status, error);
    }
}
