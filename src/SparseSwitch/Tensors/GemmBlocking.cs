namespace SparseSwitch.Tensors;

/// <summary>
/// Block sizes of the GEMM loops (<see cref="GemmDriver{TV, TO}"/>), chosen for the caches of a
/// core with 48 KiB L1d and 1–2 MiB L2 (Zen 5):
/// KC — depth of a k-slice: a KC×NR micro-panel of packed B (KC·48·4 bytes, 48 KiB at 256) is
///      reused while the MR-row micro-panels of A stream past it (128–384 measured alike);
/// MC — rows of C per compute task: the MC×KC block of packed A stays in L2;
/// NC — columns of C per compute task: the KC×NC slice of packed B and the MC×NC block of C stay
///      in L2 while the task walks through the k-slices;
/// PackedBLimit — floats of packed B per column block: all k rows of op(B) for as many columns
///      as fit are packed at once (one pool join per phase rather than per k-slice). 2–4 MiB
///      measured alike on one thread; 16 MiB (all of B at n = 2048) was 15 % slower. The larger
///      end halves the joins per product, which matters with two threads.
/// An immutable value in <see cref="EngineOptions.Gemm"/>, so that the tuning bench can compare choices.
/// </summary>
public sealed record GemmBlocking
{
    /// <summary>The block sizes measured best (see above).</summary>
    public static GemmBlocking Default { get; } = new();

    private readonly int _kc = 256, _mc = 96, _nc = 384;
    private readonly long _packedBLimit = 1L << 20;

    public int KC
    {
        get => _kc;
        init => _kc = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(KC), value, "KC must be at least 1.");
    }

    public int MC
    {
        get => _mc;
        init => _mc = value >= GemmMicroKernel.MR && value % GemmMicroKernel.MR == 0 ? value
            : throw new ArgumentOutOfRangeException(nameof(MC), value, $"MC must be a positive multiple of MR = {GemmMicroKernel.MR}.");
    }

    public int NC
    {
        get => _nc;
        init => _nc = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(NC), value, "NC must be at least 1.");
    }

    public long PackedBLimit
    {
        get => _packedBLimit;
        init => _packedBLimit = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(PackedBLimit), value, "The packed B limit must be positive.");
    }
}
