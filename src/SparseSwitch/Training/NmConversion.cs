using SparseSwitch.Nn;
using SparseSwitch.Sparsity;
using SparseSwitch.Tensors;

namespace SparseSwitch.Training;

/// <summary>One way of turning the trained model into N:M, and the test accuracy it gives.</summary>
public sealed record NmConversionResult(string Variant, double Accuracy, double Loss, double Density, bool ValidNm, AdaPruneReport? Report);

/// <summary>
/// Converts a trained run (sub-net 0 of its checkpoint) to N:M and measures the test accuracy of
/// the dense model and of three conversions from the same weights: the plain N:M mask, the mask with
/// each group's pruned mass added to its kept weights, and AdaPrune's per-layer output
/// reconstruction (SPEC §3.5). No fine-tuning.
/// </summary>
public static class NmConversion
{
    public static (double DenseAccuracy, IReadOnlyList<NmConversionResult> Results, Module Model) Run(
        string runDir, int n, int m, int calibrationImages, AdaPruneOptions reconstruction, TextWriter? progress = null)
    {
        NmLayout.Check(n, m);
        if (calibrationImages < 1) throw new ArgumentOutOfRangeException(nameof(calibrationImages), "Calibration needs at least one image.");
        var folder = new RunFolder(runDir);
        string checkpoint = folder.RequireCheckpoint();
        var recipe = folder.ReadRecipe();
        using var setup = new TrainingSetup(recipe);
        var trainer = new AlternatingTrainer(setup);
        TrainerCheckpoint.Load(trainer, checkpoint);
        var model = setup.Model;
        var (_, denseAcc) = trainer.Evaluate(0);
        progress?.WriteLine($"{recipe.Model} from {runDir}: test accuracy {denseAcc:P2} before conversion (sub-net 0, {trainer.Subnets[0]})");
        // Sub-net 0's mask (if the run was sparse) is folded into the weights before conversion.
        FoldActiveMasks(model);

        var calibration = new List<Tensor>();
        int taken = 0;
        foreach (var batch in setup.TrainLoader.Epoch(0))
        {
            int use = Math.Min(batch.Count, calibrationImages - taken);
            var shape = (int[])batch.Images.Shape.Clone();
            shape[0] = use;
            calibration.Add(Tensor.FromArray(batch.Images.Span[..(use * batch.Images.Length / batch.Count)], shape));
            taken += use;
            if (taken >= calibrationImages) break;
        }

        var original = model.StateDict().ToDictionary(kv => kv.Key, kv => kv.Value.Clone());
        var variants = new (string Name, AdaPruneOptions Options)[]
        {
            ("mask only", new AdaPruneOptions { Steps = 0, Redistribute = false, RecalibrateBatchNorm = false }),
            ("mask + redistribution", new AdaPruneOptions { Steps = 0, Redistribute = true, RecalibrateBatchNorm = false }),
            ("AdaPrune (reconstruction)", reconstruction),
        };
        var results = new List<NmConversionResult>();
        foreach (var (name, options) in variants)
        {
            model.LoadStateDict(original);
            var report = AdaPrune.Convert(model, n, m, calibration, options);
            var (loss, acc) = trainer.Evaluate(0);
            var prunable = AdaPrune.PrunableLayers(model);
            bool valid = prunable.All(l => AtMostNPerGroup(l.Weight, n, m));
            long kept = prunable.Sum(l => BitMask.FromFloats(l.Weight.Data.Span).Count());
            long total = prunable.Sum(l => (long)l.Weight.Length);
            var r = new NmConversionResult(name, acc, loss, (double)kept / Math.Max(1, total), valid, report);
            results.Add(r);
            progress?.WriteLine($"  {n}:{m} {name,-27} test accuracy {acc:P2} (change {100 * (acc - denseAcc):+0.00;-0.00} points), prunable density {r.Density:F4}, N:M valid {valid}");
        }
        return (denseAcc, results, model);
    }

    /// <summary>No group holds more than N non-zeros (a kept weight may be exactly zero): the
    /// non-zeros are then a subset of the top-N mask.</summary>
    private static bool AtMostNPerGroup(Parameter w, int n, int m)
    {
        var mask = BitMask.FromFloats(w.Data.Span);
        var strict = NmMask.Compute(w.Data.Span, w.Shape, n, m);
        return mask.IsSubsetOf(strict);
    }

    private static void FoldActiveMasks(Module model)
    {
        foreach (var p in model.Parameters())
        {
            if (p.Mask is null) continue;
            p.Mask.ApplyTo(p.Data.Span);
            p.Mask = null;
        }
    }
}
