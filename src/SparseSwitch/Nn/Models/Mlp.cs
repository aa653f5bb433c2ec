using SparseSwitch.Tensors;

namespace SparseSwitch.Nn.Models;

/// <summary>
/// Multi-layer perceptron laid out as PyTorch's nn.Sequential(Flatten, Linear, ReLU, Linear, ReLU,
/// …, Linear): children "0", "1", …, so the default 784-300-100-10 network's parameters are
/// 1.weight, 3.weight, 5.weight (and biases). Every Linear weight is prunable (there is no
/// convolutional stem), the classifier too unless told otherwise.
/// </summary>
public sealed class Mlp : Module
{
    private readonly Module[] _layers;

    public IReadOnlyList<Linear> Linears { get; }

    /// <summary>The layers Forward runs, in order (flatten, linears and ReLUs): what the ONNX
    /// exporter walks.</summary>
    internal IReadOnlyList<Module> Layers => _layers;

    public Mlp(int inFeatures = 784, int[]? hidden = null, int numClasses = 10, Rng? rng = null, bool pruneClassifier = true)
    {
        hidden ??= [300, 100];
        if (inFeatures < 1) throw new ArgumentOutOfRangeException(nameof(inFeatures), inFeatures, "inFeatures must be ≥ 1.");
        if (numClasses < 1) throw new ArgumentOutOfRangeException(nameof(numClasses), numClasses, "numClasses must be ≥ 1.");
        rng ??= new Rng(0);
        var layers = new List<Module> { new Flatten() };
        var linears = new List<Linear>();
        int prev = inFeatures;
        foreach (int h in hidden)
        {
            if (h < 1) throw new ArgumentOutOfRangeException(nameof(hidden), h, "Hidden layer sizes must be ≥ 1.");
            var l = new Linear(prev, h, rng: rng);
            linears.Add(l);
            layers.Add(l);
            layers.Add(new ReLU());
            prev = h;
        }
        var head = new Linear(prev, numClasses, rng: rng);
        linears.Add(head);
        layers.Add(head);
        _layers = layers.ToArray();
        for (int i = 0; i < _layers.Length; i++) RegisterModule(i.ToString(System.Globalization.CultureInfo.InvariantCulture), _layers[i]);
        Linears = linears;
        SubNets.MarkPrunable(this, stem: null, classifier: head, pruneClassifier);
    }

    public override Tensor Forward(Tensor x)
    {
        foreach (var l in _layers) x = l.Forward(x);
        return x;
    }

    public override Tensor Backward(Tensor dy)
    {
        for (int i = _layers.Length - 1; i >= 0; i--) dy = _layers[i].Backward(dy);
        return dy;
    }
}
