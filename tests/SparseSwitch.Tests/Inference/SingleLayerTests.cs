using SparseSwitch.Inference;
using SparseSwitch.Nn;
using SparseSwitch.Tensors;
using SparseSwitch.Tests.Support;
using SparseSwitch.Tests.Tensors;
using Xunit;

namespace SparseSwitch.Tests.Inference;

/// <summary>One Linear or Conv2d layer compiled with a sparse mask (CSR) equals the masked dense
/// layer on odd shapes: empty rows, all kept, 1×1 and 5×5 kernels, one and two threads, groups of
/// images with a short last one.</summary>
public class SingleLayerTests
{
    private static InferenceModel Compile(Module layer, int c, int size, BitMask mask, int threads, int group, WeightFormat? form = null) =>
        InferenceModel.Compile(layer, c, size, [new Dictionary<string, BitMask> { ["weight"] = mask }],
            new InferenceOptions { Engine = EngineOptions.Default with { Threads = threads }, Formats = FormatChoice.Sparse, GroupSize = group, SparseForm = form });

    [Theory]
    [InlineData(1, 37, 50, 0.1, 1, WeightFormat.Csr)]
    [InlineData(1, 64, 128, 0.5, 2, WeightFormat.Csr)]
    [InlineData(1, 37, 50, 0.1, 1, WeightFormat.Sliced)]   // a partial last window and a partial last slice
    [InlineData(1, 64, 128, 0.5, 2, WeightFormat.Sliced)]
    [InlineData(1, 100, 40, 1.0, 2, WeightFormat.Sliced)]
    [InlineData(20, 33, 17, 0.2, 2, WeightFormat.Csr)]
    [InlineData(64, 100, 40, 1.0, 2, WeightFormat.Csr)]
    [InlineData(64, 100, 40, 0.3, 2, WeightFormat.Csr, 64)]   // whole 16 × 16 blocks and edges of features and outputs
    [InlineData(37, 50, 33, 0.2, 2, WeightFormat.Csr, 32)]    // a partial block of images in each group
    [InlineData(45, 64, 48, 0.5, 1, WeightFormat.Csr, 16)]
    public void LinearEqualsTheMaskedDenseLayer(int batch, int inF, int outF, double density, int threads, WeightFormat form, int group = 8)
    {
        var rng = new Rng((ulong)(batch * 7 + inF + outF));
        var dense = new Linear(inF, outF, bias: true, rng: rng);
        var (_, mask) = SparseKernelsTests.Weights(rng, outF, inF, density, emptyRows: true);
        dense.Weight.Mask = mask;
        dense.Eval();
        var x = new Tensor(batch, inF);
        rng.FillNormal(x.Span, 0, 1);
        var expected = dense.Forward(x).Span.ToArray();
        var compiled = Compile(dense, inF, 1, mask, threads, group, form);
        Assert.Equal(form, compiled.Layers(0, batch == 1).Single().Format);
        var y = new float[batch * outF];
        for (int round = 0; round < 2; round++)
        {
            compiled.Run(0, x.Span, y, batch);
            Close.Assert(expected, y, 1e-5 * Math.Sqrt(inF) + 1e-6, 1e-5, $"sparse linear round {round}");
        }
    }

    [Theory]
    [InlineData(1, 16, 24, 8, 3, 0.1, 2)]
    [InlineData(1, 3, 8, 11, 3, 0.6, 1)]
    [InlineData(5, 8, 8, 9, 5, 0.3, 2)]
    [InlineData(40, 32, 16, 6, 3, 0.05, 2)]  // several groups of images, a short last one
    [InlineData(2, 4, 4, 5, 1, 1.0, 2)]      // a 1×1 kernel (im2col), fully kept
    public void ConvEqualsTheMaskedDenseLayer(int batch, int cin, int cout, int size, int k, double density, int threads)
    {
        var rng = new Rng((ulong)(batch * 31 + cin * 7 + cout + size + k));
        var conv = new Conv2d(cin, cout, k, 1, k / 2, bias: true, rng: rng);
        var (_, mask) = SparseKernelsTests.Weights(rng, cout, cin * k * k, density, emptyRows: true);
        conv.Weight.Mask = mask;
        conv.Eval();
        var x = new Tensor(batch, cin, size, size);
        rng.FillNormal(x.Span, 0, 1);
        var expected = conv.Forward(x).Span.ToArray();
        var compiled = Compile(conv, cin, size, mask, threads, group: 16);
        var y = new float[expected.Length];
        for (int round = 0; round < 2; round++)
        {
            compiled.Run(0, x.Span, y, batch);
            Close.Assert(expected, y, 1e-5 * Math.Sqrt(cin * k * k) + 1e-6, 1e-5, $"sparse conv round {round}");
        }
    }
}
