using SparseSwitch.Tensors;
using Xunit;

namespace SparseSwitch.Tests.Tensors;

public class BitMaskTests
{
    [Fact]
    public void UnpackAndMaskMatchScalarTwinOnEveryLength()
    {
        var rng = new Rng(5);
        for (int len = 0; len <= 4 * 64 + 9; len++)
        {
            var m = new BitMask(len);
            for (int i = 0; i < len; i++) m[i] = rng.NextInt(3) != 0;
            if (len > 130) { for (int i = 0; i < 64; i++) m[i] = true; for (int i = 64; i < 128; i++) m[i] = false; }
            var fast = new float[len]; var slow = new float[len];
            m.WriteFloats(fast);
            BitKernels.UnpackScalar(m.Words, slow);
            Assert.Equal(slow, fast);
            var g = new float[len]; rng.FillNormal(g, 0, 1);
            var g2 = (float[])g.Clone();
            var copied = new float[len]; var copiedSlow = new float[len];
            m.ApplyTo(g, copied);
            BitKernels.MaskCopyScalar(m.Words, g, copiedSlow);
            Assert.Equal(copiedSlow, copied);
            m.ApplyTo(g);
            BitKernels.MaskInPlaceScalar(m.Words, g2);
            Assert.Equal(g2, g);
            Assert.Equal(g, copied);
            for (int i = 0; i < len; i++) Assert.Equal(m[i] ? 1f : 0f, fast[i]);
            // Packing floats back: vector kernel against its scalar twin (with -0 and NaN as edge values).
            var vals = new float[len];
            for (int i = 0; i < len; i++) vals[i] = rng.NextInt(4) switch { 0 => 0f, 1 => -0f, 2 => float.NaN, _ => 1.5f };
            var wa = new ulong[(len + 63) / 64]; var wb = new ulong[wa.Length];
            BitKernels.Pack(vals, wa);
            BitKernels.PackScalar(vals, wb);
            Assert.Equal(wb, wa);
        }
    }

    [Fact]
    public void BytesRoundTripAndRejectBadInput()
    {
        var rng = new Rng(9);
        foreach (int len in new[] { 0, 1, 7, 8, 9, 63, 64, 65, 1000 })
        {
            var m = new BitMask(len);
            for (int i = 0; i < len; i++) m[i] = rng.NextInt(2) == 1;
            var bytes = m.ToBytes();
            Assert.Equal((len + 7) / 8, bytes.Length);
            var back = BitMask.FromBytes(bytes, len);
            Assert.Equal(0, back.HammingDistance(m));
            for (int i = 0; i < len; i++) Assert.Equal(m[i], (bytes[i / 8] >> (i % 8) & 1) == 1);
        }
        Assert.Throws<ArgumentException>(() => BitMask.FromBytes(new byte[2], 20));
        Assert.Throws<ArgumentException>(() => BitMask.FromBytes(new byte[] { 0xFF }, 3));
    }

    [Fact]
    public void CountsAndSetOperations()
    {
        var a = new BitMask(100); var b = new BitMask(100);
        for (int i = 0; i < 100; i += 2) a[i] = true;
        for (int i = 0; i < 100; i += 4) b[i] = true;
        Assert.Equal(50, a.Count());
        Assert.Equal(25, a.IntersectionCount(b));
        Assert.Equal(25, a.HammingDistance(b));
        Assert.True(b.IsSubsetOf(a));
        Assert.False(a.IsSubsetOf(b));
        var all = new BitMask(70, true);
        Assert.Equal(70, all.Count());
        Assert.Throws<ArgumentException>(() => a.IntersectionCount(all));
    }

    [Fact]
    public void ViewsShareWordAlignedStorageAndKeepTheirPaddingClear()
    {
        var flat = new BitMask(256);
        var a = flat.Slice(0, 100);    // words 0–1; positions 100–127 are padding
        var b = flat.Slice(128, 70);   // words 2–3
        a.SetAll(true);
        b.SetAll(true);
        Assert.Equal(170, flat.Count());
        Assert.False(flat[100]);
        Assert.False(flat[127]);
        Assert.True(flat[128]);
        b[3] = false;
        Assert.False(flat[131]);
        flat[129] = false;
        Assert.False(b[1]);
        Assert.Equal(2, b.Words.Length);
        // Loading bytes, copying and cloning work on the view's positions only.
        var bytes = new BitMask(70, true).ToBytes();
        b.SetFromBytes(bytes);
        Assert.Equal(70, b.Count());
        var c = b.Clone();
        c[0] = false;
        Assert.True(b[0]);
        a.CopyFrom(new BitMask(100));
        Assert.Equal(70, flat.Count());
        // Masking a flat buffer with the flat mask is masking every view's slice.
        var values = Enumerable.Range(1, 256).Select(i => (float)i).ToArray();
        flat.ApplyTo(values);
        Assert.All(values.Take(128), v => Assert.Equal(0f, v));
        Assert.Equal(129f, values[128]);
        Assert.Equal(0f, values[198]);
        Assert.Throws<ArgumentException>(() => flat.Slice(32, 10));
        Assert.Throws<ArgumentOutOfRangeException>(() => flat.Slice(192, 65));
        Assert.Throws<IndexOutOfRangeException>(() => b[70]);
    }
}
