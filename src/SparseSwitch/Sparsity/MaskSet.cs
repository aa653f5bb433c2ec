using SparseSwitch.Nn;
using SparseSwitch.Optim;
using SparseSwitch.Serialization;
using SparseSwitch.Tensors;

namespace SparseSwitch.Sparsity;

/// <summary>
/// The K sub-net masks of every prunable parameter (SPEC §2.1), bit-packed, addressed by sub-net
/// index and parameter path (<c>layer1.0.conv1.weight</c>) or layer index (the order of
/// <see cref="Paths"/>). <see cref="Activate"/> points each <see cref="Parameter.Mask"/> at sub-net
/// k's stored mask (no copy: a later change to an active mask is what the next forward uses);
/// <see cref="MaskGradients"/> applies g ⊙ m_k.
/// <para>Each sub-net's masks are views on one flat mask (<see cref="Flat"/>). Built over a
/// <see cref="ParameterTable"/>, the flat mask is laid out like the table's buffers — bit i is
/// element i, every other parameter's bits are 1 (kept), padding 0 — so masking all gradients or
/// copying a sub-net's masks is one loop; built from a parameter list, it packs the layers one
/// after another, each from a 64-bit word.</para>
/// </summary>
public sealed class MaskSet
{
    private readonly string[] _paths;
    private readonly Parameter[] _params;
    private readonly BitMask[] _flat;         // [subnet]
    private readonly BitMask[][] _masks;      // [subnet][layer]: views on _flat[subnet]
    private readonly Dictionary<string, int> _index;
    private readonly ParameterTable? _table;

    /// <summary>Number of sub-nets K.</summary>
    public int Subnets { get; }
    public IReadOnlyList<string> Paths => _paths;
    public IReadOnlyList<Parameter> Parameters => _params;
    public int Layers => _paths.Length;
    /// <summary>Weights of all prunable layers.</summary>
    public long TotalPrunable { get; }
    /// <summary>Elements of the model's other parameters (non-prunable weights, biases, batch-norm
    /// affine), for the "all weights" figures; 0 when built from a parameter list.</summary>
    public long OtherParameters { get; }
    /// <summary>The sub-net last activated by <see cref="Activate"/>, or −1.</summary>
    public int Active { get; private set; } = -1;

    /// <summary>A set of K all-kept (dense) masks for the given prunable parameters.</summary>
    public MaskSet(IEnumerable<(string Path, Parameter Param)> prunable, int subnets, long otherParameters = 0)
        : this(prunable.ToList(), subnets, otherParameters, null)
    {
    }

    /// <summary>A set of K all-kept (dense) masks for the table's parameters marked
    /// <see cref="Parameter.Prunable"/> (in table order), each sub-net's flat mask laid out like the
    /// table; the other parameters count for the "all weights" figures.</summary>
    public MaskSet(ParameterTable table, int subnets)
        : this(table.Entries.Where(e => e.Param.Prunable).Select(e => (e.Name, e.Param)).ToList(), subnets,
            table.Entries.Where(e => !e.Param.Prunable).Sum(e => (long)e.Length), table)
    {
    }

