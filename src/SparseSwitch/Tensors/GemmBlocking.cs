namespace SparseSwitch.Tensors;

/// <summary>
/// Block sizes of the GEMM loops (<see cref="GemmDriver{TV, TO}"/>), chosen for the caches of a
/// core with 48 KiB L1d and 1–2 MiB L2 (Zen 5):
/// KC — depth of a k-slice: a KC×NR micro-panel of packed B (KC·48·4 bytes) is reused from
///      L1 while the MR-row micro-panels of A stream past it;
/// MC — rows of C per compute task: the MC×KC block of packed A stays in L2;
/// NC — columns of C per compute task: the KC×NC slice of packed B and the MC×NC block of C stay
///      in L2 while the task walks through the k-slices;
/// PackedBLimit — floats of packed B per column block: all k rows of op(B) for as many columns
///      as fit are packed at once (one pool join per phase rather than per k-slice).
/// Settable (before a call, not during one) so that the tuning bench can compare choices.
/// </summary>
internal static class GemmBlocking
{
    public static int KC { get; private set; } = 256;
    public static int MC { get; private set; } = 96;
    public static int NC { get; private set; } = 384;
    public static long PackedBLimit { get; private set; } = 4L << 20;

    public static void Set(int kc, int mc, int nc, long packedBLimit)
    {
        if (kc < 1) throw new ArgumentOutOfRangeException(nameof(kc), "KC must be at least 1.");
        if (mc < GemmMicroKernel.MR || mc % GemmMicroKernel.MR != 0)
            throw new ArgumentOutOfRangeException(nameof(mc), $"MC must be a positive multiple of MR = {GemmMicroKernel.MR}.");
        if (nc < 1) throw new ArgumentOutOfRangeException(nameof(nc), "NC must be at least 1.");
        if (packedBLimit < 1) throw new ArgumentOutOfRangeException(nameof(packedBLimit), "The packed B limit must be positive.");
        (KC, MC, NC, PackedBLimit) = (kc, mc, nc, packedBLimit);
    }
}
