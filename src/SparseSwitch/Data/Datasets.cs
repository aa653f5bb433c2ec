using System.Security.Cryptography;

namespace SparseSwitch.Data;

/// <summary>
/// Loads the named data sets: mnist, fashion-mnist, kmnist (IDX, raw or .gz), cifar10, cifar100
/// (binary batches, raw or .gz) and synthetic (built in, no files). Counts and shapes are checked
/// against the canonical sizes, so a damaged folder never yields a silently smaller data set.
/// CIFAR-10: when the folder has test_batch.bin, train = data_batch_1–5 and test = test_batch;
/// without it (as in the shared folder), train = data_batch_1–4 (40 000) and test = data_batch_5
/// (10 000) — <see cref="ImageDataset.Source"/> says which.
/// </summary>
public static class Datasets
{
    /// <summary>Loads train and test splits. <paramref name="dir"/> defaults to
    /// <see cref="FindDirectory"/>. For synthetic, <paramref name="seed"/> and the counts apply.
    /// With <paramref name="verifyChecksums"/>, each file's content MD5 is compared with the
    /// published value where one is known.</summary>
    public static (ImageDataset Train, ImageDataset Test) Load(string name, string? dir = null, ulong seed = 0,
        bool verifyChecksums = false, int syntheticTrainCount = Synthetic.DefaultTrainCount,
        int syntheticTestCount = Synthetic.DefaultTestCount)
    {
        var spec = DatasetCatalog.Get(name);
        if (spec.Format == DatasetFormat.Synthetic)
            return Synthetic.Generate(syntheticTrainCount, syntheticTestCount, seed);
        return Load(spec, dir, verifyChecksums);
    }

    /// <summary>Loads a file-based data set described by <paramref name="spec"/> (its counts are
    /// enforced: for CIFAR-10, <see cref="DatasetSpec.TestCount"/> is the size of every batch file).</summary>
    public static (ImageDataset Train, ImageDataset Test) Load(DatasetSpec spec, string? dir, bool verifyChecksums = false)
    {
        if (spec.Format == DatasetFormat.Synthetic)
            return Synthetic.Generate(spec.TrainCount, spec.TestCount, 0);
        string folder = dir ?? FindDirectory(spec.Name)
            ?? throw new DirectoryNotFoundException(
                $"No {spec.Name} files found (looked in {string.Join(", ", Candidates(spec.Name))}). " +
                $"Run 'sparseswitch data download {spec.Name} --dir data/{spec.Name}' or pass the folder.");
        if (!Directory.Exists(folder))
            throw new DirectoryNotFoundException($"Data folder {folder} does not exist.");
        if (verifyChecksums) VerifyChecksums(spec, folder);
        return spec.Format switch
        {
            DatasetFormat.Idx => LoadIdx(spec, folder),
            DatasetFormat.Cifar10 => LoadCifar10(spec, folder),
            DatasetFormat.Cifar100 => LoadCifar100(spec, folder),
            _ => throw new InvalidOperationException(),
        };
    }

    /// <summary>The first existing folder among: $SPARSESWITCH_DATA/NAME, ./data/NAME, and
    /// shared/datasets/NAME beside the working directory or the program (walking up).</summary>
    public static string? FindDirectory(string name)
    {
        var spec = DatasetCatalog.Get(name);
        return Candidates(spec.Name).FirstOrDefault(Directory.Exists);
    }

    private static IEnumerable<string> Candidates(string name)
    {
        if (Environment.GetEnvironmentVariable("SPARSESWITCH_DATA") is { Length: > 0 } env)
            yield return Path.Combine(env, name);
        yield return Path.GetFullPath(Path.Combine("data", name));
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
            for (var d = new DirectoryInfo(start); d is not null; d = d.Parent)
            {
                var c = Path.Combine(d.FullName, "shared", "datasets", name);
                if (Directory.Exists(c)) { yield return c; break; }
            }
    }

    /// <summary>The path of <paramref name="baseName"/> or <paramref name="baseName"/>.gz in
    /// <paramref name="dir"/>, or null.</summary>
    public static string? FindFile(string dir, string baseName)
    {
        foreach (var n in new[] { baseName, baseName + ".gz" })
        {
            var p = Path.Combine(dir, n);
            if (File.Exists(p)) return p;
        }
        return null;
    }

    private static string Require(string dir, string baseName, string dataset) =>
        FindFile(dir, baseName) ?? throw new FileNotFoundException(
            $"{dataset}: {Path.Combine(dir, baseName)}[.gz] not found. " +
            $"Run 'sparseswitch data download {dataset} --dir {dir}'.", Path.Combine(dir, baseName));

    private static (ImageDataset, ImageDataset) LoadIdx(DatasetSpec spec, string dir) =>
        (LoadIdxSplit(spec, dir, "train", spec.TrainCount), LoadIdxSplit(spec, dir, "t10k", spec.TestCount));

