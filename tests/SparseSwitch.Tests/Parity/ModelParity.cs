using SparseSwitch.Nn;
using SparseSwitch.Serialization;
using SparseSwitch.Tensors;
using SparseSwitch.Tests.Support;
using Xunit.Sdk;

namespace SparseSwitch.Tests.Parity;

/// <summary>Shared steps of the whole-network fixtures (ops mlp, cifar_resnet): load state.*,
/// one train-mode forward on input, cross-entropy with target, backward, compare logits, loss and
/// every grad.*.</summary>
internal static class ModelParity
{
    public static Dictionary<string, Tensor> Prefixed(SafeTensors.File f, string prefix) =>
        f.Names.Where(n => n.StartsWith(prefix, StringComparison.Ordinal))
            .ToDictionary(n => n[prefix.Length..], n => f.Float(n));

    /// <param name="compareGradients">false: forward values only (logits, loss; running stats are
    /// the caller's). Gradients of a whole ReLU network are discontinuous where a pre-activation is
    /// within float rounding of zero, so a run whose products round differently from PyTorch's may
    /// legitimately take the other branch at such a point; callers compare gradients in a run at
    /// <see cref="MatmulPrecision.Highest"/>.</param>
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
