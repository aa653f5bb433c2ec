using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using SparseSwitch.Tensors;


namespace SparseSwitch.Tensors.Conv;

/// <summary>
/// Stride-2 convolutions with a 1×1 or 3×3 kernel ("same" padding: 0 or 1) on even-sized planes,
/// without im2col, by splitting the input into its four phases: x_ab[i, j] = x[2i + a, 2j + b]
/// (a, b ∈ {0, 1}), each OH × OW = H/2 × W/2. Kernel tap (ki, kj) reads phase
/// (a, b) = ((ki − PH) mod 2, (kj − PW) mod 2) shifted by (di, dj) = (⌊(ki − PH)/2⌋, ⌊(kj − PW)/2⌋)
/// ∈ {−1, 0}², so in the shared-padding layout of <see cref="ShiftedRowsConv"/> (OH × OW, padding 1)
/// every row of the im2col matrix is again a run of one phase plane and the products read them in place:
///   forward:  y_q[Cout, q] = W[Cout, C·KH·KW] · rows(phases of x)      (then compacted to y)
///   dW:       dW += dy_q · rows(phases of x)ᵀ                           (dot products)
///   dX:       for each phase (a, b): dx_ab[C, q] = W_ab[C, Cout·T_ab] · rows(dy), the T_ab taps
///             of that phase reading dy shifted by (−di, −dj) ∈ {0, 1}²; then interleaved into dx
///             (phases without taps, e.g. three of four for a 1×1 kernel, are zero).
/// One instance per convolution layer holds the per-chunk buffers; like the other algorithms it
/// allocates only when shapes change, and the forward's phase planes serve the backward
/// (<see cref="ConvAlgorithm.PhasePlanes"/>).
/// </summary>
internal sealed class PhasePlanesAlgorithm : IConvAlgorithm
{
    /// <summary>Whether the geometry qualifies (groups = 1 is checked by the caller).</summary>
    public static bool Applies(in ConvGeometry g) =>
        g.SH == 2 && g.SW == 2 && g.DH == 1 && g.DW == 1 && g.H % 2 == 0 && g.W % 2 == 0
        && (g.KH == 1 || g.KH == 3) && (g.KW == 1 || g.KW == 3) && g.PH == g.KH / 2 && g.PW == g.KW / 2;

    private readonly int _cin, _cout, _kh, _kw;
    private ConvGeometry _geo;
    private ShiftedRowsConv.Layout _l;
    private nint[] _offX = [];
    private readonly nint[][] _offDy = new nint[4][];
    private readonly int[] _taps = new int[4];
    private int _used = 15; // bit p: phase p has taps (a 1×1 kernel reads phase 0 only)
    private Tensor? _wPacked;
    private readonly Tensor?[] _wPhase = new Tensor?[4], _wPhaseRows = new Tensor?[4];
    private Tensor?[] _planes = [], _dyPlanes = [], _stage = [];
    private PlaneReuse _reuse;
    private EngineOptions _o = EngineOptions.Default;

    public ConvAlgorithm Kind => ConvAlgorithm.PhasePlanes;
    /// <summary>x is split into phases, not filled through a transform: a deferred batch-norm on x is materialised first.</summary>
    public bool TransformsInput => false;
    public bool TransformsGradient => true;

    public PhasePlanesAlgorithm(int cin, int cout, int kh, int kw)
    {
        (_cin, _cout, _kh, _kw) = (cin, cout, kh, kw);
        for (int p = 0; p < 4; p++) _offDy[p] = [];
    }

    private static (int Phase, int Shift) Tap(int k, int pad) { int t = k - pad; int a = t & 1; return (a, (t - a) / 2); }

