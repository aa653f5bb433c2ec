using System.Runtime.ExceptionServices;
using SparseSwitch.Tensors;

namespace SparseSwitch.Data;

/// <summary>
/// Shuffled, augmented, normalised mini-batches, prepared on a background thread while the model
/// trains. Batch b of epoch e depends only on (seed, e, b): the epoch's order comes from an RNG
/// seeded by (seed, e) and each batch's augmentation from one seeded by (seed, e, b), so results
/// never depend on timing and resuming at epoch e reproduces exactly the batches an uninterrupted
/// run would see. At most <c>prefetch</c> batches are prepared ahead (a bounded queue); buffers are
/// a ring of prefetch + 2 reused batches, so steady state allocates nothing. A batch is valid until
/// the next-but-one MoveNext (see <see cref="Batch"/>). One epoch is enumerated at a time.
/// With prefetch = 0 batches are prepared on the caller's thread.
/// In a data-parallel job (<c>shard</c> = (rank, ranks)) every rank has the same order and batches
/// of the global size; rank r holds images [n·r/ranks, n·(r+1)/ranks) of each batch of n, augmented
/// exactly as in one process (the draws of the images before its share are made and discarded), so
/// the ranks' shares together are the batch one process would see. A last partial batch that would
/// leave a rank no image is dropped.
/// </summary>
public sealed class DataLoader : IDisposable
{
    private readonly ImageDataset _ds;
    private readonly int _batchSize, _prefetch, _batches, _tail, _rank, _ranks;
    private readonly bool _shuffle;
    private readonly Augmentation? _augment;
    private readonly ulong _seed;
    private readonly float[] _lut;
    private readonly int[] _perm;
    private readonly Slot[] _slots;

    // Shared state between the consumer and the producer thread, guarded by _gate.
    private readonly object _gate = new();
    private Thread? _producer;
    private int _generation, _jobEpoch, _jobFirst, _next, _produced, _cursor;
    private bool _jobActive, _disposed;
    private Exception? _error;

    public ImageDataset Dataset => _ds;
    public int BatchSize => _batchSize;
    public int BatchesPerEpoch => _batches;
    public Normalization Normalization { get; }
    public Augmentation? Augmentation => _augment;

