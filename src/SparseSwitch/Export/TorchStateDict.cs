using System.Runtime.InteropServices;
using SparseSwitch.Nn;
using SparseSwitch.Serialization;
using SparseSwitch.Tensors;

namespace SparseSwitch.Export;

/// <summary>A PyTorch state dict does not fit the model it is read into; the message names the
/// file, the tensor and what was expected against what was found.</summary>
public sealed class TorchStateDictException(string message, Exception? inner = null) : FileFormatException(message, inner);

/// <summary>
/// One tensor of the PyTorch state dict of a model: its PyTorch name and shape, and the paths of
/// our state dict it stands for — one path for a shared tensor, one per batch-norm set for a
/// switchable batch-norm's (set k at index k), none for <c>num_batches_tracked</c>, which our
/// batch-norm does not keep.
/// </summary>
public sealed record TorchEntry(string Name, int[] Shape, IReadOnlyList<string> Sources)
{
    /// <summary>A batch-norm's <c>num_batches_tracked</c> (I64, shape []).</summary>
    public bool IsBatchCounter => Sources.Count == 0;
}

/// <summary>
/// The PyTorch round trip of a model's weights as a state dict in a safetensors file.
/// Our parameter and buffer paths are already PyTorch's state-dict names, but for the switchable
/// batch-norms, which hold one set per sub-net as children <c>0</c> … <c>K−1</c>
/// (<c>layer1.0.bn1.2.weight</c>): PyTorch's model of the same architecture has one
/// <c>nn.BatchNorm2d</c> there (<c>layer1.0.bn1.weight</c>). <see cref="Layout"/> maps the two;
/// <see cref="SubnetEntries"/> writes one sub-net (every masked weight times its mask, the
/// sub-net's batch-norm set as <c>weight</c>, <c>bias</c>, <c>running_mean</c>, <c>running_var</c>
/// and <c>num_batches_tracked</c>) in PyTorch's order, module by module, which
/// <c>model.load_state_dict(...)</c> accepts with <c>strict=True</c>; <see cref="Read"/> takes a
/// PyTorch state dict of the dense architecture (one batch-norm each) into our state dict, every
/// batch-norm set a copy of PyTorch's. <c>num_batches_tracked</c> is written as 0: our batch-norm
/// updates its running statistics with a fixed momentum (0.1, PyTorch's default), and PyTorch reads
/// the count only with <c>momentum=None</c>. It is optional when read.
/// </summary>
public static class TorchStateDict
{
    public const string BatchCounter = "num_batches_tracked";