    /// <summary>Sizes the buffers; packs the forward weights (forward) or the per-phase dX weights (backward).</summary>
    public void Prepare(in ConvGeometry g, ConvBatch batch, bool backward, Tensor weight, BitMask? mask, EngineOptions options)
    {
        _geo = g;
        _o = options;
        int chunks = batch.Chunks, maxChunk = batch.MaxChunk;
        var w = weight.Span;
        var bits = mask is null ? default : MaskedWeights.Words(mask, w.Length);
        _reuse.Prepare(batch.Batch, chunks, backward);
        var l = ShiftedRowsConv.Layout.ForImages(g.H / 2, g.W / 2, 1, 1, maxChunk, options.ShiftedRowsTargetColumns);
        int nbMax = l.NbMax;
        int kk = _kh * _kw, s = l.ChannelStride;
        if (l != _l || _offX.Length != _cin * kk)
        {
            _l = l;
            _offX = new nint[_cin * kk];
            for (int c = 0; c < _cin; c++)
            for (int ki = 0; ki < _kh; ki++)
            for (int kj = 0; kj < _kw; kj++)
            {
                var (a, di) = Tap(ki, g.PH);
                var (b, dj) = Tap(kj, g.PW);
                _offX[(c * _kh + ki) * _kw + kj] = (nint)((2 * a + b) * _cin + c) * s + l.Front + (di + 1) * l.Wp + (dj + 1);
            }
            for (int p = 0; p < 4; p++)
            {
                int a = p >> 1, b = p & 1, t = 0;
                var off = new List<nint>();
                for (int o = 0; o < _cout; o++)
                for (int ki = 0; ki < _kh; ki++)
                for (int kj = 0; kj < _kw; kj++)
                {
                    var (pa, di) = Tap(ki, g.PH);
                    var (pb, dj) = Tap(kj, g.PW);
                    if (pa != a || pb != b) continue;
                    off.Add((nint)o * s + l.Front + (1 - di) * l.Wp + (1 - dj));
                    if (o == 0) t++;
                }
                _taps[p] = t;
                _offDy[p] = off.ToArray();
            }
            _used = 0;
            for (int p = 0; p < 4; p++) if (_taps[p] > 0) _used |= 1 << p;
            // Pixels and padding moved: clear the planes (their padding is read as zero).
            foreach (var t in _planes) t?.Clear();
            foreach (var t in _dyPlanes) t?.Clear();
            _reuse.Invalidate();
        }
        if (_planes.Length < chunks)
        {
            Array.Resize(ref _planes, chunks);
            Array.Resize(ref _dyPlanes, chunks);
            Array.Resize(ref _stage, chunks);
        }
        int groups = (maxChunk + nbMax - 1) / nbMax;
        int rows = Math.Max(Round8(_cout), 2 * Round8(_cin));
        for (int c = 0; c < chunks; c++)
        {
            // Zero padding: a change of shape clears them (a buffer keeps its storage across batch sizes).
            if (Buffers.EnsureCleared(ref _planes[c], groups, l.BufferLength(4 * _cin))) _reuse.Invalidate();
            if (backward) Buffers.EnsureCleared(ref _dyPlanes[c], l.BufferLength(_cout)); // one group of images at a time
            Scratch.Ensure(ref _stage[c], ScratchRole.ProductStage, c, rows, l.OutputStride);
        }
        if (!backward)
        {
            RowsKernels.PackA(_cout, _cin * kk, w, _cin * kk, Buffers.Ensure(ref _wPacked, RowsKernels.PackedALength(_cout, _cin * kk)).Span, bits);
            return;
        }
        // dX weights per phase: W_ab[c, (o, t)] = w[o, c, ki_t, kj_t] over the phase's taps t.
        for (int p = 0; p < 4; p++)
        {
            int t = _taps[p];
            if (t == 0) continue;
            var rowsP = Buffers.Ensure(ref _wPhaseRows[p], _cin, _cout * t).Span;
            for (int c = 0; c < _cin; c++)
            for (int o = 0; o < _cout; o++)
            {
                int ti = 0;
                for (int ki = 0; ki < _kh; ki++)
                for (int kj = 0; kj < _kw; kj++)
                {
                    if (Tap(ki, g.PH).Phase != p >> 1 || Tap(kj, g.PW).Phase != (p & 1)) continue;
                    int e = ((o * _cin + c) * _kh + ki) * _kw + kj;
                    rowsP[c * _cout * t + o * t + ti++] = bits.IsEmpty || (bits[e >> 6] >> (e & 63) & 1) != 0 ? w[e] : 0f;
                }
            }
            RowsKernels.PackA(_cin, _cout * t, rowsP, _cout * t, Buffers.Ensure(ref _wPhase[p], RowsKernels.PackedALength(_cin, _cout * t)).Span);
        }
    }

    private static int Round8(int m) => (m + 7) / 8 * 8;

    /// <summary>Marks the phase planes as made for this batch (after a forward over all chunks).</summary>
    public void ForwardDone() => _reuse.ForwardDone();

    public void Forward(int chunk, int start, int end, in ConvForward a)
    {
        var l = _l;
        int nbMax = l.NbMax, inLen = _cin * _geo.H * _geo.W, outLen = _cout * l.H * l.W, slot = l.BufferLength(4 * _cin);
        var planes = _planes[chunk]!.Span;
        var stage = _stage[chunk]!.Span;
        for (int n0 = start; n0 < end; n0 += nbMax)
        {
            int nb = Math.Min(nbMax, end - n0);
            var px = planes.Slice((n0 - start) / nbMax * slot, slot);
            SplitPhases(a.X.Slice(n0 * inLen, nb * inLen), nb, _cin, _geo.H, _geo.W, l, px, _used);
            RowsKernels.Product(_cout, l.Cols(nb), _cin * _kh * _kw, _wPacked!.Span, px, _offX, stage, l.OutputStride, _o);
            ShiftedRowsConv.Compact(stage, l.OutputStride, nb, _cout, l, a.Bias, a.Y.Slice(n0 * outLen, nb * outLen));
            if (!a.OutStats.IsEmpty) GroupEpilogue.OutputPlaneStats(n0, nb, _cout, l.H * l.W, a.Y, a.OutStats);
        }
    }

