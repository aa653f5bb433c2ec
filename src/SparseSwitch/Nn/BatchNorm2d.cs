using SparseSwitch.Tensors;
using Tensor = SparseSwitch.Tensors.Tensor;

namespace SparseSwitch.Nn;

/// <summary>
/// Batch normalisation over [B, C, H, W], per channel c over N = B·H·W values.
/// Train: μ, σ² = batch mean and biased variance; y = γ·(x − μ)/√(σ² + ε) + β; running stats
/// r ← (1 − momentum)·r + momentum·batch, with the unbiased variance σ²·N/(N − 1) for running_var
/// (PyTorch's rule). Eval: the running stats in place of μ, σ². Parameters weight (γ = 1), bias
/// (β = 0); buffers running_mean (0), running_var (1). Channels run in parallel; each channel's
/// sums run in a fixed order (deterministic). With <see cref="FusedReLU"/> the layer outputs
/// relu(y) and its backward masks dy first: the same values as BatchNorm2d followed by ReLU,
/// one pass over memory fewer.
/// With <see cref="Sync"/> (data-parallel training) the training statistics are those of the global
/// batch across the ranks: each rank's per-channel (count, mean, M2) are combined by two all-reduces
/// in the forward, and the backward's sums Σ dy and Σ dy·(x − μ) by one; the weight and bias
/// gradients keep this rank's part (the gradient all-reduce sums them).
/// </summary>
public sealed class BatchNorm2d : Module, IDeferrableNorm
{
    public int Channels { get; }
    public float Eps { get; }
    /// <summary>Weight of the batch's statistics in the running ones (settable: 1/i over batches
    /// i = 1, 2, … of a pass gives their plain average, as a re-estimation of the statistics does).</summary>
    public float Momentum
    {
        get => _momentum;
        set => _momentum = value >= 0 && value <= 1 ? value : throw new ArgumentOutOfRangeException(nameof(value), "BatchNorm2d momentum must be in [0, 1].");
    }

    private float _momentum;
    public Parameter Weight { get; }
    public Parameter Bias { get; }
    public Tensor RunningMean { get; }
    public Tensor RunningVar { get; }

    /// <summary>Whether a ReLU is applied to the output (BN → ReLU in one layer).</summary>
    public bool FusedReLU { get; }

    private Tensor? _y, _dx;
    private Tensor _x = null!, _dy = null!;
    private readonly float[] _mean, _invStd, _scale, _shift;
    private bool _forwardWasTraining, _deferred, _backwardDeferred;
    private readonly float[] _gk, _ga, _gshift;
    private double[]? _planeSums, _planeStats;
    private double[]?[] _statsScratch = [];
    private bool _havePlaneSums, _havePlaneStats;
    private int _b, _hw;
    private readonly ParallelRange _forward, _backward;

    /// <summary>The ranks whose batches this layer normalises together in training (null: this process's batch alone).</summary>
    public Distributed.ICollective? Sync { get; set; }

    // Synchronised statistics: phase 1 of a forward or backward only gathers this rank's
    // per-channel values, phase 2 uses the combined ones.
    private enum SyncPhase { None, Gather, Apply }
    private SyncPhase _phase;
    private double[] _local = [], _global = [];
    private long _globalN;

    public BatchNorm2d(int channels, float eps = 1e-5f, float momentum = 0.1f, bool fuseRelu = false)
    {
        FusedReLU = fuseRelu;
        if (channels < 1) throw new ArgumentOutOfRangeException(nameof(channels), "BatchNorm2d needs channels ≥ 1.");
        if (!(eps > 0)) throw new ArgumentOutOfRangeException(nameof(eps), "BatchNorm2d eps must be > 0.");
        if (!(momentum >= 0 && momentum <= 1)) throw new ArgumentOutOfRangeException(nameof(momentum), "BatchNorm2d momentum must be in [0, 1].");
        Channels = channels; Eps = eps; _momentum = momentum;
        Weight = RegisterParameter("weight", new Parameter(channels));
        Bias = RegisterParameter("bias", new Parameter(channels));
        Weight.Data.Fill(1f);
        Weight.WeightDecay = true;
        RunningMean = RegisterBuffer("running_mean", new Tensor(channels));
        RunningVar = RegisterBuffer("running_var", new Tensor(channels));
        RunningVar.Fill(1f);
        _mean = new float[channels];
        _invStd = new float[channels];
        _scale = new float[channels];
        _shift = new float[channels];
        _gk = new float[channels];
        _ga = new float[channels];
        _gshift = new float[channels];
        _forward = new ParallelRange(ForwardChannels);
        _backward = new ParallelRange(BackwardChannels);
    }

