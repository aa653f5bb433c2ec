using SparseSwitch.Tensors;

namespace SparseSwitch.Nn;

/// <summary>
/// The join of a residual block fused into one pass: y = relu(main + shortcut). Backward gives
/// g = dy where y &gt; 0, else 0; g is the gradient for both inputs (pass it to both branches).
/// Not a <see cref="Module"/> (two inputs); no parameters. Parallel over element ranges.
/// </summary>
public sealed class AddReLU
{
    /// <summary>The engine options of the loops (its owner's).</summary>
    public EngineOptions Options { get; set; } = EngineOptions.Default;

    private const int Grain = 32768;
    private Tensor? _y, _g;
    private Tensor _a = null!, _b = null!, _dy = null!;
    private ChannelAffine _mainAffine, _shortcutAffine;
    private int _hw;
    private readonly ParallelRange _forward, _forwardAffine, _backward, _backwardSums;
    private double[]? _sums, _shortcutSums;
    private bool _haveSums;

    public AddReLU()
    {
        _forward = new ParallelRange((_, s, e) => Elementwise.AddRelu(_a.Span[s..e], _b.Span[s..e], _y!.Span[s..e]));
        _forwardAffine = new ParallelRange(ForwardPlanes);
        _backwardSums = new ParallelRange(BackwardPlanes);
        _backward = new ParallelRange((_, s, e) => Elementwise.ReluBackward(_y!.Span[s..e], _dy.Span[s..e], _g!.Span[s..e]));
    }

    /// <summary>Where Backward writes its gradient when set: a buffer the model shares between joins
    /// whose gradients are never needed at once (<see cref="Models.CifarResNet"/>); null: the join's own.</summary>
    internal SharedBuffer? GradientBuffer { get; set; }

    /// <summary>y = max(main + shortcut, 0) (owned buffer, reused across calls).</summary>
    public Tensor Forward(Tensor main, Tensor shortcut)
    {
        CheckShapes(main, shortcut);
        _a = main; _b = shortcut; _mainAffine = _shortcutAffine = default;
        Buffers.Ensure(ref _y, main.Shape);
        _forward.Run(main.Length, Options, Grain);
        return _y!;
    }

    /// <summary>y = max(t(main) + ts(shortcut), 0) where t is a deferred batch-norm of main (and
    /// ts, when given, one of the shortcut)
    /// (<see cref="ChannelAffine"/>; main is [B, C, H, W]): the same bits as Forward of the
    /// materialised t(main), one pass over memory instead of two.</summary>
    public Tensor Forward(Tensor main, Tensor shortcut, in ChannelAffine mainAffine, in ChannelAffine shortcutAffine = default)
    {
        if (mainAffine.IsEmpty && shortcutAffine.IsEmpty) return Forward(main, shortcut);
        CheckShapes(main, shortcut);
        if (mainAffine.IsEmpty || main.Rank != 4 || main.Dim(1) != mainAffine.Channels || (!shortcutAffine.IsEmpty && shortcutAffine.Channels != mainAffine.Channels))
            throw new ArgumentException($"AddReLU: main {Buffers.ShapeText(main.Shape)} needs a transform of its channels (the shortcut's is optional).");
        _a = main; _b = shortcut; _mainAffine = mainAffine; _shortcutAffine = shortcutAffine;
        _hw = main.Dim(2) * main.Dim(3);
        Buffers.Ensure(ref _y, main.Shape);
        _forwardAffine.Run(main.Dim(0) * main.Dim(1), Options, Math.Max(1, Grain / _hw));
        return _y!;
    }

    private static void CheckShapes(Tensor main, Tensor shortcut)
    {
        if (!main.SameShape(shortcut.Shape))
            throw new ArgumentException($"AddReLU: shapes {Buffers.ShapeText(main.Shape)} and {Buffers.ShapeText(shortcut.Shape)} differ.");
    }

    private void ForwardPlanes(int chunk, int start, int end)
    {
        int hw = _hw, c = _mainAffine.Channels;
        for (int p = start; p < end; p++)
        {
            var a = _a.Span.Slice(p * hw, hw); var b = _b.Span.Slice(p * hw, hw); var y = _y!.Span.Slice(p * hw, hw);
            if (_shortcutAffine.IsEmpty) Elementwise.AffineAddRelu(a, AffineOp.For(_mainAffine, p % c), b, new CopyOp(), y);
            else Elementwise.AffineAddRelu(a, AffineOp.For(_mainAffine, p % c), b, AffineOp.For(_shortcutAffine, p % c), y);
        }
    }

    /// <summary>The gradient for both inputs: dy masked by y &gt; 0 (owned buffer).</summary>
    public Tensor Backward(Tensor dy)
    {
        if (_y is null) throw new InvalidOperationException("AddReLU.Backward called before Forward.");
        if (!dy.SameShape(_y.Shape))
            throw new ArgumentException($"AddReLU.Backward: dy shape {Buffers.ShapeText(dy.Shape)}, expected {Buffers.ShapeText(_y.Shape)}.");
        _dy = dy;
        _g = Buffers.Ensure(ref GradientBuffer is { } shared ? ref shared.Tensor : ref _g, dy.Shape);
        _haveSums = !_mainAffine.IsEmpty;
        if (_haveSums)
        {
            Buffers.EnsureArray(ref _sums, 2 * dy.Dim(0) * dy.Dim(1));
            if (!_shortcutAffine.IsEmpty) Buffers.EnsureArray(ref _shortcutSums, 2 * dy.Dim(0) * dy.Dim(1));
            _backwardSums.Run(dy.Dim(0) * dy.Dim(1), Options, Math.Max(1, Grain / _hw));
        }
        else _backward.Run(dy.Length, Options, Grain);
        return _g!;
    }

    /// <summary>After a Backward that followed a Forward with a deferred batch-norm on main: for
    /// every plane (b, c) at 2·(b·C + c), (Σ g, Σ g·(main − μ)) of the gradient g just returned —
    /// the batch-norm's backward sums, taken while g was in cache
    /// (<see cref="BatchNorm2d.BackwardDeferred"/>). Empty otherwise.</summary>
    public ReadOnlySpan<double> MainNormSums => _haveSums ? _sums.AsSpan(0, SumsLength) : default;

    /// <summary>The same for the shortcut's deferred batch-norm (empty when it had none).</summary>
    public ReadOnlySpan<double> ShortcutNormSums => _haveSums && !_shortcutAffine.IsEmpty ? _shortcutSums.AsSpan(0, SumsLength) : default;

    /// <summary>Two sums per plane of the last backward's gradient (the arrays may hold more).</summary>
    private int SumsLength => 2 * _g!.Dim(0) * _g.Dim(1);

    private void BackwardPlanes(int chunk, int start, int end)
    {
        int hw = _hw, c = _mainAffine.Channels;
        for (int p = start; p < end; p++)
        {
            var g = _g!.Span.Slice(p * hw, hw);
            Elementwise.ReluBackward(_y!.Span.Slice(p * hw, hw), _dy.Span.Slice(p * hw, hw), g);
            var (s1, s2) = PlaneStatistics.Sums(g, _a.Span.Slice(p * hw, hw), _mainAffine, p % c);
            _sums![2 * p] = s1;
            _sums[2 * p + 1] = s2;
            if (_shortcutAffine.IsEmpty) continue;
            (s1, s2) = PlaneStatistics.Sums(g, _b.Span.Slice(p * hw, hw), _shortcutAffine, p % c);
            _shortcutSums![2 * p] = s1;
            _shortcutSums[2 * p + 1] = s2;
        }
    }
}
