using System.Buffers;

namespace SparseSwitch.Serving;

/// <summary>How a queued request ended.</summary>
public enum WorkStatus { Pending, Done, Expired, Failed }

/// <summary>
/// One admitted request in the queue: its images (a pooled buffer), where its logits go (pooled),
/// an optional pinned sub-net, its deadline, and the completion the HTTP handler awaits. The
/// worker fills in the sub-net, timings and status, then completes it; the handler returns the
/// buffers to the pool (<see cref="Dispose"/>) once it has written the answer.
/// </summary>
public sealed class WorkItem : IDisposable
{
    private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public float[] Input { get; private set; }
    public float[] Output { get; private set; }
    public int Images { get; }
    public int? Pin { get; }
    /// <summary>The request's own budget in milliseconds, or null to use the server's objective.</summary>
    public double? BudgetMs { get; }
    /// <summary>Arrival, milliseconds on the server's clock.</summary>
    public double ArrivalMs { get; }
    /// <summary>Arrival plus the budget (the request's, else the objective).</summary>
    public double DeadlineMs { get; }

    public WorkStatus Status { get; private set; }
    public int Subnet { get; internal set; } = -1;
    public double QueueMs { get; internal set; }
    public double ServiceMs { get; internal set; }
    /// <summary>Images of the run this request was part of.</summary>
    public int RunImages { get; internal set; }
    public string? Error { get; private set; }
    public Task Completion => _done.Task;

    public WorkItem(float[] input, int images, int inputLength, int outputLength, int? pin, double? budgetMs, double arrivalMs, double objectiveMs)
    {
        if (input.Length < images * inputLength) throw new ArgumentException("The input buffer is shorter than the images.", nameof(input));
        Input = input;
        Output = ArrayPool<float>.Shared.Rent(images * outputLength);
        Images = images;
        Pin = pin;
        BudgetMs = budgetMs;
        ArrivalMs = arrivalMs;
        DeadlineMs = arrivalMs + (budgetMs ?? objectiveMs);
    }

    internal void Complete(WorkStatus status, string? error = null)
    {
        Status = status;
        Error = error;
        _done.TrySetResult();
    }

    /// <summary>Returns the buffers to the pool; only after <see cref="Completion"/>.</summary>
    public void Dispose()
    {
        if (!_done.Task.IsCompleted) throw new InvalidOperationException("A work item's buffers are returned only once it is complete.");
        if (Input.Length > 0) ArrayPool<float>.Shared.Return(Input);
        if (Output.Length > 0) ArrayPool<float>.Shared.Return(Output);
        Input = Output = [];
    }
}