    private int Grain => Math.Max(1, 16384 / Math.Max(1, _b * _hw));

    public override Tensor Forward(Tensor x) => Forward(x, default);

    /// <summary>Forward with the per-plane statistics of x handed in by its producer (as for
    /// <see cref="ForwardDeferred"/>; empty: computed here); the output is written.</summary>
    public Tensor Forward(Tensor x, ReadOnlySpan<double> planeStats)
    {
        Start(x, deferred: false);
        UsePlaneStats(planeStats);
        Buffers.Ensure(ref _y, x.Shape);
        RunForward(Grain);
        _havePlaneStats = false;
        return _y!;
    }

    private void UsePlaneStats(ReadOnlySpan<double> planeStats)
    {
        if (!planeStats.IsEmpty && planeStats.Length != 2 * _b * Channels)
            throw new ArgumentException($"BatchNorm2d: {planeStats.Length} plane statistics, expected {2 * _b * Channels}.");
        if (!planeStats.IsEmpty) planeStats.CopyTo(Buffers.EnsureArray(ref _planeStats, planeStats.Length));
        _havePlaneStats = !planeStats.IsEmpty && Training;
        if (_statsScratch.Length < Options.Threads) Array.Resize(ref _statsScratch, Options.Threads);
    }

    /// <summary>Forward's statistics (and running-statistics update) without writing the output:
    /// the consumer applies the returned transform while it reads x (same bits as Forward's
    /// output). Backward then works as after Forward.
    /// <paramref name="planeStats"/>, when given, holds for every plane (image b, channel c) at
    /// 2·(b·C + c) its <see cref="PlaneStats"/>, taken by the producer of x as it wrote x; the
    /// pass over x is then skipped.</summary>
    public ChannelAffine ForwardDeferred(Tensor x, ReadOnlySpan<double> planeStats = default)
    {
        Start(x, deferred: true);
        UsePlaneStats(planeStats);
        // Without a pass over x (statistics handed in, or eval) the work is a few numbers per
        // channel: done on this thread rather than handed to the pool.
        RunForward(_havePlaneStats || !Training ? Channels : Grain);
        _havePlaneStats = false;
        return new ChannelAffine(_mean, _scale, _shift, FusedReLU);
    }

    /// <summary>The forward over the channels; synchronised, in two phases around the all-reduces.</summary>
    private void RunForward(int grain)
    {
        if (Sync is { Size: > 1 } comm && Training) RunInPhases(_forward, grain, comm, CombineForward);
        else _forward.Run(Channels, Options, grain);
    }

    /// <summary>
    /// A synchronised pass: phase 1 (Gather) leaves this rank's two values per channel in _local,
    /// <paramref name="combine"/> turns them into the global ones, phase 2 (Apply) uses them.
    /// </summary>
    private void RunInPhases(ParallelRange range, int grain, Distributed.ICollective comm, Action<Distributed.ICollective> combine)
    {
        Buffers.EnsureArray(ref _local, 2 * Channels);
        Buffers.EnsureArray(ref _global, 2 * Channels + 1);
        _phase = SyncPhase.Gather;
        try
        {
            range.Run(Channels, Options, grain);
            combine(comm);
            _phase = SyncPhase.Apply;
            range.Run(Channels, Options, Channels);
        }
        finally { _phase = SyncPhase.None; }
    }

