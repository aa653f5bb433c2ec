using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using SparseSwitch.Tensors;


namespace SparseSwitch.Tensors.Conv;

/// <summary>
/// 3×3 stride-1 "same" convolutions by Winograd's minimal filtering F(2×2, 3×3) on
/// image-interleaved planes (<see cref="InterleavedConv"/>: every position of a padded plane holds
/// 16 images' values, one 64-byte vector). The output is cut into 2×2 tiles; tile t reads a 4×4
/// patch d of the padded plane, and with
///   Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1],  G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1],
///   Aᵀ = [1 1 1 0; 0 1 −1 −1]
/// the tile's output is Aᵀ [Σ_c U_c ⊙ V_c] A with V_c = Bᵀ d_c B (adds only) and U = G g Gᵀ of each
/// 3×3 filter g. For each of the 16 points ξ of the 4×4 transformed tile the sum over channels is
/// a product M[ξ] = U[ξ] · V[ξ] ([Cout, Cin] · [Cin, tiles]): 16 multiply-adds per input channel
/// and tile of four outputs instead of 36 (2.25× fewer). The products run on
/// <see cref="RowsKernels.ProductTiles"/> (its columns are vectors of 16 images), a block of tiles
/// at a time so that V and M stay in L2. The input gradient is the same computation on the padded
/// dy planes with the flipped, transposed filters. Transforms reorder the arithmetic: results
/// agree with the direct convolution to rounding (a few units in the last place of the sums), not
/// bit for bit.
/// </summary>
public static class WinogradConv
{
    private const int G = InterleavedConv.G;

    /// <summary>Points of the transformed tile (4 × 4).</summary>
    public const int Points = 16;

    /// <summary>Whether a geometry (groups = 1 checked by the caller) goes through Winograd: 3×3,
    /// stride 1, padding 1, even H and W, at least <see cref="MinChannels"/> input and output
    /// channels (<see cref="EngineOptions.WinogradMinChannels"/>), 512-bit vectors, and fast matmul precision (MatmulPrecision.Highest asks for the
    /// direct sums). Measured in whole wide ResNet-32 steps: 64 and 128 channels gain; 32 channels
    /// on 32×32 planes lose 8 % (the transforms, and the image-interleaved layout's transposes that
    /// the shifted rows would not need, outweigh the saved multiply-adds).</summary>
    public static bool Applies(in ConvGeometry g, int cin, int cout, EngineOptions options) =>
        ConvPlanner.HasAvx512 && options.MatmulPrecision == MatmulPrecision.Fast
        && ShiftedRowsConv.Applies(g) && g.KH == 3 && g.KW == 3 && g.H % 2 == 0 && g.W % 2 == 0 && Math.Min(cin, cout) >= options.WinogradMinChannels;

    /// <summary>Tiles per block: a multiple of 3 (the product's tile width, 3 vectors), at most the
    /// plane's tile count rounded up to a multiple of 3; the transformed input and product output
    /// of a block take at most <paramref name="blockBytes"/> (<see cref="EngineOptions.WinogradBlockBytes"/>:
    /// the pair stays in L2).</summary>
    public static int BlockTiles(in InterleavedConv.Layout l, int cin, int cout, int blockBytes)
    {
        int mr = RowsKernels.MR, rows = (cin + mr - 1) / mr * mr + (cout + mr - 1) / mr * mr;
        long perTriple = 3L * Points * G * sizeof(float) * rows;
        int tiles = l.H / 2 * (l.W / 2);
        int triples = (int)Math.Clamp(blockBytes / perTriple, 1, (tiles + 2) / 3);
        return 3 * triples;
    }

    /// <summary>Floats of the transformed filters packed for the products: 16 PackA panels of m × k.</summary>
    public static int PackedLength(int m, int k) => Points * RowsKernels.PackedALength(m, k);

    /// <summary>Floats from one point's rows to the next in a block buffer of the given rows: rows·ld
    /// and one vector more when that is a multiple of 1 KB, so that the 16 points of a tile do not
    /// all fall into one set of the L1 cache (the transforms touch all 16 at once).</summary>
    public static int PointStride(int rows, int ld)
    {
        int s = rows * ld;
        return s % 256 == 0 ? s + G : s;
    }