    /// <summary>The PyTorch state dict of <paramref name="model"/>, entry by entry in PyTorch's
    /// order (module by module in registration order; a module's parameters, then its buffers).</summary>
    public static IReadOnlyList<TorchEntry> Layout(Module model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var state = model.StateDict();
        var byModule = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (var key in state.Keys)
        {
            string parent = Parent(key);
            if (!byModule.TryGetValue(parent, out var list)) byModule[parent] = list = new List<string>();
            list.Add(key);
        }
        var switchable = new HashSet<string>(StringComparer.Ordinal);
        var entries = new List<TorchEntry>();
        var covered = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (path, m) in model.NamedModules())
        {
            if (path.Length > 0 && switchable.Contains(Parent(path))) continue;   // a set of a switchable batch-norm
            string prefix = path.Length > 0 ? path + "." : "";
            if (m is SwitchableBatchNorm2d sbn)
            {
                switchable.Add(path);
                foreach (var name in new[] { "weight", "bias", "running_mean", "running_var" })
                {
                    var sources = Enumerable.Range(0, sbn.Sets).Select(k => $"{prefix}{k}.{name}").ToArray();
                    entries.Add(new TorchEntry(prefix + name, state[sources[0]].Shape, sources));
                    covered.UnionWith(sources);
                }
                entries.Add(new TorchEntry(prefix + BatchCounter, [], []));
                continue;
            }
            foreach (var key in byModule.GetValueOrDefault(path) ?? [])
            {
                entries.Add(new TorchEntry(key, state[key].Shape, [key]));
                covered.Add(key);
            }
            if (m is BatchNorm2d) entries.Add(new TorchEntry(prefix + BatchCounter, [], []));
        }
        if (covered.Count != state.Count)
            throw new NotSupportedException($"PyTorch state dict: {string.Join(", ", state.Keys.Where(k => !covered.Contains(k)))} belong to no module of {model.GetType().Name}.");
        return entries;
    }

    private static string Parent(string path)
    {
        int dot = path.LastIndexOf('.');
        return dot < 0 ? "" : path[..dot];
    }

    /// <summary>The PyTorch state dict of one sub-net of <paramref name="model"/>: each parameter
    /// named in <paramref name="masks"/> (paths of <see cref="Module.NamedParameters"/>) times its
    /// mask, every other one as it is, and batch-norm set <paramref name="batchNormSet"/> of every
    /// switchable batch-norm. The model's own masks and active sets are not read; the model is not changed.</summary>
    public static List<(string Name, SafeDType DType, long[] Shape, ReadOnlyMemory<byte> Bytes)> SubnetEntries(
        Module model, IReadOnlyDictionary<string, BitMask> masks, int batchNormSet)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(masks);
        var parameters = model.NamedParameters().ToDictionary(p => p.Path, p => p.Param.Length, StringComparer.Ordinal);
        foreach (var (path, mask) in masks)
        {
            if (!parameters.TryGetValue(path, out int length))
                throw new ArgumentException($"PyTorch export: the model has no parameter '{path}' to mask.", nameof(masks));
            ArgumentNullException.ThrowIfNull(mask, $"masks[{path}]");
            if (mask.Length != length)
                throw new ArgumentException($"PyTorch export: the mask of '{path}' has {mask.Length} positions, the parameter {length} elements.", nameof(masks));
        }
        int sets = Nn.Models.SubNets.CountSets(model);
        if (batchNormSet < 0 || batchNormSet >= sets)
            throw new ArgumentOutOfRangeException(nameof(batchNormSet), batchNormSet, $"PyTorch export: batch-norm set {batchNormSet} does not exist; the model has {sets}.");
        var state = model.StateDict();
        var result = new List<(string, SafeDType, long[], ReadOnlyMemory<byte>)>();
        foreach (var e in Layout(model))
        {
            long[] shape = e.Shape.Select(d => (long)d).ToArray();
            if (e.IsBatchCounter)
            {
                result.Add((e.Name, SafeDType.I64, shape, new byte[8]));
                continue;
            }
            string source = e.Sources.Count > 1 ? e.Sources[batchNormSet] : e.Sources[0];
            var values = state[source].Span.ToArray();
            if (masks.TryGetValue(source, out var m)) m.ApplyTo(values);
            result.Add((e.Name, SafeDType.F32, shape, MemoryMarshal.AsBytes(values.AsSpan()).ToArray()));
        }
        return result;
    }

    /// <summary>The safetensors bytes of one sub-net's PyTorch state dict (see <see cref="SubnetEntries"/>)
    /// with <paramref name="metadata"/> in its header.</summary>
    public static byte[] SerializeSubnet(Module model, IReadOnlyDictionary<string, BitMask> masks, int batchNormSet,
        IReadOnlyDictionary<string, string>? metadata = null) =>
        SafeTensors.Serialize(SubnetEntries(model, masks, batchNormSet), metadata);

    /// <summary>Reads a PyTorch state dict of <paramref name="model"/>'s architecture from a
    /// safetensors file into our state dict (every batch-norm set a copy of the file's batch-norm),
    /// ready for <see cref="Module.LoadStateDict"/>. The file is hostile: a malformed file, an
    /// unknown, missing or misshapen tensor, a dtype other than F32 (I64 for
    /// <c>num_batches_tracked</c>) or a non-finite value fails with
    /// <see cref="TorchStateDictException"/> naming the file and the tensor.</summary>
    public static Dictionary<string, Tensor> Read(string path, Module model, string? modelName = null) =>
        Read(Open(path), model, path, modelName);

    /// <summary>A safetensors file; a malformed one fails with <see cref="TorchStateDictException"/>.</summary>
    public static SafeTensors.File Open(string path)
    {
        if (!System.IO.File.Exists(path)) throw new FileNotFoundException($"{path}: no such file.", path);
        try { return SafeTensors.Load(path); }
        catch (SafeTensorsFormatException e) { throw new TorchStateDictException($"{e.Message} (a PyTorch state dict is read from a safetensors file)", e); }
    }

    /// <summary><see cref="Read(string, Module, string?)"/> of a parsed file; <paramref name="source"/>
    /// names it in errors, <paramref name="modelName"/> the model (its type name when null).</summary>
    public static Dictionary<string, Tensor> Read(SafeTensors.File file, Module model, string source, string? modelName = null)
    {
        ArgumentNullException.ThrowIfNull(file);
        ArgumentNullException.ThrowIfNull(model);
        var layout = Layout(model);
        var byName = layout.ToDictionary(e => e.Name, StringComparer.Ordinal);
        TorchStateDictException Fail(string msg) => new($"{source}: {msg}");
        string Shape(IEnumerable<long> s) => "[" + string.Join(", ", s) + "]";
        string what = (modelName ?? model.GetType().Name) + " model";

        var unknown = file.Names.Where(n => !byName.ContainsKey(n)).ToList();
        if (unknown.Count > 0)
        {
            string first = unknown[0];
            string hint = first.StartsWith("module.", StringComparison.Ordinal) && byName.ContainsKey(first["module.".Length..])
                ? " The names carry nn.DataParallel's 'module.' prefix: save model.module.state_dict() instead."
                : $" The model's tensors are {string.Join(", ", layout.Take(4).Select(e => e.Name))}, … ({layout.Count} in all).";
            throw Fail($"unexpected tensor{(unknown.Count > 1 ? "s" : "")} {string.Join(", ", unknown.Take(5).Select(n => $"'{n}'"))}" +
                $"{(unknown.Count > 5 ? $" and {unknown.Count - 5} more" : "")}: not in the state dict of this {what}.{hint}");
        }
        var missing = layout.Where(e => !e.IsBatchCounter && !file.Contains(e.Name)).ToList();
        if (missing.Count > 0)
            throw Fail($"missing tensor{(missing.Count > 1 ? "s" : "")} {string.Join(", ", missing.Take(5).Select(e => $"'{e.Name}' {Shape(e.Shape.Select(d => (long)d))}"))}" +
                $"{(missing.Count > 5 ? $" and {missing.Count - 5} more" : "")} of this {what}.");

        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var e in layout)
        {
            if (!file.Contains(e.Name)) continue;   // an absent num_batches_tracked
            var t = file[e.Name];
            if (e.IsBatchCounter)
            {
                if (t.DType is not (SafeDType.I64 or SafeDType.I32) || t.ElementCount != 1 || t.Shape.Length > 1)
                    throw Fail($"tensor '{e.Name}' is {t.DType} {Shape(t.Shape)}, expected I64 [] (a batch count).");
                if (t.ToInt64()[0] < 0) throw Fail($"tensor '{e.Name}' holds {t.ToInt64()[0]}; a batch count is ≥ 0.");
                continue;
            }
            if (t.DType != SafeDType.F32)
                throw Fail($"tensor '{e.Name}' is {t.DType}, expected F32 (save the model in float32, e.g. after model.float()).");
            if (!t.Shape.SequenceEqual(e.Shape.Select(d => (long)d)))
                throw Fail($"tensor '{e.Name}' has shape {Shape(t.Shape)}, this {what} expects {Shape(e.Shape.Select(d => (long)d))}.");
            var values = t.ToTensor();
            var span = values.Span;
            for (int i = 0; i < span.Length; i++)
                if (!float.IsFinite(span[i])) throw Fail($"tensor '{e.Name}' holds {span[i]} at element {i}; weights must be finite.");
            for (int k = 0; k < e.Sources.Count; k++) result[e.Sources[k]] = k == 0 ? values : values.Clone();
        }
        return result;
    }
}
