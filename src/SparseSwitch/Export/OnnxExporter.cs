using Google.Protobuf;
using Onnx;
using SparseSwitch.Nn;
using SparseSwitch.Nn.Models;
using SparseSwitch.Tensors;

namespace SparseSwitch.Export;

/// <summary>
/// Writes a model as an ONNX file (opset <see cref="OpsetVersion"/>, IR version
/// <see cref="IrVersion"/>): the function the model computes in eval mode, as it is now — each
/// Conv2d and Linear weight multiplied by its current mask, each switchable batch-norm's active
/// set, running statistics, dropout left out. One graph input <see cref="InputName"/> [N, C, H, W]
/// and one output <see cref="OutputName"/> [N, classes], N symbolic. Every model of
/// <see cref="ModelZoo"/> is supported, and compositions of the supported layers in a
/// <see cref="Sequential"/>; anything else fails with <see cref="NotSupportedException"/> naming
/// the module's type and path. The model itself is not changed (its train/eval mode neither).
/// </summary>
public static class OnnxExporter
{
    public const int OpsetVersion = 17;
    /// <summary>The IR version of onnx 1.12 (the release that introduced opset 17).</summary>
    public const long IrVersion = 8;
    public const string ProducerName = "sparseswitch";
    public const string InputName = "input";
    public const string OutputName = "logits";

    /// <summary>Writes <paramref name="model"/> for inputs of <paramref name="inChannels"/> ×
    /// <paramref name="imageSize"/> × <paramref name="imageSize"/> to <paramref name="output"/>.
    /// <paramref name="metadata"/> becomes the model's metadata_props.</summary>
    public static void Export(Module model, Stream output, int inChannels, int imageSize,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(output);
        var proto = ToModelProto(model, inChannels, imageSize, metadata);
        proto.WriteTo(output);
    }

    /// <summary>Exports sub-net <paramref name="masks"/> with batch-norm set
    /// <paramref name="batchNormSet"/>: for the export, every parameter named in
    /// <paramref name="masks"/> (paths of <see cref="Module.NamedParameters"/>) takes that mask and
    /// every other parameter none (dense), and every switchable batch-norm selects the set; the
    /// masks and active sets the model had are restored afterwards, also when the export fails.</summary>
    public static void ExportSubnet(Module model, IReadOnlyDictionary<string, BitMask> masks, int batchNormSet, Stream output,
        int inChannels, int imageSize, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(masks);
        ArgumentNullException.ThrowIfNull(output);
        var parameters = model.NamedParameters().ToList();
        var known = parameters.Select(p => p.Path).ToHashSet(StringComparer.Ordinal);
        foreach (var (path, mask) in masks)
        {
            if (!known.Contains(path)) throw new ArgumentException($"ONNX export: the model has no parameter '{path}' to mask.", nameof(masks));
            ArgumentNullException.ThrowIfNull(mask, $"masks[{path}]");
        }
        foreach (var (path, p) in parameters)
            if (masks.TryGetValue(path, out var mask) && mask.Length != p.Length)
                throw new ArgumentException($"ONNX export: the mask of '{path}' has {mask.Length} positions, the parameter {p.Length} elements.", nameof(masks));
        int sets = SubNets.CountSets(model);
        if (batchNormSet < 0 || batchNormSet >= sets)
            throw new ArgumentOutOfRangeException(nameof(batchNormSet), batchNormSet, $"Batch-norm set {batchNormSet} does not exist: the model has {sets}.");

        var savedMasks = parameters.Select(p => p.Param.Mask).ToArray();
        var switchable = SubNets.SwitchableLayers(model);
        var savedSets = switchable.Select(l => l.ActiveSet).ToArray();
        try
        {
            foreach (var (path, p) in parameters) p.Mask = masks.GetValueOrDefault(path);
            SubNets.SetActive(model, batchNormSet);
            Export(model, output, inChannels, imageSize, metadata);
        }
        finally
        {
            for (int i = 0; i < parameters.Count; i++) parameters[i].Param.Mask = savedMasks[i];
            for (int i = 0; i < switchable.Count; i++) switchable[i].ActiveSet = savedSets[i];
        }
    }

    /// <summary>The ONNX model of <paramref name="model"/> (what <see cref="Export"/> writes).</summary>
    internal static ModelProto ToModelProto(Module model, int inChannels, int imageSize, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (inChannels < 1) throw new ArgumentOutOfRangeException(nameof(inChannels), inChannels, "inChannels must be ≥ 1.");
        if (imageSize < 1) throw new ArgumentOutOfRangeException(nameof(imageSize), imageSize, "imageSize must be ≥ 1.");
        var graph = new OnnxGraphBuilder(model.GetType().Name);
        var x = graph.Input(InputName, [-1, inChannels, imageSize, imageSize]);
        var y = new OnnxModuleEmitter(graph, model).Emit(model, x, "");
        if (y.Rank != 2)
            throw new NotSupportedException($"ONNX export: {model.GetType().Name} gives an output of rank {y.Rank}; a classifier's [N, classes] is expected.");
        graph.Output(y, OutputName);

        var proto = new ModelProto
        {
            IrVersion = IrVersion,
            ProducerName = ProducerName,
            ProducerVersion = typeof(OnnxExporter).Assembly.GetName().Version?.ToString(3) ?? "",
            Graph = graph.Graph,
        };
        proto.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = OpsetVersion });
        if (metadata is not null)
            foreach (var (k, v) in metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal))
                proto.MetadataProps.Add(new StringStringEntryProto { Key = k, Value = v });
        return proto;
    }
}