    /// <summary>Forward: this rank's (mean, M2) per channel in _local become the global batch's.</summary>
    private void CombineForward(Distributed.ICollective comm)
    {
        int c = Channels;
        long n = (long)_b * _hw;
        var g = _global.AsSpan(0, c + 1);
        for (int ch = 0; ch < c; ch++) g[ch] = n * _local[2 * ch];
        g[c] = n;
        comm.AllreduceSum(g);                             // Σ n·mean per channel, N
        _globalN = (long)Math.Round(g[c]);
        for (int ch = 0; ch < c; ch++) _global[c + 1 + ch] = g[ch] / _globalN; // the global mean, kept past the next reduce
        var m2 = _global.AsSpan(0, c);
        for (int ch = 0; ch < c; ch++)
        {
            double d = _local[2 * ch] - _global[c + 1 + ch];
            m2[ch] = _local[2 * ch + 1] + n * d * d;
        }
        comm.AllreduceSum(m2);                            // Σ (M2 + n·(mean − μ)²) = the global M2
        for (int ch = 0; ch < c; ch++) (_local[2 * ch], _local[2 * ch + 1]) = (_global[c + 1 + ch], m2[ch]);
    }

    private void Start(Tensor x, bool deferred)
    {
        if (x.Rank != 4 || x.Dim(1) != Channels)
            throw new ArgumentException($"BatchNorm2d({Channels}): input shape {Buffers.ShapeText(x.Shape)}, expected [B, {Channels}, H, W].");
        _b = x.Dim(0); _hw = x.Dim(2) * x.Dim(3);
        if (Training && _b * _hw < 2)
            throw new ArgumentException($"BatchNorm2d needs more than one value per channel in training mode (input {Buffers.ShapeText(x.Shape)}).");
        _x = x;
        _forwardWasTraining = Training;
        _deferred = deferred;
    }

    private void ForwardChannels(int chunk, int start, int end)
    {
        var xs = _x.Span; var ys = _deferred ? default : _y!.Span;
        var gamma = Weight.Data.Span; var beta = Bias.Data.Span;
        var rm = RunningMean.Span; var rv = RunningVar.Span;
        int hw = _hw, stride = Channels * hw;
        long n = (long)_b * hw;
        for (int c = start; c < end; c++)
        {
            float mean, invStd;
            if (_forwardWasTraining && _phase == SyncPhase.Apply)
            {
                // Synchronised: the global batch's mean and M2 (in _local after the reduces).
                double mu = _local[2 * c], var = _local[2 * c + 1] / _globalN;
                mean = (float)mu;
                invStd = (float)(1.0 / Math.Sqrt(var + Eps));
                rm[c] = (1 - Momentum) * rm[c] + Momentum * mean;
                rv[c] = (1 - Momentum) * rv[c] + Momentum * (float)(var * _globalN / (_globalN - 1));
            }
            else if (_forwardWasTraining)
            {
                // Per plane (one image's channel) a one-pass sum shifted by the plane's first
                // value (close to its mean, so no cancellation) gives its mean and M2; planes are
                // then combined in image order: mean = Σ m_b / B, M2 = Σ M2_b + HW·Σ (m_b − mean)².
                // A producer may hand in the plane statistics (PlaneStats) taken as it wrote x.
                var stats = _havePlaneStats ? _planeStats.AsSpan() : Buffers.EnsureArray(ref _statsScratch[chunk], 2 * _b);
                int sc = _havePlaneStats ? Channels : 1, so = _havePlaneStats ? c : 0;
                if (!_havePlaneStats)
                    for (int b = 0; b < _b; b++)
                        (stats[2 * b], stats[2 * b + 1]) = PlaneStats(xs.Slice(b * stride + c * hw, hw));
                double sumMean = 0;
                for (int b = 0; b < _b; b++) sumMean += stats[2 * (b * sc + so)];
                double mu = sumMean / _b, m2 = 0;
                for (int b = 0; b < _b; b++)
                {
                    double dm = stats[2 * (b * sc + so)] - mu;
                    m2 += stats[2 * (b * sc + so) + 1] + hw * dm * dm;
                }
                if (_phase == SyncPhase.Gather)
                {
                    (_local[2 * c], _local[2 * c + 1]) = (mu, m2);
                    continue;
                }
                mean = (float)mu;
                double var = m2 / n;
                invStd = (float)(1.0 / Math.Sqrt(var + Eps));
                rm[c] = (1 - Momentum) * rm[c] + Momentum * mean;
                rv[c] = (1 - Momentum) * rv[c] + Momentum * (float)(var * n / (n - 1));
            }
            else
            {
                mean = rm[c];
                invStd = (float)(1.0 / Math.Sqrt((double)rv[c] + Eps));
            }
            _mean[c] = mean; _invStd[c] = invStd;
            // y = (x − μ)·scale + β, scale = γ/σ
            float scale = gamma[c] * invStd;
            _scale[c] = scale; _shift[c] = beta[c]; // backward recomputes the fused ReLU's mask from these
            if (_deferred) continue;
            for (int b = 0; b < _b; b++)
            {
                int o = b * stride + c * hw;
                var yRow = ys.Slice(o, hw);
                Elementwise.CenteredAffine(xs.Slice(o, hw), mean, scale, beta[c], yRow);
                if (FusedReLU) Elementwise.ReluForward(yRow, yRow);
            }
        }
    }