    public void Backward(int chunk, int start, int end, in ConvBackward args)
    {
        var l = _l;
        int nbMax = l.NbMax, h = _geo.H, wd = _geo.W, inLen = _cin * h * wd, outLen = _cout * l.H * l.W;
        int slot = l.BufferLength(4 * _cin), s = l.ChannelStride, ldq = l.OutputStride, kk = _kh * _kw;
        bool reuse = _reuse.Reusable;
        var planes = _planes[chunk]!.Span;
        var dyPlanes = _dyPlanes[chunk]!.Span;
        var stage = _stage[chunk]!.Span;
        int half = Round8(_cin) * ldq;
        for (int n0 = start; n0 < end; n0 += nbMax)
        {
            int nb = Math.Min(nbMax, end - n0), cols = l.Cols(nb);
            var px = planes.Slice((n0 - start) / nbMax * slot, slot);
            if (!reuse) SplitPhases(args.X.Slice(n0 * inLen, nb * inLen), nb, _cin, h, wd, l, px, _used);
            if (args.DyIn.IsEmpty) ShiftedRowsConv.Pad(args.Dy.Slice(n0 * outLen, nb * outLen), nb, _cout, l, dyPlanes);
            else ShiftedRowsConv.PadGradient(args.Dy.Slice(n0 * outLen, nb * outLen), args.DyIn.X.Span.Slice(n0 * outLen, nb * outLen), nb, _cout, l, dyPlanes, args.DyIn);
            // dW[Cout, C·KH·KW] (+)= dy_q · rows(phases)ᵀ
            RowsKernels.DotProduct(_cout, _cin * kk, cols, dyPlanes[l.Origin..], s, px, _offX, n0 == start ? 0f : 1f, args.Dw, _cin * kk, _o);
            if (args.Dx.IsEmpty) continue; // no input gradient wanted
            // dX, two phases (one row parity a) at a time: stage rows [0, C) hold b = 0, [C8, C8 + C) b = 1.
            var dxImages = args.Dx.Slice(n0 * inLen, nb * inLen);
            for (int a = 0; a < 2; a++)
            {
                for (int b = 0; b < 2; b++)
                {
                    int p = 2 * a + b;
                    var st = stage.Slice(b * half);
                    if (_taps[p] == 0) st.Slice(0, _cin * ldq).Clear();
                    else RowsKernels.Product(_cin, cols, _cout * _taps[p], _wPhase[p]!.Span, dyPlanes, _offDy[p], st, ldq, _o);
                }
                MergePhases(stage, stage.Slice(half), ldq, nb, _cin, h, wd, a, l, dxImages);
            }
            GroupEpilogue.AddWhileInCache(args.Dx, args.DxAdd, n0 * inLen, nb * inLen);
        }
        GroupEpilogue.BiasGradient(start, end, _cout, _geo.OH * _geo.OW, args.Dy, args.Db);
    }

    /// <summary>Phase planes of nb images [nb, C, H, W]: plane (2a + b)·C + c holds x[j, c, 2i + a, 2jj + b]
    /// at Origin + (j·(OH + 1) + i)·Wp + jj, for the phases p = 2a + b whose bit is set in
    /// <paramref name="used"/> (the others are left alone).</summary>
    internal static unsafe void SplitPhases(ReadOnlySpan<float> images, int nb, int c, int h, int w, in ShiftedRowsConv.Layout l, Span<float> planes,
        int used = 15)
    {
        int s = l.ChannelStride, oh = h / 2, ow = w / 2, wp = l.Wp, imageRows = l.RowsPerImage * wp;
        if (images.Length < nb * c * h * w || planes.Length < 4 * c * s || l.H != oh || l.W != ow)
            throw new ArgumentException("PhasePlanesAlgorithm.SplitPhases: buffer sizes do not match the layout.");
        fixed (float* src0 = images, dst0 = planes)
        {
            for (int j = 0; j < nb; j++)
            for (int ch = 0; ch < c; ch++)
            {
                float* src = src0 + (long)(j * c + ch) * h * w;
                for (int a = 0; a < 2; a++)
                {
                    bool useEven = (used >> (2 * a) & 1) != 0, useOdd = (used >> (2 * a + 1) & 1) != 0;
                    if (!useEven && !useOdd) continue;
                    float* even = dst0 + (long)((2 * a) * c + ch) * s + l.Origin + (long)j * imageRows;
                    float* odd = dst0 + (long)((2 * a + 1) * c + ch) * s + l.Origin + (long)j * imageRows;
                    for (int i = 0; i < oh; i++)
                        Deinterleave(src + (2 * i + a) * w, ow, useEven ? even + i * wp : null, useOdd ? odd + i * wp : null);
                }
            }
        }
    }

