using SparseSwitch.Nn;
using SparseSwitch.Optim;
using SparseSwitch.Tensors;
using Xunit;

namespace SparseSwitch.Tests.Optim;

public class ParameterTableTests
{
    [Fact]
    public void RebindsParametersIntoAlignedFlatBuffersKeepingValues()
    {
        var a = new Parameter(3, 5); var b = new Parameter(7); var c = new Parameter(16);
        for (int i = 0; i < a.Length; i++) a.Data[i] = i + 1;
        for (int i = 0; i < b.Length; i++) b.Data[i] = -i;
        b.Grad.Fill(4);
        var table = new ParameterTable([("a", a), ("b", b), ("c", c)]);
        Assert.Equal([0, 64, 128], table.Entries.Select(e => e.Offset));
        Assert.Equal(192, table.TotalLength);
        Assert.Equal(15 + 7 + 16, table.ParameterCount);
        Assert.Equal(7f, table.Data[6]);
        Assert.Equal(-3f, table.Data[67]);
        // Writes through the parameter show in the table and the other way round.
        a.Data[0] = 42; Assert.Equal(42f, table.Data[0]);
        table.Data[128] = 9; Assert.Equal(9f, c.Data[0]);
        Assert.Equal(4f, table.Grad[64]);
        table.ZeroGrad();
        Assert.All(b.Grad.ToArray(), g => Assert.Equal(0f, g));
        var state = table.NewBuffer();
        table.Slice(state, table.IndexOf("b"))[2] = 5;
        Assert.Equal(5f, state[66]);
        Assert.Throws<KeyNotFoundException>(() => table.IndexOf("z"));
        // A flat mask: bit i is element i; each entry's view starts on a word.
        var mask = table.NewMask();
        table.MaskSlice(mask, 1).SetAll(true);
        Assert.Equal(7, mask.Count());
        Assert.True(mask[64] && mask[70] && !mask[71]);
        Assert.Throws<ArgumentException>(() => table.MaskSlice(new BitMask(10), 0));
    }

    [Fact]
    public void DuplicatesAreRejected()
    {
        var a = new Parameter(2);
        Assert.Throws<ArgumentException>(() => new ParameterTable([("a", a), ("a", new Parameter(2))]));
        Assert.Throws<ArgumentException>(() => new ParameterTable([("a", a), ("b", a)]));
    }

    [Fact]
    public void ModelTrainsThroughTheTableAsBefore()
    {
        // Same model twice: one rebound into a table, one not; a forward, backward and SGD step
        // must give identical results, and the gradients must land in the flat buffer.
        SparseSwitch.Nn.Module Build() => new SparseSwitch.Nn.Models.CifarResNet(8, 4, numClasses: 3, rng: new SparseSwitch.Tensors.Rng(4));
        var plain = Build();
        var flat = Build();
        var table = new ParameterTable(flat.NamedParameters());
        var x = new SparseSwitch.Tensors.Tensor(2, 3, 8, 8);
        new SparseSwitch.Tensors.Rng(5).FillNormal(x.Span, 0, 1);
        int[] t = [1, 2];
        foreach (var m in new[] { plain, flat })
        {
            var loss = new CrossEntropyLoss();
            loss.Forward(m.Forward(x), t);
            m.Backward(loss.Backward());
            new Sgd(m.NamedParameters(), 0.1, momentum: 0.9, weightDecay: 1e-4).Step();
        }
        var expected = plain.NamedParameters().ToList();
        var actual = flat.NamedParameters().ToList();
        for (int i = 0; i < expected.Count; i++)
        {
            Assert.Equal(expected[i].Param.Data.ToArray(), actual[i].Param.Data.ToArray());
            var e = table.Entries[i];
            Assert.Equal(expected[i].Param.Grad.ToArray(), table.Grad.Span.Slice(e.Offset, e.Length).ToArray());
        }
        Assert.Contains(table.Grad.ToArray(), g => g != 0);
    }
}
