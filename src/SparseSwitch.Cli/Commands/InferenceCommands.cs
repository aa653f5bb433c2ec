using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using SparseSwitch.Data;
using SparseSwitch.Inference;
using SparseSwitch.Tensors;

namespace SparseSwitch.Cli.Commands;

/// <summary><c>profile</c>: every sub-net's latency on this machine, stored in the model file;
/// <c>infer</c>: classify images with a chosen (or budget-selected) sub-net, or evaluate every sub-net.</summary>
public static class InferenceCommands
{
    public static IEnumerable<Command> Build()
    {
        yield return BuildProfile();
        yield return BuildInfer();
    }

    private static Option<int> ThreadsOption() => new("--threads") { Description = "Kernel threads (default: processor count).", DefaultValueFactory = _ => 0 };

    internal static InferenceOptions Options(int threads, FormatChoice formats = FormatChoice.Measure) => new()
    {
        Engine = EngineOptions.Default with { Threads = threads > 0 ? threads : Environment.ProcessorCount },
        Formats = formats,
    };

    private static ModelArtifact ReadModel(string path) =>
        File.Exists(path) ? ModelArtifact.Read(path) : throw new UsageException($"{path}: no such model file (make one with 'sparseswitch pack RUN').");

    private static Command BuildProfile()
    {
        var file = new Argument<string>("model") { Description = "A model file written by 'sparseswitch pack'." };
        var batches = new Option<string>("--batch") { Description = "Batch sizes to measure, comma-separated.", DefaultValueFactory = _ => "1,64" };
        var rounds = new Option<int>("--rounds") { Description = "Interleaved rounds per batch size (medians).", DefaultValueFactory = _ => 15 };
        var noWrite = new Option<bool>("--no-write") { Description = "Print the table without storing it in the model file." };
        var threads = ThreadsOption();
        var c = new Command("profile", "Measure every sub-net's latency on this machine (each layer in the weight format measured fastest here; " +
            "medians of interleaved rounds) and store the table in the model file, where 'infer --budget-ms' and the server read it.\n\n" +
            "Example:\n  sparseswitch profile runs/ast/model.safetensors --batch 1,64 --threads 2");
        c.Arguments.Add(file);
        foreach (var o in new Option[] { batches, rounds, noWrite, threads }) c.Options.Add(o);
        c.SetAction(p =>
        {
            string path = p.GetValue(file)!;
            var sizes = ParseBatches(p.GetValue(batches)!);
            int r = p.GetValue(rounds);
            if (r < 1) throw new UsageException("--rounds: must be ≥ 1.");
            var artifact = ReadModel(path);
            var sw = Stopwatch.StartNew();
            var model = InferenceModel.Compile(artifact, Options(p.GetValue(threads)));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{artifact.Architecture}: {artifact.SubnetCount} sub-nets compiled in {sw.Elapsed.TotalSeconds:F1} s ({model.Options.Engine.Threads} threads; formats measured per layer)"));
            var table = SubnetSelector.Profile(model, sizes, r);
            PrintTable(artifact, model, table);
            if (!p.GetValue(noWrite))
            {
                artifact.WithLatency(table).Write(path);
                Console.WriteLine($"latency table stored in {path}");
            }
            return 0;
        });
        return c;
    }

