using SparseSwitch.Tensors;

namespace SparseSwitch.Nn;

/// <summary>Module-owned reusable buffers. Like <see cref="Tensor.Ensure"/>, but the shape is a
/// span, so a call with an unchanged shape allocates nothing (not even the params array).</summary>
internal static class Buffers
{
    public static Tensor Ensure(ref Tensor? t, params ReadOnlySpan<int> shape)
    {
        if (t is null || !t.SameShape(shape)) t = new Tensor(shape.ToArray());
        return t;
    }

    /// <summary>A cached reshaped view of <paramref name="source"/>: rebuilt only when the source
    /// tensor object or the requested shape changes (steady-state calls allocate nothing).</summary>
    public static Tensor View(ref Tensor? view, ref Tensor? viewSource, Tensor source, params ReadOnlySpan<int> shape)
    {
        if (view is null || !ReferenceEquals(viewSource, source) || !view.SameShape(shape))
        {
            view = source.Reshape(shape.ToArray());
            viewSource = source;
        }
        return view;
    }

    /// <summary>An array of at least <paramref name="length"/> elements: kept while it holds enough,
    /// replaced by one of exactly that length when not (callers slice it to the length they use).</summary>
    public static T[] EnsureArray<T>(ref T[]? a, int length)
    {
        if (a is null || a.Length < length) a = new T[length];
        return a;
    }

    public static string ShapeText(ReadOnlySpan<int> shape) => "[" + string.Join(", ", shape.ToArray()) + "]";
}
