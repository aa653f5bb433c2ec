using System.CommandLine;
using System.Globalization;
using SparseSwitch.Serialization;
using SparseSwitch.Sparsity;
using SparseSwitch.Training;

namespace SparseSwitch.Cli.Commands;

/// <summary><c>convert</c>: a trained run to N:M with AdaPrune, reporting accuracy with and without
/// reconstruction; writes the converted weights as a PyTorch-compatible state dict.</summary>
public static class ConvertCommand
{
    public static Command Build()
    {
        var run = new Argument<string>("run") { Description = "Run folder of a finished training run (holds recipe.json and checkpoint.safetensors)." };
        var pattern = new Option<string>("--pattern") { Description = "N:M pattern, N kept of every M (default 2:4).", DefaultValueFactory = _ => "2:4" };
        var calib = new Option<int>("--calibration") { Description = "Calibration images from the training set (default 512).", DefaultValueFactory = _ => 512 };
        var steps = new Option<int>("--steps") { Description = "Adam steps per layer for the reconstruction (default 1000).", DefaultValueFactory = _ => 1000 };
        var lr = new Option<float>("--lr") { Description = "Adam learning rate of the reconstruction (default 1e-3).", DefaultValueFactory = _ => 1e-3f };
        var output = new Option<string?>("--out") { Description = "Write the AdaPrune-converted weights here (safetensors state dict)." };
        var c = new Command("convert", "Convert a trained model to N:M sparsity with AdaPrune (per-layer output reconstruction on a calibration set), no fine-tuning.");
        c.Arguments.Add(run);
        foreach (var o in new Option[] { pattern, calib, steps, lr, output }) c.Options.Add(o);
        c.SetAction(p =>
        {
            var parts = p.GetValue(pattern)!.Split(':');
            if (parts.Length != 2 || !int.TryParse(parts[0], CultureInfo.InvariantCulture, out int n) || !int.TryParse(parts[1], CultureInfo.InvariantCulture, out int m))
                throw new UsageException($"--pattern: '{p.GetValue(pattern)}' is not N:M (e.g. 2:4).");
            var options = new AdaPruneOptions { Steps = p.GetValue(steps), LearningRate = p.GetValue(lr) };
            var (_, results, model) = NmConversion.Run(p.GetValue(run)!, n, m, p.GetValue(calib), options, Console.Out);
            if (p.GetValue(output) is { } path)
            {
                SafeTensors.Save(path, model.StateDict(), new Dictionary<string, string> { ["pattern"] = $"{n}:{m}", ["method"] = "adaprune" });
                Console.WriteLine($"wrote {path}");
            }
            return results.All(r => r.ValidNm) ? 0 : 1;
        });
        return c;
    }
}
