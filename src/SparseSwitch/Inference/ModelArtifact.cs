using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using SparseSwitch.Data;
using SparseSwitch.Nn;
using SparseSwitch.Nn.Models;
using SparseSwitch.Serialization;
using SparseSwitch.Tensors;

namespace SparseSwitch.Inference;

/// <summary>A model artifact is malformed or inconsistent; the message names the file, the tensor or
/// metadata field, and what was expected against what was found.</summary>
public sealed class ModelFormatException : FileFormatException
{
    public ModelFormatException(string message, Exception? inner = null) : base(message, inner) { }
}

/// <summary>How a sub-net's masks were made: an unstructured density or an N:M pattern.</summary>
public enum SubnetKind { Density, Nm }

/// <summary>One sub-net of an artifact: its spec as written in recipes (<c>0.1</c>, <c>2:4</c>), its
/// kind, the density its masks give the masked (prunable) weights, and the test accuracy and loss
/// of the run's last evaluated epoch.</summary>
public sealed record SubnetInfo(string Spec, SubnetKind Kind, double Density, double TestAccuracy, double TestLoss);

/// <summary>One measured latency: sub-net, batch size, threads, the median milliseconds of a forward
/// pass, and a description of the machine it was measured on.</summary>
public sealed record LatencyEntry(int Subnet, int BatchSize, int Threads, double MedianMs, string Machine);

/// <summary>
/// The metadata of a model artifact, stored as JSON (snake_case keys) in the <c>model</c> metadata
/// entry:
/// <code>
/// { "architecture": "resnet20-a", "in_channels": 3, "image_size": 32, "num_classes": 10,
///   "class_names": ["airplane", …], "mean": [0.4914, 0.4822, 0.4465], "std": [0.247, 0.2435, 0.2616],
///   "masked_parameters": ["layer1.0.conv1.weight", …],
///   "subnets": [{ "spec": "0.1", "kind": "density", "density": 0.1, "test_accuracy": 0.91, "test_loss": 0.3 }, …],
///   "data": "cifar10", "recipe": "{ …the run's recipe.json… }", "created": "2025-01-01T12:00:00+00:00",
///   "latency": [{ "subnet": 0, "batch_size": 1, "threads": 1, "median_ms": 1.5, "machine": "…" }] }
/// </code>
/// Input: an image is C×H×W bytes p in 0..255 (channel planes, as the data sets store them); the
/// model takes x = (p/255 − mean[c]) / std[c] — the data pipeline's normalisation. Pixels already
/// on the [0, 1] scale (v = p/255) take x = (v − mean[c]) / std[c]. <see cref="ModelArtifact.Preprocess"/>
/// does it for bytes exactly as training did. <c>masked_parameters</c> are the parameters each
/// sub-net masks (empty for a dense model).
/// </summary>
public sealed record ModelInfo
{
    public required string Architecture { get; init; }
    public required int InChannels { get; init; }
    public required int ImageSize { get; init; }
    public required int NumClasses { get; init; }
    public required IReadOnlyList<string> ClassNames { get; init; }
    /// <summary>Per-channel mean of the input normalisation, on the [0, 1] pixel scale.</summary>
    public required IReadOnlyList<float> Mean { get; init; }
    /// <summary>Per-channel standard deviation of the input normalisation, on the [0, 1] pixel scale.</summary>
    public required IReadOnlyList<float> Std { get; init; }
    public required IReadOnlyList<string> MaskedParameters { get; init; }
    public required IReadOnlyList<SubnetInfo> Subnets { get; init; }
    /// <summary>The data set the model was trained on.</summary>
    public string Data { get; init; } = "";
    /// <summary>The source run's recipe (its recipe.json text).</summary>
    public string Recipe { get; init; } = "";
    public DateTimeOffset Created { get; init; }
    /// <summary>Measured forward latencies (empty until a profiler fills it in).</summary>
    public IReadOnlyList<LatencyEntry> Latency { get; init; } = [];

    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        RespectNullableAnnotations = true,
        RespectRequiredConstructorParameters = true,
        MaxDepth = 8,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower, allowIntegerValues: false) },
    };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>Parses the JSON; throws <see cref="JsonException"/> when it is malformed, lacks a
    /// required key or holds a value of the wrong type.</summary>
    public static ModelInfo FromJson(string json) =>
        JsonSerializer.Deserialize<ModelInfo>(json, Json) ?? throw new JsonException("the model metadata is null.");
}