    internal static void PrintTable(ModelArtifact artifact, InferenceModel model, IReadOnlyList<LatencyEntry> table)
    {
        var sizes = table.Select(e => e.BatchSize).Distinct().Order().ToArray();
        long dense = model.DenseWeightBytes;
        var header = $"{"sub-net",-4} {"spec",-8} {"density",8} {"accuracy",9} " + string.Join(" ", sizes.Select(b => $"{"batch " + b + " ms",13}")) + $" {"img/s @" + sizes[^1],12} {"weights KiB",12}  formats (batch 1)";
        Console.WriteLine(header);
        for (int k = 0; k < artifact.SubnetCount; k++)
        {
            var s = artifact.Subnets[k];
            var layers = model.Layers(k);
            string formats = string.Join(", ", layers.Where(l => l.Format is not null).GroupBy(l => l.Format!.Value).Select(g => $"{g.Count()} {g.Key}"));
            double last = table.Single(e => e.Subnet == k && e.BatchSize == sizes[^1]).MedianMs;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{k,-4} {s.Spec,-8} {s.Density,8:F4} {100 * s.TestAccuracy,8:F2}% ") +
                string.Join(" ", sizes.Select(b => string.Create(CultureInfo.InvariantCulture, $"{table.Single(e => e.Subnet == k && e.BatchSize == b).MedianMs,13:F3}"))) +
                string.Create(CultureInfo.InvariantCulture, $" {sizes[^1] / last * 1e3,12:F0} {model.WeightBytes(k) / 1024.0,12:F0}  {formats}"));
        }
        long plans = Enumerable.Range(0, artifact.SubnetCount).Sum(k => model.WeightBytes(k));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"memory: the {artifact.SubnetCount} sub-nets' plans (both batch classes) hold {plans / 1048576.0:F2} MiB of weights, {(double)plans / dense:F2}× the dense model's {dense / 1048576.0:F2} MiB; a workspace (one per concurrent call) {model.WorkspaceBytes / 1048576.0:F2} MiB"));
    }

    private static int[] ParseBatches(string text)
    {
        var parts = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var sizes = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!int.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out sizes[i]) || sizes[i] < 1 || sizes[i] > 4096)
                throw new UsageException($"--batch: '{parts[i]}' is not a batch size (1 … 4096).");
        return sizes.Length > 0 ? sizes.Distinct().Order().ToArray() : throw new UsageException("--batch: give at least one batch size.");
    }

    private static Command BuildInfer()
    {
        var file = new Argument<string>("model") { Description = "A model file written by 'sparseswitch pack'." };
        var input = new Option<string?>("--input") { Description = "Raw little-endian float32 file of normalised images [N, C, H, W] (as the model's input)." };
        var data = new Option<string?>("--data") { Description = "Take test images from a data set instead: mnist, cifar10 (normalised with the model's values)." };
        var dataDir = new Option<string?>("--data-dir") { Description = "Folder holding the data set files (default: searched)." };
        var count = new Option<int>("--count") { Description = "Images to classify from --data (0: the whole test set).", DefaultValueFactory = _ => 8 };
        var offset = new Option<int>("--offset") { Description = "First test image of --data.", DefaultValueFactory = _ => 0 };
        var subnet = new Option<int?>("--subnet") { Description = "Sub-net to run (index)." };
        var budget = new Option<double?>("--budget-ms") { Description = "Pick the most accurate sub-net whose profiled latency (at the batch run) fits this many ms." };
        var batch = new Option<int>("--batch") { Description = "Images per call.", DefaultValueFactory = _ => 1 };
        var evaluate = new Option<bool>("--evaluate") { Description = "Run every sub-net on the images and compare accuracy with the model file's (needs --data)." };
        var logitsOut = new Option<string?>("--logits-out") { Description = "Also write the sub-net's logits to this file: raw little-endian float32 [N, classes], image after image." };
        var threads = ThreadsOption();
        var c = new Command("infer", "Classify images with one sub-net of a model file (compiled: batch-norm folded, each layer in its fastest format), " +
            "chosen by --subnet or by --budget-ms against the profiled latency table; prints class, sub-net and latency. --evaluate runs every sub-net.\n\n" +
            "Examples:\n  sparseswitch infer model.safetensors --data cifar10 --count 4 --budget-ms 2\n" +
            "  sparseswitch infer model.safetensors --input images.f32 --subnet 1 --logits-out logits.f32\n" +
            "  sparseswitch infer model.safetensors --data cifar10 --count 0 --evaluate --batch 64");
        c.Arguments.Add(file);
        foreach (var o in new Option[] { input, data, dataDir, count, offset, subnet, budget, batch, evaluate, logitsOut, threads }) c.Options.Add(o);
        c.SetAction(p =>
        {
            var artifact = ReadModel(p.GetValue(file)!);
            int b = p.GetValue(batch);
            if (b < 1) throw new UsageException("--batch: must be ≥ 1.");
            if ((p.GetValue(input) is null) == (p.GetValue(data) is null)) throw new UsageException("give exactly one of --input FILE and --data NAME.");
            var (x, labels, n) = p.GetValue(input) is { } raw
                ? ReadRaw(raw, artifact)
                : ReadData(artifact, p.GetValue(data)!, p.GetValue(dataDir), p.GetValue(count), p.GetValue(offset));
            if (p.GetValue(subnet) is int s && (s < 0 || s >= artifact.SubnetCount))
                throw new UsageException($"--subnet: the model has sub-nets 0 … {artifact.SubnetCount - 1}.");
            // Evaluation only counts answers; classification times its calls, in the formats the profile measured.
            var model = InferenceModel.Compile(artifact, Options(p.GetValue(threads), p.GetValue(evaluate) ? FormatChoice.Density : FormatChoice.Measure));
            if (p.GetValue(evaluate))
            {
                if (labels is null) throw new UsageException("--evaluate needs labelled images (--data).");
                if (p.GetValue(logitsOut) is not null) throw new UsageException("--logits-out writes one sub-net's logits; it does not go with --evaluate.");
                return Evaluate(artifact, model, x, labels, n, b);
            }
            int k = ChooseSubnet(artifact, p.GetValue(subnet), p.GetValue(budget), b, model.Options.Engine.Threads);
            return Classify(artifact, model, k, x, labels, n, b, p.GetValue(logitsOut));
        });
        return c;
    }

    private static int ChooseSubnet(ModelArtifact artifact, int? subnet, double? budget, int batch, int threads)
    {
        if (subnet is int s)
        {
            if (budget is not null) throw new UsageException("give --subnet or --budget-ms, not both.");
            return s;
        }
        if (budget is not double ms) return 0;
        if (artifact.Latency.Count == 0) throw new UsageException("--budget-ms: the model file has no latency table; run 'sparseswitch profile MODEL' first.");
        // Latencies measured on another thread count say nothing about this one.
        var table = artifact.Latency.Where(e => e.Threads == threads).ToList();
        if (table.Count == 0)
            throw new UsageException($"--budget-ms: the latency table was measured with {string.Join(", ", artifact.Latency.Select(e => e.Threads).Distinct())} thread(s), " +
                $"this run uses {threads}; run 'sparseswitch profile MODEL --threads {threads}' or pass --threads to match.");
        Selection sel;
        try { sel = SubnetSelector.Select(table, artifact.Subnets.Select(x => x.TestAccuracy).ToList(), ms, batch); }
        catch (ArgumentException e) { throw new UsageException("--budget-ms: " + e.Message); }
        Console.WriteLine($"budget {ms.ToString(CultureInfo.InvariantCulture)} ms at batch {batch}: {sel}");
        return sel.Subnet;
    }

    private static (float[] X, int[]? Labels, int Count) ReadRaw(string path, ModelArtifact a)
    {
        if (!File.Exists(path)) throw new UsageException($"--input: {path} does not exist.");
        long bytes = new FileInfo(path).Length, image = (long)a.InChannels * a.ImageSize * a.ImageSize * 4;
        if (bytes == 0 || bytes % image != 0)
            throw new UsageException($"--input: {path} has {bytes} bytes, not a whole number of {a.InChannels}×{a.ImageSize}×{a.ImageSize} float32 images ({image} bytes each).");
        var x = new float[bytes / 4];
        using (var f = File.OpenRead(path)) f.ReadExactly(System.Runtime.InteropServices.MemoryMarshal.AsBytes(x.AsSpan()));
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("Raw input files are little-endian float32.");
        for (int i = 0; i < x.Length; i++)
            if (!float.IsFinite(x[i])) throw new UsageException($"--input: value {i} is {x[i]}; inputs must be finite.");
        return (x, null, (int)(bytes / image));
    }

    internal static (float[] X, int[]? Labels, int Count) ReadData(ModelArtifact a, string name, string? dir, int count, int offset)
    {
        var (_, test) = Datasets.Load(name, dir);
        if (test.Channels != a.InChannels || test.Height != a.ImageSize || test.Width != a.ImageSize)
            throw new UsageException($"--data: {name} has {test.Channels}×{test.Height}×{test.Width} images; the model takes {a.InChannels}×{a.ImageSize}×{a.ImageSize}.");
        if (offset < 0 || offset >= test.Count) throw new UsageException($"--offset: the test set has {test.Count} images.");
        int n = count <= 0 ? test.Count - offset : Math.Min(count, test.Count - offset);
        var x = a.Preprocess(test.Pixels.AsSpan(offset * test.ImageSize, n * test.ImageSize), n).Span.ToArray();
        return (x, test.Labels.AsSpan(offset, n).ToArray(), n);
    }

    private static int Classify(ModelArtifact a, InferenceModel model, int k, float[] x, int[]? labels, int n, int batch, string? logitsPath)
    {
        int classes = model.OutputLength, image = model.InputShape.Length;
        var y = new float[batch * classes];
        var logits = logitsPath is null ? null : new float[(long)n * classes];
        for (int w = 0; w < 20; w++) // warm-up: compiled code and caches, as a server would be
            model.Run(k, x.AsSpan(0, Math.Min(batch, n) * image), y.AsSpan(0, Math.Min(batch, n) * classes), Math.Min(batch, n));
        Console.WriteLine($"sub-net {k} [{a.Subnets[k].Spec}], test accuracy {(100 * a.Subnets[k].TestAccuracy).ToString("F2", CultureInfo.InvariantCulture)} % in the model file");
        for (int i0 = 0; i0 < n; i0 += batch)
        {
            int nb = Math.Min(batch, n - i0);
            long t0 = Stopwatch.GetTimestamp();
            model.Run(k, x.AsSpan(i0 * image, nb * image), y.AsSpan(0, nb * classes), nb);
            double ms = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            if (logits is not null) y.AsSpan(0, nb * classes).CopyTo(logits.AsSpan(i0 * classes));
            for (int j = 0; j < nb; j++)
            {
                int best = ArgMax(y.AsSpan(j * classes, classes));
                string truth = labels is null ? "" : $"  (label {a.ClassNames[labels[i0 + j]]})";
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"image {i0 + j}: {a.ClassNames[best]}{truth}  sub-net {k}  {ms:F3} ms for {nb} image(s)"));
            }
        }
        if (logitsPath is not null)
        {
            if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("Logit files are little-endian float32.");
            string tmp = logitsPath + ".tmp-" + Environment.ProcessId;
            File.WriteAllBytes(tmp, System.Runtime.InteropServices.MemoryMarshal.AsBytes(logits.AsSpan()).ToArray());
            File.Move(tmp, logitsPath, overwrite: true);
            Console.WriteLine($"wrote {logitsPath}: {n} × {classes} logits (float32)");
        }
        return 0;
    }

    /// <summary>Accuracy of every compiled sub-net on the images, beside the model file's, and the
    /// largest difference of its logits from the masked model's (eval mode) on the first batch.</summary>
    internal static int Evaluate(ModelArtifact a, InferenceModel model, float[] x, int[] labels, int n, int batch)
    {
        int classes = model.OutputLength, image = model.InputShape.Length;
        var reference = a.CreateModule(model.Options.Engine);
        int first = Math.Min(n, 256);
        var xFirst = new Tensor(first, a.InChannels, a.ImageSize, a.ImageSize);
        x.AsSpan(0, first * image).CopyTo(xFirst.Span);
        Console.WriteLine($"{"sub-net",-4} {"spec",-8} {"accuracy",9} {"in file",9} {"max |Δlogit| / max |logit|",28}  {"ms per batch",12}");
        bool allEqual = true;
        var y = new float[batch * classes];
        for (int k = 0; k < a.SubnetCount; k++)
        {
            a.ApplySubnet(reference, k);
            float[] expected = reference.Forward(xFirst).Span.ToArray();
            var actual = new float[first * classes];
            model.Run(k, xFirst.Span, actual, first);
            double diff = 0, scale = 1e-30;
            for (int i = 0; i < expected.Length; i++) { diff = Math.Max(diff, Math.Abs(expected[i] - actual[i])); scale = Math.Max(scale, Math.Abs(expected[i])); }
            int correct = 0;
            long t0 = Stopwatch.GetTimestamp();
            for (int i0 = 0; i0 < n; i0 += batch)
            {
                int nb = Math.Min(batch, n - i0);
                model.Run(k, x.AsSpan(i0 * image, nb * image), y.AsSpan(0, nb * classes), nb);
                for (int j = 0; j < nb; j++) if (ArgMax(y.AsSpan(j * classes, classes)) == labels[i0 + j]) correct++;
            }
            double perBatch = Stopwatch.GetElapsedTime(t0).TotalMilliseconds / ((n + batch - 1) / batch);
            double acc = 100.0 * correct / n, stored = 100 * a.Subnets[k].TestAccuracy; // the file holds fractions
            allEqual &= Math.Abs((double)correct / n - a.Subnets[k].TestAccuracy) < 1e-12;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{k,-4} {a.Subnets[k].Spec,-8} {acc,8:F2}% {stored,8:F2}% {diff / scale,28:E2}  {perBatch,12:F3}"));
        }
        Console.WriteLine(allEqual ? "every sub-net's accuracy equals the model file's" : "accuracies differ from the model file's (the file's are on the run's whole test set)");
        return 0;
    }

    private static int ArgMax(ReadOnlySpan<float> v)
    {
        int best = 0;
        for (int i = 1; i < v.Length; i++) if (v[i] > v[best]) best = i;
        return best;
    }
}