    /// <summary>Reads an IDX image/label pair and checks it against the expected shape and count.</summary>
    public static ImageDataset LoadIdxPair(string name, string imagesPath, string labelsPath, int height, int width,
        int numClasses, string[]? classNames, int expectedCount = 0)
    {
        var images = IdxReader.ReadImages(imagesPath);
        int n = images.Dims[0];
        if (images.Dims[1] != height || images.Dims[2] != width)
            throw new DataFormatException(imagesPath, "bytes 8-15 (image dimensions)",
                $"expected {height}×{width} images, found {images.Dims[1]}×{images.Dims[2]}");
        if (expectedCount > 0 && n != expectedCount)
            throw new DataFormatException(imagesPath, "bytes 4-7 (image count)", $"expected {expectedCount} images, found {n}");
        var labels = IdxReader.ReadLabels(labelsPath, numClasses);
        if (labels.Length != n)
            throw new DataFormatException(labelsPath, "bytes 4-7 (label count)",
                $"expected {n} labels to match {Path.GetFileName(imagesPath)}, found {labels.Length}");
        return new ImageDataset(name, 1, height, width, numClasses, classNames, images.Data, labels)
        {
            Source = $"{imagesPath} + {Path.GetFileName(labelsPath)}",
        };
    }

    private static ImageDataset LoadIdxSplit(DatasetSpec spec, string dir, string prefix, int count) =>
        LoadIdxPair(spec.Name, Require(dir, $"{prefix}-images-idx3-ubyte", spec.Name),
            Require(dir, $"{prefix}-labels-idx1-ubyte", spec.Name), spec.Height, spec.Width, spec.NumClasses,
            spec.ClassNames, count);

    private static string CifarFolder(string dir, string probe, string sub) =>
        FindFile(dir, probe) is null && Directory.Exists(Path.Combine(dir, sub)) ? Path.Combine(dir, sub) : dir;

    private static (ImageDataset, ImageDataset) LoadCifar10(DatasetSpec spec, string dir)
    {
        dir = CifarFolder(dir, "data_batch_1.bin", "cifar-10-batches-bin");
        var names = ReadClassNames(Path.Combine(dir, "batches.meta.txt"), spec.NumClasses) ?? spec.ClassNames;
        ImageDataset ReadBatch(string file)
        {
            var b = CifarReader.ReadCifar10(Require(dir, file, spec.Name), spec.TestCount);
            return new ImageDataset(spec.Name, 3, 32, 32, 10, names, b.Pixels, b.Labels) { Source = b.Path };
        }
        bool hasTest = FindFile(dir, "test_batch.bin") is not null;
        int trainBatches = hasTest ? 5 : 4;
        var train = ImageDataset.Concat(spec.Name,
            Enumerable.Range(1, trainBatches).Select(i => ReadBatch($"data_batch_{i}.bin")).ToList());
        var test = ReadBatch(hasTest ? "test_batch.bin" : "data_batch_5.bin");
        return (
            new ImageDataset(spec.Name, 3, 32, 32, 10, names, train.Pixels, train.Labels)
            { Source = $"{dir}: data_batch_1-{trainBatches}" },
            new ImageDataset(spec.Name, 3, 32, 32, 10, names, test.Pixels, test.Labels)
            {
                Source = hasTest ? $"{dir}: test_batch (official test split)"
                                 : $"{dir}: data_batch_5 held out as test (no test_batch.bin in the folder)",
            });
    }

    private static (ImageDataset, ImageDataset) LoadCifar100(DatasetSpec spec, string dir)
    {
        dir = CifarFolder(dir, "train.bin", "cifar-100-binary");
        var names = ReadClassNames(Path.Combine(dir, "fine_label_names.txt"), spec.NumClasses) ?? spec.ClassNames;
        ImageDataset Split(string file, int count)
        {
            var b = CifarReader.ReadCifar100(Require(dir, file, spec.Name), count);
            return new ImageDataset(spec.Name, 3, 32, 32, 100, names, b.Pixels, b.Labels) { Source = b.Path };
        }
        return (Split("train.bin", spec.TrainCount), Split("test.bin", spec.TestCount));
    }

    /// <summary>Class names, one per non-empty line; null when the file is absent.</summary>
    private static string[]? ReadClassNames(string path, int expected)
    {
        if (!File.Exists(path)) return null;
        var names = File.ReadAllLines(path).Select(l => l.Trim()).Where(l => l.Length > 0).ToArray();
        if (names.Length != expected)
            throw new DataFormatException(path, "class names", $"expected {expected} non-empty lines, found {names.Length}");
        return names;
    }

    /// <summary>Compares the MD5 of each present file's (decompressed) content with the published
    /// value; returns how many files were checked (files that are absent, or have no published
    /// value, are not).</summary>
    public static int VerifyChecksums(DatasetSpec spec, string dir)
    {
        int verified = 0;
        foreach (var (file, md5) in spec.ContentMd5)
        {
            if (md5 is null) continue;
            var path = FindFile(dir, file);
            if (path is null) continue;
            var got = ContentMd5(path);
            if (!string.Equals(got, md5, StringComparison.OrdinalIgnoreCase))
                throw new DataFormatException(path, "content checksum",
                    $"MD5 of the content is {got}, the published value is {md5}; the file is damaged or not the official one");
            verified++;
        }
        return verified;
    }

    /// <summary>MD5 (lower-case hex) of a file's content, decompressed if it is gzip.</summary>
    public static string ContentMd5(string path)
    {
        var (s, _, _) = DataSource.Open(path);
        using (s)
        {
            try { return Convert.ToHexStringLower(MD5.HashData(s)); }
            catch (InvalidDataException e) { throw new DataFormatException(path, "compressed stream", $"corrupt gzip data ({e.Message})", e); }
        }
    }
}