/// <summary>
/// The deployable model: one safetensors file (format <see cref="Format"/>) holding the full state
/// dict of the shared weights and every batch-norm set as <c>model.{path}</c> (F32, PyTorch
/// state-dict names), the K sub-nets' masks as <c>mask.{k}.{path}</c> (U8, bit-packed as
/// <see cref="BitMask.ToBytes"/> writes them) for every masked parameter, and <see cref="ModelInfo"/>
/// as JSON in the metadata entry <c>model</c>. <see cref="Read"/> treats the file as hostile: any
/// problem (format, metadata, architecture, a missing, misshapen or non-finite weight, a missing or
/// misshapen mask, a mask for a sub-net that does not exist, batch-norm sets that do not match
/// the sub-nets) fails with <see cref="ModelFormatException"/> naming the file and the problem.
/// <see cref="CreateModule"/> builds the model with the weights loaded, <see cref="ApplySubnet"/>
/// switches it to sub-net k (masks and batch-norm set), as the trainer's evaluation does.
/// </summary>
public sealed class ModelArtifact
{
    public const string Format = "sparseswitch-model-1";
    public const string FormatKey = "format";
    public const string ModelKey = "model";

    /// <summary>Limits of format 1, so that a hostile header cannot make the reader build a huge
    /// model before the weights are compared.</summary>
    public const int MaxInChannels = 16, MaxImageSize = 1024, MaxInputElements = 1 << 18, MaxClasses = 100_000, MaxSubnets = 64;

    private readonly Dictionary<string, Tensor> _state;          // in state-dict order
    private readonly Dictionary<string, BitMask>[] _masks;       // [sub-net]: masked parameter → mask

    public ModelInfo Info { get; }
    public string Architecture => Info.Architecture;
    public int InChannels => Info.InChannels;
    public int ImageSize => Info.ImageSize;
    public int NumClasses => Info.NumClasses;
    public IReadOnlyList<string> ClassNames => Info.ClassNames;
    public IReadOnlyList<SubnetInfo> Subnets => Info.Subnets;
    public int SubnetCount => Info.Subnets.Count;
    public IReadOnlyList<string> MaskedParameters => Info.MaskedParameters;
    public IReadOnlyList<LatencyEntry> Latency => Info.Latency;
    public string Recipe => Info.Recipe;
    public DateTimeOffset Created => Info.Created;
    /// <summary>The input normalisation (mean and std on the [0, 1] scale).</summary>
    public Normalization Normalization => new(Info.Mean.ToArray(), Info.Std.ToArray());
    /// <summary>The state dict (parameters and buffers by PyTorch path); not to be modified.</summary>
    public IReadOnlyDictionary<string, Tensor> State => _state;
    /// <summary>Number of weights of the model (parameters and buffers).</summary>
    public long WeightCount => _state.Values.Sum(t => (long)t.Length);

    /// <summary>An artifact from its parts, checked as <see cref="Read"/> checks a file (errors are
    /// <see cref="ArgumentException"/>s). The tensors and masks are copied.</summary>
    public ModelArtifact(ModelInfo info, IReadOnlyDictionary<string, Tensor> state, IReadOnlyList<IReadOnlyDictionary<string, BitMask>> masks)
        : this(info, state.ToDictionary(kv => kv.Key, kv => kv.Value.Clone()),
            masks.Select(m => m.ToDictionary(kv => kv.Key, kv => kv.Value.Clone())).ToArray(), msg => new ArgumentException(msg))
    {
    }

    private ModelArtifact(ModelInfo info, Dictionary<string, Tensor> state, Dictionary<string, BitMask>[] masks, Func<string, Exception> fail)
    {
        var skeleton = CheckInfo(info, fail);
        Info = info;
        _state = CheckState(info, skeleton, state, fail);
        _masks = masks;
        CheckMasks(info, skeleton, masks, fail);
    }

