using System.Buffers.Binary;
using System.Text;
using SparseSwitch.Serialization;
using SparseSwitch.Tensors;
using Xunit;

namespace SparseSwitch.Tests.Serialization;

/// <summary><see cref="SafeTensors.ReadMetadata"/>: a file's metadata from its header alone.</summary>
public sealed class SafeTensorsMetadataTests
{
    private static string TempFile() => Path.Combine(Path.GetTempPath(), $"ss-meta-{Guid.NewGuid():N}.safetensors");

    [Fact]
    public void TheMetadataIsReadFromTheHeaderWithoutTheTensors()
    {
        string path = TempFile();
        try
        {
            var t = new Tensor(3, 4);
            t.Span.Fill(1.5f);
            SafeTensors.Save(path, [new("w", t)], new Dictionary<string, string> { ["format"] = "x-1", ["note"] = "a \"quoted\" ü" });
            Assert.Equal(SafeTensors.Load(path).Metadata, SafeTensors.ReadMetadata(path));
            // Cutting the tensors' bytes off leaves the header readable (the whole-file reader refuses it).
            long header = 8 + BinaryPrimitives.ReadInt64LittleEndian(File.ReadAllBytes(path));
            using (var f = File.OpenWrite(path)) f.SetLength(header);
            Assert.Equal("a \"quoted\" ü", SafeTensors.ReadMetadata(path)["note"]);
            Assert.Throws<SafeTensorsFormatException>(() => SafeTensors.Load(path));

            SafeTensors.Save(path, [new("w", t)]);
            Assert.Empty(SafeTensors.ReadMetadata(path));
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void AMalformedHeaderIsRefusedNamingTheFile()
    {
        string path = TempFile();
        try
        {
            File.WriteAllBytes(path, [1, 2, 3]);
            Assert.Contains(path, Assert.Throws<SafeTensorsFormatException>(() => SafeTensors.ReadMetadata(path)).Message);

            var bytes = new byte[16];
            BinaryPrimitives.WriteUInt64LittleEndian(bytes, 1000);
            File.WriteAllBytes(path, bytes);
            Assert.Contains("runs past the end", Assert.Throws<SafeTensorsFormatException>(() => SafeTensors.ReadMetadata(path)).Message);

            foreach (var (json, expected) in new[] { ("[1, 2]", "JSON object"), ("{\"__metadata__\": {\"a\": 1}}", "metadata 'a' must be a string"), ("{not json", "not valid JSON") })
            {
                var body = Encoding.UTF8.GetBytes(json);
                var file = new byte[8 + body.Length];
                BinaryPrimitives.WriteUInt64LittleEndian(file, (ulong)body.Length);
                body.CopyTo(file, 8);
                File.WriteAllBytes(path, file);
                Assert.Contains(expected, Assert.Throws<SafeTensorsFormatException>(() => SafeTensors.ReadMetadata(path)).Message);
            }
        }
        finally { File.Delete(path); }
    }
}
