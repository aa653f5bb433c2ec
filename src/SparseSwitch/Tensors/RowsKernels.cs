using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SparseSwitch.Tensors;

/// <summary>
/// Products whose B operand is a set of rows read in place: row r of B is the contiguous run
/// starting at b + off[r]. These are the products of a stride-1 convolution over a zero-padded
/// image (implicit im2col; see <see cref="Conv.ShiftedRowsConv"/>), without packing B:
/// <list type="bullet">
/// <item><see cref="Product"/>: C[m × n] = A[m × k] · B[k × n], A pre-packed by <see cref="PackA"/>
/// into MR-row panels. The micro-kernel is the GEMM's 8 × 3-vector tile
/// (<see cref="GemmMicroKernel"/>), with its three B vectors loaded straight from the row at
/// off[r] (unaligned; <see cref="OffsetRows"/>) instead of from a packed panel.</item>
/// <item><see cref="DotProduct"/>: C[m × k] (+)= D[m × n] · B[k × n]ᵀ, a long reduction over n
/// (the weight gradient): 4 rows of D × 6 rows of B accumulate 24 vector partial sums along n.</item>
/// </list>
/// Both read whole vectors: <see cref="Product"/> computes n rounded up to its tile width (the
/// caller provides slack), <see cref="DotProduct"/> runs a scalar tail. The order of the
/// arithmetic is fixed, so results do not depend on threads or timing.
/// </summary>
public static unsafe class RowsKernels
{
    public const int MR = GemmMicroKernel.MR;

    /// <summary>Columns per tile of <see cref="Product"/> (3 vectors).</summary>
    public static int TileColumns => GemmMicroKernel.NV * Width;

    private static int Width => Vector512.IsHardwareAccelerated ? Vector512<float>.Count
        : Vector256.IsHardwareAccelerated ? Vector256<float>.Count : Vector128<float>.Count;

    /// <summary>Floats <see cref="PackA"/> writes for an m × k matrix.</summary>
    public static int PackedALength(int m, int k) => (m + MR - 1) / MR * MR * k;

    /// <summary>packed[p][r][i] = A[p·MR + i, r] (zero for rows ≥ m); A is m × k with row stride lda.
    /// With a non-empty <paramref name="mask"/> (bit j for a[j], <see cref="BitMask"/> words) the
    /// masked entries are packed as +0: the mask is applied as A is packed, not in a pass of its own.</summary>
    public static void PackA(int m, int k, ReadOnlySpan<float> a, int lda, Span<float> packed, ReadOnlySpan<ulong> mask = default)
    {
        if (m < 0 || k < 0 || lda < k) throw new ArgumentException("RowsKernels.PackA: bad sizes.");
        if (m > 0 && a.Length < (long)(m - 1) * lda + k) throw new ArgumentException("RowsKernels.PackA: A too short.");
        if (packed.Length < PackedALength(m, k)) throw new ArgumentException("RowsKernels.PackA: packed buffer too short.");
        CheckMask(mask, a.Length);
        if (m == 0 || k == 0) return;
        fixed (float* pa = a, pp = packed)
        fixed (ulong* pm = mask)
            PackGather(m, k, pa, lda, k, 0, 0, 1, pp, mask.IsEmpty ? null : (uint*)pm);
    }

    private static void CheckMask(ReadOnlySpan<ulong> mask, int length)
    {
        if (!mask.IsEmpty && (long)mask.Length * 64 < length)
            throw new ArgumentException($"RowsKernels: a mask of {mask.Length} words cannot cover {length} weights.");
        if (length >= int.MaxValue / 2) throw new ArgumentException("RowsKernels: the weights are too many to pack.");
    }

