
namespace SparseSwitch.Tensors;

/// <summary>Module-owned reusable buffers, each with one owner (the field passed by reference).
/// A buffer keeps its storage when a smaller shape comes (the evaluation's last batch, a smaller
/// training batch): the new shape is a view on it, and storage is reallocated only when more is
/// needed. So a buffer's contents after a change of shape are whatever was there, not zeros;
/// readers that need zeros where nothing is written use <see cref="EnsureCleared"/>.</summary>
internal static class Buffers
{
    /// <summary>Like <see cref="Tensor.Ensure"/>, but the shape is a span, so a call with an
    /// unchanged shape allocates nothing (not even the params array); a change of shape allocates
    /// a tensor object and, only when the storage is too small, new storage.</summary>
    public static Tensor Ensure(ref Tensor? t, params ReadOnlySpan<int> shape)
    {
        if (t is null) t = new Tensor(shape.ToArray());
        else if (!t.SameShape(shape)) t = t.Reshaped(shape);
        return t;
    }

    /// <summary><see cref="Ensure"/> for a buffer whose readers take the places nobody writes to be
    /// zero (the padding of the convolution paths' planes): all zeros after a change of shape (new
    /// storage is zero already; kept storage is cleared). Returns whether the contents were reset,
    /// i.e. whatever was written into the buffer before is gone.</summary>
    public static bool EnsureCleared(ref Tensor? t, params ReadOnlySpan<int> shape)
    {
        var before = t;
        Ensure(ref t, shape);
        if (ReferenceEquals(before, t)) return false;
        if (before is not null && t.SharesStorage(before)) t.Clear();
        return true;
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

/// <summary>A buffer that several layers take turns with, owned by the model that hands it out:
/// layers whose outputs are never needed at the same time (the input gradients of the same layer
/// in successive residual blocks, each read by the block below before the next is written). Each
/// user sizes it through <see cref="Buffers.Ensure"/> and writes all of it.</summary>
internal sealed class SharedBuffer
{
    public Tensor? Tensor;
}

/// <summary>What a layer borrows <see cref="Scratch"/> storage for.</summary>
internal enum ScratchRole
{
    /// <summary>A product's output before it is compacted into y or dx (the row paths, im2col's batched GEMMs).</summary>
    ProductStage,
    /// <summary>im2col's unfolded input (and, in the backward, its gradient).</summary>
    Im2Col,
    /// <summary>Winograd's transformed input tiles, products and output stage.</summary>
    WinogradInput,
    WinogradProduct,
    WinogradStage,
    /// <summary>A chunk's part of a weight gradient, added into the gradient after the loop.</summary>
    WeightGradientPart,
}

/// <summary>
/// Storage that layers borrow for the length of one call (a product's staging rows, transformed
/// tiles, a chunk's partial weight gradient): nothing in it outlives the call, so the layers run by
/// one thread share it, one storage per role and chunk (chunks run at the same time), sized for
/// the largest user and kept by the thread. A layer keeps its view while the storage stands, so
/// steady-state calls allocate nothing. Its readers take nothing to be zero: the contents are
/// whatever the last user left.
/// </summary>
internal static class Scratch
{
    [ThreadStatic] private static Dictionary<(ScratchRole, int), Tensor>? _storage;

    /// <summary>Sets <paramref name="view"/> to a tensor of this shape on this thread's storage for
    /// (<paramref name="role"/>, <paramref name="chunk"/>), growing that storage when it is too small.</summary>
    public static Tensor Ensure(ref Tensor? view, ScratchRole role, int chunk, params ReadOnlySpan<int> shape)
    {
        int length = Tensor.ShapeLength(shape);
        ref var storage = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(_storage ??= [], (role, chunk), out _);
        if (storage is null || storage.Length < length) storage = new Tensor(length);
        if (view is null || !view.SharesStorage(storage) || !view.SameShape(shape)) view = storage.View(0, shape.ToArray());
        return view;
    }
}
