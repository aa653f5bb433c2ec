using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using SparseSwitch.Tensors;


namespace SparseSwitch.Tensors.Conv;

/// <summary>
/// Stride-1 "same" convolution (KH = 2·PH + 1, KW = 2·PW + 1, dilation 1) on image-interleaved
/// planes: a group of G = 16 images of one channel is stored as one zero-padded plane of
/// (H + 2·PH) × (W + 2·PW) positions whose every position holds the 16 images' values at that
/// pixel (one 64-byte vector). Pixel (y, x) of image n sits at ((y + PH)·Wp + x + PW)·16 + n.
/// Output vector v = y·W + x (valid pixels only: no padding columns are computed) then reads
/// input row (c, ki, kj) at c·S + (ki·Wp + kj)·16 + ((y·Wp + x)·16), so the im2col matrix's rows
/// are whole, aligned vectors of the plane:
///   forward:  y_v[Cout, v]  = W[Cout, C·KH·KW] · rows(x)     (<see cref="RowsKernels.ProductTiles"/>, tiles of 3 vectors)
///   dW:       dW[Cout, C·KH·KW] += Σ over valid pixels of dy_v · rows(x)   (<see cref="RowsKernels.DotProductRows"/>, one run per image row)
///   dX:       dx_v[C, v] = Wflip[C, Cout·KH·KW] · rows(dy)
/// Against <see cref="ShiftedRowsConv"/> (images side by side in one plane) no work is spent on
/// padding columns (6 %, 11 % and 21 % there on 32×32, 16×16 and 8×8 planes) and every load is
/// aligned; moving data in and out is a 16 × 16 transpose instead of a copy. Needs AVX-512 (a
/// vector of 16 floats per position); the padding is never written, so it stays zero.
/// </summary>
public static class InterleavedConv
{
    /// <summary>Images per group: floats per position.</summary>
    public const int G = RowsKernels.TileVector;

    /// <summary>Tiles of 3 vectors per product call: the output staging buffer holds this many
    /// (192 vectors, a multiple of 16 for the transposes).</summary>
    public const int TilesPerBlock = 64;

    /// <summary>Whether a geometry qualifies (groups = 1 is checked by the caller), the CPU has
    /// 512-bit vectors, and the layout pays for its transposes: <see cref="ShiftedRowsConv"/>
    /// would spend at least 10 % of its work on padding columns (planes of 16 × 16 and smaller
    /// with 3×3 kernels) and each output takes at least 64 multiply-adds (C·KH·KW; the transposes
    /// in and out cost the same whatever the depth). Measured in whole ResNet-20 steps: faster
    /// on the 16×16 and 8×8 stages, slower on the 32×32 stage and the 3-channel stem.</summary>
    /// The thresholds are <see cref="EngineOptions.InterleavedMinWastePercent"/> and
    /// <see cref="EngineOptions.InterleavedMinDepth"/>.
    public static bool Applies(in ConvGeometry g, EngineOptions options) =>
        ConvPlanner.HasAvx512 && ShiftedRowsConv.Applies(g) && g.ColRows >= options.InterleavedMinDepth
        && (long)(g.H + g.PH) * (g.W + g.PW) * 100 >= (long)g.H * g.W * (100 + options.InterleavedMinWastePercent);

    /// <summary>The padded plane of an H × W image with padding PH, PW.</summary>
    public readonly record struct Layout(int H, int W, int PH, int PW)
    {
        public int Wp => W + 2 * PW;
        public int Hp => H + 2 * PH;
        /// <summary>Floats per channel plane (all 16 images).</summary>
        public int ChannelStride => Hp * Wp * G;
        /// <summary>Where pixel (0, 0) of the plane's first image sits.</summary>
        public int Origin => (PH * Wp + PW) * G;
        public int Vectors => H * W;
        public int Tiles => (Vectors + 2) / 3;
        /// <summary>Row stride of the staging buffer a block of tiles is written to.</summary>
        public static int StageStride => TilesPerBlock * 3 * G;
    }

