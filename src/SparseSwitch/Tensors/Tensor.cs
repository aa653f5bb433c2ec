using System.Runtime.CompilerServices;

namespace SparseSwitch.Tensors;

/// <summary>
/// A float32 tensor: contiguous row-major storage with a shape. The storage is a pinned array
/// whose first element is 64-byte aligned, or a view into another tensor's storage (used by the
/// flat parameter table). Shapes are NCHW for images, [out, in] for Linear weights and
/// [out, in/groups, kh, kw] for convolution weights, as in PyTorch. A tensor that owns its storage
/// may hold more floats than its shape needs: <see cref="Ensure"/> keeps a buffer's storage when a
/// smaller shape comes and reallocates only when more is needed.
/// </summary>
public sealed class Tensor
{
    private float[] _buffer;
    private int _offset;
    // Whether the storage from _offset to its end is this tensor's to grow into (made by the
    // constructor, or a reshaping of such a tensor by Ensure); false for views of other storage.
    private bool _ownsStorage;

    public int[] Shape { get; private set; }
    public int Length { get; private set; }

    public Tensor(params int[] shape)
    {
        Shape = (int[])shape.Clone();
        Length = checked(ShapeLength(shape));
        (_buffer, _offset) = AllocateAligned(Length);
        _ownsStorage = true;
    }

    private Tensor(float[] buffer, int offset, int[] shape)
    {
        _buffer = buffer;
        _offset = offset;
        Shape = shape;
        Length = ShapeLength(shape);
    }

    /// <summary>A tensor of the given shape holding a copy of <paramref name="values"/>.</summary>
    public static Tensor FromArray(ReadOnlySpan<float> values, params int[] shape)
    {
        var t = new Tensor(shape);
        if (values.Length != t.Length)
            throw new ArgumentException($"{values.Length} values do not fill shape [{string.Join(", ", shape)}] ({t.Length} elements).");
        values.CopyTo(t.Span);
        return t;
    }

    /// <summary>A view of <paramref name="length"/> elements of this tensor's storage starting at
    /// <paramref name="start"/>, with the given shape. Writes go to the same storage.</summary>
    public Tensor View(int start, params int[] shape)
    {
        int len = ShapeLength(shape);
        if (start < 0 || start + len > Length) throw new ArgumentOutOfRangeException(nameof(start));
        return new Tensor(_buffer, _offset + start, (int[])shape.Clone());
    }

    /// <summary>Same storage, another shape with the same element count.</summary>
    public Tensor Reshape(params int[] shape)
    {
        if (ShapeLength(shape) != Length)
            throw new ArgumentException($"Cannot reshape [{string.Join(", ", Shape)}] to [{string.Join(", ", shape)}].");
        return new Tensor(_buffer, _offset, (int[])shape.Clone());
    }

    /// <summary>Points this tensor at another storage of the same length (the flat parameter table
    /// moves parameters into one buffer this way); the current values are copied over.</summary>
    public void Rebind(Tensor storage)
    {
        if (storage.Length != Length) throw new ArgumentException("Rebind needs storage of the same length.");
        Span.CopyTo(storage.Span);
        _buffer = storage._buffer;
        _offset = storage._offset;
        _ownsStorage = false;
    }

    public Span<float> Span
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => _buffer.AsSpan(_offset, Length);
    }

    public ref float this[int i] => ref Span[i];

    public int Rank => Shape.Length;
    public int Dim(int i) => Shape[i < 0 ? Shape.Length + i : i];

    public bool SameShape(ReadOnlySpan<int> shape) => Shape.AsSpan().SequenceEqual(shape);

    public void Clear() => Span.Clear();
    public void Fill(float v) => Span.Fill(v);
    public Tensor Clone() { var t = new Tensor(Shape); Span.CopyTo(t.Span); return t; }
    public float[] ToArray() => Span.ToArray();

    public override string ToString() => $"Tensor[{string.Join(", ", Shape)}]";

    public static int ShapeLength(ReadOnlySpan<int> shape)
    {
        long n = 1;
        foreach (int d in shape)
        {
            if (d < 0) throw new ArgumentException("Negative dimension in shape.");
            n *= d;
            if (n > int.MaxValue) throw new ArgumentException("Tensor too large.");
        }
        return (int)n;
    }

    /// <summary>Ensures <paramref name="t"/> exists with exactly this shape. Layers use it for their
    /// output and scratch buffers so that steady-state steps allocate nothing. After a change of
    /// shape <paramref name="t"/> is a new tensor object, on the same storage when that holds
    /// enough (<see cref="Reshaped"/>): a buffer sized for the largest batch serves smaller ones
    /// without reallocating, so the contents are not zero then, and the tensor of the old shape
    /// sees the writes to the new one.</summary>
    public static Tensor Ensure(ref Tensor? t, params int[] shape)
    {
        if (t is null) t = new Tensor(shape);
        else if (!t.SameShape(shape)) t = t.Reshaped(shape);
        return t;
    }

    /// <summary>Floats of storage from this tensor's start on (at least <see cref="Length"/>).</summary>
    internal int Capacity => _buffer.Length - _offset;

    /// <summary>Whether two tensors read and write the same storage.</summary>
    internal bool SharesStorage(Tensor other) => ReferenceEquals(_buffer, other._buffer);

    /// <summary>A tensor of this shape: on this tensor's storage when it owns it and it holds
    /// enough (old contents left in place), otherwise newly allocated (zeros).</summary>
    internal Tensor Reshaped(ReadOnlySpan<int> shape)
    {
        int length = ShapeLength(shape);
        if (!_ownsStorage || length > Capacity) return new Tensor(shape.ToArray());
        return new Tensor(_buffer, _offset, shape.ToArray()) { _ownsStorage = true };
    }

    /// <summary>A pinned array with room to start at a 64-byte boundary, and the offset of that start.</summary>
    internal static unsafe (float[] buffer, int offset) AllocateAligned(int length)
    {
        // 16 extra floats give room to move the start to a 64-byte boundary; the array is pinned
        // so the address never changes.
        var buf = GC.AllocateArray<float>(length + 16, pinned: true);
        nint addr = (nint)Unsafe.AsPointer(ref buf[0]);
        int offset = (int)(((64 - (addr & 63)) & 63) / sizeof(float));
        return (buf, offset);
    }
}
