using SparseSwitch.Nn;
using SparseSwitch.Nn.Models;
using SparseSwitch.Tensors;
using SparseSwitch.Tests.Support;
using Xunit;

namespace SparseSwitch.Tests.Nn.Models;

public class ResidualGradientTests
{
    private static double Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++) s += (double)a[i] * b[i];
        return s;
    }

    [Theory]
    [InlineData(2, 4, 8)]
    [InlineData(1, 3, 7)]  // odd size: subsampling keeps ⌈H/2⌉
    public void IdentityPadShortcutBackwardIsTheAdjointOfForward(int stride, int inC, int size)
    {
        var s = new IdentityPadShortcut(inC, inC + 4, stride);
        var rng = new Rng(9);
        var x = new Tensor(2, inC, size, size); rng.FillNormal(x.Span, 0, 1);
        var y = s.Forward(x);
        Assert.Equal([2, inC + 4, (size + stride - 1) / stride, (size + stride - 1) / stride], y.Shape);
        var dy = new Tensor(y.Shape); rng.FillNormal(dy.Span, 0, 1);
        double lhs = Dot(y.Span, dy.Span);
        var dx = s.Backward(dy);
        Assert.Equal(lhs, Dot(x.Span, dx.Span), 4);
        for (int c = 0; c < 2; c++) Assert.Equal(0f, y[c * y.Dim(2) * y.Dim(3)]); // padded channels are zero
    }

    [Fact]
    public void OptionAResNetEqualsProjectionResNetWithPaddedIdentityShortcuts()
    {
        // A 1×1 conv whose weight is the channel-padded identity, followed by a batch-norm that is
        // the identity in eval mode, computes exactly the option-A shortcut; so in eval mode both
        // networks must agree on logits, input gradient and every shared parameter's gradient.
        var a = new CifarResNet(8, 4, ShortcutKind.IdentityPad, numClasses: 5, rng: new Rng(21));
        var b = new CifarResNet(8, 4, ShortcutKind.ProjectionConv, numClasses: 5, rng: new Rng(99));
        var stateA = a.StateDict();
        b.LoadStateDict(stateA, strict: false);
        int shortcuts = 0;
        foreach (var (path, m) in b.NamedModules())
        {
            if (m is not BasicBlock { Shortcut: Sequential s }) continue;
            var conv = (Conv2d)s[0];
            var bn = (BatchNorm2d)s[1];
            int pad = (conv.OutChannels - conv.InChannels) / 2;
            conv.Weight.Data.Clear();
            for (int i = 0; i < conv.InChannels; i++) conv.Weight.Data[(i + pad) * conv.InChannels + i] = 1f;
            bn.RunningMean.Fill(0f);
            bn.RunningVar.Fill(1f - bn.Eps);
            shortcuts++;
        }
        Assert.Equal(2, shortcuts);
        a.Eval(); b.Eval();
        var rng = new Rng(22);
        var x = new Tensor(3, 3, 16, 16); rng.FillNormal(x.Span, 0, 1);
        var ya = a.Forward(x).Clone();
        var yb = b.Forward(x);
        Close.Assert(ya.Span, yb.Span, 1e-5, 1e-4, "logits");
        var dy = new Tensor(ya.Shape); rng.FillNormal(dy.Span, 0, 1);
        var dxa = a.Backward(dy).Clone();
        var dxb = b.Backward(dy);
        Close.Assert(dxa.Span, dxb.Span, 1e-5, 1e-3, "input gradient");
        var gb = b.NamedParameters().ToDictionary(p => p.Path, p => p.Param.Grad);
        foreach (var (path, p) in a.NamedParameters())
            Close.Assert(p.Grad.Span, gb[path].Span, 1e-5, 1e-3, path);
    }
}