    /// <summary>(mean, M2 = Σ (x − mean)²) of one plane, from a one-pass sum shifted by its first
    /// value: the per-plane statistics Forward combines (a producer of x can take them while it
    /// writes x and hand them to <see cref="ForwardDeferred"/>).</summary>
    public static (double Mean, double M2) PlaneStats(ReadOnlySpan<float> plane) => PlaneStatistics.Stats(plane);

    /// <summary>(Σ g, Σ g·(x − μ)) over one plane of channel c, g = dy masked by the fused ReLU:
    /// the per-plane terms of Backward's sums (valid after a forward).</summary>
    internal (double SumG, double SumGCentered) PlaneSums(ReadOnlySpan<float> dy, ReadOnlySpan<float> x, int c) =>
        PlaneStatistics.Sums(dy, x, new ChannelAffine(_mean, _scale, _shift, FusedReLU), c);

    public override Tensor Backward(Tensor dy)
    {
        if (_x is null) throw new InvalidOperationException("BatchNorm2d.Backward called before Forward.");
        if (!dy.SameShape(_x.Shape))
            throw new ArgumentException($"BatchNorm2d.Backward: dy shape {Buffers.ShapeText(dy.Shape)}, expected {Buffers.ShapeText(_x.Shape)}.");
        _dy = dy;
        _backwardDeferred = false;
        Buffers.Ensure(ref _dx, _x.Shape);
        RunBackward(Grain);
        return _dx!;
    }

    /// <summary>Backward's sums (weight and bias gradients accumulated) without writing dL/dx:
    /// the consumer applies the returned transform to dy (same bits as Backward's output).
    /// <paramref name="planeSums"/>, when given, holds for every plane (image b, channel c) at
    /// 2·(b·C + c) the pair (Σ g, Σ g·(x − μ)) over its H·W values, with g = dy (masked by the
    /// fused ReLU) — as <see cref="PlaneSums"/> computes them, by a producer that had dy in cache;
    /// the pass over dy and x is then skipped.</summary>
    public ChannelGradAffine BackwardDeferred(Tensor dy, ReadOnlySpan<double> planeSums = default)
    {
        if (_x is null) throw new InvalidOperationException("BatchNorm2d.BackwardDeferred called before Forward.");
        if (!dy.SameShape(_x.Shape))
            throw new ArgumentException($"BatchNorm2d.BackwardDeferred: dy shape {Buffers.ShapeText(dy.Shape)}, expected {Buffers.ShapeText(_x.Shape)}.");
        if (!planeSums.IsEmpty && planeSums.Length != 2 * _b * Channels)
            throw new ArgumentException($"BatchNorm2d.BackwardDeferred: {planeSums.Length} plane sums, expected {2 * _b * Channels}.");
        _dy = dy;
        _backwardDeferred = true;
        if (!planeSums.IsEmpty) planeSums.CopyTo(Buffers.EnsureArray(ref _planeSums, planeSums.Length));
        _havePlaneSums = !planeSums.IsEmpty;
        RunBackward(_havePlaneSums ? Channels : Grain);
        _havePlaneSums = false;
        return new ChannelGradAffine(_x, _mean, _gk, _ga, _gshift, _scale, _shift, FusedReLU);
    }

