namespace SparseSwitch.Training;

/// <summary>
/// What a run tells a live display as it goes (<see cref="TrainingRun.Run"/>): its log lines, each
/// epoch's start, every iteration and each epoch's metrics. <c>tag</c> names the sub-run in mode
/// independent ("[0.1] "), else "". Calls come from the training thread; keep them short.
/// </summary>
public interface ITrainingProgress
{
    /// <summary>A log line that is not an epoch's result (start, resume, stop).</summary>
    void Message(string line);

    /// <summary>Epoch <paramref name="epoch"/> (0-based) of <paramref name="epochs"/> of the run in folder
    /// <paramref name="run"/> starts for these sub-nets, at batch <paramref name="firstBatch"/> (above 0
    /// when a stopped epoch continues) of <paramref name="batches"/>; iteration t is batch
    /// t − epoch × batches of it.</summary>
    void EpochStarted(string run, string tag, SubnetList subnets, int epoch, int epochs, int firstBatch, int batches, int batchSize);

    /// <summary>Iteration <paramref name="t"/> trained sub-net <paramref name="subnet"/> with this loss.</summary>
    void Iteration(long t, int subnet, float loss);

    /// <summary>An epoch ended: every sub-net's metrics, the correction's projections so far
    /// (fired of tested, null when the correction is off) and the run's training seconds.</summary>
    void EpochEnded(string tag, int epoch, int epochs, IReadOnlyList<EpochMetrics> metrics, (long Fired, long Tested)? projections, double wallSeconds);
}