    /// <summary>off[(c·KH + ki)·KW + kj] = c·S + (ki·Wp + kj)·16: where row (c, ki, kj) starts for
    /// output pixel (0, 0).</summary>
    public static void RowOffsets(int channels, int kh, int kw, in Layout l, Span<nint> off)
    {
        if (off.Length < channels * kh * kw) throw new ArgumentException("InterleavedConv.RowOffsets: offset table too short.");
        int r = 0;
        for (int c = 0; c < channels; c++)
        for (int ki = 0; ki < kh; ki++)
        for (int kj = 0; kj < kw; kj++)
            off[r++] = (nint)c * l.ChannelStride + (ki * l.Wp + kj) * G;
    }

    /// <summary>tileOff[v] = (y·Wp + x)·16 for output vector v = y·W + x, for 3·Tiles entries (the
    /// last tile's missing vectors repeat the last pixel).</summary>
    public static void TileOffsets(in Layout l, Span<nint> tileOff)
    {
        int n = 3 * l.Tiles;
        if (tileOff.Length < n) throw new ArgumentException("InterleavedConv.TileOffsets: table too short.");
        for (int v = 0; v < n; v++)
        {
            int p = Math.Min(v, l.Vectors - 1), y = p / l.W, x = p % l.W;
            tileOff[v] = (nint)(y * l.Wp + x) * G;
        }
    }

    /// <summary>Writes nb ≤ 16 images [nb, C, H, W] into their lanes of the planes (lanes of
    /// missing images get zeros; padding positions are not touched).</summary>
    public static void Pad(ReadOnlySpan<float> images, int nb, int channels, in Layout l, Span<float> planes) =>
        Pad(images, nb, channels, l, planes, 0, l.H * l.W);

    /// <summary>Pad for the pixels [from, to) without a transform.</summary>
    public static void Pad(ReadOnlySpan<float> images, int nb, int channels, in Layout l, Span<float> planes, int from, int to) =>
        Pad(images, nb, channels, l, planes, from, to, default);

    /// <summary><see cref="Pad(ReadOnlySpan{float}, int, int, in Layout, Span{float})"/> for the
    /// pixels [from, to) of every channel only (from a multiple of 16): planes filled a band at a
    /// time, just before the products read them; each channel through <paramref name="input"/>
    /// when that is not empty (a deferred batch-norm; the lanes of missing images then hold the
    /// transform of 0, which their zero gradients cancel).</summary>
    public static unsafe void Pad(ReadOnlySpan<float> images, int nb, int channels, in Layout l, Span<float> planes, int from, int to,
        in ChannelAffine input)
    {
        int hw = l.H * l.W;
        if (nb < 1 || nb > G || images.Length < nb * channels * hw || planes.Length < channels * l.ChannelStride)
            throw new ArgumentException("InterleavedConv.Pad: buffer sizes do not match the layout.");
        float** rows = stackalloc float*[G];
        float* zeros = stackalloc float[G];
        new Span<float>(zeros, G).Clear();
        fixed (float* img = images)
            Fill(new ImageSource(img, channels, hw, nb, input, rows, zeros), channels, l, planes, from, to, "Pad");
    }

    /// <summary><see cref="Pad(ReadOnlySpan{float}, int, int, in Layout, Span{float}, int, int, in ChannelAffine)"/>
    /// of a deferred batch-norm's input gradient: lane n of a position holds <paramref name="t"/>
    /// applied to dy and x (the batch-norm's input, laid out as dy) of image n, 0 for missing images.</summary>
    public static unsafe void PadGradient(ReadOnlySpan<float> dy, ReadOnlySpan<float> x, int nb, int channels, in Layout l, Span<float> planes,
        int from, int to, in ChannelGradAffine t)
    {
        int hw = l.H * l.W;
        if (nb < 1 || nb > G || dy.Length < nb * channels * hw || x.Length < nb * channels * hw || planes.Length < channels * l.ChannelStride)
            throw new ArgumentException("InterleavedConv.PadGradient: buffer sizes do not match the layout.");
        float** gs = stackalloc float*[G];
        float** xs = stackalloc float*[G];
        fixed (float* g0 = dy, x0 = x)
            Fill(new GradientSource(g0, x0, channels, hw, nb, t, gs, xs), channels, l, planes, from, to, "PadGradient");
    }

