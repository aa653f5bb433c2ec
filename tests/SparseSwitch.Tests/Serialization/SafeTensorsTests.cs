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
