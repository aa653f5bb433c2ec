using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Numerics.Tensors;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using SparseSwitch.Tensors;
using SparseSwitch.Tensors.Conv;
using SparseSwitch.Tensors.Sparse;

namespace SparseSwitch.Inference;

/// <summary>How a product layer holds its weights in a compiled plan.</summary>
public enum WeightFormat
{
    /// <summary>Packed dense panels (zeros of the mask included), the GEMM micro-kernel's form.</summary>
    Dense,
    /// <summary>Compressed sparse rows: only the kept weights, each adding a shifted row of the input.</summary>
    Csr,
    /// <summary>N:M packed: N values and one-byte in-group indices per group of M (sub-nets with an N:M pattern).</summary>
    NmPacked,
    /// <summary>Rows in slices of 16 lanes, columns in windows of 32 (<see cref="SlicedMatrix"/>): a Linear layer's product with one image, without gathers.</summary>
    Sliced,
}

/// <summary>A sub-net's N:M pattern (groups of M input channels at one kernel position keep at most N).</summary>
public readonly record struct NmPattern(int N, int M)
{
    public override string ToString() => $"{N}:{M}";
}

/// <summary>A compilation's packed weights by layer and format, so that a sub-net's plans for one
/// image and for groups share what they hold alike.</summary>
internal sealed class WeightCache
{
    private readonly Dictionary<(LayerSpec, WeightFormat), object?> _made = new(new KeyComparer());

    public T? Get<T>(LayerSpec layer, WeightFormat format, Func<T?> make) where T : class
    {
        if (!_made.TryGetValue((layer, format), out var w)) _made[(layer, format)] = w = make();
        return (T?)w;
    }

    /// <summary>The layer's N:M packed weights, or null when there is no pattern or its mask does
    /// not follow it (packed once, whether a step or the format choice asks first).</summary>
    public NmMatrix? NmPacked(LayerSpec layer, NmPattern? pattern) => pattern is not { } p ? null : Get(layer, WeightFormat.NmPacked, () => layer switch
    {
        ConvSpec c => NmMatrix.TryPack(c.Weight, c.OutChannels, c.Geometry.C, c.Geometry.KH * c.Geometry.KW, p.N, p.M, c.Mask),
        LinearSpec l => NmMatrix.TryPack(l.Weight, l.OutFeatures, l.InFeatures, 1, p.N, p.M, l.Mask),
        _ => null,
    });

    private sealed class KeyComparer : IEqualityComparer<(LayerSpec, WeightFormat)>
    {
        public bool Equals((LayerSpec, WeightFormat) a, (LayerSpec, WeightFormat) b) => ReferenceEquals(a.Item1, b.Item1) && a.Item2 == b.Item2;
        public int GetHashCode((LayerSpec, WeightFormat) k) => HashCode.Combine(System.Runtime.CompilerServices.RuntimeHelpers.GetHashCode(k.Item1), k.Item2);
    }
}

/// <summary>What the steps of one plan need beside the activations: the padded planes of each
/// stride-1 layout, and the largest staging, unfolding and transposition buffers.</summary>
internal sealed class WorkspaceNeeds
{
    public readonly Dictionary<PlanesKey, int> Planes = [];
    public int Stage, Col, Transposed;
}

/// <summary>The zero-padded planes of activation <see cref="Value"/> (<see cref="Channels"/> channels
/// in one layout): filled by the step that produces the value or by the first reader, read by every
/// stride-1 convolution of it. Only pixels are ever written, so the padding stays zero.</summary>
internal readonly record struct PlanesKey(int Value, int Channels, ShiftedRowsConv.Layout Layout);

/// <summary>The buffers one call of a plan runs in. Not shared between concurrent calls.</summary>
internal sealed class Workspace
{
    public readonly ArraySegment<float>[] Values;
    public readonly Dictionary<PlanesKey, ArraySegment<float>> Planes = [];
    public readonly ArraySegment<float> Stage, Col, Transposed;
    public readonly StepBody Body;