    /// <summary>Where <see cref="Fill"/> reads: a 16-pixel block of one channel of the 16 images,
    /// transposed into the planes, and single lanes for a last partial block.</summary>
    private unsafe interface IPlaneSource
    {
        void Transpose(int ch, int p0, float** dst);
        float Value(int n, int ch, int p);
    }

    /// <summary>Images [nb, C, H, W], each channel through a deferred batch-norm when given; lanes
    /// of missing images read zeros.</summary>
    private readonly unsafe struct ImageSource(float* img, int channels, int hw, int nb, ChannelAffine input, float** rows, float* zeros) : IPlaneSource
    {
        public void Transpose(int ch, int p0, float** dst)
        {
            for (int n = 0; n < G; n++) rows[n] = n < nb ? img + (long)(n * channels + ch) * hw + p0 : zeros;
            if (input.IsEmpty) Transpose16(rows, dst, new CopyOp());
            else Transpose16(rows, dst, AffineOp.For(input, ch));
        }

        public float Value(int n, int ch, int p)
        {
            float v = n < nb ? img[(long)(n * channels + ch) * hw + p] : 0f;
            return input.IsEmpty ? v : AffineOp.For(input, ch).Apply(v);
        }
    }

    /// <summary>A deferred batch-norm's input gradient from dy and x; lanes of missing images are 0.</summary>
    private readonly unsafe struct GradientSource(float* g, float* x, int channels, int hw, int nb, ChannelGradAffine t, float** gs, float** xs) : IPlaneSource
    {
        public void Transpose(int ch, int p0, float** dst)
        {
            for (int n = 0; n < nb; n++)
            {
                long o = (long)(n * channels + ch) * hw + p0;
                gs[n] = g + o;
                xs[n] = x + o;
            }
            Transpose16(new GradRows(gs, xs, nb, GradAffineOp.For(t, ch)), dst);
        }

        public float Value(int n, int ch, int p)
        {
            long o = (long)(n * channels + ch) * hw + p;
            return n < nb ? GradAffineOp.For(t, ch).Apply(g[o], x[o]) : 0f;
        }
    }

    /// <summary>Writes pixels [from, to) of every channel from <paramref name="source"/> into the
    /// planes: whole 16-pixel blocks through the transpose, the rest lane by lane.</summary>
    private static unsafe void Fill<TS>(TS source, int channels, in Layout l, Span<float> planes, int from, int to, string caller)
        where TS : struct, IPlaneSource
    {
        int hw = l.H * l.W, s = l.ChannelStride;
        if (from < 0 || from % G != 0 || to > hw || to < from)
            throw new ArgumentException($"InterleavedConv.{caller}: pixel range [{from}, {to}) must start at a multiple of {G} and lie in [0, {hw}].");
        int full = from + (to - from) / G * G;
        float** dst = stackalloc float*[G];
        fixed (float* pl = planes)
        {
            for (int ch = 0; ch < channels; ch++)
            {
                float* plane = pl + (long)ch * s + l.Origin;
                int y = from / l.W, x = from % l.W;
                for (int p0 = from; p0 < full; p0 += G)
                {
                    for (int j = 0; j < G; j++)
                    {
                        dst[j] = plane + (y * l.Wp + x) * G;
                        if (++x == l.W) { x = 0; y++; }
                    }
                    source.Transpose(ch, p0, dst);
                }
                for (int p = full; p < to; p++)
                {
                    float* d = plane + (y * l.Wp + x) * G;
                    for (int n = 0; n < G; n++) d[n] = source.Value(n, ch, p);
                    if (++x == l.W) { x = 0; y++; }
                }
            }
        }
    }

