using System.Reflection;
using Module = SparseSwitch.Nn.Module;
using SparseSwitch.Nn;
using SparseSwitch.Tensors;

namespace SparseSwitch.Training;

/// <summary>
/// Multiply-adds of the convolution and linear layers, from shapes. Each weight element is used
/// <c>UsesPerSample</c> times per sample in the forward pass (OH·OW for a convolution, 1 for a linear
/// layer), so a layer's forward cost is weights × uses, and with a mask kept weights × uses.
/// Training cost per sample (the convention of the sparse-training literature): forward + input
/// gradient + weight gradient ≈ 3 × forward; a masked step costs 3 × the masked forward, and a step
/// that also needs the dense weight gradient (mask-update steps with dense regrowth) adds the dense
/// minus masked forward once. Layers other than convolution and linear (batch-norm, pooling,
/// activations) are not counted.
/// </summary>
public sealed class FlopCounter
{
    public sealed record Entry(string Path, Parameter Weight, long UsesPerSample);

    public IReadOnlyList<Entry> Entries { get; }

    public FlopCounter(IReadOnlyList<Entry> entries) => Entries = entries;

    /// <summary>Dense forward multiply-adds per sample.</summary>
    public long DenseForward() => Entries.Sum(e => e.Weight.Length * e.UsesPerSample);

    /// <summary>Forward multiply-adds per sample when entry i keeps <paramref name="kept"/>(i) weights.</summary>
    public long MaskedForward(Func<Parameter, long> kept) => Entries.Sum(e => kept(e.Weight) * e.UsesPerSample);

    /// <summary>
    /// Builds the counter for a model by running one forward pass on a single zero image of
    /// [channels, height, width] and reading each convolution's output size. Linear layers and
    /// convolutions are found by their <c>Weight</c> parameter (rank 2 and rank 4); a convolution's
    /// output size is read from its geometry after the pass.
    /// </summary>
    public static FlopCounter ForModel(Module model, int channels, int height, int width)
    {
        bool training = model.Training;
        model.Eval();
        model.Forward(new Tensor(1, channels, height, width));
        model.Train(training);
        var entries = new List<Entry>();
        foreach (var (path, module) in model.NamedModules())
        {
            var weightProp = module.GetType().GetProperty("Weight", BindingFlags.Public | BindingFlags.Instance);
            if (weightProp?.GetValue(module) is not Parameter w) continue;
            string wPath = path.Length == 0 ? "weight" : path + ".weight";
            if (w.Shape.Length == 2 && module.GetType().Name == "Linear")
                entries.Add(new Entry(wPath, w, 1));
            else if (w.Shape.Length == 4 && module.GetType().Name == "Conv2d")
                entries.Add(new Entry(wPath, w, ConvOutputPositions(module)));
        }
        return new FlopCounter(entries);
    }

    private static long ConvOutputPositions(Module conv)
    {
        // The convolution keeps the geometry of its last forward pass.
        var field = conv.GetType().GetField("_geo", BindingFlags.NonPublic | BindingFlags.Instance);
        var geo = field?.GetValue(conv);
        var oh = geo?.GetType().GetProperty("OH")?.GetValue(geo);
        var ow = geo?.GetType().GetProperty("OW")?.GetValue(geo);
        if (oh is int h && ow is int w) return (long)h * w;
        throw new InvalidOperationException($"Cannot read the output size of {conv.GetType().Name} to count its multiply-adds.");
    }
}
