namespace SparseSwitch.Sparsity;

/// <summary>
/// The N:M grouping convention (SPEC §1) for a weight tensor: groups of M consecutive weights along
/// the reduction axis. Linear [out, in]: M consecutive inputs of one output row. Conv
/// [out, in, kh, kw]: M consecutive input channels at one kernel position (the [out, kh, kw, in]
/// order). A run of <see cref="In"/> channels that M does not divide ends in a tail group padded
/// with zeros. Any other rank is treated as [dim0, rest] (a matrix with rows of dim0).
/// The storage index of (row o, kernel position p, channel c) is o·In·P + c·P + p.
/// </summary>
public readonly struct NmLayout
{
    /// <summary>Output rows (dim 0).</summary>
    public int Out { get; }
    /// <summary>Channels along which groups run (dim 1 for conv, the row length for linear).</summary>
    public int In { get; }
    /// <summary>Kernel positions kh·kw (1 for linear).</summary>
    public int Positions { get; }
    public int M { get; }
    /// <summary>Groups per run of In channels: ⌈In / M⌉.</summary>
    public int GroupsPerRun => (In + M - 1) / M;
    /// <summary>Number of runs (one per output row and kernel position).</summary>
    public int Runs => Out * Positions;
    public int Groups => Runs * GroupsPerRun;
    public int Length => Out * In * Positions;

    public NmLayout(ReadOnlySpan<int> shape, int m)
    {
        if (m < 2) throw new ArgumentOutOfRangeException(nameof(m), $"M must be at least 2 (got {m}).");
        if (shape.Length == 0) throw new ArgumentException("N:M needs a weight of rank ≥ 1.", nameof(shape));
        M = m;
        Out = shape[0];
        if (shape.Length == 1) { Out = 1; In = shape[0]; Positions = 1; }
        else if (shape.Length == 2) { In = shape[1]; Positions = 1; }
        else
        {
            In = shape[1];
            long p = 1;
            for (int i = 2; i < shape.Length; i++) p *= shape[i];
            Positions = checked((int)p);
        }
    }

    /// <summary>Storage index of group element (run r = o·P + p, channel c).</summary>
    public int Index(int run, int channel)
    {
        int o = run / Positions, p = run - o * Positions;
        return (o * In + channel) * Positions + p;
    }

    /// <summary>Validates an N:M pair: 1 ≤ N &lt; M.</summary>
    public static void Check(int n, int m)
    {
        if (m < 2) throw new ArgumentOutOfRangeException(nameof(m), $"M must be at least 2 (got {m}).");
        if (n < 1 || n >= m)
            throw new ArgumentOutOfRangeException(nameof(n), $"N:M needs 1 ≤ N < M with N the kept count (got {n}:{m}).");
    }

    /// <summary>Copies storage order into the reduction-major matrix [Out, Positions·⌈In/M⌉·M]
    /// (columns ordered by kernel position, then channel, each run zero-padded to a multiple of M).
    /// Row-wise N:M groups of this matrix are exactly the layout's groups.</summary>
    public void ToMatrix(ReadOnlySpan<float> src, Span<float> dst)
    {
        int padded = GroupsPerRun * M, cols = Positions * padded;
        if (src.Length != Length) throw new ArgumentException($"Weight has {src.Length} elements, layout expects {Length}.", nameof(src));
        if (dst.Length != Out * cols) throw new ArgumentException($"Matrix buffer has {dst.Length} elements, expected {Out * cols}.", nameof(dst));
        dst.Clear();
        for (int o = 0; o < Out; o++)
            for (int c = 0; c < In; c++)
                for (int p = 0; p < Positions; p++)
                    dst[o * cols + p * padded + c] = src[(o * In + c) * Positions + p];
    }

    /// <summary>Inverse of <see cref="ToMatrix"/> (padding dropped).</summary>
    public void FromMatrix(ReadOnlySpan<float> src, Span<float> dst)
    {
        int padded = GroupsPerRun * M, cols = Positions * padded;
        if (dst.Length != Length) throw new ArgumentException($"Weight has {dst.Length} elements, layout expects {Length}.", nameof(dst));
        if (src.Length != Out * cols) throw new ArgumentException($"Matrix has {src.Length} elements, expected {Out * cols}.", nameof(src));
        for (int o = 0; o < Out; o++)
            for (int c = 0; c < In; c++)
                for (int p = 0; p < Positions; p++)
                    dst[(o * In + c) * Positions + p] = src[o * cols + p * padded + c];
    }

    /// <summary>Columns of the reduction-major matrix.</summary>
    public int MatrixColumns => Positions * GroupsPerRun * M;
}
