using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace SparseSwitch.Tensors;

// Generic per-vector operations; they depend on nothing else in Nn (Elementwise and the
// convolutions use them; the batch-norm operations AffineOp and GradAffineOp are in ChannelAffine.cs).

/// <summary>Per-vector operations applied while data is copied (the convolutions' row and plane
/// copies, the residual join); structs, so each copy loop is compiled for its operation.</summary>
internal interface IVectorOp
{
    Vector512<float> Apply(Vector512<float> v);
    float Apply(float v);
}

/// <summary>The value as it is.</summary>
internal readonly struct CopyOp : IVectorOp
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public Vector512<float> Apply(Vector512<float> v) => v;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public float Apply(float v) => v;
}

/// <summary>v + k.</summary>
internal readonly struct AddOp(float k) : IVectorOp
{
    private readonly Vector512<float> _k = Vector512.Create(k);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public Vector512<float> Apply(Vector512<float> v) => v + _k;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public float Apply(float v) => v + k;
}

/// <summary>Per-vector operations on a pair (a gradient and the tensor it belongs to);
/// <see cref="ReadsSecond"/> false for the unary operations wrapped by <see cref="Unary{TOp}"/>, so a
/// copy loop compiled for them never loads the second operand.</summary>
internal interface IBinaryVectorOp
{
    static abstract bool ReadsSecond { get; }
    Vector512<float> Apply(Vector512<float> g, Vector512<float> x);
    float Apply(float g, float x);
}

/// <summary>A unary operation as a pair operation that ignores its second operand.</summary>
internal readonly struct Unary<TOp>(TOp op) : IBinaryVectorOp where TOp : struct, IVectorOp
{
    public static bool ReadsSecond => false;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public Vector512<float> Apply(Vector512<float> g, Vector512<float> x) => op.Apply(g);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public float Apply(float g, float x) => op.Apply(g);
}