    public DataLoader(ImageDataset ds, int batchSize, bool shuffle, Augmentation? augment, Normalization norm,
        ulong seed, bool dropLast = false, int prefetch = 2, (int Rank, int Ranks)? shard = null)
    {
        ArgumentNullException.ThrowIfNull(ds);
        ArgumentNullException.ThrowIfNull(norm);
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), $"Batch size must be ≥ 1, got {batchSize}.");
        if (prefetch < 0) throw new ArgumentOutOfRangeException(nameof(prefetch), $"Prefetch must be ≥ 0, got {prefetch}.");
        var (rank, ranks) = shard ?? (0, 1);
        if (ranks < 1 || rank < 0 || rank >= ranks) throw new ArgumentOutOfRangeException(nameof(shard), $"Shard {rank} of {ranks} is not a rank of the job.");
        if (batchSize < ranks) throw new ArgumentOutOfRangeException(nameof(batchSize), $"A batch of {batchSize} cannot be shared by {ranks} ranks.");
        if (norm.Channels != ds.Channels)
            throw new ArgumentException($"Normalization has {norm.Channels} channels, data set {ds.Name} has {ds.Channels}.", nameof(norm));
        _ds = ds;
        _batchSize = batchSize;
        _shuffle = shuffle;
        _augment = augment is { IsIdentity: true } ? null : augment;
        Normalization = norm;
        _seed = seed;
        _prefetch = prefetch;
        _lut = norm.BuildLookup();
        _perm = new int[ds.Count];
        _rank = rank;
        _ranks = ranks;
        int tail = dropLast || ds.Count % batchSize < ranks ? 0 : ds.Count % batchSize;
        _tail = tail;
        _batches = ds.Count / batchSize + (tail > 0 ? 1 : 0);
        _slots = new Slot[Math.Min(prefetch + 2, Math.Max(_batches, 1))];
        for (int i = 0; i < _slots.Length; i++) _slots[i] = new Slot(Share(batchSize).Count, tail > 0 ? Share(tail).Count : 0, ds);
    }

    /// <summary>This rank's share of a batch of <paramref name="n"/> images: its first position and count.</summary>
    private (int First, int Count) Share(int n)
    {
        int lo = (int)((long)n * _rank / _ranks), hi = (int)((long)n * (_rank + 1) / _ranks);
        return (lo, hi - lo);
    }

    /// <summary>The batches of epoch <paramref name="epoch"/>, in order, from batch
    /// <paramref name="firstBatch"/> on (each batch is the same whichever batch the epoch starts at:
    /// order and augmentation depend only on the seed, the epoch and the batch's index).</summary>
    public IEnumerable<Batch> Epoch(int epoch, int firstBatch = 0)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (epoch < 0) throw new ArgumentOutOfRangeException(nameof(epoch), $"Epoch must be ≥ 0, got {epoch}.");
        if (firstBatch < 0 || firstBatch > _batches)
            throw new ArgumentOutOfRangeException(nameof(firstBatch), $"The first batch must be in [0, {_batches}], got {firstBatch}.");
        return _prefetch == 0 ? SynchronousEpoch(epoch, firstBatch) : BackgroundEpoch(epoch, firstBatch);
    }

    private IEnumerable<Batch> SynchronousEpoch(int epoch, int first)
    {
        for (int b = first; b < _batches; b++)
        {
            if (b == first) PreparePermutation(epoch);
            yield return Fill(b, epoch);
        }
    }

    private IEnumerable<Batch> BackgroundEpoch(int epoch, int first)
    {
        lock (_gate)
        {
            if (_jobActive) throw new InvalidOperationException("Another epoch of this loader is still being enumerated; finish or dispose it first.");
            _generation++;
            _jobActive = true;
            _jobEpoch = epoch;
            _jobFirst = first;
            _next = first;
            _produced = first;
            _cursor = first - 1;
            _error = null;
            if (_producer is null)
            {
                _producer = new Thread(ProducerLoop) { IsBackground = true, Name = "SparseSwitch.DataLoader" };
                _producer.Start();
            }
            Monitor.PulseAll(_gate);
        }
        try
        {
            for (int b = first; b < _batches; b++)
            {
                lock (_gate)
                {
                    while (_produced <= b && _error is null) Monitor.Wait(_gate);
                    if (_error is not null) ExceptionDispatchInfo.Capture(_error).Throw();
                    _cursor = b;
                    Monitor.PulseAll(_gate);
                }
                yield return SlotBatch(b);
            }
        }
        finally
        {
            lock (_gate)
            {
                _jobActive = false;
                _generation++;
                Monitor.PulseAll(_gate);
            }
        }
    }

    private void ProducerLoop()
    {
        while (true)
        {
            int gen, b, epoch, first;
            lock (_gate)
            {
                while (!_disposed && !(_jobActive && _next < _batches && _next <= _cursor + _prefetch))
                    Monitor.Wait(_gate);
                if (_disposed) return;
                gen = _generation; b = _next; epoch = _jobEpoch; first = _jobFirst;
            }
            try
            {
                if (b == first) PreparePermutation(epoch);
                Fill(b, epoch);
                lock (_gate)
                {
                    if (gen == _generation) { _next = b + 1; _produced = b + 1; Monitor.PulseAll(_gate); }
                }
            }
            catch (Exception e)
            {
                lock (_gate)
                {
                    if (gen == _generation) { _error = e; _next = _batches; Monitor.PulseAll(_gate); }
                }
            }
        }
    }

    private void PreparePermutation(int epoch)
    {
        for (int i = 0; i < _perm.Length; i++) _perm[i] = i;
        if (_shuffle)
        {
            var rng = _slots[0].Rng;
            Reseed(rng, SeedMix.Mix(SeedMix.Mix(_seed, (ulong)epoch), ulong.MaxValue));
            rng.Shuffle(_perm.AsSpan());
        }
    }

    /// <summary>Prepares batch <paramref name="b"/> of <paramref name="epoch"/> in its ring slot.</summary>
    private Batch Fill(int b, int epoch)
    {
        var slot = _slots[b % _slots.Length];
        var batch = SlotBatch(b);
        batch.Index = b;
        batch.Epoch = epoch;
        int start = b * _batchSize, size = _ds.ImageSize;
        var dst = batch.Images.Span;
        var rng = slot.Rng;
        Reseed(rng, SeedMix.Mix(SeedMix.Mix(_seed, (ulong)epoch), (ulong)b));
        int global = b == _batches - 1 && _tail > 0 ? _tail : _batchSize;
        var (first, count) = Share(global);
        batch.GlobalCount = global;
        if (_augment is not null)
            for (int i = 0; i < first; i++) _augment.Draw(rng); // the draws of the other ranks' images
        for (int i = 0; i < count; i++)
        {
            int idx = _perm[start + first + i];
            batch.Labels[i] = _ds.Labels[idx];
            batch.SourceIndices[i] = idx;
            var (dy, dx, flip) = _augment is null ? (0, 0, false) : _augment.Draw(rng);
            ImageWriter.Write(_ds.Image(idx), _ds.Channels, _ds.Height, _ds.Width, _lut, dy, dx, flip,
                dst.Slice(i * size, size));
        }
        return batch;
    }

    private Batch SlotBatch(int b)
    {
        var slot = _slots[b % _slots.Length];
        return slot.Tail is not null && b == _batches - 1 ? slot.Tail : slot.Full;
    }

    /// <summary>Sets an existing RNG to the stream for <paramref name="seed"/> without allocating.</summary>
    private static void Reseed(Rng rng, ulong seed)
    {
        Span<ulong> state = stackalloc ulong[6];
        for (int i = 0; i < 4; i++) state[i] = SeedMix.Mix(seed, (ulong)i);
        if ((state[0] | state[1] | state[2] | state[3]) == 0) state[0] = 1;
        state[4] = 0; state[5] = 0;
        rng.SetState(state);
    }

    public void Dispose()
    {
        Thread? t;
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            t = _producer;
            Monitor.PulseAll(_gate);
        }
        t?.Join();
    }

    /// <summary>One ring buffer: a full-size batch and, when the epoch ends with a partial batch, a
    /// view of the same storage sized for it.</summary>
    private sealed class Slot
    {
        public readonly Batch Full;
        public readonly Batch? Tail;
        public readonly Rng Rng = new(0);

        public Slot(int batchSize, int tail, ImageDataset ds)
        {
            var images = new Tensor(batchSize, ds.Channels, ds.Height, ds.Width);
            Full = new Batch(images, new int[batchSize], new int[batchSize]);
            if (tail > 0)
                Tail = new Batch(images.View(0, tail, ds.Channels, ds.Height, ds.Width), new int[tail], new int[tail]);
        }

    }
}