    /// <summary>The dX weights of a stride-1 convolution packed for <see cref="Product"/>:
    /// packed = PackA of Wflip[C, Cout·KH·KW], Wflip[c, (o·KH + ki)·KW + kj] = w[o, c, KH−1−ki, KW−1−kj]
    /// (w is [Cout, C, KH, KW]), read straight from w; a non-empty <paramref name="mask"/> zeroes
    /// the masked weights as they are packed (as in <see cref="PackA"/>).</summary>
    public static void PackFlipped(int cout, int cin, int kh, int kw, ReadOnlySpan<float> w, Span<float> packed, ReadOnlySpan<ulong> mask = default)
    {
        int kk = kh * kw;
        if (cout < 0 || cin < 0 || kk <= 0) throw new ArgumentException("RowsKernels.PackFlipped: bad sizes.");
        if (w.Length < (long)cout * cin * kk || packed.Length < PackedALength(cin, cout * kk))
            throw new ArgumentException("RowsKernels.PackFlipped: buffer too short.");
        CheckMask(mask, w.Length);
        if (cout == 0 || cin == 0) return;
        // Row c, column (o, t) of Wflip is w[o·C·kk + c·kk + kk − 1 − t].
        fixed (float* pw = w, pp = packed)
        fixed (ulong* pm = mask)
            PackGather(cin, cout * kk, pw, kk, kk, (nint)cin * kk, kk - 1, -1, pp, mask.IsEmpty ? null : (uint*)pm);
    }

