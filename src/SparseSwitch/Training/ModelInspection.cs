using System.Security.Cryptography;
using SparseSwitch.Inference;
using SparseSwitch.Serialization;
using SparseSwitch.Sparsity;
using SparseSwitch.Tensors;

namespace SparseSwitch.Training;

/// <summary>How one mask keeps an N:M pattern: of <see cref="Groups"/> groups of M (the
/// <see cref="NmLayout"/> grouping), how many keep more than N (each one breaks the pattern) and how
/// many keep exactly N (or all of a shorter tail group).</summary>
public sealed record NmConformance(int N, int M, long Groups, long OverN, long ExactlyN)
{
    /// <summary>No group keeps more than N: the mask runs as N:M.</summary>
    public bool Conforms => OverN == 0;

    public static NmConformance Of(BitMask mask, ReadOnlySpan<int> shape, int n, int m)
    {
        NmLayout.Check(n, m);
        var layout = new NmLayout(shape, m);
        if (mask.Length != layout.Length) throw new ArgumentException($"A mask of {mask.Length} positions for a weight of {layout.Length}.", nameof(mask));
        long over = 0, exact = 0;
        for (int run = 0; run < layout.Runs; run++)
            for (int g = 0; g < layout.GroupsPerRun; g++)
            {
                int c0 = g * m, c1 = Math.Min(layout.In, c0 + m), kept = 0;
                for (int c = c0; c < c1; c++) if (mask[layout.Index(run, c)]) kept++;
                if (kept > n) over++;
                if (kept == Math.Min(n, c1 - c0)) exact++;
            }
        return new NmConformance(n, m, layout.Groups, over, exact);
    }
}

/// <summary>One masked layer: its weight's path and shape, and per sub-net the weights its mask
/// keeps and (for N:M sub-nets) how the mask keeps the pattern.</summary>
public sealed record LayerInspection(string Path, int[] Shape, long Weights, long[] Kept, NmConformance?[] Nm);

/// <summary>One sub-net: spec, density of its masks over the masked layers, and its test accuracy
/// where known (a run's last epoch, a model file's record).</summary>
public sealed record SubnetInspection(int Index, string Spec, double Density, double? Accuracy);

/// <summary>One file of the source and its SHA-256; <see cref="ContentChecksum"/> says for a
/// checkpoint whether the checksum of its content it records matched.</summary>
public sealed record FileChecksum(string Path, long Bytes, string Sha256, string? ContentChecksum);