    /// <summary>U[ξ][o, c] = (G·w[o, c]·Gᵀ)[ξ] for w [Cout, Cin, 3, 3], each point packed as
    /// <see cref="RowsKernels.PackA"/> packs an m × k matrix (m = Cout, k = Cin) at ξ·PackedALength;
    /// with <paramref name="flipped"/> the filters of the input gradient: U[ξ][c, o] from w[o, c]
    /// rotated by 180° (m = Cin, k = Cout). Written straight into the panels.</summary>
    public static unsafe void PackFilters(int cout, int cin, ReadOnlySpan<float> w, bool flipped, Span<float> packed, ReadOnlySpan<ulong> mask = default)
    {
        int m = flipped ? cin : cout, k = flipped ? cout : cin, one = RowsKernels.PackedALength(m, k), mr = RowsKernels.MR;
        if (w.Length < cout * cin * 9 || packed.Length < Points * one)
            throw new ArgumentException("WinogradConv.PackFilters: buffer sizes do not match the channels.");
        // Rows of a last partial panel past m are zero.
        if (m % mr != 0)
            for (int xi = 0; xi < Points; xi++) packed.Slice(xi * one + m / mr * mr * k, (one - m / mr * mr * k)).Clear();
        float* u = stackalloc float[Points];
        float* masked = stackalloc float[9];
        fixed (float* pw = w, pp = packed)
        {
            for (int o = 0; o < cout; o++)
                for (int c = 0; c < cin; c++)
                {
                    float* f = pw + (o * cin + c) * 9;
                    if (!mask.IsEmpty)
                    {
                        // A sub-net's mask: its dropped weights enter the transform as +0.
                        for (int i = 0, e = (o * cin + c) * 9; i < 9; i++, e++) masked[i] = (mask[e >> 6] >> (e & 63) & 1) != 0 ? f[i] : 0f;
                        f = masked;
                    }
                    FilterTransform(f, flipped, u);
                    int row = flipped ? c : o, col = flipped ? o : c;
                    float* dst = pp + (long)(row / mr) * mr * k + (long)col * mr + row % mr;
                    for (int xi = 0; xi < Points; xi++) dst[(long)xi * one] = u[xi];
                }
        }
    }

    /// <summary>u = G·g·Gᵀ (4 × 4) of a 3 × 3 filter g (row-major; rotated by 180° when
    /// <paramref name="flipped"/>).</summary>
    internal static unsafe void FilterTransform(float* f, bool flipped, float* u)
    {
        float* g = stackalloc float[9];
        for (int i = 0; i < 9; i++) g[i] = f[flipped ? 8 - i : i];
        float* t = stackalloc float[12]; // G·g: 4 × 3
        for (int j = 0; j < 3; j++)
        {
            float g0 = g[j], g1 = g[3 + j], g2 = g[6 + j];
            t[j] = g0;
            t[3 + j] = 0.5f * (g0 + g1 + g2);
            t[6 + j] = 0.5f * (g0 - g1 + g2);
            t[9 + j] = g2;
        }
        for (int i = 0; i < 4; i++)
        {
            float a = t[3 * i], b = t[3 * i + 1], c = t[3 * i + 2];
            u[4 * i] = a;
            u[4 * i + 1] = 0.5f * (a + b + c);
            u[4 * i + 2] = 0.5f * (a - b + c);
            u[4 * i + 3] = c;
        }
    }

