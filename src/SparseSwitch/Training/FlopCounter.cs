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
    /// convolutions are found by type; a convolution's output size is its geometry after the pass.
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
            string wPath = path.Length == 0 ? "weight" : path + ".weight";
            switch (module)
            {
                case Linear linear:
                    entries.Add(new Entry(wPath, linear.Weight, 1));
                    break;
                case Conv2d conv:
                    var g = conv.LastGeometry
                        ?? throw new InvalidOperationException($"Conv2d '{path}' did not run in the forward pass, so its multiply-adds cannot be counted.");
                    entries.Add(new Entry(wPath, conv.Weight, (long)g.OH * g.OW));
                    break;
            }
        }
        return new FlopCounter(entries);
    }
}
