namespace SparseSwitch.Distributed;

/// <summary>
/// The collective operations data-parallel training needs, over the processes of one job (ranks
/// 0 … Size − 1). Every rank must call the same operations in the same order with the same lengths.
/// <see cref="Single"/> is the one-process job (every operation a no-op); <see cref="MpiCollective"/>
/// runs over MPI.
/// </summary>
public interface ICollective : IDisposable
{
    int Rank { get; }
    int Size { get; }

    /// <summary>Replaces <paramref name="data"/> on every rank by the element-wise sum over the ranks.</summary>
    void AllreduceSum(Span<float> data);

    /// <inheritdoc cref="AllreduceSum(Span{float})"/>
    void AllreduceSum(Span<double> data);

    /// <summary>Every rank's <paramref name="value"/>, by rank.</summary>
    long[] Allgather(long value);

    /// <summary>Waits until every rank has called it.</summary>
    void Barrier();
}

/// <summary>The job of one process: rank 0 of 1; every collective leaves its data as it is.</summary>
public sealed class SingleProcess : ICollective
{
    public static SingleProcess Instance { get; } = new();
    public int Rank => 0;
    public int Size => 1;
    public void AllreduceSum(Span<float> data) { }
    public void AllreduceSum(Span<double> data) { }
    public long[] Allgather(long value) => [value];
    public void Barrier() { }
    public void Dispose() { }
}

/// <summary>The ranks of a data-parallel job no longer hold the same model (a defect, or
/// non-deterministic arithmetic); the job stops rather than train different models.</summary>
public sealed class DivergedRanksException(string message) : Exception(message);
