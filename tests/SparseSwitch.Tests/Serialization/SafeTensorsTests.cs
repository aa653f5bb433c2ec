using SparseSwitch.Serialization;
using SparseSwitch.Tensors;
using SparseSwitch.Tests.Support;
using Xunit;

namespace SparseSwitch.Tests.Serialization;

public class SafeTensorsTests
{
    [Fact]
    public void RoundTripsTensorsAndMetadata()
    {
        var a = Tensor.FromArray([1f, 2f, 3f, 4f, 5f, 6f], 2, 3);
        var b = Tensor.FromArray([-0.5f], 1);
        var bytes = SafeTensors.Serialize(
            [("a", SafeDType.F32, [2, 3], System.Runtime.InteropServices.MemoryMarshal.AsBytes(a.Span).ToArray()),
             ("b", SafeDType.F32, [1], System.Runtime.InteropServices.MemoryMarshal.AsBytes(b.Span).ToArray())],
            new Dictionary<string, string> { ["op"] = "test" });
        Assert.Equal(0, (bytes.Length - 8) % 4); // header padded to 8, data follows aligned
        var f = SafeTensors.Parse(bytes);
        Assert.Equal("test", f.Meta("op"));
        Assert.Equal(["a", "b"], f.Names);
        Assert.Equal(a.ToArray(), f.Float("a").ToArray());
        Assert.Equal(new[] { 2, 3 }, f.Float("a").Shape);
        Assert.Equal(b.ToArray(), f.Float("b").ToArray());
    }

    /// <summary>Parses a one-tensor file of the given dtype built from raw little-endian bytes.</summary>
    private static Tensor Decode(SafeDType dtype, byte[] raw)
    {
        int n = raw.Length / SafeTensors.DTypeSize(dtype);
        var f = SafeTensors.Parse(SafeTensors.Serialize([("t", dtype, [n], raw)]));
        Assert.Equal(dtype, f["t"].DType);
        return f.Float("t");
    }

    private static byte[] LittleEndian16(params ushort[] bits) =>
        bits.SelectMany(b => new[] { (byte)b, (byte)(b >> 8) }).ToArray();

    /// <summary>Expected values compared bit for bit (so -0 differs from +0, and NaN is NaN).</summary>
    private static void AssertBits(float[] expected, Tensor actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(actual.Span[i]) || (float.IsNaN(expected[i]) && float.IsNaN(actual.Span[i])),
                $"element {i}: got {actual.Span[i]} (0x{BitConverter.SingleToInt32Bits(actual.Span[i]):X8}), expected {expected[i]} (0x{BitConverter.SingleToInt32Bits(expected[i]):X8})");
    }

    [Fact]
    public void DecodesF16BitPatterns()
    {
        var t = Decode(SafeDType.F16, LittleEndian16(
            0x3C00, 0xC000, 0x3555, 0x7BFF, 0x0400, 0x0001, 0x8000, 0x7C00, 0xFC00, 0x7E00));
        AssertBits([
            1f, -2f, 0.333251953125f, 65504f,
            6.103515625e-05f,          // smallest normal, 2^-14
            5.9604644775390625e-08f,   // smallest subnormal, 2^-24
            -0f, float.PositiveInfinity, float.NegativeInfinity, float.NaN,
        ], t);
    }

    [Fact]
    public void DecodesBF16BitPatterns()
    {
        var t = Decode(SafeDType.BF16, LittleEndian16(
            0x3F80, 0xC040, 0x3EAB, 0x7F7F, 0x0080, 0x0001, 0x8000, 0x7F80, 0xFF80, 0x7FC0, 0x4049));
        AssertBits([
            1f, -3f, 0.333984375f,
            BitConverter.Int32BitsToSingle(0x7F7F0000), // largest finite bfloat16, ≈ 3.39e38
            BitConverter.Int32BitsToSingle(0x00800000), // smallest normal float, 2^-126
            BitConverter.Int32BitsToSingle(0x00010000), // a subnormal
            -0f, float.PositiveInfinity, float.NegativeInfinity, float.NaN, 3.140625f,
        ], t);
    }

    [Fact]
    public void DecodesF64BitPatternsRoundedToFloat()
    {
        double[] values = [1.0, -2.5, 0.1, 1e300, -1e300, 1e-50, -0.0, double.NaN, 3.4028235e38, 16777217.0];
        var raw = new byte[values.Length * 8];
        for (int i = 0; i < values.Length; i++) System.Buffers.Binary.BinaryPrimitives.WriteDoubleLittleEndian(raw.AsSpan(i * 8), values[i]);
        Assert.Equal(0x3FF0000000000000UL, System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(raw)); // 1.0's bit pattern
        AssertBits([
            1f, -2.5f, 0.1f, float.PositiveInfinity, float.NegativeInfinity, 0f, -0f, float.NaN,
            float.MaxValue,  // just above the largest float: rounds down to it
            16777216f,       // 2^24 + 1 rounds to even
        ], Decode(SafeDType.F64, raw));
    }

    [Fact]
    public void IntegerTensorsAreNotFloats()
    {
        var f = SafeTensors.Parse(SafeTensors.Serialize([("i", SafeDType.I64, [2], new byte[16])]));
        Assert.Throws<InvalidOperationException>(() => f.Float("i"));
        Assert.Equal(new long[2], f["i"].ToInt64());
    }

    [Fact]
    public void ReadsEveryFixtureFile()
    {
        var files = Paths.FixtureFiles().ToList();
        Assert.NotEmpty(files);
        foreach (var path in files)
        {
            var f = SafeTensors.Load(path);
            Assert.False(string.IsNullOrEmpty(f.Meta("op")), $"{path} has no op");
            Assert.NotEmpty(f.Names);
        }
    }
}
