using System.CommandLine;
using SparseSwitch.Export;
using SparseSwitch.Training;

namespace SparseSwitch.Cli.Commands;

/// <summary><c>import</c>: a run folder at epoch 0 from a PyTorch state dict (safetensors), which
/// <c>train --resume</c>, <c>convert</c>, <c>pack</c> and <c>export</c> take as any run.</summary>
public static class ImportCommand
{
    public static Command Build()
    {
        var state = new Argument<string>("state") { Description = "PyTorch state dict of the dense model, as a safetensors file (safetensors.torch.save_file(model.state_dict(), PATH))." };
        var output = new Option<string>("--out") { Description = "Run folder to create (must not hold a run).", Required = true };
        var recipeOptions = new RecipeOptions("seeds");
        var c = new Command("import",
            "Start a run from a PyTorch-trained state dict: creates a run folder (the resolved recipe and a checkpoint at epoch 0) whose model holds the " +
            "file's weights and running statistics, every batch-norm set a copy of the file's batch-norm. The recipe options are train's; --model and " +
            "--data fix the architecture (tensor names and shapes must be those of the same model in PyTorch). Then:\n" +
            "  sparseswitch train --resume --out RUN    trains it as the recipe says (AST from these weights, or a baseline)\n" +
            "  sparseswitch convert RUN --pattern 2:4   converts it to N:M (use --mode dense)\n" +
            "  sparseswitch pack RUN                    packs it as it is (each sub-net evaluated on the test set)\n" +
            "Example: sparseswitch import resnet20.safetensors --model resnet20 --data cifar10 --mode dense --out runs/imported\n" +
            "Example: sparseswitch import resnet20.safetensors --model resnet20 --data cifar10 --subnets 0.1,0.05,0.02 --epochs 30 --lr 0.01 --out runs/ast-from-torch");
        c.Arguments.Add(state);
        foreach (var o in recipeOptions.All) c.Options.Add(o);
        c.Options.Add(output);
        c.SetAction(p =>
        {
            var recipe = recipeOptions.Resolve(p);
            string path = p.GetValue(state)!, dir = p.GetValue(output)!;
            if (!File.Exists(path)) throw new UsageException($"{path}: no such file (STATE is a PyTorch state dict saved as safetensors).");
            ImportedRun run;
            try { run = RunImport.Create(recipe, path, dir); }
            catch (TorchStateDictException e) { throw new UsageException(e.Message); }
            Console.WriteLine($"imported {path} ({run.Tensors} tensors, sha256 {run.Sha256}) into {dir}: {recipe.Model} on {recipe.Data}, " +
                $"{recipe.Mode.ToString().ToLowerInvariant()}, sub-nets {recipe.SubnetsToTrain}, epoch 0 of {recipe.Epochs}");
            Console.WriteLine($"next: sparseswitch train --resume --out {dir}  |  sparseswitch pack {dir}  |  sparseswitch convert {dir}");
            return 0;
        });
        return c;
    }
}