    /// <summary>Buffers for a plan whose steps run in <paramref name="order"/>: activations (and padded
    /// planes of one layout) whose lives do not overlap share storage, so a deep network needs a few
    /// buffers, not one per layer. A value lives from the step that writes it to the last that reads it;
    /// the output, to the end.</summary>
    public Workspace(IReadOnlyList<int> valueLengths, WorkspaceNeeds needs, EngineOptions engine, IReadOnlyList<Step> order, int outputValue)
    {
        int n = order.Count, values = valueLengths.Count;
        var start = new int[values];
        var end = new int[values];
        Array.Fill(start, -1);
        Array.Fill(end, -1);
        for (int i = 0; i < n; i++)
        {
            start[order[i].Output] = i;
            foreach (int v in order[i].Reads) end[v] = Math.Max(end[v], i);
        }
        end[outputValue] = n;
        // Activations: greedy by start, into any free slot (grown to the largest user).
        var slots = new List<(int Length, int FreeAfter)>();
        var slotOf = new int[values];
        foreach (int v in Enumerable.Range(0, values).OrderBy(v => start[v]))
        {
            int e = Math.Max(end[v], start[v]);
            int k = slots.FindIndex(sl => sl.FreeAfter < start[v]);
            if (k < 0) { slots.Add((0, 0)); k = slots.Count - 1; }
            slots[k] = (Math.Max(slots[k].Length, valueLengths[v]), e);
            slotOf[v] = k;
        }
        var storage = slots.Select(sl => Aligned(sl.Length)).ToArray();
        Values = Enumerable.Range(0, values).Select(v => new ArraySegment<float>(storage[slotOf[v]].Array!, storage[slotOf[v]].Offset, valueLengths[v])).ToArray();
        // Planes: only between keys of the same channels and layout (the padding sits at the same places, so it stays zero).
        var planeSlots = new List<(int Channels, ShiftedRowsConv.Layout Layout, int FreeAfter, ArraySegment<float> Storage)>();
        foreach (var (key, length) in needs.Planes.OrderBy(kv => start[kv.Key.Value]))
        {
            int s0 = start[key.Value], e = Math.Max(end[key.Value], s0);
            int k = planeSlots.FindIndex(sl => sl.Channels == key.Channels && sl.Layout == key.Layout && sl.FreeAfter < s0);
            if (k < 0) { planeSlots.Add((key.Channels, key.Layout, e, Aligned(length))); k = planeSlots.Count - 1; }
            else planeSlots[k] = planeSlots[k] with { FreeAfter = e };
            Planes[key] = planeSlots[k].Storage;
        }
        Stage = Aligned(needs.Stage);
        Col = Aligned(needs.Col);
        Transposed = Aligned(needs.Transposed);
        Body = new StepBody(this, engine);
    }

    /// <summary>Storage whose first float is 64-byte aligned, as the kernels' layouts assume (a plane's
    /// pixel rows start on cache lines; unaligned, every vector load of a row spans two lines).</summary>
    private static ArraySegment<float> Aligned(int length)
    {
        var (buffer, offset) = SparseSwitch.Tensors.Tensor.AllocateAligned(length);
        return new ArraySegment<float>(buffer, offset, length);
    }

    public long Bytes => 4L * Values.Concat(Planes.Values).Append(Stage).Append(Col).Append(Transposed)
        .Where(a => a.Array is not null).DistinctBy(a => a.Array, ReferenceEqualityComparer.Instance).Sum(a => (long)a.Array!.Length);
}

/// <summary>Runs one phase of one step over the threads' parts (set, then handed to the pool).</summary>
internal sealed class StepBody(Workspace ws, EngineOptions engine) : IParallelBody
{
    public Step Step = null!;
    public int Phase, Parts, Images;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Execute(int index) => Step.Execute(ws, Phase, index, Parts, Images);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Run(Step step, int images)
    {
        Step = step;
        Images = images;
        Parts = Math.Max(1, engine.Threads);
        for (int phase = 0; phase < step.Phases; phase++)
        {
            Phase = phase;
            if (Parts == 1 || !step.Parallel(phase)) for (int i = 0; i < Parts; i++) Step.Execute(ws, phase, i, Parts, images);
            else WorkerPool.For(Parts, this, engine);
        }
    }
}

/// <summary>One operation of a compiled plan, for up to <see cref="Capacity"/> images at a time.</summary>
internal abstract class Step(int input, int output, int capacity)
{
    public int Input { get; } = input;
    public int Output { get; } = output;
    public int Capacity { get; } = capacity;
    public virtual int Phases => 1;
    public virtual bool Parallel(int phase) => true;
    public virtual void Require(WorkspaceNeeds needs) { }
    /// <summary>Bytes of weights this step holds.</summary>
    public virtual long WeightBytes => 0;
    public virtual WeightFormat? Format => null;
    /// <summary>The activations this step reads.</summary>
    public virtual IEnumerable<int> Reads => [Input];
    /// <summary>The object holding this step's weights (shared by the plans of one sub-net that use the same format).</summary>
    public virtual object? Weights => null;
    public abstract string Describe { get; }
    /// <summary>Part <paramref name="part"/> of <paramref name="parts"/> of phase <paramref name="phase"/> for nb images.</summary>
    public abstract void Execute(Workspace ws, int phase, int part, int parts, int nb);

