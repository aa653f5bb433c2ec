using System.CommandLine;
using System.Globalization;
using SparseSwitch.Inference;
using SparseSwitch.Training;

namespace SparseSwitch.Cli.Commands;

/// <summary><c>eval</c>: every sub-net's accuracy on a data set; <c>inspect</c>: what a run folder or
/// model file holds (sub-nets, per-layer density, N:M conformance, checksums).</summary>
public static class EvalCommands
{
    public static IEnumerable<Command> Build()
    {
        yield return BuildEval();
        yield return BuildInspect();
    }

    private static Command BuildEval()
    {
        var source = new Argument<string>("source") { Description = "Run folder of a training run, or a model file written by 'sparseswitch pack'." };
        var data = new Option<string?>("--data") { Description = "Data set whose test split to use: mnist, cifar10, synthetic, ... (default: a run's own test set as its recipe says; a model file's data set, whole test split)." };
        var dataDir = new Option<string?>("--data-dir") { Description = "Folder holding the data set files (default: the recipe's, else searched)." };
        var batch = new Option<int>("--batch") { Description = "Model file: images per call of the compiled sub-nets.", DefaultValueFactory = _ => 64 };
        var threads = new Option<int>("--threads") { Description = "Model file: kernel threads (default: processor count).", DefaultValueFactory = _ => 0 };
        var c = new Command("eval",
            "Test every sub-net on a data set and print its accuracy. A run folder is tested as training tests it at an epoch end (the model with the " +
            "checkpoint's weights, each sub-net's masks and batch-norm set); a model file through its compiled sub-nets, beside the accuracy it records.\n\n" +
            "Examples:\n  sparseswitch eval runs/ast\n  sparseswitch eval runs/ast/model.safetensors --data cifar10 --threads 2");
        c.Arguments.Add(source);
        foreach (var o in new Option[] { data, dataDir, batch, threads }) c.Options.Add(o);
        c.SetAction(p =>
        {
            string from = p.GetValue(source)!;
            int b = p.GetValue(batch);
            if (b < 1) throw new UsageException("--batch: must be ≥ 1.");
            if (File.Exists(from))
            {
                var artifact = ModelArtifact.Read(from);
                string name = p.GetValue(data) ?? (artifact.Info.Data.Length > 0 ? artifact.Info.Data
                    : throw new UsageException($"{from} does not name its data set; give --data."));
                var (x, labels, n) = InferenceCommands.ReadData(artifact, name, p.GetValue(dataDir), 0, 0);
                Console.WriteLine($"{from}: {artifact.Architecture}, {n} test images of {name}");
                var model = InferenceModel.Compile(artifact, InferenceCommands.Options(p.GetValue(threads), FormatChoice.Density));
                return InferenceCommands.Evaluate(artifact, model, x, labels!, n, b);
            }
            if (!Directory.Exists(from))
                throw new UsageException($"{from}: no such run folder or model file.");
            if (!File.Exists(Path.Combine(from, "recipe.json")))
                throw new UsageException($"{from}: not a run folder (no recipe.json).");
            var scores = RunEvaluation.Evaluate(from, p.GetValue(data), p.GetValue(dataDir));
            var recipe = RunFolder.Open(from).ReadRecipe();
            var last = new RunFolder(from).ReadMetrics();
            Console.WriteLine($"{from}: {recipe.Model}, {scores[0].Images} test images of {p.GetValue(data) ?? recipe.Data}");
            Console.WriteLine($"{"sub-net",-4} {"spec",-8} {"accuracy",9} {"loss",8} {"last epoch",11}");
            foreach (var s in scores)
            {
                var row = last.Where(m => m.Subnet == s.Subnet).MaxBy(m => m.Epoch);
                string recorded = row is null ? "—" : string.Create(CultureInfo.InvariantCulture, $"{100 * row.TestAccuracy:F2}%");
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{s.Subnet,-4} {s.Spec,-8} {100 * s.Accuracy,8:F2}% {s.Loss,8:F4} {recorded,11}"));
            }
            return 0;
        });
        return c;
    }

    private static Command BuildInspect()
    {
        var source = new Argument<string>("source") { Description = "Run folder of a training run, or a model file written by 'sparseswitch pack'." };
        var c = new Command("inspect",
            "Show what a run folder or model file holds: architecture, data, progress, the sub-nets (spec, density, accuracy), every masked layer's " +
            "density per sub-net with its N:M conformance for N:M sub-nets (groups keeping more than N), and every file's SHA-256 (a checkpoint's " +
            "recorded content checksum verified).\n\n" +
            "Examples:\n  sparseswitch inspect runs/ast\n  sparseswitch inspect runs/ast/model.safetensors");
        c.Arguments.Add(source);
        c.SetAction(p =>
        {
            string from = p.GetValue(source)!;
            if (!Path.Exists(from)) throw new UsageException($"{from}: no such run folder or model file.");
            if (Directory.Exists(from) && !File.Exists(Path.Combine(from, "recipe.json")))
                throw new UsageException($"{from}: not a run folder (no recipe.json).");
            Print(ModelInspection.Of(from));
            return 0;
        });
        return c;
    }

    private static void Print(ModelInspection i)
    {
        var inv = CultureInfo.InvariantCulture;
        Console.WriteLine($"{i.Source}: {(i.IsRun ? "run folder" : "model file")}, {i.Architecture} on {i.Data}, {i.Progress}");
        Console.WriteLine("sub-nets:");
        foreach (var s in i.Subnets)
            Console.WriteLine(string.Create(inv, $"  {s.Index} [{s.Spec}]: density {s.Density:F4} of the masked weights, test accuracy {(s.Accuracy is double a ? (100 * a).ToString("F2", inv) + "%" : "— (no epoch trained)")}"));
        if (i.Layers.Count == 0) Console.WriteLine("layers: none masked (a dense model)");
        else
        {
            int width = Math.Max(24, i.Layers.Max(l => l.Path.Length));
            Console.WriteLine($"layers (density of each sub-net's mask; N:M sub-nets: conforming, or the groups keeping more than N):");
            Console.WriteLine($"  {"parameter".PadRight(width)} {"shape",-16} {"weights",9}" + string.Concat(i.Subnets.Select(s => $" {$"{s.Index} [{s.Spec}]",-16}")));
            foreach (var l in i.Layers)
            {
                var cells = l.Kept.Select((kept, k) =>
                {
                    string d = ((double)kept / l.Weights).ToString("F4", inv);
                    if (l.Nm[k] is not { } nm) return $" {d,-16}";
                    return $" {d + (nm.Conforms ? " N:M ok" : $" {nm.OverN}/{nm.Groups} > {nm.N}"),-16}";
                });
                Console.WriteLine($"  {l.Path.PadRight(width)} {"[" + string.Join(",", l.Shape) + "]",-16} {l.Weights,9}" + string.Concat(cells));
            }
        }
        Console.WriteLine("files (SHA-256):");
        foreach (var f in i.Files)
            Console.WriteLine(string.Create(inv, $"  {f.Sha256}  {f.Path} ({f.Bytes:N0} bytes{(f.ContentChecksum is { } c ? "; " + c : "")})"));
    }
}