    /// <summary>output[n, o, v] = stage[o·ld + (v − v0)·16 + n] (+ bias[o]) for n &lt; nb, o &lt;
    /// channels and count vectors from v0 (v0 a multiple of 16): a block of product output back to
    /// [nb, C, H, W].</summary>
    public static unsafe void Compact(ReadOnlySpan<float> stage, int ld, int v0, int count, int nb, int channels, in Layout l,
        ReadOnlySpan<float> bias, Span<float> output)
    {
        int hw = l.H * l.W;
        if (nb < 1 || nb > G || v0 % G != 0 || v0 + count > hw || count * G > ld || output.Length < nb * channels * hw
            || stage.Length < (long)(channels - 1) * ld + count * G)
            throw new ArgumentException("InterleavedConv.Compact: buffer sizes do not match the layout.");
        int full = count / G * G;
        float** src = stackalloc float*[G];
        float** dst = stackalloc float*[G];
        float* scratch = stackalloc float[G];
        fixed (float* st = stage, outp = output)
        {
            for (int o = 0; o < channels; o++)
            {
                float* row = st + (long)o * ld;
                float b = bias.IsEmpty ? 0f : bias[o];
                for (int j0 = 0; j0 < full; j0 += G)
                {
                    for (int j = 0; j < G; j++) src[j] = row + (j0 + j) * G;
                    // Lanes of missing images are written to scratch and dropped.
                    for (int n = 0; n < G; n++) dst[n] = n < nb ? outp + (long)(n * channels + o) * hw + v0 + j0 : scratch;
                    Transpose16(src, dst);
                    if (!bias.IsEmpty)
                    {
                        var vb = Vector512.Create(b);
                        for (int n = 0; n < nb; n++) Vector512.Store(Vector512.Load(dst[n]) + vb, dst[n]);
                    }
                }
                for (int j = full; j < count; j++)
                    for (int n = 0; n < nb; n++)
                        outp[(long)(n * channels + o) * hw + v0 + j] = row[j * G + n] + b;
            }
        }
    }

    private static readonly Vector512<int>[] Lo = MakeIndices(false), Hi = MakeIndices(true);

    /// <summary>Index vectors of the four butterfly steps (block sizes 8, 4, 2, 1): step s swaps
    /// the off-diagonal s × s blocks of each pair of rows (i, i + s).</summary>
    private static Vector512<int>[] MakeIndices(bool high)
    {
        var result = new Vector512<int>[4];
        Span<int> idx = stackalloc int[G];
        for (int step = 0; step < 4; step++)
        {
            int s = 8 >> step;
            for (int j = 0; j < G; j++)
                idx[j] = high ? ((j & s) == 0 ? j + s : G + j) : ((j & s) == 0 ? j : G + j - s);
            result[step] = Vector512.Create<int>(idx);
        }
        return result;
    }

    /// <summary>dst[j][i] = src[i][j] for a 16 × 16 block: 16 loads, four butterfly steps of
    /// 16 two-source permutes (block sizes 8, 4, 2, 1), 16 stores; all in registers.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static unsafe void Transpose16(float** src, float** dst) => Transpose16(src, dst, new CopyOp());

    /// <summary><see cref="Transpose16(float**, float**)"/> with op applied to every loaded vector.</summary>
    internal static unsafe void Transpose16<TOp>(float** src, float** dst, TOp op) where TOp : struct, IVectorOp =>
        Transpose16(new OpRows<TOp>(src, op), dst);

    /// <summary>The 16 rows a transpose reads.</summary>
    internal interface IRows16
    {
        Vector512<float> Row(int i);
    }