    protected static (int Start, int End) Share(int part, int parts, int count) =>
        ((int)((long)count * part / parts), (int)((long)count * (part + 1) / parts));

    protected static int RoundUp(int n, int multiple) => (n + multiple - 1) / multiple * multiple;
}

/// <summary>
/// A convolution with folded batch-norm as one product W[Cout, C·KH·KW] · rows(x): stride-1
/// "same" convolutions read the rows in place from zero-padded planes (shifted rows), others from
/// an unfolded copy (im2col). Phase 0 fills the planes or the unfolded matrix (channels split among
/// the threads); phase 1 computes each thread's output channels (dense: whole 8-row panels; CSR:
/// balanced by kept weights) and writes them, bias, residual and ReLU applied, to the output.
/// </summary>
internal sealed class ConvStep : Step
{
    private readonly ConvSpec _s;
    private readonly bool _shifted;
    private readonly ShiftedRowsConv.Layout _l;
    private readonly int _ldq, _ldcol, _threads;
    private readonly nint[] _off;
    private readonly float[]? _packed;
    private readonly CsrMatrix? _csr;
    private readonly NmMatrix? _nm;
    private readonly int[] _bounds;
    private readonly EngineOptions _engine;

    public ConvStep(ConvSpec s, int capacity, WeightFormat format, EngineOptions engine, WeightCache weights, NmPattern? pattern = null) : base(s.Input, s.Output, capacity)
    {
        _s = s;
        _engine = engine;
        var g = s.Geometry;
        _shifted = ShiftedRowsConv.Applies(g);
        int k = g.ColRows;
        _off = new nint[k];
        if (_shifted)
        {
            _l = new ShiftedRowsConv.Layout(g.H, g.W, g.PH, g.PW, capacity);
            ShiftedRowsConv.RowOffsets(g.C, g.KH, g.KW, _l, _off);
            _ldq = _l.OutputStride;
        }
        else
        {
            _ldcol = RoundUp(capacity * g.ColCols, RowsKernels.TileColumns);
            for (int r = 0; r < k; r++) _off[r] = (nint)r * _ldcol;
            _ldq = _ldcol;
        }
        _threads = Math.Max(1, engine.Threads);
        _bounds = new int[_threads + 1];
        if (format == WeightFormat.Dense)
        {
            _packed = weights.Get(s, format, () =>
            {
                var packed = new float[RowsKernels.PackedALength(s.OutChannels, k)];
                RowsKernels.PackA(s.OutChannels, k, s.Weight, k, packed);
                return packed;
            });
            int panels = (s.OutChannels + RowsKernels.MR - 1) / RowsKernels.MR;
            for (int t = 0; t <= _threads; t++) _bounds[t] = Math.Min(s.OutChannels, (int)((long)panels * t / _threads) * RowsKernels.MR);
        }
        else if (format == WeightFormat.NmPacked)
        {
            _nm = weights.NmPacked(s, pattern)
                ?? throw new ArgumentException($"{s.Name}: its mask does not follow the N:M pattern {pattern?.ToString() ?? "(none given)"}.");
            for (int t = 0; t <= _threads; t++) _bounds[t] = (int)((long)s.OutChannels * t / _threads);
        }
        else
        {
            _csr = weights.Get(s, format, () => CsrMatrix.FromDense(s.Weight, s.OutChannels, k, s.Mask))!;
            SparseKernels.BalancedRows(_csr, _bounds);
        }
    }

    public override int Phases => 2;
    public override bool Parallel(int phase) => phase == 1 || (_s.Geometry.C > 1 && !InputPlanesFilled);
    public override WeightFormat? Format => _packed is not null ? WeightFormat.Dense : _nm is not null ? WeightFormat.NmPacked : WeightFormat.Csr;
    public override object? Weights => (object?)_packed ?? (object?)_nm ?? _csr;
    public override long WeightBytes => _packed is not null ? 4L * _packed.Length : _nm is not null ? _nm.Bytes : _csr!.Bytes;
    public override string Describe => $"{_s.Name}: conv {_s.Geometry.KH}×{_s.Geometry.KW}/{_s.Geometry.SH} {_s.Geometry.C}→{_s.OutChannels} on {_s.Geometry.H}×{_s.Geometry.W}, {(_shifted ? "shifted rows" : "im2col")}, {Format}";

    public PlanesKey Key => new(Input, _s.Geometry.C, _l);

    public override IEnumerable<int> Reads => _s.Residual >= 0 ? [Input, _s.Residual] : [Input];

    /// <summary>The activation added before the ReLU, or −1.</summary>
    public int Residual => _s.Residual;

    /// <summary>Whether the input's planes are filled by the step that produces it (phase 0 has nothing to do).</summary>
    public bool InputPlanesFilled { get; set; }