    private ModelArtifact(ModelArtifact source, ModelInfo info)
    {
        Info = info;
        _state = source._state;
        _masks = source._masks;
    }

    /// <summary>Sub-net k's masks by parameter path (the stored masks: not to be modified).</summary>
    public IReadOnlyDictionary<string, BitMask> Masks(int k)
    {
        CheckSubnet(k);
        return _masks[k];
    }

    /// <summary>A copy with <paramref name="latency"/> as its latency table (the weights are shared);
    /// <c>WithLatency(table).Write(path)</c> writes it back.</summary>
    public ModelArtifact WithLatency(IEnumerable<LatencyEntry> latency)
    {
        var info = Info with { Latency = latency.ToList() };
        CheckLatency(info, msg => new ArgumentException(msg));
        return new ModelArtifact(this, info);
    }

    // ---- the model ----

    /// <summary>The model with every weight loaded, in eval mode, sub-net 0 applied; with
    /// <paramref name="options"/> when given (results are bit for bit those of the same options).</summary>
    public Module CreateModule(EngineOptions? options = null)
    {
        var module = Build(Info);
        if (options is not null) module.UseOptions(options);
        module.LoadStateDict(_state);
        var masked = Info.MaskedParameters.ToHashSet(StringComparer.Ordinal);
        foreach (var (path, p) in module.NamedParameters()) p.Prunable = masked.Contains(path);
        module.Eval();
        ApplySubnet(module, 0);
        return module;
    }

    /// <summary>Switches a module made by <see cref="CreateModule"/> to sub-net k: each masked
    /// parameter's <see cref="Parameter.Mask"/> becomes sub-net k's mask (the others none) and the
    /// switchable batch-norms use set k — what the trainer does before evaluating sub-net k. The
    /// train/eval mode is left as it is.</summary>
    public void ApplySubnet(Module module, int k)
    {
        ArgumentNullException.ThrowIfNull(module);
        CheckSubnet(k);
        var masks = _masks[k];
        int applied = 0;
        foreach (var (path, p) in module.NamedParameters())
        {
            if (!masks.TryGetValue(path, out var mask)) { p.Mask = null; continue; }
            if (mask.Length != p.Length)
                throw new ArgumentException($"Parameter '{path}' has {p.Length} weights, sub-net {k}'s mask {mask.Length}: the module is not this artifact's {Architecture}.");
            p.Mask = mask;
            applied++;
        }
        if (applied != masks.Count)
            throw new ArgumentException($"The module lacks {masks.Count - applied} of the artifact's masked parameters: it is not this artifact's {Architecture}.");
        SubNets.SetActive(module, k);
    }

    /// <summary>Normalised input for <paramref name="count"/> images given as bytes 0..255, C×H×W
    /// each (channel planes, one image after another): the [count, C, H, W] tensor the data
    /// pipeline would make, value for value.</summary>
    public Tensor Preprocess(ReadOnlySpan<byte> pixels, int count)
    {
        int c = InChannels, s = ImageSize, image = c * s * s;
        if (count < 0 || (long)count * image != pixels.Length)
            throw new ArgumentException($"{count} images of {c}×{s}×{s} bytes need {(long)count * image} bytes, got {pixels.Length}.", nameof(pixels));
        var lut = Normalization.BuildLookup();
        var x = new Tensor(count, c, s, s);
        for (int i = 0; i < count; i++)
            ImageWriter.Write(pixels.Slice(i * image, image), c, s, s, lut, 0, 0, false, x.Span.Slice(i * image, image));
        return x;
    }

    // ---- the file ----

    /// <summary>Writes the artifact (to a temporary file renamed into place: never half written).</summary>
    public void Write(string path)
    {
        var entries = new List<(string Name, SafeDType DType, long[] Shape, ReadOnlyMemory<byte> Bytes)>();
        foreach (var (name, t) in _state)
            entries.Add(("model." + name, SafeDType.F32, t.Shape.Select(d => (long)d).ToArray(),
                MemoryMarshal.AsBytes(t.Span).ToArray()));
        for (int k = 0; k < _masks.Length; k++)
            foreach (var name in Info.MaskedParameters)
            {
                var bytes = _masks[k][name].ToBytes();
                entries.Add(($"mask.{k}.{name}", SafeDType.U8, [bytes.Length], bytes));
            }
        SafeTensors.SaveRaw(path, entries, new Dictionary<string, string> { [FormatKey] = Format, [ModelKey] = Info.ToJson() });
    }

