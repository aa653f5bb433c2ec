
namespace SparseSwitch.Tensors.Conv;

/// <summary>The algorithms that compute a convolution (<see cref="ConvPlanner"/> picks one per
/// layer; results agree to rounding, and each one's are bit-reproducible).</summary>
public enum ConvAlgorithm
{
    /// <summary>Unfold with im2col, one GEMM per image group (any geometry; the fallback).</summary>
    Im2Col,
    /// <summary>Direct kernels for groups = Cin.</summary>
    Depthwise,
    /// <summary>Stride-1 "same": shared-padding planes read in place (<see cref="ShiftedRowsConv"/>).</summary>
    ShiftedRows,
    /// <summary>Stride-1 "same": image-interleaved planes, 16 images per vector (<see cref="InterleavedConv"/>).</summary>
    InterleavedPlanes,
    /// <summary>3×3 stride-1 "same": Winograd F(2×2, 3×3) on image-interleaved planes (<see cref="WinogradConv"/>).</summary>
    Winograd,
    /// <summary>Stride 2, 1×1 / 3×3: the input's four phase planes read in place.</summary>
    PhasePlanes,
}

/// <summary>A batch as the algorithms see it: <see cref="Batch"/> images split into
/// <see cref="Chunks"/> contiguous chunks (one per thread) of at most <see cref="MaxChunk"/>.</summary>
internal readonly record struct ConvBatch(int Batch, int Chunks, int MaxChunk);

/// <summary>The forward of one chunk: y = conv(prologue(x)) + bias, and its epilogue.
/// Prologue: <see cref="Input"/>, a deferred batch-norm (+ ReLU) applied to x's channels as they
/// are read (empty: x as it is; only algorithms with <see cref="IConvAlgorithm.TransformsInput"/>
/// get one). Epilogue: a non-empty <see cref="OutStats"/> receives y's plane statistics at
/// 2·(n·Cout + o) as each group of images is written.</summary>
internal readonly ref struct ConvForward
{
    public required ReadOnlySpan<float> X { get; init; }
    public ChannelAffine Input { get; init; }
    public ReadOnlySpan<float> Bias { get; init; }
    public required Span<float> Y { get; init; }
    public Span<double> OutStats { get; init; }
}

/// <summary>The backward of one chunk. <see cref="Dw"/> and <see cref="Db"/> (empty: no bias) are
/// this chunk's partial gradients, overwritten; an empty <see cref="Dx"/> skips the input gradient.
/// Prologue: <see cref="DyIn"/>, a deferred batch-norm's backward applied to dy as it is read
/// (only algorithms with <see cref="IConvAlgorithm.TransformsGradient"/> get one); <see cref="Input"/>
/// is the forward's. Epilogue, group by group while dx is in cache: a non-empty
/// <see cref="InputSums"/> receives the backward plane sums of the deferred batch-norm on x; a
/// non-empty <see cref="DxAdd"/> is added to dx (the other branch of a residual block).</summary>
internal readonly ref struct ConvBackward
{
    public required ReadOnlySpan<float> X { get; init; }
    public ChannelAffine Input { get; init; }
    public required ReadOnlySpan<float> Dy { get; init; }
    public ChannelGradAffine DyIn { get; init; }
    public required Span<float> Dw { get; init; }
    public Span<float> Db { get; init; }
    public Span<float> Dx { get; init; }
    public Span<double> InputSums { get; init; }
    public ReadOnlySpan<float> DxAdd { get; init; }
}

/// <summary>
/// One way of computing a convolution y[B, Cout, OH, OW] = W[Cout, Cin/groups, KH, KW] ⋆ x + b.
/// An instance serves one layer and owns its buffers (reallocated only when shapes change).
/// <see cref="Prepare"/> sizes them for a geometry and batch and packs the weights (a sub-net's
/// mask, when given, is applied as they are packed: there is no separate W ⊙ M pass); then <see cref="Forward"/> or <see cref="Backward"/> runs
/// once per chunk of images, chunks in parallel. The weight and input gradients come from one
/// Backward because the row algorithms fill dy's planes once for both. The scalar twin of every
/// algorithm is <see cref="ConvReference"/>.
/// </summary>
internal interface IConvAlgorithm
{
    ConvAlgorithm Kind { get; }

    /// <summary>Whether Forward applies <see cref="ConvForward.Input"/> (a deferred batch-norm) while
    /// reading x, and Backward takes the plane sums of <see cref="ConvBackward.InputSums"/>.</summary>
    bool TransformsInput { get; }

    /// <summary>Whether Backward applies <see cref="ConvBackward.DyIn"/> while reading dy.</summary>
    bool TransformsGradient { get; }

    /// <summary>Sizes the buffers and packs <paramref name="weight"/> (for the forward product, or
    /// for the input-gradient product when <paramref name="backward"/>); the weights that
    /// <paramref name="mask"/> (when not null) drops are packed as +0, so the products use W ⊙ M.</summary>
    void Prepare(in ConvGeometry g, ConvBatch batch, bool backward, Tensor weight, BitMask? mask, EngineOptions options);

    void Forward(int chunk, int start, int end, in ConvForward a);

    void Backward(int chunk, int start, int end, in ConvBackward a);

    /// <summary>After a forward over all chunks (planes made from x may serve the backward).</summary>
    void ForwardDone();
}