    /// <summary>Row i = op(src[i][0..16]).</summary>
    internal readonly unsafe struct OpRows<TOp>(float** src, TOp op) : IRows16 where TOp : struct, IVectorOp
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public Vector512<float> Row(int i) => op.Apply(Vector512.Load(src[i]));
    }

    /// <summary>Row i = op(g[i], x[i]) for i &lt; nb, zero for the lanes of missing images.</summary>
    internal readonly unsafe struct GradRows(float** g, float** x, int nb, GradAffineOp op) : IRows16
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector512<float> Row(int i) => i < nb ? op.Apply(Vector512.Load(g[i]), Vector512.Load(x[i])) : Vector512<float>.Zero;
    }

    /// <summary>dst[j][i] = rows.Row(i)[j] for a 16 × 16 block.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static unsafe void Transpose16<TR>(TR rows, float** dst) where TR : struct, IRows16
    {
        var r0 = rows.Row(0); var r1 = rows.Row(1); var r2 = rows.Row(2); var r3 = rows.Row(3);
        var r4 = rows.Row(4); var r5 = rows.Row(5); var r6 = rows.Row(6); var r7 = rows.Row(7);
        var r8 = rows.Row(8); var r9 = rows.Row(9); var r10 = rows.Row(10); var r11 = rows.Row(11);
        var r12 = rows.Row(12); var r13 = rows.Row(13); var r14 = rows.Row(14); var r15 = rows.Row(15);
        Vector512<float> t;
        var lo = Lo[0]; var hi = Hi[0];
        t = Avx512F.PermuteVar16x32x2(r0, lo, r8); r8 = Avx512F.PermuteVar16x32x2(r0, hi, r8); r0 = t;
        t = Avx512F.PermuteVar16x32x2(r1, lo, r9); r9 = Avx512F.PermuteVar16x32x2(r1, hi, r9); r1 = t;
        t = Avx512F.PermuteVar16x32x2(r2, lo, r10); r10 = Avx512F.PermuteVar16x32x2(r2, hi, r10); r2 = t;
        t = Avx512F.PermuteVar16x32x2(r3, lo, r11); r11 = Avx512F.PermuteVar16x32x2(r3, hi, r11); r3 = t;
        t = Avx512F.PermuteVar16x32x2(r4, lo, r12); r12 = Avx512F.PermuteVar16x32x2(r4, hi, r12); r4 = t;
        t = Avx512F.PermuteVar16x32x2(r5, lo, r13); r13 = Avx512F.PermuteVar16x32x2(r5, hi, r13); r5 = t;
        t = Avx512F.PermuteVar16x32x2(r6, lo, r14); r14 = Avx512F.PermuteVar16x32x2(r6, hi, r14); r6 = t;
        t = Avx512F.PermuteVar16x32x2(r7, lo, r15); r15 = Avx512F.PermuteVar16x32x2(r7, hi, r15); r7 = t;
        lo = Lo[1]; hi = Hi[1];
        t = Avx512F.PermuteVar16x32x2(r0, lo, r4); r4 = Avx512F.PermuteVar16x32x2(r0, hi, r4); r0 = t;
        t = Avx512F.PermuteVar16x32x2(r1, lo, r5); r5 = Avx512F.PermuteVar16x32x2(r1, hi, r5); r1 = t;
        t = Avx512F.PermuteVar16x32x2(r2, lo, r6); r6 = Avx512F.PermuteVar16x32x2(r2, hi, r6); r2 = t;
        t = Avx512F.PermuteVar16x32x2(r3, lo, r7); r7 = Avx512F.PermuteVar16x32x2(r3, hi, r7); r3 = t;
        t = Avx512F.PermuteVar16x32x2(r8, lo, r12); r12 = Avx512F.PermuteVar16x32x2(r8, hi, r12); r8 = t;
        t = Avx512F.PermuteVar16x32x2(r9, lo, r13); r13 = Avx512F.PermuteVar16x32x2(r9, hi, r13); r9 = t;
        t = Avx512F.PermuteVar16x32x2(r10, lo, r14); r14 = Avx512F.PermuteVar16x32x2(r10, hi, r14); r10 = t;
        t = Avx512F.PermuteVar16x32x2(r11, lo, r15); r15 = Avx512F.PermuteVar16x32x2(r11, hi, r15); r11 = t;
        lo = Lo[2]; hi = Hi[2];
        t = Avx512F.PermuteVar16x32x2(r0, lo, r2); r2 = Avx512F.PermuteVar16x32x2(r0, hi, r2); r0 = t;
        t = Avx512F.PermuteVar16x32x2(r1, lo, r3); r3 = Avx512F.PermuteVar16x32x2(r1, hi, r3); r1 = t;
        t = Avx512F.PermuteVar16x32x2(r4, lo, r6); r6 = Avx512F.PermuteVar16x32x2(r4, hi, r6); r4 = t;
        t = Avx512F.PermuteVar16x32x2(r5, lo, r7); r7 = Avx512F.PermuteVar16x32x2(r5, hi, r7); r5 = t;
        t = Avx512F.PermuteVar16x32x2(r8, lo, r10); r10 = Avx512F.PermuteVar16x32x2(r8, hi, r10); r8 = t;
        t = Avx512F.PermuteVar16x32x2(r9, lo, r11); r11 = Avx512F.PermuteVar16x32x2(r9, hi, r11); r9 = t;
        t = Avx512F.PermuteVar16x32x2(r12, lo, r14); r14 = Avx512F.PermuteVar16x32x2(r12, hi, r14); r12 = t;
        t = Avx512F.PermuteVar16x32x2(r13, lo, r15); r15 = Avx512F.PermuteVar16x32x2(r13, hi, r15); r13 = t;
        lo = Lo[3]; hi = Hi[3];
        t = Avx512F.PermuteVar16x32x2(r0, lo, r1); r1 = Avx512F.PermuteVar16x32x2(r0, hi, r1); r0 = t;
        t = Avx512F.PermuteVar16x32x2(r2, lo, r3); r3 = Avx512F.PermuteVar16x32x2(r2, hi, r3); r2 = t;
        t = Avx512F.PermuteVar16x32x2(r4, lo, r5); r5 = Avx512F.PermuteVar16x32x2(r4, hi, r5); r4 = t;
        t = Avx512F.PermuteVar16x32x2(r6, lo, r7); r7 = Avx512F.PermuteVar16x32x2(r6, hi, r7); r6 = t;
        t = Avx512F.PermuteVar16x32x2(r8, lo, r9); r9 = Avx512F.PermuteVar16x32x2(r8, hi, r9); r8 = t;
        t = Avx512F.PermuteVar16x32x2(r10, lo, r11); r11 = Avx512F.PermuteVar16x32x2(r10, hi, r11); r10 = t;
        t = Avx512F.PermuteVar16x32x2(r12, lo, r13); r13 = Avx512F.PermuteVar16x32x2(r12, hi, r13); r12 = t;
        t = Avx512F.PermuteVar16x32x2(r14, lo, r15); r15 = Avx512F.PermuteVar16x32x2(r14, hi, r15); r14 = t;
        Vector512.Store(r0, dst[0]); Vector512.Store(r1, dst[1]); Vector512.Store(r2, dst[2]); Vector512.Store(r3, dst[3]);
        Vector512.Store(r4, dst[4]); Vector512.Store(r5, dst[5]); Vector512.Store(r6, dst[6]); Vector512.Store(r7, dst[7]);
        Vector512.Store(r8, dst[8]); Vector512.Store(r9, dst[9]); Vector512.Store(r10, dst[10]); Vector512.Store(r11, dst[11]);
        Vector512.Store(r12, dst[12]); Vector512.Store(r13, dst[13]); Vector512.Store(r14, dst[14]); Vector512.Store(r15, dst[15]);
    }
}
