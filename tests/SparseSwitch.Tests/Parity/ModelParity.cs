using System.Globalization;
using SparseSwitch.Nn;
using SparseSwitch.Serialization;
using SparseSwitch.Tensors;
using SparseSwitch.Tests.Support;
using Xunit.Sdk;

namespace SparseSwitch.Tests.Parity;

/// <summary>Shared steps of the whole-network fixtures (ops mlp, cifar_resnet): load state.*,
/// one train-mode forward on input, cross-entropy with target, backward, compare logits, loss and
/// every grad.* at the fixture README's whole-network tolerance (values 1e-4, gradients 1e-3
/// relative) — with the fast float32 kernels that training uses and with double-accumulated
/// products (<see cref="MatmulPrecision.Highest"/>).
/// A ReLU network's gradient jumps where a pre-activation is zero, so where one lies within float32
/// rounding of zero a run whose products round differently from PyTorch's may legitimately take the
/// other branch. tools/make_fixtures.py therefore makes these fixtures on inputs whose every
/// pre-ReLU activation, in float64, is at least <see cref="MinPreReluMargin"/> away from zero, and
/// records that minimum (metadata <c>min_abs_pre_relu</c>). The fast path's gradients are compared
/// on fixtures that record such a margin; on a fixture without it (an older one) only the forward
/// values are compared at fast precision, and the gradients at Highest.</summary>
internal static class ModelParity
{
    /// <summary>The margin the fixture script guarantees.</summary>
    public const double MinPreReluMargin = 2e-5;

    public static Dictionary<string, Tensor> Prefixed(SafeTensors.File f, string prefix) =>
        f.Names.Where(n => n.StartsWith(prefix, StringComparison.Ordinal))
            .ToDictionary(n => n[prefix.Length..], n => f.Float(n));

    /// <summary>Whether the fixture records that no pre-ReLU activation lies within
    /// <see cref="MinPreReluMargin"/> of zero.</summary>
    public static bool HasReluMargin(SafeTensors.File f) =>
        double.TryParse(f.Meta("min_abs_pre_relu"), NumberStyles.Float, CultureInfo.InvariantCulture, out double m) && m >= MinPreReluMargin;

    /// <summary>Builds a fresh model with <paramref name="build"/> for each precision (Fast, then
    /// Highest), runs <see cref="ForwardBackwardAndCompare"/> at that precision, then
    /// <paramref name="after"/> (e.g. to check running statistics) with the model and a label.</summary>
    public static void Check(SafeTensors.File f, string name, Func<Module> build, Action<Module, string>? after = null)
    {
        bool fastGradients = HasReluMargin(f);
        foreach (var precision in new[] { MatmulPrecision.Fast, MatmulPrecision.Highest })
        {
            var model = build();
            model.UseOptions(EngineOptions.Default with { MatmulPrecision = precision });
            string label = $"{name} ({precision})";
            ForwardBackwardAndCompare(model, f, label, compareGradients: precision == MatmulPrecision.Highest || fastGradients);
            after?.Invoke(model, label);
        }
    }

    /// <param name="compareGradients">false: forward values only (logits, loss).</param>
    public static void ForwardBackwardAndCompare(Module model, SafeTensors.File f, string name, bool compareGradients = true)
    {
        var input = f.Float("input");
        int[] target = f["target"].ToInt64().Select(t => checked((int)t)).ToArray();
        model.Train();
        model.ZeroGrad();
        var logits = model.Forward(input);
        Close.Assert(f.Float("logits").Span, logits.Span, 1e-5, 1e-4, $"{name} logits");
        var loss = new CrossEntropyLoss();
        float l = loss.Forward(logits, target);
        Close.Assert(f.Float("loss").Span, new[] { l }, 1e-5, 1e-4, $"{name} loss");
        model.Backward(loss.Backward());
        if (!compareGradients) return;
        var grads = Prefixed(f, "grad.");
        var own = model.NamedParameters().ToDictionary(p => p.Path, p => p.Param);
        if (grads.Count != own.Count || grads.Keys.Any(k => !own.ContainsKey(k)))
            throw new XunitException($"{name}: gradient names differ. Fixture only: [{string.Join(", ", grads.Keys.Except(own.Keys))}]; model only: [{string.Join(", ", own.Keys.Except(grads.Keys))}].");
        foreach (var (path, g) in grads)
            Close.Assert(g.Span, own[path].Grad.Span, 1e-5, 1e-3, $"{name} grad.{path}");
    }
}
