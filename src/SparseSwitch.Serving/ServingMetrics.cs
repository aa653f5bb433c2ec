using System.Globalization;
using Prometheus;

namespace SparseSwitch.Serving;

/// <summary>
/// The server's Prometheus metrics, in a registry of its own (so that several servers in one
/// process do not share series), served at <c>/metrics</c>:
/// <list type="bullet">
/// <item><c>sparseswitch_http_requests_total{endpoint, code}</c>: answered requests by endpoint and status code;</item>
/// <item><c>sparseswitch_request_duration_seconds{subnet}</c>: arrival to answer of successful predictions, by the sub-net that served them;</item>
/// <item><c>sparseswitch_images_total{subnet}</c>: images classified by each sub-net;</item>
/// <item><c>sparseswitch_refused_total{reason}</c>: predictions answered 503 (queue_full, deadline, expired, warming_up, shutting_down);</item>
/// <item><c>sparseswitch_current_subnet</c>: the sub-net unpinned requests are served by; <c>sparseswitch_subnet_switches_total</c>;</item>
/// <item><c>sparseswitch_queue_depth</c>: images waiting; <c>sparseswitch_batch_size</c>: images per run;</item>
/// <item><c>sparseswitch_slowdown</c>: observed / profiled service time; <c>sparseswitch_arrival_rate</c>: images per second;
/// <c>sparseswitch_objective_seconds</c>; <c>sparseswitch_ready</c>;</item>
/// <item>the process's own (<c>process_*</c>, <c>dotnet_*</c>: memory, threads, CPU, collections).</item>
/// </list>
/// </summary>
public sealed class ServingMetrics
{
    public CollectorRegistry Registry { get; } = Metrics.NewCustomRegistry();

    private readonly Counter _requests;
    private readonly Histogram _duration;
    private readonly Counter _images;
    private readonly Counter _refused;
    private readonly Gauge _current;
    private readonly Counter _switches;
    private readonly Gauge _queue;
    private readonly Histogram _batch;
    private readonly Gauge _ready;
    private readonly Gauge _slowdown;
    private readonly Gauge _rate;
    private volatile SubnetController? _controller;
    private Histogram.Child[] _durationBySubnet = [];
    private Counter.Child[] _imagesBySubnet = [];

    public ServingMetrics(int maxBatch, double objectiveMs)
    {
        var f = Metrics.WithCustomRegistry(Registry);
        _requests = f.CreateCounter("sparseswitch_http_requests_total", "HTTP requests answered, by endpoint and status code.", ["endpoint", "code"]);
        _duration = f.CreateHistogram("sparseswitch_request_duration_seconds", "Arrival to answer of successful predictions, by the sub-net that served them.", ["subnet"],
            new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(0.00025, 1.5, 24) });
        _images = f.CreateCounter("sparseswitch_images_total", "Images classified, by sub-net.", ["subnet"]);
        _refused = f.CreateCounter("sparseswitch_refused_total", "Predictions refused with 503, by reason.", ["reason"]);
        _current = f.CreateGauge("sparseswitch_current_subnet", "The sub-net that serves unpinned requests now (index in the model file).");
        _switches = f.CreateCounter("sparseswitch_subnet_switches_total", "Changes of the serving sub-net.");
        _queue = f.CreateGauge("sparseswitch_queue_depth", "Images waiting in the queue.");
        _batch = f.CreateHistogram("sparseswitch_batch_size", "Images per inference run.",
            new HistogramConfiguration { Buckets = Enumerable.Range(1, Math.Max(1, maxBatch)).Select(b => (double)b).ToArray() });
        _ready = f.CreateGauge("sparseswitch_ready", "1 once the model is compiled and profiled.");
        f.CreateGauge("sparseswitch_objective_seconds", "The latency objective.").Set(objectiveMs / 1000);
        _slowdown = f.CreateGauge("sparseswitch_slowdown", "Moving average of observed / profiled service time (1: as profiled).");
        _rate = f.CreateGauge("sparseswitch_arrival_rate", "Recent arrivals, images per second.");
        Registry.AddBeforeCollectCallback(() =>
        {
            if (_controller is not { } c) return;
            _slowdown.Set(c.Slowdown);
            _rate.Set(c.ArrivalRatePerSecond);
        });
        DotNetStats.Register(Registry);
    }

    /// <summary>Creates the per-sub-net series once the sub-nets are known (all of them appear from the start, at zero).</summary>
    public void SetSubnets(int count)
    {
        _durationBySubnet = Enumerable.Range(0, count).Select(k => _duration.WithLabels(k.ToString(CultureInfo.InvariantCulture))).ToArray();
        _imagesBySubnet = Enumerable.Range(0, count).Select(k => _images.WithLabels(k.ToString(CultureInfo.InvariantCulture))).ToArray();
        foreach (var reason in new[] { "queue_full", "deadline", "expired", "warming_up", "shutting_down" }) _refused.WithLabels(reason);
    }

    /// <summary>The controller whose slowdown and arrival rate are read at each scrape.</summary>
    internal void Watch(SubnetController controller)
    {
        _controller = controller;
        _current.Set(controller.Current);
    }

    internal void Answered(string endpoint, int code) => _requests.WithLabels(endpoint, code.ToString(CultureInfo.InvariantCulture)).Inc();
    internal void Served(int subnet, double seconds, int images)
    {
        _durationBySubnet[subnet].Observe(seconds);
        _imagesBySubnet[subnet].Inc(images);
    }
    internal void Refused(string reason) => _refused.WithLabels(reason).Inc();
    internal void Switched(int subnet)
    {
        _current.Set(subnet);
        _switches.Inc();
    }
    internal void QueueDepth(int images) => _queue.Set(images);
    internal void Batch(int images) => _batch.Observe(images);
    internal void Ready(bool ready) => _ready.Set(ready ? 1 : 0);
}
