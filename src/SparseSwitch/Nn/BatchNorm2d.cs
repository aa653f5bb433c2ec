using System.Numerics.Tensors;
using Tensor = SparseSwitch.Tensors.Tensor;

namespace SparseSwitch.Nn;

/// <summary>
/// Batch normalisation over [B, C, H, W], per channel c over N = B·H·W values.
/// Train: μ, σ² = batch mean and biased variance; y = γ·(x − μ)/√(σ² + ε) + β; running stats
/// r ← (1 − momentum)·r + momentum·batch, with the unbiased variance σ²·N/(N − 1) for running_var
/// (PyTorch's rule). Eval: the running stats in place of μ, σ². Parameters weight (γ = 1), bias
/// (β = 0); buffers running_mean (0), running_var (1). Channels run in parallel; each channel's
/// sums run in a fixed order (deterministic).
/// </summary>
public sealed class BatchNorm2d : Module
{
    public int Channels { get; }
    public float Eps { get; }
    public float Momentum { get; }
    public Parameter Weight { get; }
    public Parameter Bias { get; }
    public Tensor RunningMean { get; }
    public Tensor RunningVar { get; }

    private Tensor? _y, _dx;
    private Tensor _x = null!, _dy = null!;
    private readonly float[] _mean, _invStd;
    private bool _forwardWasTraining;
    private int _b, _hw;
    private readonly ParallelRange _forward, _backward;

    public BatchNorm2d(int channels, float eps = 1e-5f, float momentum = 0.1f)
    {
        if (channels < 1) throw new ArgumentOutOfRangeException(nameof(channels), "BatchNorm2d needs channels ≥ 1.");
        if (!(eps > 0)) throw new ArgumentOutOfRangeException(nameof(eps), "BatchNorm2d eps must be > 0.");
        if (!(momentum >= 0 && momentum <= 1)) throw new ArgumentOutOfRangeException(nameof(momentum), "BatchNorm2d momentum must be in [0, 1].");
        Channels = channels; Eps = eps; Momentum = momentum;
        Weight = RegisterParameter("weight", new Parameter(channels));
        Bias = RegisterParameter("bias", new Parameter(channels));
        Weight.Data.Fill(1f);
        Weight.WeightDecay = true;
        RunningMean = RegisterBuffer("running_mean", new Tensor(channels));
        RunningVar = RegisterBuffer("running_var", new Tensor(channels));
        RunningVar.Fill(1f);
        _mean = new float[channels];
        _invStd = new float[channels];
        _forward = new ParallelRange(ForwardChannels);
        _backward = new ParallelRange(BackwardChannels);
    }

    private int Grain => Math.Max(1, 16384 / Math.Max(1, _b * _hw));

    public override Tensor Forward(Tensor x)
    {
        if (x.Rank != 4 || x.Dim(1) != Channels)
            throw new ArgumentException($"BatchNorm2d({Channels}): input shape {Buffers.ShapeText(x.Shape)}, expected [B, {Channels}, H, W].");
        _b = x.Dim(0); _hw = x.Dim(2) * x.Dim(3);
        if (Training && _b * _hw < 2)
            throw new ArgumentException($"BatchNorm2d needs more than one value per channel in training mode (input {Buffers.ShapeText(x.Shape)}).");
        _x = x;
        _forwardWasTraining = Training;
        Buffers.Ensure(ref _y, x.Shape);
        _forward.Run(Channels, Grain);
        return _y!;
    }

    private void ForwardChannels(int chunk, int start, int end)
    {
        var xs = _x.Span; var ys = _y!.Span;
        var gamma = Weight.Data.Span; var beta = Bias.Data.Span;
        var rm = RunningMean.Span; var rv = RunningVar.Span;
        int hw = _hw, stride = Channels * hw;
        long n = (long)_b * hw;
        for (int c = start; c < end; c++)
        {
            float mean, invStd;
            if (_forwardWasTraining)
            {
                double s = 0;
                for (int b = 0; b < _b; b++) s += TensorPrimitives.Sum(xs.Slice(b * stride + c * hw, hw));
                mean = (float)(s / n);
                double ss = 0;
                for (int b = 0; b < _b; b++) ss += Elementwise.SumSquaredDeviation(xs.Slice(b * stride + c * hw, hw), mean);
                double var = ss / n;
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
            // y = x·scale + shift, scale = γ/σ, shift = β − μ·scale
            float scale = gamma[c] * invStd, shift = beta[c] - mean * scale;
            for (int b = 0; b < _b; b++)
            {
                int o = b * stride + c * hw;
                Elementwise.Affine(xs.Slice(o, hw), scale, shift, ys.Slice(o, hw));
            }
        }
    }

    public override Tensor Backward(Tensor dy)
    {
        if (_x is null) throw new InvalidOperationException("BatchNorm2d.Backward called before Forward.");
        if (!dy.SameShape(_x.Shape))
            throw new ArgumentException($"BatchNorm2d.Backward: dy shape {Buffers.ShapeText(dy.Shape)}, expected {Buffers.ShapeText(_x.Shape)}.");
        _dy = dy;
        Buffers.Ensure(ref _dx, _x.Shape);
        _backward.Run(Channels, Grain);
        return _dx!;
    }

    private void BackwardChannels(int chunk, int start, int end)
    {
        var xs = _x.Span; var dys = _dy.Span; var dxs = _dx!.Span;
        var gamma = Weight.Data.Span;
        var dgamma = Weight.Grad.Span; var dbeta = Bias.Grad.Span;
        int hw = _hw, stride = Channels * hw;
        long n = (long)_b * hw;
        for (int c = start; c < end; c++)
        {
            float mean = _mean[c], invStd = _invStd[c];
            double sdy = 0, sdyc = 0; // Σ dy, Σ dy·(x − μ)
            for (int b = 0; b < _b; b++)
            {
                int o = b * stride + c * hw;
                sdy += TensorPrimitives.Sum(dys.Slice(o, hw));
                sdyc += Elementwise.DotCentered(dys.Slice(o, hw), xs.Slice(o, hw), mean);
            }
            float sdyXhat = (float)(sdyc * invStd); // Σ dy·x̂
            dgamma[c] += sdyXhat;
            dbeta[c] += (float)sdy;
            float k = gamma[c] * invStd;
            float a, shift;
            if (_forwardWasTraining)
            {
                // dx = k·(dy − Σdy/N − x̂·Σ(dy·x̂)/N) = k·dy + a·x + shift
                a = (float)(-k * invStd * (double)sdyXhat / n);
                shift = (float)(k * (-sdy / n + (double)mean * invStd * sdyXhat / n));
            }
            else
            {
                // eval: μ, σ are constants, dx = k·dy
                a = 0f; shift = 0f;
            }
            for (int b = 0; b < _b; b++)
            {
                int o = b * stride + c * hw;
                var dx = dxs.Slice(o, hw);
                Elementwise.Affine(xs.Slice(o, hw), a, shift, dx);
                TensorPrimitives.MultiplyAdd(dys.Slice(o, hw), k, dx, dx);
            }
        }
    }
}