    /// <summary>Planes of this step's output that its epilogue fills for the convolutions reading it.</summary>
    public PlanesKey? OutputPlanes { get; set; }

    /// <summary>The residual's padded planes, filled by its producer, read instead of its plain buffer.</summary>
    public PlanesKey? ResidualPlanes { get; set; }

    /// <summary>Whether the output is also wanted as it is (a residual, a pooling, another kind of reader):
    /// when not, only <see cref="OutputPlanes"/> are written.</summary>
    public bool WritesOutput { get; set; } = true;

    public bool Shifted => _shifted;

    public override void Require(WorkspaceNeeds needs)
    {
        int rows = RoundUp(_s.OutChannels, RowsKernels.MR);
        needs.Stage = Math.Max(needs.Stage, rows * _ldq);
        if (_shifted) needs.Planes[Key] = _l.BufferLength(_s.Geometry.C);
        else needs.Col = Math.Max(needs.Col, _s.Geometry.ColRows * _ldcol + RowsKernels.TileColumns + 16);
        if (OutputPlanes is { } k) needs.Planes[k] = k.Layout.BufferLength(k.Channels);
    }

    private int Cols(int nb) => _shifted ? _l.Cols(nb) : nb * _s.Geometry.ColCols;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public override void Execute(Workspace ws, int phase, int part, int parts, int nb)
    {
        var g = _s.Geometry;
        if (phase == 0)
        {
            if (InputPlanesFilled) return;
            var (c0, c1) = Share(part, parts, g.C);
            if (c0 == c1) return;
            var x = ws.Values[Input];
            int hw = g.H * g.W;
            if (_shifted)
            {
                var planes = ws.Planes[Key];
                int s = _l.ChannelStride, wp = _l.Wp, imageRows = _l.RowsPerImage * wp;
                for (int c = c0; c < c1; c++)
                for (int j = 0; j < nb; j++)
                {
                    int src = (j * g.C + c) * hw, dst = c * s + _l.Origin + j * imageRows;
                    for (int y = 0; y < g.H; y++) x.AsSpan(src + y * g.W, g.W).CopyTo(planes.AsSpan(dst + y * wp, g.W));
                }
            }
            else
            {
                var sub = g with { C = c1 - c0 };
                int kk = g.KH * g.KW;
                for (int j = 0; j < nb; j++)
                    Im2Col.Unfold(sub, x.AsSpan((j * g.C + c0) * hw, (c1 - c0) * hw), ws.Col.AsSpan(c0 * kk * _ldcol + j * g.ColCols), _ldcol);
            }
            return;
        }
        // Parts beyond the threads the bounds were made for take nothing (the pool never asks for more).
        if (part >= _threads) return;
        int r0 = _bounds[part], r1 = _bounds[part + 1];
        if (r0 >= r1) return;
        int cols = Cols(nb);
        ReadOnlySpan<float> b = _shifted ? ws.Planes[Key] : ws.Col;
        var stage = ws.Stage.AsSpan();
        if (_packed is not null)
            RowsKernels.Product(r1 - r0, cols, g.ColRows, _packed.AsSpan(r0 * g.ColRows), b, _off, stage[(r0 * _ldq)..], _ldq, _engine);
        else if (_nm is not null)
            NmKernels.RowsProduct(_nm, b, _off, RoundUp(cols, SparseKernels.ColumnMultiple), stage, _ldq, r0, r1);
        else
            SparseKernels.RowsProduct(_csr!, b, _off, RoundUp(cols, SparseKernels.ColumnMultiple), stage, _ldq, r0, r1);
        int oh = g.OH, ow = g.OW;
        int imageStride = _shifted ? _l.RowsPerImage * _l.Wp : oh * ow, rowStride = _shifted ? _l.Wp : ow;
        var residual = ResidualPlanes is { } rk ? RowPlace.InPlanes(ws.Planes[rk], rk.Layout)
            : _s.Residual >= 0 ? RowPlace.Plain(ws.Values[_s.Residual], _s.OutChannels, oh, ow) : default;
        Epilogue.Rows(ws.Stage, _ldq, imageStride, rowStride, r0, r1, nb, ow, oh, _s.Bias, residual, _s.Relu,
            WritesOutput ? RowPlace.Plain(ws.Values[Output], _s.OutChannels, oh, ow) : default,
            OutputPlanes is { } k ? RowPlace.InPlanes(ws.Planes[k], k.Layout) : default);
    }
}