    private MaskSet(List<(string Path, Parameter Param)> list, int subnets, long otherParameters, ParameterTable? table)
    {
        if (subnets < 1) throw new ArgumentOutOfRangeException(nameof(subnets), $"The number of sub-nets K must be at least 1 (got {subnets}).");
        if (list.Count == 0) throw new ArgumentException("A mask set needs at least one prunable parameter.", nameof(list));
        _paths = list.Select(p => p.Path).ToArray();
        _params = list.Select(p => p.Param).ToArray();
        _index = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < _paths.Length; i++)
            if (!_index.TryAdd(_paths[i], i)) throw new ArgumentException($"Parameter path '{_paths[i]}' appears twice.", nameof(list));
        Subnets = subnets;
        _table = table;
        _flat = new BitMask[subnets];
        _masks = new BitMask[subnets][];
        if (table is not null)
        {
            var entries = _paths.Select(table.IndexOf).ToArray();
            for (int k = 0; k < subnets; k++)
            {
                _flat[k] = table.NewMask();
                for (int e = 0; e < table.Entries.Count; e++) table.MaskSlice(_flat[k], e).SetAll(true);
                _masks[k] = entries.Select(e => table.MaskSlice(_flat[k], e)).ToArray();
            }
        }
        else
        {
            var offsets = new int[_params.Length];
            long end = 0;
            for (int l = 0; l < _params.Length; l++)
            {
                offsets[l] = checked((int)end);
                end += (_params[l].Length + 63L) / 64 * 64;
            }
            for (int k = 0; k < subnets; k++)
            {
                _flat[k] = new BitMask(checked((int)end));
                _masks[k] = _params.Select((p, l) => _flat[k].Slice(offsets[l], p.Length)).ToArray();
                foreach (var m in _masks[k]) m.SetAll(true);
            }
        }
        TotalPrunable = _params.Sum(p => (long)p.Length);
        OtherParameters = otherParameters;
    }

    /// <summary>The table whose layout the flat masks follow (null when built from a parameter list).</summary>
    public ParameterTable? Table => _table;

    /// <summary>Sub-net k's flat mask, which every mask of the sub-net is a view on (live).</summary>
    public BitMask Flat(int subnet)
    {
        CheckSubnet(subnet);
        return _flat[subnet];
    }

    /// <summary>Masks for every parameter of <paramref name="model"/> marked <see cref="Parameter.Prunable"/>.</summary>
    public static MaskSet ForModule(Module model, int subnets)
    {
        var all = model.NamedParameters().ToList();
        var prunable = all.Where(p => p.Param.Prunable).ToList();
        if (prunable.Count == 0) throw new ArgumentException($"{model.GetType().Name} has no parameter marked Prunable.", nameof(model));
        return new MaskSet(prunable, subnets, all.Where(p => !p.Param.Prunable).Sum(p => (long)p.Param.Length));
    }

    public int LayerIndex(string path) =>
        _index.TryGetValue(path, out int i) ? i
        : throw new ArgumentException($"No prunable parameter '{path}' in this mask set. Known: {string.Join(", ", _paths)}.", nameof(path));

    public Parameter Parameter(string path) => _params[LayerIndex(path)];

    public BitMask Get(int subnet, int layer)
    {
        CheckSubnet(subnet);
        if ((uint)layer >= (uint)_paths.Length) throw new ArgumentOutOfRangeException(nameof(layer), $"Layer index {layer} outside [0, {_paths.Length}).");
        return _masks[subnet][layer];
    }

    public BitMask this[int subnet, string path] => Get(subnet, LayerIndex(path));

    /// <summary>The masks of one sub-net, in <see cref="Paths"/> order (live objects).</summary>
    public IReadOnlyList<BitMask> Masks(int subnet)
    {
        CheckSubnet(subnet);
        return _masks[subnet];
    }

    private void CheckSubnet(int subnet)
    {
        if ((uint)subnet >= (uint)Subnets) throw new ArgumentOutOfRangeException(nameof(subnet), $"Sub-net {subnet} outside [0, {Subnets}).");
    }

    /// <summary>Points every prunable parameter's Mask at sub-net k's stored mask.</summary>
    public void Activate(int subnet)
    {
        CheckSubnet(subnet);
        for (int l = 0; l < _params.Length; l++) _params[l].Mask = _masks[subnet][l];
        Active = subnet;
    }

    /// <summary>Removes the masks from the parameters (dense forward).</summary>
    public void Deactivate()
    {
        foreach (var p in _params) p.Mask = null;
        Active = -1;
    }

    /// <summary>Grad ← Grad ⊙ m_k for every prunable parameter (over a table: one pass over the
    /// table's flat gradient, which the other parameters' all-kept bits leave as they are).</summary>
    public void MaskGradients(int subnet)
    {
        CheckSubnet(subnet);
        if (_table is not null) _flat[subnet].ApplyTo(_table.Grad.Span);
        else for (int l = 0; l < _params.Length; l++) _masks[subnet][l].ApplyTo(_params[l].Grad.Span);
    }

    /// <summary>
    /// Masks sub-net k's gradient (laid out like the table) as <see cref="MaskGradients(int)"/> does,
    /// but keeps <paramref name="othersScale"/> times the gradient at the positions another sub-net
    /// holds and k does not. Those weights are zero in k's pass; their gradient there is that of
    /// W ⊙ m_k, the change of k's loss were the weight added, so with a scale above 0 the weights of
    /// the denser sub-nets learn on every step, not only on their own. Positions no sub-net holds get
    /// 0; parameters without masks are untouched. A scale of 0 is <see cref="MaskGradients(int)"/>.
    /// </summary>
    public void MaskGradients(int subnet, float othersScale)
    {
        CheckSubnet(subnet);
        if (!(othersScale >= 0 && othersScale <= 1)) throw new ArgumentOutOfRangeException(nameof(othersScale), othersScale, "The scale of the other sub-nets' positions must be in [0, 1].");
        if (othersScale == 0 || Subnets == 1) { MaskGradients(subnet); return; }
        if (_table is null) throw new InvalidOperationException("Keeping the gradient at other sub-nets' positions needs masks laid out over a parameter table.");
        var grad = _table.Grad.Span;
        var own = _flat[subnet].Words;
        int words = own.Length;
        for (int i = 0; i < words; i++)
        {
            int start = i * 64;
            if (start >= grad.Length) break;
            int n = Math.Min(64, grad.Length - start);
            ulong mine = own[i];
            if (mine == ulong.MaxValue) continue;
            ulong lent = HeldByOthers(subnet, i) & ~mine;
            var g = grad.Slice(start, n);
            if ((mine | lent) == 0) { g.Clear(); continue; }
            for (int b = 0; b < n; b++)
            {
                ulong bit = 1UL << b;
                if ((mine & bit) != 0) continue;
                g[b] = (lent & bit) != 0 ? g[b] * othersScale : 0f;
            }
        }
    }

    /// <summary>Word <paramref name="word"/> of the union of every sub-net's flat mask but
    /// <paramref name="subnet"/>'s: bit b set where another sub-net holds element 64·word + b.</summary>
    private ulong HeldByOthers(int subnet, int word)
    {
        ulong others = 0;
        for (int j = 0; j < Subnets; j++) if (j != subnet) others |= _flat[j].Words[word];
        return others;
    }

    /// <summary>Cancels the weight decay that SGD will add (wd·W) at the positions other sub-nets hold
    /// but sub-net <paramref name="subnet"/> does not, by subtracting it from the (masked) gradient
    /// there: those weights then decay only on the steps of a sub-net holding them. Positions no
    /// sub-net holds keep their decay. <paramref name="data"/> and <paramref name="grad"/> are laid
    /// out by the mask set's parameter table.</summary>
    public void CancelDecayOfOthers(int subnet, float weightDecay, ReadOnlySpan<float> data, Span<float> grad)
    {
        CheckSubnet(subnet);
        if (_table is null) throw new InvalidOperationException("Cancelling weight decay needs masks laid out over a parameter table.");
        if (weightDecay == 0 || Subnets == 1) return;
        var own = _flat[subnet].Words;
        int words = own.Length;
        if (grad.Length < (long)words * 64 - 63 || data.Length < (long)words * 64 - 63)
            throw new ArgumentException("The weights or gradient are shorter than the masks.");
        for (int i = 0; i < words; i++)
        {
            ulong others = HeldByOthers(subnet, i);
            ulong bits = others & ~own[i];
            while (bits != 0)
            {
                int b = System.Numerics.BitOperations.TrailingZeroCount(bits);
                bits &= bits - 1;
                int x = i * 64 + b;
                grad[x] -= weightDecay * data[x];
            }
        }
    }

    /// <summary>
    /// Multiplies each of sub-net k's gradients (its masked flat gradient, laid out like the table)
    /// by the coverage factor of its weight: Σ_j w_j / Σ_{j holding the weight} w_j, with w_j the
    /// share of iterations sub-net j trains (its sampling weight). A weight every sub-net holds keeps
    /// its gradient (factor 1); one only sub-net k holds gets Σ w / w_k, so that over the
    /// iterations every weight receives, on average, the gradient of the sub-nets that hold it at
    /// the rate of one update per iteration. Needs masks built over a table. Other parameters (all
    /// bits kept in every sub-net) are untouched.
    /// </summary>
    public void ScaleByCoverage(int subnet, ReadOnlySpan<double> weights, Span<float> grad)
    {
        CheckSubnet(subnet);
        if (_table is null) throw new InvalidOperationException("Coverage scaling needs masks laid out over a parameter table.");
        if (weights.Length != Subnets) throw new ArgumentException($"{weights.Length} sampling weights for {Subnets} sub-nets.", nameof(weights));
        if (Subnets > 16) throw new NotSupportedException($"Coverage scaling supports at most 16 sub-nets, got {Subnets}.");
        double total = 0;
        foreach (double w in weights) total += w;
        // The factor of every set of sub-nets (bit j: sub-net j holds the weight) that includes k.
        var factor = _coverageFactors is { } f && f.Length == 1 << Subnets ? f : _coverageFactors = new float[1 << Subnets];
        for (int set = 0; set < factor.Length; set++)
        {
            double held = 0;
            for (int j = 0; j < Subnets; j++) if ((set >> j & 1) != 0) held += weights[j];
            factor[set] = held > 0 ? (float)(total / held) : 0f;
        }
        var own = _flat[subnet].Words;
        int words = own.Length;
        if (grad.Length < (long)words * 64 - 63) throw new ArgumentException("The gradient is shorter than the masks.", nameof(grad));
        for (int i = 0; i < words; i++)
        {
            ulong mine = own[i];
            if (mine == 0) continue;
            ulong all = ulong.MaxValue;
            for (int j = 0; j < Subnets; j++) all &= _flat[j].Words[i];
            ulong partial = mine & ~all;                   // held by sub-net k but not by every sub-net
            while (partial != 0)
            {
                int b = System.Numerics.BitOperations.TrailingZeroCount(partial);
                partial &= partial - 1;
                int set = 0;
                for (int j = 0; j < Subnets; j++) set |= (int)(_flat[j].Words[i] >> b & 1) << j;
                grad[i * 64 + b] *= factor[set];
            }
        }
    }

    private float[]? _coverageFactors;

    /// <summary>Sets every mask of sub-net k to row-wise N:M of the current weights (SPEC §3.1).</summary>
    public void SetNm(int subnet, int n, int m)
    {
        CheckSubnet(subnet);
        for (int l = 0; l < _params.Length; l++) NmMask.Compute(_params[l].Data.Span, _params[l].Shape, n, m, _masks[subnet][l]);
    }

    /// <summary>Sets every mask of sub-net k to transposable N:M of the current weights (SPEC §3.2).</summary>
    public void SetTransposable(int subnet, int n, int m, TransposableMethod method = TransposableMethod.Exact)
    {
        CheckSubnet(subnet);
        for (int l = 0; l < _params.Length; l++)
            _masks[subnet][l].CopyFrom(TransposableNm.Compute(_params[l].Data.Span, _params[l].Shape, n, m, method));
    }

    /// <summary>Copies sub-net <paramref name="from"/>'s masks into sub-net <paramref name="to"/>.</summary>
    public void Copy(int from, int to)
    {
        CheckSubnet(from); CheckSubnet(to);
        _flat[to].CopyFrom(_flat[from]);
    }

    /// <summary>Kept weights of sub-net k over all prunable layers.</summary>
    public long Kept(int subnet) => Masks(subnet).Sum(m => m.Count());

    /// <summary>Density of sub-net k over the prunable layers.</summary>
    public double Density(int subnet) => (double)Kept(subnet) / TotalPrunable;

    // ---- serialisation: one U8 tensor per (sub-net, layer), named "{prefix}{k}.{path}" ----

    /// <summary>Safetensors entries (U8, bit i in byte i/8 at bit i%8) for checkpoints.</summary>
    public List<(string Name, SafeDType DType, long[] Shape, ReadOnlyMemory<byte> Bytes)> ToEntries(string prefix = "masks.")
    {
        var list = new List<(string, SafeDType, long[], ReadOnlyMemory<byte>)>();
        for (int k = 0; k < Subnets; k++)
            for (int l = 0; l < _paths.Length; l++)
            {
                var bytes = _masks[k][l].ToBytes();
                list.Add(($"{prefix}{k}.{_paths[l]}", SafeDType.U8, new long[] { bytes.Length }, bytes));
            }
        return list;
    }

    /// <summary>Loads every mask from a file written with <see cref="ToEntries"/> (same paths and K).</summary>
    public void LoadEntries(SafeTensors.File file, string prefix = "masks.")
    {
        for (int k = 0; k < Subnets; k++)
            for (int l = 0; l < _paths.Length; l++)
            {
                string name = $"{prefix}{k}.{_paths[l]}";
                if (!file.Contains(name)) throw new InvalidDataException($"Mask '{name}' missing from the checkpoint.");
                var t = file[name];
                if (t.DType != SafeDType.U8) throw new InvalidDataException($"Mask '{name}' has dtype {t.DType}, expected U8.");
                try { _masks[k][l].SetFromBytes(t.Bytes.Span); }
                catch (ArgumentException e) { throw new InvalidDataException($"Mask '{name}': {e.Message}", e); }
            }
    }

    public void Save(string path, string prefix = "masks.") =>
        SafeTensors.SaveRaw(path, ToEntries(prefix), new Dictionary<string, string> { ["subnets"] = Subnets.ToString() });

    public void Load(string path, string prefix = "masks.") => LoadEntries(SafeTensors.Load(path), prefix);
}
