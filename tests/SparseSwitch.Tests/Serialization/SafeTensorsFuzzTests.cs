using System.Buffers.Binary;
using System.Text;
using SparseSwitch.Serialization;
using SparseSwitch.Tensors;
using Xunit;

namespace SparseSwitch.Tests.Serialization;

/// <summary>Hostile inputs: every malformed file must end in SafeTensorsFormatException with a
/// message, never another exception type, a huge allocation or a hang.</summary>
public class SafeTensorsFuzzTests
{
    private static byte[] Valid()
    {
        var a = new float[24];
        for (int i = 0; i < a.Length; i++) a[i] = i * 0.5f - 3;
        var b = new long[] { 1, 2, 3 };
        return SafeTensors.Serialize(
            [("weight", SafeDType.F32, [2, 3, 4], System.Runtime.InteropServices.MemoryMarshal.AsBytes(a.AsSpan()).ToArray()),
             ("target", SafeDType.I64, [3], System.Runtime.InteropServices.MemoryMarshal.AsBytes(b.AsSpan()).ToArray())],
            new Dictionary<string, string> { ["op"] = "linear" });
    }

    private static byte[] WithHeader(string json, int dataBytes)
    {
        var h = Encoding.UTF8.GetBytes(json);
        var r = new byte[8 + h.Length + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(r, (ulong)h.Length);
        h.CopyTo(r, 8);
        return r;
    }

    /// <summary>Parses; returns true when accepted, false when rejected with our own error.
    /// Any other exception fails the test.</summary>
    private static bool ParsesOrRejects(byte[] data)
    {
        try
        {
            var f = SafeTensors.Parse(data, "fuzz.safetensors");
            foreach (var n in f.Names)
            {
                var t = f[n];
                if (t.DType is SafeDType.F32 or SafeDType.F64 or SafeDType.F16 or SafeDType.BF16) t.ToTensor();
                else t.ToInt64();
            }
            return true;
        }
        catch (SafeTensorsFormatException e)
        {
            Assert.StartsWith("fuzz.safetensors", e.Message);
            return false;
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(7)]
    public void TooShortForTheLengthPrefix(int length) =>
        Assert.Contains("8-byte header length", Assert.Throws<SafeTensorsFormatException>(() => SafeTensors.Parse(new byte[length], "x")).Message);

    [Fact]
    public void HeaderLengthPastEndOfFile()
    {
        var d = Valid();
        BinaryPrimitives.WriteUInt64LittleEndian(d, ulong.MaxValue);
        Assert.Contains("past the end", Assert.Throws<SafeTensorsFormatException>(() => SafeTensors.Parse(d, "x")).Message);
        BinaryPrimitives.WriteUInt64LittleEndian(d, (ulong)d.Length - 7);
        Assert.Contains("past the end", Assert.Throws<SafeTensorsFormatException>(() => SafeTensors.Parse(d, "x")).Message);
    }

    [Theory]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,16]}}", 8, "out of range")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "needs 12")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, "overlaps")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "gap")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8, "cover 4")]
    [InlineData("{\"a\":{\"dtype\":\"Q7\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "dtype 'Q7'")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, "non-negative")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],\"data_offsets\":[0,4]}}", 4, "needs more than the file holds")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", 8, "out of range")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "data_offsets")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "twice")]
    [InlineData("[1,2,3]", 0, "JSON object")]
    [InlineData("{\"a\":", 0, "not valid JSON")]
    [InlineData("{\"__metadata__\":{\"op\":5}}", 0, "must be a string")]
    [InlineData("{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":{\"f\":{\"g\":{\"h\":{\"i\":1}}}}}}}}}", 0, "not valid JSON")]
    public void MalformedHeadersAreRejectedWithAClearMessage(string json, int dataBytes, string expected)
    {
        var e = Assert.Throws<SafeTensorsFormatException>(() => SafeTensors.Parse(WithHeader(json, dataBytes), "bad.safetensors"));
        Assert.StartsWith("bad.safetensors", e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void InvalidUtf8IsRejected()
    {
        var d = WithHeader("{\"a\":1}", 0);
        d[9] = 0xFF;
        Assert.Throws<SafeTensorsFormatException>(() => SafeTensors.Parse(d, "x"));
    }

    [Fact]
    public void ThousandsOfBitFlipsNeverEscapeTheReadersError()
    {
        var valid = Valid();
        Assert.True(ParsesOrRejects(valid));
        var rng = new Rng(1234);
        int rejected = 0;
        for (int trial = 0; trial < 4000; trial++)
        {
            var d = (byte[])valid.Clone();
            int flips = 1 + rng.NextInt(4);
            for (int f = 0; f < flips; f++)
            {
                // Bias the mutations towards the length prefix and the header, where they matter.
                int pos = rng.NextInt(4) == 0 ? rng.NextInt(d.Length) : rng.NextInt(Math.Min(d.Length, 8 + 200));
                d[pos] ^= (byte)(1 << rng.NextInt(8));
            }
            if (!ParsesOrRejects(d)) rejected++;
        }
        Assert.True(rejected > 1000, $"only {rejected} of 4000 mutations were rejected; the mutator is not reaching the header");
    }

    [Fact]
    public void EveryTruncationIsRejected()
    {
        var valid = Valid();
        for (int len = 0; len < valid.Length; len++)
            Assert.False(ParsesOrRejects(valid[..len]), $"truncated to {len} bytes but accepted");
    }

    [Fact]
    public void RandomHeaderEditsAndGarbageNeverEscape()
    {
        var rng = new Rng(99);
        string[] tokens = ["{", "}", "[", "]", ",", ":", "\"a\"", "\"dtype\"", "\"F32\"", "\"I64\"", "\"shape\"", "\"data_offsets\"",
            "0", "4", "-1", "1e300", "99999999999999999999", "null", "true", "\"__metadata__\"", "\"x\"", " "];
        for (int trial = 0; trial < 3000; trial++)
        {
            var sb = new StringBuilder();
            int n = 1 + rng.NextInt(40);
            for (int i = 0; i < n; i++) sb.Append(tokens[rng.NextInt(tokens.Length)]);
            ParsesOrRejects(WithHeader(sb.ToString(), rng.NextInt(64)));
        }
        for (int trial = 0; trial < 1000; trial++)
        {
            var d = new byte[rng.NextInt(300)];
            for (int i = 0; i < d.Length; i++) d[i] = (byte)rng.NextInt(256);
            if (d.Length >= 8 && rng.NextInt(2) == 0) BinaryPrimitives.WriteUInt64LittleEndian(d, (ulong)rng.NextInt(d.Length));
            ParsesOrRejects(d);
        }
    }

    [Fact]
    public void ElementCountOverflowIsCaughtBeforeAllocation()
    {
        // 2^31 elements of 1 byte would pass a naive check on a tiny file; we reject without allocating.
        var e = Assert.Throws<SafeTensorsFormatException>(() =>
            SafeTensors.Parse(WithHeader("{\"a\":{\"dtype\":\"U8\",\"shape\":[65536,65536],\"data_offsets\":[0,16]}}", 16), "big"));
        Assert.Contains("'a'", e.Message);
    }
}
