using System.CommandLine;
using System.Globalization;
using SparseSwitch.Data;
using SparseSwitch.Export;
using SparseSwitch.Inference;
using SparseSwitch.Nn;
using SparseSwitch.Tensors;
using SparseSwitch.Training;

namespace SparseSwitch.Cli.Commands;

/// <summary><c>export</c>: one sub-net of a trained model as an ONNX file (its masks applied to
/// the weights, its own batch-norm set, eval mode) or as a PyTorch state dict (safetensors) of the
/// same architecture.</summary>
public static class ExportCommand
{
    public static Command Build()
    {
        var source = new Argument<string>("source") { Description = "Run folder of a training run (holds recipe.json and checkpoint.safetensors), or a model file written by 'sparseswitch pack'." };
        var subnet = new Option<string>("--subnet")
        {
            Description = "Sub-net to export: its index (0-based) or its spec as the run lists it (0.05, 2:4).",
            DefaultValueFactory = _ => "0",
        };
        var format = new Option<string>("--format")
        {
            Description = "Output format: onnx (opset 17) or torch (a PyTorch state dict in a safetensors file, for load_state_dict into the same architecture).",
            DefaultValueFactory = _ => "onnx",
        };
        var output = new Option<string>("--out") { Description = "File to write.", Required = true };
        var c = new Command("export",
            "Export one sub-net of a trained model: an ONNX graph of its eval-mode forward (weights times the sub-net's masks, its batch-norm set, " +
            "running statistics) with input 'input' [N, C, H, W] (normalised images, as in training) and output 'logits' [N, classes]; " +
            "or (--format torch) its PyTorch state dict: weights times the masks, the sub-net's batch-norm set as each nn.BatchNorm2d's weight, bias, " +
            "running_mean, running_var and num_batches_tracked, under the state-dict names of the same architecture in PyTorch.\n" +
            "Example: sparseswitch export runs/ast --subnet 0.05 --format onnx --out resnet20-5pct.onnx\n" +
            "Example: sparseswitch export model.safetensors --subnet 2 --out subnet2.onnx\n" +
            "Example: sparseswitch export runs/ast --subnet 1 --format torch --out subnet1.safetensors\n" +
            "  then in PyTorch: model.load_state_dict(safetensors.torch.load_file('subnet1.safetensors'))");
        c.Arguments.Add(source);
        foreach (var o in new Option[] { subnet, format, output }) c.Options.Add(o);
        c.SetAction(p =>
        {
            string kind = p.GetValue(format)!.Trim().ToLowerInvariant();
            if (kind is not ("onnx" or "torch"))
                throw new UsageException($"--format: '{p.GetValue(format)}' is not one of onnx, torch.");
            string from = p.GetValue(source)!;
            var sub = File.Exists(from) ? LoadModelFile(from, p.GetValue(subnet)!) : FromRun(LoadSource(from, p.GetValue(subnet)!));
            string path = p.GetValue(output)!;
            if (kind == "torch")
                WriteAtomically(path, stream => stream.Write(TorchStateDict.SerializeSubnet(sub.Model, sub.Masks, sub.BatchNormSet, sub.Metadata)));
            else
                WriteAtomically(path, stream => OnnxExporter.ExportSubnet(sub.Model, sub.Masks, sub.BatchNormSet, stream, sub.Channels, sub.ImageSize, sub.Metadata));
            long kept = sub.Masks.Values.Sum(m => m.Count()), total = sub.Masks.Values.Sum(m => (long)m.Length);
            string weights = total > 0
                ? string.Create(CultureInfo.InvariantCulture, $"{kept:N0} of {total:N0} prunable weights kept ({(double)kept / total:F4})")
                : "dense";
            string what = kind == "torch" ? "PyTorch state dict of " : "";
            Console.WriteLine($"wrote {path}: {what}{sub.Architecture} sub-net {sub.Index} [{sub.Spec}], batch-norm set {sub.BatchNormSet}, {weights}");
            return 0;
        });
        return c;
    }

    /// <summary>What an export writes: a model with its weights, the sub-net's masks and batch-norm set.</summary>
    internal sealed record ExportSource(string Architecture, Module Model, int Index, string Spec, int BatchNormSet,
        IReadOnlyDictionary<string, BitMask> Masks, int Channels, int ImageSize, Dictionary<string, string> Metadata);

