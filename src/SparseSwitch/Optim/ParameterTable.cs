using SparseSwitch.Nn;
using SparseSwitch.Tensors;

namespace SparseSwitch.Optim;

/// <summary>
/// The flat parameter table: one (name, shape, offset) row per parameter, and one contiguous,
/// 64-byte aligned buffer for all parameter values and another, laid out identically, for all
/// gradients. Building the table rebinds every parameter's <see cref="Parameter.Data"/> and
/// <see cref="Parameter.Grad"/> into those buffers (values are kept), so zeroing gradients,
/// masking, optimiser steps and checkpoint I/O can each be one flat loop. Every entry starts on a
/// 64-float (256-byte) boundary, so in a flat bit mask (<see cref="NewMask"/>) bit i belongs to
/// element i of the flat buffers and every entry's bits start on a 64-bit word; the padding between
/// entries is zero in every buffer and every mask.
/// Build the table right after the model, before anything keeps views of the parameters.
/// Optimiser state laid out the same way comes from <see cref="NewBuffer"/> and <see cref="Slice"/>,
/// masks from <see cref="NewMask"/> and <see cref="MaskSlice"/>.
/// </summary>
public sealed class ParameterTable
{
    public sealed record Entry(string Name, int[] Shape, int Offset, int Length, Parameter Param);

    /// <summary>Entry offsets are multiples of this many floats (one 64-bit mask word).</summary>
    public const int Alignment = 64;

    private readonly Entry[] _entries;
    private readonly Dictionary<string, int> _index = new();

    public IReadOnlyList<Entry> Entries => _entries;
    /// <summary>Length of each flat buffer, padding included.</summary>
    public int TotalLength { get; }
    /// <summary>Sum of the parameters' element counts (no padding).</summary>
    public long ParameterCount { get; }
    public Tensor Data { get; }
    public Tensor Grad { get; }

    public ParameterTable(IEnumerable<(string Path, Parameter Param)> parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        var list = new List<Entry>();
        var seenParams = new HashSet<Parameter>(ReferenceEqualityComparer.Instance);
        long offset = 0, count = 0;
        foreach (var (name, p) in parameters)
        {
            if (string.IsNullOrEmpty(name)) throw new ArgumentException("A parameter has an empty name.", nameof(parameters));
            if (_index.ContainsKey(name)) throw new ArgumentException($"Parameter name '{name}' appears twice.", nameof(parameters));
            if (!seenParams.Add(p)) throw new ArgumentException($"Parameter '{name}' is the same object as an earlier one (shared parameters are not supported).", nameof(parameters));
            _index[name] = list.Count;
            list.Add(new Entry(name, (int[])p.Shape.Clone(), (int)offset, p.Length, p));
            count += p.Length;
            offset += (p.Length + Alignment - 1) / Alignment * Alignment;
            if (offset > int.MaxValue - Alignment) throw new ArgumentException("Parameters too large for one flat buffer.", nameof(parameters));
        }
        _entries = list.ToArray();
        TotalLength = (int)offset;
        ParameterCount = count;
        Data = new Tensor(TotalLength);
        Grad = new Tensor(TotalLength);
        foreach (var e in _entries)
        {
            e.Param.Data.Rebind(Data.View(e.Offset, e.Shape));
            e.Param.Grad.Rebind(Grad.View(e.Offset, e.Shape));
        }
    }

    /// <summary>Index of the entry with this name; throws naming the known entries if absent.</summary>
    public int IndexOf(string name) =>
        _index.TryGetValue(name, out int i) ? i
            : throw new KeyNotFoundException($"No parameter '{name}' in the table. Known: {string.Join(", ", _index.Keys)}.");

    /// <summary>A new zeroed buffer laid out like <see cref="Data"/> (optimiser state, masks).</summary>
    public Tensor NewBuffer() => new(TotalLength);

    /// <summary>Entry <paramref name="index"/>'s part of a flat buffer laid out by this table, as a
    /// view with the parameter's shape.</summary>
    public Tensor Slice(Tensor flat, int index)
    {
        if (flat.Length != TotalLength) throw new ArgumentException($"Flat buffer has {flat.Length} elements; the table lays out {TotalLength}.", nameof(flat));
        var e = _entries[index];
        return flat.View(e.Offset, e.Shape);
    }

    /// <summary>A new all-zero bit mask laid out like <see cref="Data"/> (bit i ↔ element i).</summary>
    public BitMask NewMask() => new(TotalLength);

    /// <summary>Entry <paramref name="index"/>'s part of a flat mask laid out by this table, as a
    /// view (its positions past the entry's length, the padding, stay 0).</summary>
    public BitMask MaskSlice(BitMask flat, int index)
    {
        if (flat.Length != TotalLength) throw new ArgumentException($"Flat mask has {flat.Length} positions; the table lays out {TotalLength}.", nameof(flat));
        var e = _entries[index];
        return flat.Slice(e.Offset, e.Length);
    }

    /// <summary>Zeroes every gradient in one pass.</summary>
    public void ZeroGrad() => Grad.Clear();
}