    /// <summary>packed[p][r][i] = a[(p·MR + i)·rowStride + col(r)] (zero for rows ≥ m), where column
    /// r = u·inner + t is at col(r) = u·outerStride + innerBase + t·innerStride: a row-major matrix
    /// (inner = k, innerStride = 1) or a regrouped one. A full panel's MR values of a column come in
    /// one gather. With <paramref name="mask"/> (bit j of the 32-bit words for a[j]) masked entries
    /// are packed as +0, the bits gathered beside the values.</summary>
    private static void PackGather(int m, int k, float* a, nint rowStride, int inner, nint outerStride, nint innerBase, nint innerStride, float* packed,
        uint* mask = null)
    {
        int panels = (m + MR - 1) / MR;
        bool gather = Avx2.IsSupported && MR == Vector256<float>.Count && (long)rowStride * (MR - 1) <= int.MaxValue / sizeof(float);
        var index = Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7) * (int)Math.Min(rowStride, int.MaxValue / MR);
        for (int p = 0; p < panels; p++)
        {
            int rowsHere = Math.Min(MR, m - p * MR);
            float* dst = packed + (long)p * MR * k, rows = a + (long)p * MR * rowStride;
            int r = 0;
            for (int u = 0; r < k; u++)
                for (int t = 0; t < inner && r < k; t++, r++)
                {
                    float* src = rows + u * outerStride + innerBase + t * innerStride;
                    if (mask is null)
                    {
                        if (gather && rowsHere == MR) Avx2.GatherVector256(src, index, sizeof(float)).Store(dst + (long)r * MR);
                        else
                            for (int i = 0; i < MR; i++) dst[(long)r * MR + i] = i < rowsHere ? src[i * rowStride] : 0f;
                        continue;
                    }
                    int at = (int)(src - a); // the element index of row 0, for the mask bits
                    if (gather && rowsHere == MR)
                    {
                        var j = index + Vector256.Create(at);
                        var bits = Avx2.GatherVector256((int*)mask, Avx2.ShiftRightLogical(j, 5), sizeof(uint));
                        var keep = Avx2.CompareEqual(Avx2.ShiftRightLogicalVariable(bits, (j & Vector256.Create(31)).AsUInt32()) & Vector256.Create(1), Vector256.Create(1));
                        Avx2.GatherMaskVector256(Vector256<float>.Zero, src, index, keep.AsSingle(), sizeof(float)).Store(dst + (long)r * MR);
                    }
                    else
                        for (int i = 0; i < MR; i++)
                        {
                            long e = at + (long)i * rowStride;
                            dst[(long)r * MR + i] = i < rowsHere && (mask[e >> 5] >> (int)(e & 31) & 1) != 0 ? src[i * rowStride] : 0f;
                        }
                }
        }
    }

    /// <summary>
    /// C[i, q] = Σ_r A[i, r] · b[off[r] + q] for i &lt; m rounded up to MR and q &lt; n rounded up to
    /// <see cref="TileColumns"/>: c needs that many rows (stride ldc ≥ the rounded n) and b must be
    /// readable up to max(off) + rounded n. Rows of C past m come out zero (A's padding).
    /// </summary>
    public static void Product(int m, int n, int k, ReadOnlySpan<float> packedA, ReadOnlySpan<float> b,
        ReadOnlySpan<nint> off, Span<float> c, int ldc, EngineOptions options)
    {
        if (m <= 0 || n <= 0) return;
        int nr = TileColumns, nR = (n + nr - 1) / nr * nr, mR = (m + MR - 1) / MR * MR;
        if (packedA.Length < PackedALength(m, k) || off.Length < k || ldc < nR || c.Length < (long)(mR - 1) * ldc + nR)
            throw new ArgumentException("RowsKernels.Product: buffer sizes do not match m, n, k.");
        for (int r = 0; r < k; r++)
            if (off[r] < 0 || off[r] + nR > b.Length)
                throw new ArgumentException($"RowsKernels.Product: row {r} at {off[r]} (+{nR}) is outside B (length {b.Length}).");
        if (options.MatmulPrecision == MatmulPrecision.Highest)
        {
            ProductReference(m, nR, k, packedA, b, off, c, ldc);
            return;
        }
        fixed (float* pa = packedA, pb = b, pc = c)
        fixed (nint* po = off)
        {
            if (Vector512.IsHardwareAccelerated) ProductCore<Vector512<float>, Gemm512>(m, nR, k, pa, pb, po, pc, ldc, options.RowsKSlice);
            else if (Vector256.IsHardwareAccelerated) ProductCore<Vector256<float>, Gemm256>(m, nR, k, pa, pb, po, pc, ldc, options.RowsKSlice);
            else ProductCore<Vector128<float>, Gemm128>(m, nR, k, pa, pb, po, pc, ldc, options.RowsKSlice);
        }
    }

    /// <summary>Floats per vector of <see cref="ProductTiles"/>: its tiles are 3 vectors of 16.</summary>
    public const int TileVector = 16;

    /// <summary>
    /// A product whose columns are whole vectors gathered from anywhere: for tile t &lt; tiles and
    /// j &lt; 3, C[i, (3t + j)·16 + l] = Σ_r A[i, r] · b[off[r] + tileOff[3t + j] + l] (l &lt; 16),
    /// for i &lt; m rounded up to MR (A packed by <see cref="PackA"/>). The vectors of a tile need
    /// not be adjacent (an image-interleaved plane's pixels at a row end). The 8 × 3-vector
    /// micro-kernel with AVX-512; elsewhere a double-accumulating loop (correct, slow).
    /// </summary>
    public static void ProductTiles(int m, int tiles, int k, ReadOnlySpan<float> packedA, ReadOnlySpan<float> b,
        ReadOnlySpan<nint> off, ReadOnlySpan<nint> tileOff, Span<float> c, int ldc, EngineOptions options)
    {
        if (m <= 0 || tiles <= 0) return;
        const int v = TileVector;
        int nR = tiles * 3 * v, mR = (m + MR - 1) / MR * MR;
        if (packedA.Length < PackedALength(m, k) || off.Length < k || tileOff.Length < 3 * tiles || ldc < nR || c.Length < (long)(mR - 1) * ldc + nR)
            throw new ArgumentException("RowsKernels.ProductTiles: buffer sizes do not match m, tiles, k.");
        nint lo = nint.MaxValue, hi = nint.MinValue;
        for (int j = 0; j < 3 * tiles; j++) { lo = Math.Min(lo, tileOff[j]); hi = Math.Max(hi, tileOff[j]); }
        for (int r = 0; r < k; r++)
            if (off[r] + lo < 0 || off[r] + hi + v > b.Length)
                throw new ArgumentException($"RowsKernels.ProductTiles: row {r} at {off[r]} (+{lo}..{hi + v}) is outside B (length {b.Length}).");
        if (options.MatmulPrecision == MatmulPrecision.Highest || !Vector512.IsHardwareAccelerated)
        {
            for (int i = 0; i < mR; i++)
                for (int j = 0; j < 3 * tiles; j++)
                    for (int l = 0; l < v; l++)
                        c[i * ldc + j * v + l] = (float)ReferenceSum(packedA, k, i, b, off, tileOff[j] + l);
            return;
        }
        fixed (float* pa = packedA, pb = b, pc = c)
        fixed (nint* po = off, pt = tileOff)
        {
            int panels = (m + MR - 1) / MR, kc = Math.Max(1, options.RowsKSlice);
            for (int r0 = 0; r0 < k; r0 += kc)
            {
                int kr = Math.Min(kc, k - r0);
                for (int t = 0; t < tiles; t++)
                {
                    nint t0 = pt[3 * t];
                    var rows = new OffsetRows(pb + t0, po + r0, pt[3 * t + 1] - t0, pt[3 * t + 2] - t0);
                    for (int p = 0; p < panels; p++)
                        GemmMicroKernel.Tile<Vector512<float>, Gemm512, OffsetRows>(kr, pa + (long)p * MR * k + (long)r0 * MR, rows,
                            pc + (long)p * MR * ldc + (long)t * 3 * v, ldc, 1f, r0 > 0 ? 1f : 0f);
                }
            }
        }
    }

    /// <summary><see cref="Product"/> accumulated in double (MatmulPrecision.Highest, and the
    /// tests' oracle): same inputs, same outputs, all nR columns.</summary>
    internal static void ProductReference(int m, int nR, int k, ReadOnlySpan<float> packedA, ReadOnlySpan<float> b,
        ReadOnlySpan<nint> off, Span<float> c, int ldc)
    {
        int mR = (m + MR - 1) / MR * MR;
        for (int i = 0; i < mR; i++)
            for (int q = 0; q < nR; q++) c[i * ldc + q] = (float)ReferenceSum(packedA, k, i, b, off, q);
    }

    /// <summary>Σ_r A[i, r] · b[off[r] + column] in double, A packed by <see cref="PackA"/>.</summary>
    private static double ReferenceSum(ReadOnlySpan<float> packedA, int k, int i, ReadOnlySpan<float> b, ReadOnlySpan<nint> off, nint column)
    {
        int p = i / MR, lane = i % MR;
        double s = 0;
        for (int r = 0; r < k; r++) s += (double)packedA[(p * k + r) * MR + lane] * b[(int)(off[r] + column)];
        return s;
    }

    /// <summary><see cref="DotProduct"/> accumulated in double.</summary>
    internal static void DotReference(int m, int k, int rows, int n, ReadOnlySpan<float> d, int ldd, int dRowStride,
        ReadOnlySpan<float> b, ReadOnlySpan<nint> off, int bRowStride, float beta, Span<float> c, int ldc)
    {
        for (int i = 0; i < m; i++)
        for (int r = 0; r < k; r++)
        {
            double s = 0;
            for (int y = 0; y < rows; y++)
            for (int q = 0; q < n; q++) s += (double)d[i * ldd + y * dRowStride + q] * b[(int)off[r] + y * bRowStride + q];
            c[i * ldc + r] = beta == 0f ? (float)s : (float)(c[i * ldc + r] + s);
        }
    }

    /// <summary>kSlice: rows of B per pass (<see cref="EngineOptions.RowsKSlice"/>): a tile's B rows
    /// for one slice stay in L1 however many input channels there are; partial sums of later
    /// slices are added to C.</summary>
    private static void ProductCore<TV, TO>(int m, int nR, int k, float* pa, float* pb, nint* off, float* pc, nint ldc, int kSlice)
        where TV : struct where TO : struct, IGemmVector<TV>
    {
        int nr = GemmMicroKernel.NV * TO.Width, panels = (m + MR - 1) / MR, kc = Math.Max(1, kSlice);
        for (int r0 = 0; r0 < k; r0 += kc)
        {
            int kr = Math.Min(kc, k - r0);
            for (int q0 = 0; q0 < nR; q0 += nr)
                for (int p = 0; p < panels; p++)
                    GemmMicroKernel.Tile<TV, TO, OffsetRows>(kr, pa + (long)p * MR * k + (long)r0 * MR, new OffsetRows(pb + q0, off + r0, TO.Width, 2 * TO.Width),
                        pc + (long)p * MR * ldc + q0, ldc, 1f, r0 > 0 ? 1f : 0f);
        }
    }

    /// <summary>
    /// C[i, r] = beta·C[i, r] + Σ_{q &lt; n} d[i·ldd + q] · b[off[r] + q] for i &lt; m, r &lt; k (C has
    /// row stride ldc; beta is 0 or 1, and 0 does not read C).
    /// </summary>
    public static void DotProduct(int m, int k, int n, ReadOnlySpan<float> d, int ldd, ReadOnlySpan<float> b,
        ReadOnlySpan<nint> off, float beta, Span<float> c, int ldc, EngineOptions options) =>
        DotProductRows(m, k, 1, n, d, ldd, 0, b, off, 0, beta, c, ldc, options);

    /// <summary>
    /// <see cref="DotProduct"/> over runs: C[i, r] = beta·C[i, r] + Σ_{y &lt; rows} Σ_{q &lt; n}
    /// d[i·ldd + y·dRowStride + q] · b[off[r] + y·bRowStride + q] — the reduction walks
    /// <paramref name="rows"/> runs of n floats in each operand (the valid pixels of a padded plane).
    /// </summary>
    public static void DotProductRows(int m, int k, int rows, int n, ReadOnlySpan<float> d, int ldd, int dRowStride,
        ReadOnlySpan<float> b, ReadOnlySpan<nint> off, int bRowStride, float beta, Span<float> c, int ldc, EngineOptions options)
    {
        if (m <= 0 || k <= 0) return;
        if (rows < 1 || n < 0 || ldc < k || off.Length < k || c.Length < (long)(m - 1) * ldc + k || dRowStride < 0 || bRowStride < 0)
            throw new ArgumentException("RowsKernels.DotProduct: buffer sizes do not match m, k, n.");
        if ((rows == 1 && ldd < n) || d.Length < (long)(m - 1) * ldd + (long)(rows - 1) * dRowStride + n)
            throw new ArgumentException("RowsKernels.DotProduct: d is too short for m rows of the given runs.");
        long span = (long)(rows - 1) * bRowStride + n;
        for (int r = 0; r < k; r++)
            if (off[r] < 0 || off[r] + span > b.Length)
                throw new ArgumentException($"RowsKernels.DotProduct: row {r} at {off[r]} (+{span}) is outside B (length {b.Length}).");
        if (options.MatmulPrecision == MatmulPrecision.Highest)
        {
            DotReference(m, k, rows, n, d, ldd, dRowStride, b, off, bRowStride, beta, c, ldc);
            return;
        }
        fixed (float* pd = d, pb = b, pc = c)
        fixed (nint* po = off)
        {
            if (Vector512.IsHardwareAccelerated) DotCore<Vector512<float>, Gemm512>(m, k, rows, n, pd, ldd, dRowStride, pb, po, bRowStride, beta, pc, ldc, options.DotL2Bytes);
            else if (Vector256.IsHardwareAccelerated) DotCore<Vector256<float>, Gemm256>(m, k, rows, n, pd, ldd, dRowStride, pb, po, bRowStride, beta, pc, ldc, options.DotL2Bytes);
            else DotCore<Vector128<float>, Gemm128>(m, k, rows, n, pd, ldd, dRowStride, pb, po, bRowStride, beta, pc, ldc, options.DotL2Bytes);
        }
    }

    private const int DM = 4, DK = 6;

    /// <summary>Bytes of each operand that a pass of the weight-gradient kernel keeps in L2: rows of
    /// D and of B are taken in blocks of about this size, every block of D against every block of
    /// B, so that neither streams from L3 once per block of the other (64 channels of 16×16
    /// interleaved planes are 1.3 MB per operand). Each sum is still one kernel call over the whole
    /// reduction: the results do not depend on it (<see cref="EngineOptions.DotL2Bytes"/>).</summary>
    private static void DotCore<TV, TO>(int m, int k, int rows, int n, float* d, nint ldd, nint dRowStride, float* b, nint* off, nint bRowStride,
        float beta, float* c, nint ldc, int l2Bytes)
        where TV : struct where TO : struct, IGemmVector<TV>
    {
        float* sums = stackalloc float[DM * DK];
        float** dRows = stackalloc float*[DM];
        float** bRows = stackalloc float*[DK];
        // A row of either operand spans about rowBytes; rows of B come 9 to a plane for 3×3 kernels
        // (shifted copies of one plane), so a block of B rows holds several planes' worth.
        long rowBytes = Math.Max(64, ((long)(rows - 1) * Math.Max(dRowStride, bRowStride) + n) * sizeof(float));
        long budget = Math.Max(1, l2Bytes);
        int ib = (int)Math.Clamp(budget / rowBytes / DM * DM, DM, Math.Max(DM, m));
        int rb = (int)Math.Clamp(budget * 9 / rowBytes / 18 * 18, 18, Math.Max(18, k));
        for (int ii = 0; ii < m; ii += ib)
        for (int rr = 0; rr < k; rr += rb)
        for (int i0 = ii; i0 < Math.Min(m, ii + ib); i0 += DM)
        {
            int mi = Math.Min(DM, m - i0);
            // A partial block repeats its last row: the same kernel at full speed, extra sums dropped.
            for (int i = 0; i < DM; i++) dRows[i] = d + (i0 + Math.Min(i, mi - 1)) * ldd;
            for (int r0 = rr; r0 < Math.Min(k, rr + rb); r0 += DK)
            {
                int kr = Math.Min(DK, k - r0);
                for (int r = 0; r < DK; r++) bRows[r] = b + off[r0 + Math.Min(r, kr - 1)];
                float* cBlock = c + i0 * ldc + r0;
                bool direct = mi == DM && kr == DK && Sse.IsSupported;
                // A full block's sums go straight to C (with SSE's shuffles); a partial one's through
                // sums, the extra dropped.
                DotBlock<TV, TO>(rows, n, dRows, dRowStride, bRows, bRowStride, direct ? null : sums, cBlock, ldc, beta != 0f);
                if (!direct)
                    for (int i = 0; i < mi; i++)
                        for (int r = 0; r < kr; r++)
                        {
                            float* cc = cBlock + i * ldc + r;
                            *cc = beta == 0f ? sums[i * DK + r] : *cc + sums[i * DK + r];
                        }
            }
        }
    }

    /// <summary>S[i, r] = Σ_{y &lt; rows} Σ_{q &lt; n} dRows[i][y·ds + q]·bRows[r][y·bs + q] for a
    /// 4 × 6 block, to sums[i·DK + r] when <paramref name="sums"/> is not null, else (only where
    /// SSE is supported) to c[i·ldc + r], added to it when <paramref name="add"/>; a run's last
    /// partial vector is loaded masked.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void DotBlock<TV, TO>(int rows, int n, float** dRows, nint ds, float** bRows, nint bs, float* sums, float* c, nint ldc, bool add)
        where TV : struct where TO : struct, IGemmVector<TV>
    {
        float* d0 = dRows[0], d1 = dRows[1], d2 = dRows[2], d3 = dRows[3];
        float* b0 = bRows[0], b1 = bRows[1], b2 = bRows[2], b3 = bRows[3], b4 = bRows[4], b5 = bRows[5];
        TV s00 = TO.Zero, s01 = TO.Zero, s02 = TO.Zero, s03 = TO.Zero, s04 = TO.Zero, s05 = TO.Zero;
        TV s10 = TO.Zero, s11 = TO.Zero, s12 = TO.Zero, s13 = TO.Zero, s14 = TO.Zero, s15 = TO.Zero;
        TV s20 = TO.Zero, s21 = TO.Zero, s22 = TO.Zero, s23 = TO.Zero, s24 = TO.Zero, s25 = TO.Zero;
        TV s30 = TO.Zero, s31 = TO.Zero, s32 = TO.Zero, s33 = TO.Zero, s34 = TO.Zero, s35 = TO.Zero;
        int w = TO.Width, nv = n / w * w;
        for (int y = 0; y < rows; y++, d0 += ds, d1 += ds, d2 += ds, d3 += ds, b0 += bs, b1 += bs, b2 += bs, b3 += bs, b4 += bs, b5 += bs)
        {
            for (int q = 0; q < nv; q += w)
            {
                TV x0 = TO.Load(ref d0[q]), x1 = TO.Load(ref d1[q]), x2 = TO.Load(ref d2[q]), x3 = TO.Load(ref d3[q]);
                TV t;
                t = TO.Load(ref b0[q]); s00 = TO.MulAdd(x0, t, s00); s10 = TO.MulAdd(x1, t, s10); s20 = TO.MulAdd(x2, t, s20); s30 = TO.MulAdd(x3, t, s30);
                t = TO.Load(ref b1[q]); s01 = TO.MulAdd(x0, t, s01); s11 = TO.MulAdd(x1, t, s11); s21 = TO.MulAdd(x2, t, s21); s31 = TO.MulAdd(x3, t, s31);
                t = TO.Load(ref b2[q]); s02 = TO.MulAdd(x0, t, s02); s12 = TO.MulAdd(x1, t, s12); s22 = TO.MulAdd(x2, t, s22); s32 = TO.MulAdd(x3, t, s32);
                t = TO.Load(ref b3[q]); s03 = TO.MulAdd(x0, t, s03); s13 = TO.MulAdd(x1, t, s13); s23 = TO.MulAdd(x2, t, s23); s33 = TO.MulAdd(x3, t, s33);
                t = TO.Load(ref b4[q]); s04 = TO.MulAdd(x0, t, s04); s14 = TO.MulAdd(x1, t, s14); s24 = TO.MulAdd(x2, t, s24); s34 = TO.MulAdd(x3, t, s34);
                t = TO.Load(ref b5[q]); s05 = TO.MulAdd(x0, t, s05); s15 = TO.MulAdd(x1, t, s15); s25 = TO.MulAdd(x2, t, s25); s35 = TO.MulAdd(x3, t, s35);
            }
            if (nv < n)
            {
                // The tail as one masked step: lanes past n are zero in d and in b, so nothing past
                // the rows counts.
                int rest = n - nv;
                TV x0 = TO.LoadPartial(d0 + nv, rest), x1 = TO.LoadPartial(d1 + nv, rest), x2 = TO.LoadPartial(d2 + nv, rest), x3 = TO.LoadPartial(d3 + nv, rest);
                TV t;
                t = TO.LoadPartial(b0 + nv, rest); s00 = TO.MulAdd(x0, t, s00); s10 = TO.MulAdd(x1, t, s10); s20 = TO.MulAdd(x2, t, s20); s30 = TO.MulAdd(x3, t, s30);
                t = TO.LoadPartial(b1 + nv, rest); s01 = TO.MulAdd(x0, t, s01); s11 = TO.MulAdd(x1, t, s11); s21 = TO.MulAdd(x2, t, s21); s31 = TO.MulAdd(x3, t, s31);
                t = TO.LoadPartial(b2 + nv, rest); s02 = TO.MulAdd(x0, t, s02); s12 = TO.MulAdd(x1, t, s12); s22 = TO.MulAdd(x2, t, s22); s32 = TO.MulAdd(x3, t, s32);
                t = TO.LoadPartial(b3 + nv, rest); s03 = TO.MulAdd(x0, t, s03); s13 = TO.MulAdd(x1, t, s13); s23 = TO.MulAdd(x2, t, s23); s33 = TO.MulAdd(x3, t, s33);
                t = TO.LoadPartial(b4 + nv, rest); s04 = TO.MulAdd(x0, t, s04); s14 = TO.MulAdd(x1, t, s14); s24 = TO.MulAdd(x2, t, s24); s34 = TO.MulAdd(x3, t, s34);
                t = TO.LoadPartial(b5 + nv, rest); s05 = TO.MulAdd(x0, t, s05); s15 = TO.MulAdd(x1, t, s15); s25 = TO.MulAdd(x2, t, s25); s35 = TO.MulAdd(x3, t, s35);
            }
        }
        // Column r of the block: rows 0–3 summed together.
        Vector128<float> c0 = TO.Sum4(s00, s10, s20, s30), c1 = TO.Sum4(s01, s11, s21, s31), c2 = TO.Sum4(s02, s12, s22, s32);
        Vector128<float> c3 = TO.Sum4(s03, s13, s23, s33), c4 = TO.Sum4(s04, s14, s24, s34), c5 = TO.Sum4(s05, s15, s25, s35);
        if (sums != null)
        {
            Store4(sums, 0, c0);
            Store4(sums, 1, c1);
            Store4(sums, 2, c2);
            Store4(sums, 3, c3);
            Store4(sums, 4, c4);
            Store4(sums, 5, c5);
            return;
        }
        // Columns to rows: C's row i gets [c0[i], c1[i], c2[i], c3[i]] and [c4[i], c5[i]].
        Vector128<float> lo01 = Sse.UnpackLow(c0, c1), lo23 = Sse.UnpackLow(c2, c3), hi01 = Sse.UnpackHigh(c0, c1), hi23 = Sse.UnpackHigh(c2, c3);
        Vector128<float> lo45 = Sse.UnpackLow(c4, c5), hi45 = Sse.UnpackHigh(c4, c5);
        StoreRow(c, Sse.MoveLowToHigh(lo01, lo23), lo45, add);
        StoreRow(c + ldc, Sse.MoveHighToLow(lo23, lo01), Sse.MoveHighToLow(lo45, lo45), add);
        StoreRow(c + 2 * ldc, Sse.MoveLowToHigh(hi01, hi23), hi45, add);
        StoreRow(c + 3 * ldc, Sse.MoveHighToLow(hi23, hi01), Sse.MoveHighToLow(hi45, hi45), add);
    }

    /// <summary>row[0..4) (+)= first4, row[4..6) (+)= the low two lanes of last2.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreRow(float* row, Vector128<float> first4, Vector128<float> last2, bool add)
    {
        if (add)
        {
            first4 += Vector128.Load(row);
            last2 += Vector128.CreateScalarUnsafe(*(double*)(row + 4)).AsSingle();
        }
        first4.Store(row);
        *(double*)(row + 4) = last2.AsDouble().ToScalar();
    }

    /// <summary>sums[i·DK + r] = v[i] for i &lt; 4.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store4(float* sums, int r, Vector128<float> v)
    {
        sums[r] = v.GetElement(0);
        sums[DK + r] = v.GetElement(1);
        sums[2 * DK + r] = v.GetElement(2);
        sums[3 * DK + r] = v.GetElement(3);
    }
}