/// <summary>y = act(W x + b). Dense: each thread's output rows as dot products. Sliced (one image):
/// the gather-free sparse matrix–vector product. CSR or N:M packed: at one image a sparse
/// matrix–vector product; at more, the images transposed into columns (phase 0, input features
/// split among the threads) and each kept weight adding a row of them.</summary>
internal sealed class LinearStep : Step
{
    private readonly LinearSpec _s;
    private readonly CsrMatrix? _csr;
    private readonly NmMatrix? _nm;
    private readonly SlicedMatrix? _sliced;
    private readonly nint[] _off;
    private readonly int[] _bounds;
    private readonly int _threads, _ld;

    public LinearStep(LinearSpec s, int capacity, WeightFormat format, EngineOptions engine, WeightCache weights, NmPattern? pattern = null) : base(s.Input, s.Output, capacity)
    {
        _s = s;
        _threads = Math.Max(1, engine.Threads);
        _bounds = new int[_threads + 1];
        _ld = RoundUp(capacity, SparseKernels.ColumnMultiple);
        _off = new nint[s.InFeatures];
        for (int c = 0; c < s.InFeatures; c++) _off[c] = (nint)c * _ld;
        switch (format)
        {
            case WeightFormat.Csr:
                _csr = weights.Get(s, format, () => CsrMatrix.FromDense(s.Weight, s.OutFeatures, s.InFeatures, s.Mask))!;
                SparseKernels.BalancedRows(_csr, _bounds);
                return;
            case WeightFormat.Sliced:
                if (capacity != 1) throw new ArgumentException($"{s.Name}: the sliced form serves one image at a time, not groups of {capacity}.");
                _sliced = weights.Get(s, format, () => SlicedMatrix.FromDense(s.Weight, s.OutFeatures, s.InFeatures, s.Mask))!;
                _sliced.BalancedSlices(_bounds); // bounds in slices
                return;
            case WeightFormat.NmPacked:
                _nm = weights.NmPacked(s, pattern)
                    ?? throw new ArgumentException($"{s.Name}: its mask does not follow the N:M pattern {pattern?.ToString() ?? "(none given)"}.");
                break;
        }
        for (int t = 0; t <= _threads; t++) _bounds[t] = (int)((long)s.OutFeatures * t / _threads);
    }

    public override int Phases => 2;
    public override WeightFormat? Format => _csr is not null ? WeightFormat.Csr : _nm is not null ? WeightFormat.NmPacked : _sliced is not null ? WeightFormat.Sliced : WeightFormat.Dense;
    public override object? Weights => (object?)_csr ?? (object?)_nm ?? (object?)_sliced ?? _s.Weight;
    public override long WeightBytes => _csr is not null ? _csr.Bytes : _nm is not null ? _nm.Bytes : _sliced is not null ? _sliced.Bytes : 4L * _s.Weight.Length;
    public override string Describe => $"{_s.Name}: linear {_s.InFeatures}→{_s.OutFeatures}, {Format}";

    /// <summary>Whether nb images go through the transposed columns (the CSR and N:M products over several images).</summary>
    private bool Columns(int nb) => (_csr is not null || _nm is not null) && nb > 1;

    public override bool Parallel(int phase) => phase == 1 || Capacity > 1;