    /// <summary>Reads and checks an artifact; a malformed or inconsistent file fails with
    /// <see cref="ModelFormatException"/> naming the file and the problem.</summary>
    public static ModelArtifact Read(string path)
    {
        if (!System.IO.File.Exists(path)) throw new FileNotFoundException($"{path}: no such model file.", path);
        return Parse(System.IO.File.ReadAllBytes(path), path);
    }

    /// <summary>The description of a model file read from its header alone (the weights are not
    /// read or checked: <see cref="Read"/> does that); null when the file is a safetensors file of
    /// another format (a training checkpoint, a state dict). A malformed header or description
    /// fails with <see cref="ModelFormatException"/>.</summary>
    public static ModelInfo? ReadInfo(string path)
    {
        if (!System.IO.File.Exists(path)) throw new FileNotFoundException($"{path}: no such model file.", path);
        IReadOnlyDictionary<string, string> meta;
        try { meta = SafeTensors.ReadMetadata(path); }
        catch (SafeTensorsFormatException e) { throw new ModelFormatException(e.Message, e); }
        if (!meta.TryGetValue(FormatKey, out var format) || format != Format) return null;
        if (!meta.TryGetValue(ModelKey, out var json)) throw new ModelFormatException($"{path}: no '{ModelKey}' metadata (the model's description).");
        try { return ModelInfo.FromJson(json); }
        catch (JsonException e) { throw new ModelFormatException($"{path}: the '{ModelKey}' metadata is not valid: {e.Message}", e); }
    }

    /// <summary>Reads an artifact held in memory, as <see cref="Read"/> does a file;
    /// <paramref name="source"/> names it in errors.</summary>
    public static ModelArtifact Parse(byte[] data, string source = "<memory>")
    {
        string path = source;
        Exception Fail(string msg) => new ModelFormatException($"{path}: {msg}");
        SafeTensors.File file;
        try { file = SafeTensors.Parse(data, source); }
        catch (SafeTensorsFormatException e) { throw new ModelFormatException(e.Message, e); }

        string? format = file.Meta(FormatKey);
        if (format != Format)
            throw Fail(format switch
            {
                null => $"no '{FormatKey}' metadata: not a SparseSwitch model (expected format '{Format}').",
                "sparseswitch-trainer-1" => $"this is a training checkpoint, not a model; make one with 'sparseswitch pack RUN'.",
                _ => $"format '{format}', expected '{Format}'.",
            });
        if (file.Meta(ModelKey) is not { } json) throw Fail($"no '{ModelKey}' metadata (the model's description).");
        ModelInfo info;
        try { info = ModelInfo.FromJson(json); }
        catch (JsonException e) { throw new ModelFormatException($"{path}: the '{ModelKey}' metadata is not valid: {e.Message}", e); }

        var skeleton = CheckInfo(info, Fail);
        var parameters = skeleton.NamedParameters().ToDictionary(p => p.Path, p => p.Param.Length, StringComparer.Ordinal);
        var masked = info.MaskedParameters.ToHashSet(StringComparer.Ordinal);
        var state = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        var masks = Enumerable.Range(0, info.Subnets.Count).Select(_ => new Dictionary<string, BitMask>(StringComparer.Ordinal)).ToArray();
        foreach (var name in file.Names)
        {
            var t = file[name];
            if (name.StartsWith("model.", StringComparison.Ordinal))
            {
                if (t.DType != SafeDType.F32) throw Fail($"weight '{name}' is {t.DType}, expected F32.");
                state[name["model.".Length..]] = t.ToTensor();
            }
            else if (name.StartsWith("mask.", StringComparison.Ordinal))
            {
                var (k, param) = ParseMaskName(name, Fail);
                if (k >= info.Subnets.Count)
                    throw Fail($"mask '{name}' is for sub-net {k}, but the metadata lists {info.Subnets.Count} sub-net(s).");
                if (!masked.Contains(param))
                    throw Fail($"mask '{name}' is for '{param}', which is not one of the masked parameters.");
                int length = parameters[param], need = (length + 7) >> 3;
                if (t.DType != SafeDType.U8 || t.Shape.Length != 1 || t.Shape[0] != need)
                    throw Fail($"mask '{name}' is {t.DType} [{string.Join(", ", t.Shape)}], expected U8 [{need}] ({length} weights, bit-packed).");
                try { masks[k][param] = BitMask.FromBytes(t.Bytes.Span, length); }
                catch (ArgumentException e) { throw Fail($"mask '{name}': {e.Message}"); }
            }
            else throw Fail($"unexpected tensor '{name}' (a model file holds model.* weights and mask.* masks).");
        }
        return new ModelArtifact(info, state, masks, Fail);
    }