    /// <summary>dx[j, c, 2i + a, 2jj + b] = phase_b[c, (j·(OH + 1) + i)·Wp + jj] for both b; the two
    /// phase products have row stride ldq.</summary>
    internal static unsafe void MergePhases(ReadOnlySpan<float> even, ReadOnlySpan<float> odd, int ldq, int nb, int c, int h, int w, int a,
        in ShiftedRowsConv.Layout l, Span<float> dx)
    {
        int oh = h / 2, ow = w / 2, wp = l.Wp, imageRows = l.RowsPerImage * wp;
        if (dx.Length < nb * c * h * w || even.Length < (c - 1) * ldq + l.Cols(nb) || odd.Length < (c - 1) * ldq + l.Cols(nb))
            throw new ArgumentException("PhasePlanesAlgorithm.MergePhases: buffer sizes do not match the layout.");
        fixed (float* e0 = even, o0 = odd, d0 = dx)
        {
            for (int j = 0; j < nb; j++)
            for (int ch = 0; ch < c; ch++)
            {
                float* dst = d0 + (long)(j * c + ch) * h * w;
                float* e = e0 + (long)ch * ldq + (long)j * imageRows, o = o0 + (long)ch * ldq + (long)j * imageRows;
                for (int i = 0; i < oh; i++)
                    Interleave(e + i * wp, o + i * wp, ow, dst + (2 * i + a) * w);
            }
        }
    }

    private static readonly Vector512<int> EvenIdx = Vector512.Create(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    private static readonly Vector512<int> OddIdx = Vector512.Create(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    private static readonly Vector512<int> LowIdx = Vector512.Create(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    private static readonly Vector512<int> HighIdx = Vector512.Create(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);

    /// <summary>even[k] = src[2k], odd[k] = src[2k + 1] for k &lt; n (a null destination is skipped).</summary>
    private static unsafe void Deinterleave(float* src, int n, float* even, float* odd)
    {
        int k = 0;
        if (Avx512F.IsSupported)
        {
            for (; k + 16 <= n; k += 16)
            {
                var v0 = Vector512.Load(src + 2 * k);
                var v1 = Vector512.Load(src + 2 * k + 16);
                if (even != null) Vector512.Store(Avx512F.PermuteVar16x32x2(v0, EvenIdx, v1), even + k);
                if (odd != null) Vector512.Store(Avx512F.PermuteVar16x32x2(v0, OddIdx, v1), odd + k);
            }
            if (k + 8 <= n)
            {
                var v = Vector512.Load(src + 2 * k);
                if (even != null) Vector256.Store(Avx512F.PermuteVar16x32x2(v, EvenIdx, v).GetLower(), even + k);
                if (odd != null) Vector256.Store(Avx512F.PermuteVar16x32x2(v, OddIdx, v).GetLower(), odd + k);
                k += 8;
            }
        }
        for (; k < n; k++)
        {
            if (even != null) even[k] = src[2 * k];
            if (odd != null) odd[k] = src[2 * k + 1];
        }
    }

    /// <summary>dst[2k] = even[k], dst[2k + 1] = odd[k] for k &lt; n.</summary>
    private static unsafe void Interleave(float* even, float* odd, int n, float* dst)
    {
        int k = 0;
        if (Avx512F.IsSupported)
        {
            for (; k + 16 <= n; k += 16)
            {
                var e = Vector512.Load(even + k);
                var o = Vector512.Load(odd + k);
                Vector512.Store(Avx512F.PermuteVar16x32x2(e, LowIdx, o), dst + 2 * k);
                Vector512.Store(Avx512F.PermuteVar16x32x2(e, HighIdx, o), dst + 2 * k + 16);
            }
            if (k + 8 <= n)
            {
                var e = Vector512.Create(Vector256.Load(even + k), Vector256<float>.Zero);
                var o = Vector512.Create(Vector256.Load(odd + k), Vector256<float>.Zero);
                Vector512.Store(Avx512F.PermuteVar16x32x2(e, LowIdx, o), dst + 2 * k);
                k += 8;
            }
        }
        for (; k < n; k++) { dst[2 * k] = even[k]; dst[2 * k + 1] = odd[k]; }
    }
}