    /// <summary>
    /// V[ξ][c][t − t0] = (Bᵀ·d·B)[ξ] for tiles t ∈ [t0, t0 + nt) of every channel c of the padded
    /// planes (tile t = (ty, tx), tx &lt; W/2, reads padded rows 2ty..2ty+3, columns 2tx..2tx+3):
    /// v[ξ·pointStride + c·ld + (t − t0)·16 + lane], ld ≥ nt·16, pointStride ≥ channels·ld.
    /// </summary>
    public static unsafe void InputTransform(ReadOnlySpan<float> planes, in InterleavedConv.Layout l, int channels, int t0, int nt,
        Span<float> v, int ld, int pointStride)
    {
        int tw = l.W / 2, tiles = tw * (l.H / 2);
        if (t0 < 0 || nt < 0 || t0 + nt > tiles || ld < nt * G || pointStride < (long)channels * ld || planes.Length < (long)channels * l.ChannelStride
            || v.Length < (long)(Points - 1) * pointStride + (long)(channels - 1) * ld + nt * G)
            throw new ArgumentException("WinogradConv.InputTransform: buffer sizes do not match the layout.");
        nint rowS = l.Wp * G, pointS = pointStride;
        fixed (float* pl = planes, pv = v)
        {
            for (int c = 0; c < channels; c++)
            {
                float* plane = pl + (long)c * l.ChannelStride;
                float* vc = pv + (long)c * ld;
                for (int t = t0; t < t0 + nt; t++)
                {
                    int ty = t / tw, tx = t - ty * tw;
                    float* p = plane + 2 * ty * rowS + 2 * tx * G;
                    // Rows of d through Bᵀ from the right (along x), then the columns (along y).
                    RowBT(p, out var e00, out var e01, out var e02, out var e03);
                    RowBT(p + rowS, out var e10, out var e11, out var e12, out var e13);
                    RowBT(p + 2 * rowS, out var e20, out var e21, out var e22, out var e23);
                    RowBT(p + 3 * rowS, out var e30, out var e31, out var e32, out var e33);
                    float* o = vc + (t - t0) * G;
                    StoreBT(o, pointS, 0, e00, e10, e20, e30);
                    StoreBT(o, pointS, 1, e01, e11, e21, e31);
                    StoreBT(o, pointS, 2, e02, e12, e22, e32);
                    StoreBT(o, pointS, 3, e03, e13, e23, e33);
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void RowBT(float* p, out Vector512<float> r0, out Vector512<float> r1, out Vector512<float> r2, out Vector512<float> r3)
    {
        var d0 = Vector512.Load(p);
        var d1 = Vector512.Load(p + G);
        var d2 = Vector512.Load(p + 2 * G);
        var d3 = Vector512.Load(p + 3 * G);
        r0 = d0 - d2;
        r1 = d1 + d2;
        r2 = d2 - d1;
        r3 = d1 - d3;
    }

    /// <summary>Column j of the row-transformed patch through Bᵀ: points (i, j), i &lt; 4.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void StoreBT(float* o, nint pointS, int j, Vector512<float> a0, Vector512<float> a1, Vector512<float> a2, Vector512<float> a3)
    {
        (a0 - a2).Store(o + j * pointS);
        (a1 + a2).Store(o + (4 + j) * pointS);
        (a2 - a1).Store(o + (8 + j) * pointS);
        (a1 - a3).Store(o + (12 + j) * pointS);
    }

    /// <summary>
    /// The inverse transform of a block: for channels o &lt; m and tiles t ∈ [t0, t0 + nt), the
    /// 2×2 outputs Aᵀ·M·A of M[ξ] = mBuf[ξ·pointStride + o·ld + (t − t0)·16], written to
    /// stage[o·ldStage + ((2ty + a)·W + 2tx + b)·16] (the interleaved layout of
    /// <see cref="InterleavedConv.Compact"/>).
    /// </summary>
    public static unsafe void OutputTransform(ReadOnlySpan<float> mBuf, int pointStride, int ld, int m, in InterleavedConv.Layout l,
        int t0, int nt, Span<float> stage, int ldStage)
    {
        int tw = l.W / 2, tiles = tw * (l.H / 2), hw = l.H * l.W;
        if (t0 < 0 || nt < 0 || t0 + nt > tiles || ld < nt * G || pointStride < (long)(m - 1) * ld + nt * G
            || mBuf.Length < (long)(Points - 1) * pointStride + (long)(m - 1) * ld + nt * G
            || ldStage < hw * G || stage.Length < (long)(m - 1) * ldStage + hw * G)
            throw new ArgumentException("WinogradConv.OutputTransform: buffer sizes do not match the layout.");
        nint ps = pointStride, rowOut = l.W * G;
        fixed (float* pm = mBuf, pst = stage)
        {
            for (int o = 0; o < m; o++)
            {
                float* mo = pm + (long)o * ld;
                float* so = pst + (long)o * ldStage;
                for (int t = t0; t < t0 + nt; t++)
                {
                    int ty = t / tw, tx = t - ty * tw;
                    float* q = mo + (t - t0) * G;
                    // Rows of M through Aᵀ from the right, then the two output rows.
                    RowAT(q, ps, 0, out var u00, out var u01);
                    RowAT(q, ps, 1, out var u10, out var u11);
                    RowAT(q, ps, 2, out var u20, out var u21);
                    RowAT(q, ps, 3, out var u30, out var u31);
                    float* y = so + (2 * ty * l.W + 2 * tx) * G;
                    (u00 + u10 + u20).Store(y);
                    (u01 + u11 + u21).Store(y + G);
                    (u10 - u20 - u30).Store(y + rowOut);
                    (u11 - u21 - u31).Store(y + rowOut + G);
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void RowAT(float* q, nint ps, int i, out Vector512<float> r0, out Vector512<float> r1)
    {
        var a0 = Vector512.Load(q + 4 * i * ps);
        var a1 = Vector512.Load(q + (4 * i + 1) * ps);
        var a2 = Vector512.Load(q + (4 * i + 2) * ps);
        var a3 = Vector512.Load(q + (4 * i + 3) * ps);
        r0 = a0 + a1 + a2;
        r1 = a1 - a2 - a3;
    }
}