    private static (int K, string Param) ParseMaskName(string name, Func<string, Exception> fail)
    {
        int dot = name.IndexOf('.', "mask.".Length);
        if (dot < 0 || !int.TryParse(name.AsSpan("mask.".Length, dot - "mask.".Length), NumberStyles.None, CultureInfo.InvariantCulture, out int k))
            throw fail($"mask '{name}' is not named mask.{{sub-net}}.{{parameter}}.");
        return (k, name[(dot + 1)..]);
    }

    // ---- checks ----

    private void CheckSubnet(int k)
    {
        if ((uint)k >= (uint)SubnetCount)
            throw new ArgumentOutOfRangeException(nameof(k), k, $"Sub-net {k} does not exist: the model has {SubnetCount} (0 … {SubnetCount - 1}).");
    }

    private static Module Build(ModelInfo info) =>
        ModelZoo.Create(info.Architecture, info.InChannels, info.ImageSize, info.NumClasses, info.Subnets.Count, new Rng(0));

    /// <summary>Checks the metadata and builds the model it describes (weights not loaded).</summary>
    private static Module CheckInfo(ModelInfo info, Func<string, Exception> fail)
    {
        // JSON null inside a list is not caught by the deserialiser's nullability checks.
        if (info.ClassNames.Any(n => n is null) || info.MaskedParameters.Any(n => n is null) || info.Subnets.Any(s => s is null)
            || info.Latency.Any(e => e is null || e.Machine is null) || info.Subnets.Any(s => s.Spec is null))
            throw fail("the model metadata holds null where a name, sub-net or latency entry belongs.");
        if (!ModelZoo.Names.Contains(info.Architecture))
            throw fail($"unknown architecture '{info.Architecture}'; known: {string.Join(", ", ModelZoo.Names)}.");
        if (info.InChannels is < 1 or > MaxInChannels || info.ImageSize is < 1 or > MaxImageSize
            || (long)info.InChannels * info.ImageSize * info.ImageSize > MaxInputElements)
            throw fail($"input {info.InChannels}×{info.ImageSize}×{info.ImageSize} is outside the limits of format 1 " +
                $"(1 … {MaxInChannels} channels, 1 … {MaxImageSize} pixels a side, at most {MaxInputElements} values).");
        if (info.NumClasses is < 1 or > MaxClasses) throw fail($"num_classes {info.NumClasses} is outside 1 … {MaxClasses}.");
        if (info.ClassNames.Count != info.NumClasses) throw fail($"{info.ClassNames.Count} class names for {info.NumClasses} classes.");
        if (info.Mean.Count != info.InChannels || info.Std.Count != info.InChannels)
            throw fail($"input normalisation has {info.Mean.Count} means and {info.Std.Count} stds, the input {info.InChannels} channel(s).");
        try { _ = new Normalization(info.Mean.ToArray(), info.Std.ToArray()); }
        catch (ArgumentException e) { throw fail($"input normalisation: {e.Message}"); }
        if (info.Subnets.Count is < 1 or > MaxSubnets) throw fail($"{info.Subnets.Count} sub-nets; a model has 1 … {MaxSubnets}.");
        for (int k = 0; k < info.Subnets.Count; k++)
        {
            var s = info.Subnets[k];
            if (!SpecMatchesKind(s.Spec, s.Kind)) throw fail($"sub-net {k}: spec '{s.Spec}' is not a {(s.Kind == SubnetKind.Nm ? "N:M pattern like 2:4" : "density in (0, 1]")}.");
            if (!(s.Density >= 0 && s.Density <= 1)) throw fail($"sub-net {k}: density {s.Density} is outside [0, 1].");
            if (!(s.TestAccuracy >= 0 && s.TestAccuracy <= 1)) throw fail($"sub-net {k}: test_accuracy {s.TestAccuracy} is outside [0, 1].");
            if (s.TestLoss < 0) throw fail($"sub-net {k}: test_loss {s.TestLoss} is negative.");
        }
        CheckLatency(info, fail);
        Module model;
        try { model = Build(info); }
        catch (ArgumentException e)
        {
            throw fail($"the {info.Architecture} model cannot be built for {info.InChannels}×{info.ImageSize}×{info.ImageSize} inputs and {info.NumClasses} classes: {e.Message}");
        }
        var parameters = model.NamedParameters().Select(p => p.Path).ToHashSet(StringComparer.Ordinal);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var p in info.MaskedParameters)
        {
            if (!seen.Add(p)) throw fail($"masked parameter '{p}' is listed twice.");
            if (!parameters.Contains(p)) throw fail($"masked parameter '{p}' is not a parameter of the {info.Architecture} model.");
        }
        return model;
    }

    private static bool SpecMatchesKind(string spec, SubnetKind kind)
    {
        if (kind == SubnetKind.Density)
            return double.TryParse(spec, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) && d > 0 && d <= 1;
        var parts = spec.Split(':');
        return parts.Length == 2 && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int n)
            && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int m) && n >= 1 && n < m;
    }

    private static void CheckLatency(ModelInfo info, Func<string, Exception> fail)
    {
        foreach (var e in info.Latency)
            if ((uint)e.Subnet >= (uint)info.Subnets.Count || e.BatchSize < 1 || e.Threads < 1 || !(e.MedianMs >= 0) || double.IsInfinity(e.MedianMs))
                throw fail($"latency entry (sub-net {e.Subnet}, batch {e.BatchSize}, threads {e.Threads}, {e.MedianMs} ms) is invalid: " +
                    $"needs a sub-net in 0 … {info.Subnets.Count - 1}, batch and threads ≥ 1 and a finite time ≥ 0.");
    }

    /// <summary>Checks the weights against the model: every parameter and buffer present with its
    /// shape, nothing else, every value finite, one batch-norm set per sub-net.</summary>
    private static Dictionary<string, Tensor> CheckState(ModelInfo info, Module skeleton, Dictionary<string, Tensor> state, Func<string, Exception> fail)
    {
        CheckBatchNormSets(info, skeleton, state, fail);
        var expected = skeleton.StateDict();
        foreach (var (name, t) in expected)
        {
            if (!state.TryGetValue(name, out var found))
                throw fail($"missing weight 'model.{name}' (shape [{string.Join(", ", t.Shape)}]).");
            if (!found.SameShape(t.Shape))
                throw fail($"weight 'model.{name}' has shape [{string.Join(", ", found.Shape)}], the {info.Architecture} model expects [{string.Join(", ", t.Shape)}].");
            var span = found.Span;
            for (int i = 0; i < span.Length; i++)
                if (!float.IsFinite(span[i])) throw fail($"weight 'model.{name}' holds {span[i]} at element {i}; weights must be finite.");
        }
        foreach (var name in state.Keys)
            if (!expected.ContainsKey(name))
                throw fail($"unexpected weight 'model.{name}': the {info.Architecture} model has no such parameter or buffer.");
        return expected.Keys.ToDictionary(n => n, n => state[n], StringComparer.Ordinal);
    }

    /// <summary>Each switchable batch-norm must hold exactly one set of weights per sub-net, and a
    /// shared batch-norm none.</summary>
    private static void CheckBatchNormSets(ModelInfo info, Module skeleton, Dictionary<string, Tensor> state, Func<string, Exception> fail)
    {
        int SetsInFile(string path)
        {
            int j = 0;
            while (state.ContainsKey($"{path}.{j}.running_mean")) j++;
            return j;
        }
        var switchable = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (path, m) in skeleton.NamedModules())
        {
            if (m is SwitchableBatchNorm2d sbn)
            {
                switchable.Add(path);
                int sets = SetsInFile(path);
                if (sets != sbn.Sets)
                    throw fail($"batch-norm '{path}' holds {sets} set(s) of weights, but the metadata lists {info.Subnets.Count} sub-nets (one set each).");
            }
            else if (m is BatchNorm2d && !switchable.Contains(path.Contains('.') ? path[..path.LastIndexOf('.')] : ""))
            {
                int sets = SetsInFile(path);
                if (sets > 0)
                    throw fail($"batch-norm '{path}' holds {sets} set(s) of weights, but in a model of {info.Subnets.Count} sub-net(s) it has one shared set.");
            }
        }
    }

    /// <summary>Every masked parameter is a parameter of the model and has one mask of its size per
    /// sub-net, and nothing else is masked; each sub-net's density is what its masks give.</summary>
    private static void CheckMasks(ModelInfo info, Module skeleton, Dictionary<string, BitMask>[] masks, Func<string, Exception> fail)
    {
        var parameters = skeleton.NamedParameters().ToDictionary(p => p.Path, p => p.Param.Length, StringComparer.Ordinal);
        if (masks.Length != info.Subnets.Count) throw fail($"masks for {masks.Length} sub-net(s), the metadata lists {info.Subnets.Count}.");
        for (int k = 0; k < masks.Length; k++)
        {
            long kept = 0, total = 0;
            foreach (var p in info.MaskedParameters)
            {
                if (!masks[k].TryGetValue(p, out var mask)) throw fail($"missing mask 'mask.{k}.{p}' (sub-net {k}).");
                if (mask.Length != parameters[p]) throw fail($"mask 'mask.{k}.{p}' covers {mask.Length} weights, the parameter has {parameters[p]}.");
                kept += mask.Count();
                total += mask.Length;
            }
            foreach (var p in masks[k].Keys)
                if (!info.MaskedParameters.Contains(p)) throw fail($"mask 'mask.{k}.{p}' is for '{p}', which is not one of the masked parameters.");
            double density = total == 0 ? 1 : (double)kept / total;
            if (Math.Abs(density - info.Subnets[k].Density) > 1e-9)
                throw fail($"sub-net {k}: the metadata gives density {info.Subnets[k].Density.ToString(CultureInfo.InvariantCulture)}, its masks {density.ToString(CultureInfo.InvariantCulture)}.");
        }
    }

    // ---- summary ----

    /// <summary>A few lines for people: architecture, input, classes, sub-nets with density and
    /// accuracy, latencies.</summary>
    public string Describe()
    {
        var c = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.AppendLine(string.Create(c, $"{Architecture}: input {InChannels}×{ImageSize}×{ImageSize}, {NumClasses} classes ({string.Join(", ", ClassNames.Take(10))}{(NumClasses > 10 ? ", …" : "")}), {WeightCount:N0} weights"));
        sb.AppendLine(string.Create(c, $"trained on {(Info.Data.Length > 0 ? Info.Data : "?")}, packed {Created.UtcDateTime:yyyy-MM-dd HH:mm:ss} UTC; {MaskedParameters.Count} masked parameters"));
        for (int k = 0; k < SubnetCount; k++)
        {
            var s = Subnets[k];
            sb.AppendLine(string.Create(c, $"  sub-net {k} [{s.Spec}] ({s.Kind.ToString().ToLowerInvariant()}): density {s.Density:F4}, test accuracy {100 * s.TestAccuracy:F2}%, test loss {s.TestLoss:F4}"));
        }
        foreach (var e in Latency)
            sb.AppendLine(string.Create(c, $"  latency: sub-net {e.Subnet}, batch {e.BatchSize}, {e.Threads} thread(s): {e.MedianMs:F3} ms median ({e.Machine})"));
        return sb.ToString();
    }
}
