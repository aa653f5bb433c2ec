using System.CommandLine;
using System.Globalization;
using SparseSwitch.Inference;
using SparseSwitch.Training;

namespace SparseSwitch.Cli.Commands;

/// <summary><c>pack</c>: a trained run into one deployable model file; <c>model-info</c>: what such a
/// file holds.</summary>
public static class ModelCommands
{
    public static IEnumerable<Command> Build()
    {
        yield return BuildPack();
        yield return BuildInfo();
    }

    private static Command BuildPack()
    {
        var run = new Argument<string>("run") { Description = "Run folder of a training run (holds recipe.json, checkpoint.safetensors and the metrics)." };
        var output = new Option<string?>("--out") { Description = "The model file to write (default RUN/model.safetensors)." };
        var c = new Command("pack", "Pack a trained run into one deployable model file: the shared weights, every sub-net's masks and " +
            "batch-norm set, the input normalisation, class names, and each sub-net's density and test accuracy.\n\n" +
            "Example:\n  sparseswitch pack runs/ast-20250101-120000 --out resnet20.safetensors");
        c.Arguments.Add(run);
        c.Options.Add(output);
        c.SetAction(p =>
        {
            string dir = p.GetValue(run)!;
            var artifact = ModelPacker.Pack(dir);
            string path = p.GetValue(output) ?? Path.Combine(dir, "model.safetensors");
            artifact.Write(path);
            Print(artifact, path);
            return 0;
        });
        return c;
    }

    private static Command BuildInfo()
    {
        var file = new Argument<string>("file") { Description = "A model file written by 'sparseswitch pack'." };
        var c = new Command("model-info", "Describe a model file: architecture, input, classes, sub-nets with density and accuracy, latencies.\n\n" +
            "Example:\n  sparseswitch model-info runs/ast-20250101-120000/model.safetensors");
        c.Arguments.Add(file);
        c.SetAction(p =>
        {
            string path = p.GetValue(file)!;
            Print(ModelArtifact.Read(path), path);
            return 0;
        });
        return c;
    }

    private static void Print(ModelArtifact artifact, string path)
    {
        Console.Write(artifact.Describe());
        long bytes = new FileInfo(path).Length;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{path}: {bytes:N0} bytes ({bytes / 1048576.0:F2} MiB)"));
    }
}