    /// <summary>The backward over the channels; synchronised (after a training forward), in two
    /// phases around the all-reduce of the sums.</summary>
    private void RunBackward(int grain)
    {
        if (Sync is { Size: > 1 } comm && _forwardWasTraining) RunInPhases(_backward, grain, comm, CombineBackward);
        else _backward.Run(Channels, Options, grain);
    }

    /// <summary>Backward: the global (Σ dy, Σ dy·(x − μ)) per channel into _global; _local keeps this rank's.</summary>
    private void CombineBackward(Distributed.ICollective comm)
    {
        _local.AsSpan(0, 2 * Channels).CopyTo(_global);
        comm.AllreduceSum(_global.AsSpan(0, 2 * Channels));
    }

    private void BackwardChannels(int chunk, int start, int end)
    {
        var xs = _x.Span; var dxs = _backwardDeferred ? default : _dx!.Span;
        // With the fused ReLU the gradient entering the normalisation is dy·[y > 0]; the mask is
        // recomputed from x with the forward's own arithmetic (same bits), not read from y.
        ReadOnlySpan<float> dys = _dy.Span;
        var gamma = Weight.Data.Span;
        var dgamma = Weight.Grad.Span; var dbeta = Bias.Grad.Span;
        int hw = _hw, stride = Channels * hw;
        long n = (long)_b * hw;
        for (int c = start; c < end; c++)
        {
            float mean = _mean[c], invStd = _invStd[c];
            double sdy = 0, sdyc = 0; // Σ dy, Σ dy·(x − μ)
            for (int b = 0; b < _b && _phase != SyncPhase.Apply; b++)
            {
                if (_havePlaneSums)
                {
                    int p = 2 * (b * Channels + c);
                    sdy += _planeSums![p]; sdyc += _planeSums[p + 1];
                    continue;
                }
                int o = b * stride + c * hw;
                var (a1, a2) = PlaneSums(dys.Slice(o, hw), xs.Slice(o, hw), c);
                sdy += a1; sdyc += a2;
            }
            if (_phase == SyncPhase.Gather)
            {
                (_local[2 * c], _local[2 * c + 1]) = (sdy, sdyc);
                continue;
            }
            if (_phase == SyncPhase.Apply) (sdy, sdyc) = (_local[2 * c], _local[2 * c + 1]);
            float sdyXhat = (float)(sdyc * invStd); // Σ dy·x̂
            dgamma[c] += sdyXhat;       // this rank's part: the gradient all-reduce adds the others'
            dbeta[c] += (float)sdy;
            float k = gamma[c] * invStd;
            float a, shift;
            if (_phase == SyncPhase.Apply)
            {
                // The same over the global batch: its sums and N.
                double gy = _global[2 * c], gyc = _global[2 * c + 1];
                a = (float)(-k * invStd * (double)(float)(gyc * invStd) / _globalN);
                shift = (float)(-k * gy / _globalN);
            }
            else if (_forwardWasTraining)
            {
                // dx = k·(dy − Σdy/N − x̂·Σ(dy·x̂)/N) = k·dy + a·(x − μ) + shift
                a = (float)(-k * invStd * (double)sdyXhat / n);
                shift = (float)(-k * sdy / n);
            }
            else
            {
                // eval: μ, σ are constants, dx = k·dy
                a = 0f; shift = 0f;
            }
            (_gk[c], _ga[c], _gshift[c]) = (k, a, shift);
            if (_backwardDeferred) continue;
            for (int b = 0; b < _b; b++)
            {
                int o = b * stride + c * hw;
                if (FusedReLU)
                    Elementwise.ScaleAddCenteredAffineRelu(dys.Slice(o, hw), k, xs.Slice(o, hw), mean, a, shift, _scale[c], _shift[c], dxs.Slice(o, hw));
                else
                    Elementwise.ScaleAddCenteredAffine(dys.Slice(o, hw), k, xs.Slice(o, hw), mean, a, shift, dxs.Slice(o, hw));
            }
        }
    }
}
