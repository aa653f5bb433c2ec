using SparseSwitch.Tensors;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;

namespace SparseSwitch.Nn;

/// <summary>
/// Element-wise sum of two tensors of the same shape into an owned buffer: the join of a residual
/// block (y = main + shortcut) and, in backward, the sum of the two branches' input gradients.
/// The gradient of y with respect to either input is dy itself, so there is no Backward: pass dy
/// to both branches. Not a <see cref="Module"/> (two inputs); no parameters.
/// </summary>
public sealed class Add
{
    /// <summary>The engine options of the loop (its owner's).</summary>
    public EngineOptions Options { get; set; } = EngineOptions.Default;

    private const int Grain = 32768;
    private Tensor? _y;
    private Tensor _a = null!, _b = null!;
    private readonly ParallelRange _loop;

    public Add() => _loop = new ParallelRange((_, s, e) => TensorPrimitives.Add(_a.Span[s..e], _b.Span[s..e], _y!.Span[s..e]));

    /// <summary>y = a + b (owned buffer, reused across calls).</summary>
    public Tensor Forward(Tensor a, Tensor b)
    {
        if (!a.SameShape(b.Shape))
            throw new ArgumentException($"Add: shapes {Buffers.ShapeText(a.Shape)} and {Buffers.ShapeText(b.Shape)} differ.");
        _a = a; _b = b;
        Buffers.Ensure(ref _y, a.Shape);
        _loop.Run(a.Length, Options, Grain);
        return _y!;
    }
}