    private static ExportSource FromRun(TrainedSubnet sub) =>
        new(sub.Recipe.Model, sub.Model, sub.Index, sub.Spec.ToExactString(), sub.BatchNormSet, sub.Masks, sub.Channels, sub.ImageSize, Metadata(sub));

    /// <summary>Sub-net <paramref name="subnet"/> (index or spec) of a model file.</summary>
    internal static ExportSource LoadModelFile(string path, string subnet)
    {
        var a = ModelArtifact.Read(path);
        int k = SubnetIndex(SubnetList.Parse(string.Join(",", a.Subnets.Select(s => s.Spec))), subnet, "the model file");
        var metadata = new Dictionary<string, string>
        {
            ["model"] = a.Architecture,
            ["data"] = a.Info.Data,
            ["subnet"] = k.ToString(CultureInfo.InvariantCulture),
            ["subnet_spec"] = a.Subnets[k].Spec,
        };
        AddNormalization(metadata, a.Info.Mean, a.Info.Std);
        var module = a.CreateModule();
        int set = SparseSwitch.Nn.Models.SubNets.CountSets(module) > 1 ? k : 0;
        metadata["batch_norm_set"] = set.ToString(CultureInfo.InvariantCulture);
        return new ExportSource(a.Architecture, module, k, a.Subnets[k].Spec, set, a.Masks(k), a.InChannels, a.ImageSize, metadata);
    }

    /// <summary>The model and sub-net to export from <paramref name="source"/> (a training run
    /// folder) and <paramref name="subnet"/> (an index or a sub-net's spec).</summary>
    internal static TrainedSubnet LoadSource(string source, string subnet)
    {
        if (!Directory.Exists(source))
            throw new UsageException($"{source}: not a run folder (SOURCE is a training run folder holding recipe.json and checkpoint.safetensors).");
        return TrainedSubnet.Load(source, SubnetIndex(TrainedSubnet.Subnets(source), subnet, "the run"));
    }

    /// <summary>An index (0-based), or the position of the spec among <paramref name="subnets"/>
    /// (those of <paramref name="owner"/>, as the errors name it).</summary>
    private static int SubnetIndex(SubnetList subnets, string text, string owner)
    {
        string available = string.Join(", ", subnets.Select((s, k) => $"{k}: {s}"));
        if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int index))
            return index < subnets.Count ? index : throw new UsageException($"--subnet: there is no sub-net {index}; {owner} has {available}.");
        SubnetSpec spec;
        try { spec = SubnetList.Parse(text)[0]; }
        catch (ArgumentException) { throw new UsageException($"--subnet: '{text}' is neither an index nor a sub-net spec; {owner} has {available}."); }
        for (int k = 0; k < subnets.Count; k++)
            if (subnets[k] == spec) return k;
        throw new UsageException($"--subnet: {owner} has no sub-net {spec}; it has {available}.");
    }

    private static Dictionary<string, string> Metadata(TrainedSubnet sub)
    {
        var m = new Dictionary<string, string>
        {
            ["model"] = sub.Recipe.Model,
            ["data"] = sub.Recipe.Data,
            ["subnet"] = sub.Index.ToString(CultureInfo.InvariantCulture),
            ["subnet_spec"] = sub.Spec.ToExactString(),
            ["batch_norm_set"] = sub.BatchNormSet.ToString(CultureInfo.InvariantCulture),
        };
        if (!sub.Recipe.Data.Equals("synthetic", StringComparison.OrdinalIgnoreCase))
        {
            // The input is normalised as in training: x = (pixel/255 − mean[c]) / std[c].
            var n = Normalization.For(sub.Recipe.Data);
            AddNormalization(m, n.Mean, n.Std);
        }
        return m;
    }

    private static void AddNormalization(Dictionary<string, string> metadata, IEnumerable<float> mean, IEnumerable<float> std)
    {
        metadata["normalization_mean"] = string.Join(",", mean.Select(v => v.ToString("R", CultureInfo.InvariantCulture)));
        metadata["normalization_std"] = string.Join(",", std.Select(v => v.ToString("R", CultureInfo.InvariantCulture)));
    }

    /// <summary>Writes through a temporary file renamed over <paramref name="path"/>: a failed export
    /// leaves no partial file.</summary>
    private static void WriteAtomically(string path, Action<Stream> write)
    {
        string tmp = path + ".tmp-" + Environment.ProcessId;
        try
        {
            using (var f = File.Create(tmp)) write(f);
            File.Move(tmp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }
}