/// <summary>
/// What a run folder or a model file holds: architecture, data, sub-nets, per masked layer each
/// sub-net's density and N:M conformance, and every file with its SHA-256 (a checkpoint's own
/// content checksum verified).
/// </summary>
public sealed record ModelInspection(
    string Source, bool IsRun, string Architecture, string Data, string Progress,
    IReadOnlyList<SubnetInspection> Subnets, IReadOnlyList<LayerInspection> Layers, IReadOnlyList<FileChecksum> Files)
{
    /// <summary>A run folder (a directory) or a model file written by <c>pack</c>.</summary>
    public static ModelInspection Of(string source)
    {
        if (Directory.Exists(source)) return OfRun(source);
        if (File.Exists(source)) return OfModel(source);
        throw new FileNotFoundException($"{source}: no such run folder or model file.", source);
    }

    private static ModelInspection OfModel(string path)
    {
        var a = ModelArtifact.Read(path);
        var subnets = new List<SubnetInspection>();
        var specs = new List<SubnetSpec>();
        for (int k = 0; k < a.SubnetCount; k++)
        {
            subnets.Add(new SubnetInspection(k, a.Subnets[k].Spec, a.Subnets[k].Density, a.Subnets[k].TestAccuracy));
            specs.Add(SubnetList.Parse(a.Subnets[k].Spec)[0]);
        }
        var layers = MaskedLayers(a.MaskedParameters.Select(p => (p, a.State[p].Shape)), specs, k => a.Masks(k));
        string progress = a.Latency.Count > 0 ? $"{a.Latency.Count} latency entries" : "no latency table";
        return new ModelInspection(path, false, a.Architecture, a.Info.Data, $"packed {a.Created.UtcDateTime:yyyy-MM-dd HH:mm:ss} UTC, {progress}",
            subnets, layers, [Checksum(path, path)]);
    }

    private static ModelInspection OfRun(string dir)
    {
        var folder = RunFolder.Open(dir);
        var recipe = folder.ReadRecipe();
        var specs = recipe.SubnetsToTrain.ToList();
        var loaded = Enumerable.Range(0, specs.Count).Select(k => TrainedSubnet.Load(dir, k)).ToList();
        var metrics = folder.ReadMetrics();
        var subnets = new List<SubnetInspection>();
        for (int k = 0; k < specs.Count; k++)
        {
            var masks = loaded[k].Masks;
            long total = masks.Values.Sum(m => (long)m.Length);
            double density = total == 0 ? 1 : (double)masks.Values.Sum(m => m.Count()) / total;
            var last = metrics.Where(m => m.Subnet == k).MaxBy(m => m.Epoch);
            subnets.Add(new SubnetInspection(k, specs[k].ToExactString(), density, last?.TestAccuracy));
        }
        var state = loaded[0].Model.StateDict();
        var layers = MaskedLayers(loaded[0].Masks.Keys.Select(p => (p, state[p].Shape)), specs, k => loaded[k].Masks);
        var checkpoints = recipe.Mode == TrainMode.Independent
            ? Enumerable.Range(0, specs.Count).Select(k => Path.Combine(dir, $"subnet-{k}", "checkpoint.safetensors")).ToList()
            : [folder.CheckpointFile];
        string progress = $"{recipe.Mode.ToString().ToLowerInvariant()}, " + string.Join("; ", checkpoints.Select(c =>
            (checkpoints.Count > 1 ? Path.GetFileName(Path.GetDirectoryName(c)) + ": " : "") + TrainerCheckpoint.Describe(c))) + $" of {recipe.Epochs} epochs";
        var files = Directory.GetFiles(dir, "*", SearchOption.AllDirectories)
            .Where(f => !Path.GetFileName(f).Contains(".tmp-", StringComparison.Ordinal))
            .OrderBy(f => f, StringComparer.Ordinal)
            .Select(f => Checksum(f, Path.GetRelativePath(dir, f)))
            .ToList();
        return new ModelInspection(dir, true, recipe.Model, recipe.Data, progress, subnets, layers, files);
    }

    /// <summary>The masked layers in the given order, each sub-net's mask counted.</summary>
    private static List<LayerInspection> MaskedLayers(IEnumerable<(string Path, int[] Shape)> masked, IReadOnlyList<SubnetSpec> specs,
        Func<int, IReadOnlyDictionary<string, BitMask>> masksOf)
    {
        var layers = new List<LayerInspection>();
        foreach (var (path, shape) in masked)
        {
            var kept = new long[specs.Count];
            var nm = new NmConformance?[specs.Count];
            for (int k = 0; k < specs.Count; k++)
            {
                var mask = masksOf(k)[path];
                kept[k] = mask.Count();
                if (specs[k].IsNm) nm[k] = NmConformance.Of(mask, shape, specs[k].N, specs[k].M);
            }
            layers.Add(new LayerInspection(path, shape, shape.Aggregate(1L, (a, b) => a * b), kept, nm));
        }
        return layers;
    }

    private static FileChecksum Checksum(string path, string shown)
    {
        string sha;
        long bytes;
        using (var f = File.OpenRead(path))
        {
            bytes = f.Length;
            sha = Convert.ToHexStringLower(SHA256.HashData(f));
        }
        string? content = null;
        if (Path.GetFileName(path) == "checkpoint.safetensors")
        {
            var file = SafeTensors.Load(path);
            if (file.Meta(CheckpointChecksum.Key) is null) content = "records no content checksum";
            else
            {
                CheckpointChecksum.Verify(file, path);   // throws when the content does not match
                content = "content checksum verified";
            }
        }
        return new FileChecksum(shown, bytes, sha, content);
    }
}
