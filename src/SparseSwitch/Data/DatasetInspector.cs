using System.Text;

namespace SparseSwitch.Data;

/// <summary>
/// Describes a data folder for people: which format it holds, every data file with its size and
/// MD5 (of the content, decompressed, compared with the published value where known), unfinished
/// ".part" downloads, and for each split the image shape and the count per class.
/// </summary>
public static class DatasetInspector
{
    public static string Describe(string dir)
    {
        if (!Directory.Exists(dir)) throw new DirectoryNotFoundException($"Data folder {dir} does not exist.");
        var sb = new StringBuilder();
        var (spec, root) = Detect(dir);
        if (spec is null)
        {
            sb.AppendLine($"{dir}: no known data set files (expected IDX files such as train-images-idx3-ubyte[.gz], " +
                          "CIFAR-10 data_batch_N.bin[.gz] or CIFAR-100 train.bin[.gz]).");
            AppendParts(sb, dir);
            return sb.ToString();
        }
        sb.AppendLine($"{root}: {spec.Name} format ({spec.Format})");
        sb.AppendLine("files:");
        foreach (var (file, published) in spec.ContentMd5)
        {
            var path = Datasets.FindFile(root, file);
            if (path is null)
            {
                sb.AppendLine($"  {file,-28} absent" + (file == "test_batch.bin" ? " (optional: data_batch_5 is then the test split)" : ""));
                continue;
            }
            long size = new FileInfo(path).Length;
            string md5 = Datasets.ContentMd5(path);
            string verdict = published is null ? "no published content MD5 known"
                : md5.Equals(published, StringComparison.OrdinalIgnoreCase) ? "matches the published MD5"
                : $"DIFFERS from the published {published}";
            sb.AppendLine($"  {Path.GetFileName(path),-28} {size,12:N0} bytes  content MD5 {md5}  ({verdict})");
        }
        AppendParts(sb, root);

        var (train, test) = Load(spec, root);
        foreach (var (label, ds) in new[] { ("train", train), ("test", test) })
        {
            sb.AppendLine($"{label}: {ds.Count:N0} images, {ds.Channels}×{ds.Height}×{ds.Width}, {ds.NumClasses} classes — {ds.Source}");
            var counts = ds.ClassCounts();
            var parts = Enumerable.Range(0, ds.NumClasses).Select(c => $"{ds.ClassNames[c]} {counts[c]}");
            sb.AppendLine("  per class: " + string.Join(", ", parts));
        }
        return sb.ToString();
    }

    private static void AppendParts(StringBuilder sb, string dir)
    {
        foreach (var p in Directory.GetFiles(dir, "*.part"))
            sb.AppendLine($"  {Path.GetFileName(p)}: unfinished download ({new FileInfo(p).Length:N0} bytes; the next download resumes it)");
    }

    /// <summary>The data set spec matching the files in <paramref name="dir"/> (or its CIFAR
    /// archive subfolder), preferring the folder's own name among IDX data sets.</summary>
    private static (DatasetSpec? Spec, string Root) Detect(string dir)
    {
        if (Datasets.FindFile(dir, "train-images-idx3-ubyte") is not null || Datasets.FindFile(dir, "t10k-images-idx3-ubyte") is not null)
        {
            string folder = Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(dir)));
            var byName = DatasetCatalog.All.FirstOrDefault(s => s.Format == DatasetFormat.Idx && s.Name == folder.ToLowerInvariant());
            return (byName ?? DatasetCatalog.Mnist, dir);
        }
        foreach (var (probe, sub, spec) in new[] {
                     ("data_batch_1.bin", "cifar-10-batches-bin", DatasetCatalog.Cifar10),
                     ("train.bin", "cifar-100-binary", DatasetCatalog.Cifar100) })
        {
            if (Datasets.FindFile(dir, probe) is not null) return (spec, dir);
            var nested = Path.Combine(dir, sub);
            if (Datasets.FindFile(nested, probe) is not null) return (spec, nested);
        }
        return (null, dir);
    }

    private static (ImageDataset, ImageDataset) Load(DatasetSpec spec, string root)
    {
        if (spec.Format != DatasetFormat.Idx) return Datasets.Load(spec.Name, root);
        ImageDataset Split(string prefix) => Datasets.LoadIdxPair(spec.Name,
            Datasets.FindFile(root, $"{prefix}-images-idx3-ubyte") ?? throw new FileNotFoundException($"{root}: {prefix}-images-idx3-ubyte[.gz] not found"),
            Datasets.FindFile(root, $"{prefix}-labels-idx1-ubyte") ?? throw new FileNotFoundException($"{root}: {prefix}-labels-idx1-ubyte[.gz] not found"),
            spec.Height, spec.Width, spec.NumClasses, spec.ClassNames);
        return (Split("train"), Split("t10k"));
    }
}