    public override void Require(WorkspaceNeeds needs)
    {
        if (Capacity == 1) return; // the CSR form's columns (the measurement tries it on every layer)
        needs.Transposed = Math.Max(needs.Transposed, _s.InFeatures * _ld);
        needs.Stage = Math.Max(needs.Stage, _s.OutFeatures * _ld);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public override void Execute(Workspace ws, int phase, int part, int parts, int nb)
    {
        int inF = _s.InFeatures, outF = _s.OutFeatures;
        var x = ws.Values[Input];
        var y = ws.Values[Output];
        if (phase == 0)
        {
            if (!Columns(nb)) return;
            var (c0, c1) = Share(part, parts, inF);
            Transpose(x.AsSpan(0, nb * inF), ws.Transposed.AsSpan(), nb, inF, c0, c1);
            return;
        }
        if (part >= _threads) return;
        int r0 = _bounds[part], r1 = _bounds[part + 1];
        if (r0 >= r1) return;
        var bias = _s.Bias;
        if (_sliced is not null)
        {
            SlicedKernels.Gemv(_sliced, x.AsSpan(0, inF), y.AsSpan(0, outF), r0, r1);
            BiasAct(y.AsSpan(0, outF), r0 * SlicedMatrix.Lanes, Math.Min(outF, r1 * SlicedMatrix.Lanes));
        }
        else if (_csr is null && _nm is null)
        {
            var w = _s.Weight.AsSpan();
            for (int o = r0; o < r1; o++)
            for (int j = 0; j < nb; j++)
                y[j * outF + o] = Act(TensorPrimitives.Dot(w.Slice(o * inF, inF), x.AsSpan(j * inF, inF)) + bias[o]);
        }
        else if (!Columns(nb) && _csr is not null)
        {
            SparseKernels.Spmv(_csr, x.AsSpan(0, inF), y.AsSpan(0, outF), r0, r1);
            BiasAct(y.AsSpan(0, outF), r0, r1);
        }
        else if (!Columns(nb))
        {
            // N:M at one image: one pass over each row's packed entries.
            NmVector(x.AsSpan(0, inF), y.AsSpan(0, outF), r0, r1);
            BiasAct(y.AsSpan(0, outF), r0, r1);
        }
        else
        {
            if (_nm is not null) NmKernels.RowsProduct(_nm, ws.Transposed, _off, _ld, ws.Stage, _ld, r0, r1);
            else SparseKernels.RowsProduct(_csr!, ws.Transposed, _off, _ld, ws.Stage, _ld, r0, r1);
            Untranspose(ws.Stage.AsSpan(), y.AsSpan(0, nb * outF), nb, outF, r0, r1);
        }
    }

    /// <summary>t[c·ld + j] = x[j·inF + c] for features [c0, c1) of nb images: 16 × 16 blocks
    /// transposed in registers, the edges one by one.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private unsafe void Transpose(ReadOnlySpan<float> x, Span<float> t, int nb, int inF, int c0, int c1)
    {
        if (c1 <= c0) return;
        if ((long)(c1 - 1) * _ld + nb > t.Length || (long)nb * inF > x.Length) throw new ArgumentException("LinearStep: transposition out of its buffers.");
        float** src = stackalloc float*[16];
        float** dst = stackalloc float*[16];
        fixed (float* px = x, pt = t)
        {
            int fullJ = Avx512F.IsSupported ? nb / 16 * 16 : 0;
            int c = c0;
            for (; c + 16 <= c1 && fullJ > 0; c += 16)
                for (int j = 0; j < fullJ; j += 16)
                {
                    for (int i = 0; i < 16; i++) { src[i] = px + (long)(j + i) * inF + c; dst[i] = pt + (long)(c + i) * _ld + j; }
                    InterleavedConv.Transpose16(src, dst);
                }
            for (int cc = c0; cc < c1; cc++)
            {
                float* d = pt + (long)cc * _ld, sp = px + cc;
                for (int j = cc < c ? fullJ : 0; j < nb; j++) d[j] = sp[(long)j * inF];
            }
        }
    }

    /// <summary>y[j·outF + o] = act(stage[o·ld + j] + bias[o]) for outputs [r0, r1) of nb images: 16 × 16
    /// blocks transposed in registers (through a block on the stack, so that lanes of missing images
    /// are never written), bias and activation as vectors; the edges one by one.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private unsafe void Untranspose(ReadOnlySpan<float> stage, Span<float> y, int nb, int outF, int r0, int r1)
    {
        if (r1 <= r0) return;
        if ((long)(r1 - 1) * _ld + nb > stage.Length || (long)nb * outF > y.Length) throw new ArgumentException("LinearStep: transposition out of its buffers.");
        bool relu = _s.Relu;
        float** src = stackalloc float*[16];
        float** dst = stackalloc float*[16];
        float* block = stackalloc float[16 * 16 + 16];
        float* b16 = (float*)(((nint)block + 63) & ~(nint)63);
        fixed (float* ps = stage, py = y, pb = _s.Bias)
        {
            int o = r0;
            if (Avx512F.IsSupported)
                for (; o + 16 <= r1; o += 16)
                {
                    var bias = Vector512.Load(pb + o);
                    for (int j = 0; j < nb; j += 16)
                    {
                        for (int i = 0; i < 16; i++) { src[i] = ps + (long)(o + i) * _ld + j; dst[i] = b16 + i * 16; }
                        InterleavedConv.Transpose16(src, dst);
                        for (int k = 0; k < 16 && j + k < nb; k++)
                        {
                            var v = Vector512.Load(b16 + k * 16) + bias;
                            if (relu) v = Relu(v);
                            v.Store(py + (long)(j + k) * outF + o);
                        }
                    }
                }
            for (int j = 0; j < nb; j++)
            {
                float* d = py + (long)j * outF, sp = ps + j;
                for (int q = o; q < r1; q++)
                {
                    float v = sp[(long)q * _ld] + pb[q];
                    d[q] = relu && !(v > 0f) ? 0f : v;
                }
            }
        }
    }

    /// <summary>y[o] = act(y[o] + bias[o]) for o in [o0, o1).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void BiasAct(Span<float> y, int o0, int o1)
    {
        var bias = _s.Bias;
        int o = o0;
        if (Vector512.IsHardwareAccelerated)
        {
            ref float py = ref MemoryMarshal.GetReference(y);
            ref float pb = ref MemoryMarshal.GetArrayDataReference(bias);
            for (; o + 16 <= o1; o += 16)
            {
                var v = Vector512.LoadUnsafe(ref py, (nuint)o) + Vector512.LoadUnsafe(ref pb, (nuint)o);
                if (_s.Relu) v = Relu(v);
                v.StoreUnsafe(ref py, (nuint)o);
            }
        }
        for (; o < o1; o++) y[o] = Act(y[o] + bias[o]);
    }

    private float Act(float v) => _s.Relu && !(v > 0f) ? 0f : v;

    /// <summary>max(v, 0) lane by lane with NaN → 0, as <see cref="Act"/>.</summary>
    private static Vector512<float> Relu(Vector512<float> v) => Vector512.ConditionalSelect(Vector512.GreaterThan(v, Vector512<float>.Zero), v, Vector512<float>.Zero);

    /// <summary>y[r] = Σ v · x[column] over row r's N:M entries, for rows [r0, r1).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void NmVector(ReadOnlySpan<float> x, Span<float> y, int r0, int r1)
    {
        var a = _nm!;
        int per = a.Groups * a.N;
        for (int r = r0; r < r1; r++)
        {
            float sum = 0f;
            int e = r * per;
            for (int gi = 0; gi < a.Groups; gi++)
            {
                int b = a.GroupBase[gi];
                for (int t = 0; t < a.N; t++, e++) sum += a.Values[e] * x[b + a.Index[e]];
            }
            y[r] = sum;
        }
    }
}

/// <summary>Max-pooling (padding counts as −∞), images × channels split among the threads.</summary>
internal sealed class MaxPoolStep(MaxPoolSpec s, ActivationShape input, ActivationShape output, int capacity) : Step(s.Input, s.Output, capacity)
{
    public override string Describe => $"maxpool {s.Kernel}/{s.Stride} {input}→{output}";

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public override void Execute(Workspace ws, int phase, int part, int parts, int nb)
    {
        var x = ws.Values[Input];
        var y = ws.Values[Output];
        int h = input.H, w = input.W, oh = output.H, ow = output.W;
        var (p0, p1) = Share(part, parts, nb * input.C);
        for (int p = p0; p < p1; p++)
        {
            int xb = p * h * w, yb = p * oh * ow;
            for (int i = 0; i < oh; i++)
            for (int j = 0; j < ow; j++)
            {
                float m = float.NegativeInfinity;
                for (int a = 0; a < s.Kernel; a++)
                {
                    int yy = i * s.Stride - s.Padding + a;
                    if ((uint)yy >= (uint)h) continue;
                    for (int c = 0; c < s.Kernel; c++)
                    {
                        int xx = j * s.Stride - s.Padding + c;
                        if ((uint)xx >= (uint)w) continue;
                        float v = x[xb + yy * w + xx];
                        if (v > m || float.IsNaN(v)) m = v;
                    }
                }
                y[yb + i * ow + j] = m;
            }
        }
    }
}

/// <summary>The mean of each plane.</summary>
internal sealed class GlobalAvgPoolStep(GlobalAvgPoolSpec s, ActivationShape input, int capacity) : Step(s.Input, s.Output, capacity)
{
    public override string Describe => $"global average pool {input}";

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public override void Execute(Workspace ws, int phase, int part, int parts, int nb)
    {
        var x = ws.Values[Input];
        var y = ws.Values[Output];
        int hw = input.H * input.W;
        var (p0, p1) = Share(part, parts, nb * input.C);
        for (int p = p0; p < p1; p++) y[p] = TensorPrimitives.Sum(x.AsSpan(p * hw, hw)) / hw;
    }
}

/// <summary>max(x, 0) where no product before it could take it.</summary>
internal sealed class ReluStep(ReluSpec s, ActivationShape shape, int capacity) : Step(s.Input, s.Output, capacity)
{
    public override string Describe => $"relu {shape}";

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public override void Execute(Workspace ws, int phase, int part, int parts, int nb)
    {
        var (i0, i1) = Share(part, parts, nb * shape.Length);
        TensorPrimitives.Max(ws.Values[Input].AsSpan(i0, i1 - i0), 0f, ws.Values[Output].AsSpan(i0, i1 - i0));
    }
}

/// <summary>Option-A shortcut: y[o, i, j] = x[o − pad, i·s, j·s] for the channels the input has, 0 for the rest.</summary>
internal sealed class PadShortcutStep(PadShortcutSpec s, ActivationShape input, ActivationShape output, int capacity) : Step(s.Input, s.Output, capacity)
{
    public override string Describe => $"option-A shortcut {input}→{output}";

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public override void Execute(Workspace ws, int phase, int part, int parts, int nb)
    {
        var x = ws.Values[Input];
        var y = ws.Values[Output];
        int pad = (output.C - input.C) / 2, h = input.H, w = input.W, oh = output.H, ow = output.W, st = s.Stride;
        var (p0, p1) = Share(part, parts, nb * output.C);
        for (int p = p0; p < p1; p++)
        {
            int j = p / output.C, o = p % output.C, c = o - pad;
            var dst = y.AsSpan(p * oh * ow, oh * ow);
            if ((uint)c >= (uint)input.C) { dst.Clear(); continue; }
            int xb = (j * input.C + c) * h * w;
            for (int i = 0; i < oh; i++)
            for (int q = 0; q < ow; q++) dst[i * ow + q] = x[xb + i * st * w + q * st];
        }
    }
}

/// <summary>A place of activations in the epilogue: a plain [nb, C, H, W] buffer, or zero-padded
/// planes in a shifted-rows layout (channel stride, first pixel, image and row strides).</summary>
internal readonly struct RowPlace
{
    public readonly ArraySegment<float> Storage;
    public readonly int ChannelStride, ImageStride, RowStride, Origin;

    private RowPlace(ArraySegment<float> storage, int channelStride, int imageStride, int rowStride, int origin)
    {
        Storage = storage; ChannelStride = channelStride; ImageStride = imageStride; RowStride = rowStride; Origin = origin;
    }

    public static RowPlace Plain(ArraySegment<float> storage, int channels, int h, int w) =>
        storage.Array is null ? default : new(storage, h * w, channels * h * w, w, 0);

    public static RowPlace InPlanes(ArraySegment<float> storage, ShiftedRowsConv.Layout l) =>
        storage.Array is null ? default : new(storage, l.ChannelStride, l.RowsPerImage * l.Wp, l.Wp, l.Origin);

    /// <summary>Index of row y of channel o of image j.</summary>
    public int At(int j, int o, int y) => Origin + j * ImageStride + o * ChannelStride + y * RowStride;
}

/// <summary>The convolutions' epilogue: out[j, o, y, x] = act(stage[o·ldq + j·imageStride + y·rowStride + x]
/// + bias[o] (+ residual)), written to a plain buffer, to the readers' padded planes, or both; the
/// residual read from either.</summary>
internal static unsafe class Epilogue
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Rows(ArraySegment<float> stage, int ldq, int imageStride, int rowStride, int r0, int r1, int nb, int ow, int oh,
        float[] bias, RowPlace residual, bool relu, RowPlace output, RowPlace planes)
    {
        fixed (float* st = stage.Array, rs = residual.Storage.Array, op = output.Storage.Array, pl = planes.Storage.Array)
        {
            float* pst = st + stage.Offset;
            float* prs = rs is null ? null : rs + residual.Storage.Offset;
            float* pop = op is null ? null : op + output.Storage.Offset;
            float* ppl = pl is null ? null : pl + planes.Storage.Offset;
            for (int o = r0; o < r1; o++)
            {
                float b = bias[o];
                for (int j = 0; j < nb; j++)
                    for (int y = 0; y < oh; y++)
                        Row(pst + (long)o * ldq + j * imageStride + y * rowStride, b,
                            prs is null ? null : prs + residual.At(j, o, y), relu,
                            pop is null ? null : pop + output.At(j, o, y),
                            ppl is null ? null : ppl + planes.At(j, o, y), ow);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Row(float* src, float bias, float* residual, bool relu, float* dst, float* dst2, int n)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var vb = Vector512.Create(bias);
            for (; i + 16 <= n; i += 16)
            {
                var v = Vector512.Load(src + i) + vb;
                if (residual is not null) v += Vector512.Load(residual + i);
                if (relu) v = Vector512.Max(v, Vector512<float>.Zero);
                if (dst is not null) v.Store(dst + i);
                if (dst2 is not null) v.Store(dst2 + i);
            }
        }
        if (Vector256.IsHardwareAccelerated)
        {
            var vb = Vector256.Create(bias);
            for (; i + 8 <= n; i += 8)
            {
                var v = Vector256.Load(src + i) + vb;
                if (residual is not null) v += Vector256.Load(residual + i);
                if (relu) v = Vector256.Max(v, Vector256<float>.Zero);
                if (dst is not null) v.Store(dst + i);
                if (dst2 is not null) v.Store(dst2 + i);
            }
        }
        for (; i < n; i++)
        {
            float v = src[i] + bias;
            if (residual is not null) v += residual[i];
            if (relu && !(v > 0f)) v = 0f;
            if (dst is not null) dst[i] = v;
            if (dst2 is not null) dst2[i] = v;
        }
    }
}
