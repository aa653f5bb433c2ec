using SparseSwitch.Nn;
using SparseSwitch.Tensors;
using SparseSwitch.Tensors.Conv;
using SparseSwitch.Tests.Support;
using Xunit;

namespace SparseSwitch.Tests.Nn;

/// <summary>The planner's choices, and a sub-net's mask applied inside every algorithm's packing.</summary>
public class ConvPlannerTests
{
    private static bool Avx512 => System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated && System.Runtime.Intrinsics.X86.Avx512F.IsSupported;

    private static ConvAlgorithm Plan(int cin, int cout, int size, int k, int stride, int groups = 1, EngineOptions? o = null) =>
        ConvPlanner.Choose(new ConvShape(new ConvGeometry(cin, size, size, k, k, stride, stride, k / 2, k / 2), cin, cout, groups), o ?? EngineOptions.Default);

    [Fact]
    public void ChoosesByGeometryCpuAndOptions()
    {
        Assert.Equal(ConvAlgorithm.ShiftedRows, Plan(3, 16, 32, 3, 1));              // the stem
        Assert.Equal(ConvAlgorithm.ShiftedRows, Plan(16, 16, 32, 3, 1));             // 32×32: too little padding waste
        Assert.Equal(Avx512 ? ConvAlgorithm.InterleavedPlanes : ConvAlgorithm.ShiftedRows, Plan(32, 32, 16, 3, 1));
        Assert.Equal(Avx512 ? ConvAlgorithm.Winograd : ConvAlgorithm.ShiftedRows, Plan(64, 64, 8, 3, 1));
        Assert.Equal(ConvAlgorithm.PhasePlanes, Plan(16, 32, 32, 3, 2));
        Assert.Equal(ConvAlgorithm.PhasePlanes, Plan(16, 32, 32, 1, 2));
        Assert.Equal(ConvAlgorithm.Depthwise, Plan(8, 8, 12, 3, 1, groups: 8));
        Assert.Equal(ConvAlgorithm.Im2Col, Plan(8, 16, 12, 3, 1, groups: 2));
        Assert.Equal(ConvAlgorithm.Im2Col, Plan(8, 16, 12, 1, 1));                   // 1×1 stride 1: not a "same" row path
        // Options: switched-off algorithms fall through to the next rule.
        var noWinograd = EngineOptions.Default with { ConvAlgorithms = ConvAlgorithms.All & ~ConvAlgorithms.Winograd };
        Assert.Equal(Avx512 ? ConvAlgorithm.InterleavedPlanes : ConvAlgorithm.ShiftedRows, Plan(64, 64, 8, 3, 1, o: noWinograd));
        var none = EngineOptions.Default with { ConvAlgorithms = ConvAlgorithms.None };
        Assert.Equal(ConvAlgorithm.Im2Col, Plan(64, 64, 8, 3, 1, o: none));
        Assert.Equal(ConvAlgorithm.Im2Col, Plan(16, 32, 32, 3, 2, o: none));
        Assert.Equal(ConvAlgorithm.Depthwise, Plan(8, 8, 12, 3, 1, groups: 8, o: none));
        // Highest precision asks for the direct sums: no Winograd.
        var highest = EngineOptions.Default with { MatmulPrecision = MatmulPrecision.Highest };
        Assert.NotEqual(ConvAlgorithm.Winograd, Plan(64, 64, 8, 3, 1, o: highest));
        // A tuning value moves a threshold.
        if (Avx512) Assert.Equal(ConvAlgorithm.Winograd, Plan(32, 32, 8, 3, 1, o: EngineOptions.Default with { WinogradMinChannels = 32 }));
    }

    [Theory]
    [InlineData(ConvAlgorithm.Winograd, 64, 64, 8, 3, 1, 1)]
    [InlineData(ConvAlgorithm.InterleavedPlanes, 16, 24, 8, 3, 1, 1)]
    [InlineData(ConvAlgorithm.ShiftedRows, 5, 9, 10, 3, 1, 1)]
    [InlineData(ConvAlgorithm.PhasePlanes, 6, 10, 12, 3, 2, 1)]
    [InlineData(ConvAlgorithm.PhasePlanes, 6, 10, 12, 1, 2, 1)]
    [InlineData(ConvAlgorithm.Depthwise, 6, 6, 9, 3, 1, 6)]
    [InlineData(ConvAlgorithm.Im2Col, 6, 8, 9, 3, 1, 2)]
    [InlineData(ConvAlgorithm.Im2Col, 6, 8, 9, 3, 2, 1)]
    public void AMaskAppliedAsWeightsArePackedEqualsMaskedWeightsBitForBit(ConvAlgorithm algorithm, int cin, int cout, int size, int k, int stride, int groups)
    {
        var engine = ShiftedRowsConvTests.Only(EngineOptions.Default with { Threads = 2 }, algorithm);
        var rng = new Rng((ulong)(cin * 31 + cout * 7 + size + k + stride + groups));
        var masked = new Conv2d(cin, cout, k, stride, k / 2, groups, bias: true, rng: rng);
        var plain = new Conv2d(cin, cout, k, stride, k / 2, groups, bias: true, rng: new Rng(1));
        masked.UseOptions(engine);
        plain.UseOptions(engine);
        var mask = new BitMask(masked.Weight.Length);
        for (int i = 0; i < mask.Length; i++) mask[i] = rng.NextFloat() < 0.3f;
        masked.Weight.Mask = mask;
        // The same layer with W ⊙ M written into its weights (+0 where masked) and no mask.
        mask.ApplyTo(masked.Weight.Data.Span, plain.Weight.Data.Span);
        masked.Bias!.Data.Span.CopyTo(plain.Bias!.Data.Span);
        var x = new Tensor(5, cin, size, size);
        rng.FillNormal(x.Span, 0, 1);
        for (int round = 0; round < 2; round++) // the second round reuses the packed buffers
        {
            var y1 = masked.Forward(x).Span.ToArray();
            var y2 = plain.Forward(x).Span.ToArray();
            if (algorithm != ConvAlgorithm.Winograd || Avx512) Assert.Equal(algorithm, masked.Path);
            Assert.Equal(y2, y1);
            var dy = new Tensor(masked.Forward(x).Shape);
            plain.Forward(x);
            rng.FillNormal(dy.Span, 0, 1);
            masked.ZeroGrad(); plain.ZeroGrad();
            Assert.Equal(plain.Backward(dy).Span.ToArray(), masked.Backward(dy).Span.ToArray());
            Assert.Equal(plain.Weight.Grad.Span.ToArray(), masked.Weight.Grad.Span.ToArray());
            // And the oracle, on the masked weights.
            var g = new ConvGeometry(cin, size, size, k, k, stride, stride, k / 2, k / 2);
            var expected = new float[y1.Length];
            ConvReference.Forward(g, 5, cout, groups, x.Span, plain.Weight.Data.Span, plain.Bias.Data.Span, expected);
            Close.Assert(expected, y1, 1e-5 * cin * k * k + 1e-5, 1e-5, $"{algorithm} masked y");
        }
    }
}
