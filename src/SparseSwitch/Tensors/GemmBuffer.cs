namespace SparseSwitch.Tensors;

/// <summary>A growable pinned float buffer whose usable part starts on a 64-byte boundary; it only
/// reallocates when asked for more than it holds, so reuse is allocation-free.</summary>
internal sealed unsafe class GemmBuffer
{
    private float[] _array = [];

    public float* Pointer { get; private set; }
    public long Capacity { get; private set; }

    public float* Ensure(long length)
    {
        if (length > Capacity)
        {
            _array = GC.AllocateUninitializedArray<float>(checked((int)(length + 16)), pinned: true);
            fixed (float* p = _array)
            {
                // Pinned arrays never move, so the aligned address stays valid.
                long misalign = (long)p & 63;
                Pointer = p + (misalign == 0 ? 0 : (64 - misalign) / sizeof(float));
            }
            Capacity = length;
        }
        return Pointer;
    }
}
