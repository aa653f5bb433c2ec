using SparseSwitch.Tensors;

namespace SparseSwitch.Nn;

/// <summary>The weights of a stride-1 row-path convolution (<see cref="ShiftedRowsPath"/>,
/// <see cref="InterleavedPath"/>) in the form its products read: packed into MR-row panels for the
/// forward; flipped, transposed and packed for dX (dx = Wflip · rows(dy)).</summary>
internal sealed class RowsWeights
{
    private Tensor? _packed, _flip, _flipPacked;

    /// <summary>W[Cout, C·KH·KW] packed (after <see cref="Pack"/> for the forward).</summary>
    public ReadOnlySpan<float> Forward => _packed!.Span;

    /// <summary>Wflip[C, Cout·KH·KW] packed (after <see cref="Pack"/> for the backward).</summary>
    public ReadOnlySpan<float> Backward => _flipPacked!.Span;

    public void Pack(bool backward, ReadOnlySpan<float> w, int cout, int cin, int kh, int kw)
    {
        int kk = kh * kw;
        if (!backward)
        {
            RowsKernels.PackA(cout, cin * kk, w, cin * kk, Buffers.Ensure(ref _packed, RowsKernels.PackedALength(cout, cin * kk)).Span);
            return;
        }
        int kkOut = cout * kk;
        var flip = Buffers.Ensure(ref _flip, cin, kkOut).Span;
        ShiftedRowsConv.FlipTranspose(w, cout, cin, kh, kw, flip);
        RowsKernels.PackA(cin, kkOut, flip, kkOut, Buffers.Ensure(ref _flipPacked, RowsKernels.PackedALength(cin, kkOut)).Span);
    }
}

/// <summary>Whether the planes a forward filled can serve the backward: made by a forward over all
/// chunks of the same batch size and chunking (anything else refills them from x).</summary>
internal struct PlaneReuse
{
    private bool _valid;
    private int _batch, _chunks, _madeBatch, _madeChunks;

    /// <summary>A forward or backward over this batch and chunking is about to run; a forward
    /// invalidates the planes until <see cref="ForwardDone"/>.</summary>
    public void Prepare(int batch, int chunks, bool backward)
    {
        (_batch, _chunks) = (batch, chunks);
        if (!backward) _valid = false;
    }

    public void ForwardDone() => (_valid, _madeBatch, _madeChunks) = (true, _batch, _chunks);

    public readonly bool Reusable => _valid && _madeBatch == _batch && _madeChunks == _chunks;
}
