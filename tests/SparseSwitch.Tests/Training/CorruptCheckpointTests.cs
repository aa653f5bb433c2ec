using SparseSwitch.Tests.Support;
using SparseSwitch.Training;
using Xunit;

namespace SparseSwitch.Tests.Training;

/// <summary><c>train --resume</c> on a damaged checkpoint (truncated, or one bit flipped anywhere:
/// the length field, the JSON header, the tensor data) ends with a clear error naming the file and
/// exit code 1 — never a crash, never a run that continues from a silently wrong state — and
/// leaves the run folder as it was. One short run (two epochs, stopped after the first) is made
/// once and copied for each case.</summary>
[Collection(ConsoleCollection.Name)]
public sealed class CorruptCheckpointTests : IClassFixture<CorruptCheckpointTests.StoppedRun>
{
    /// <summary>LeNet-5, AST with two sub-nets (so masks and their state are in the checkpoint),
    /// stopped after epoch 1 of 2.</summary>
    public sealed class StoppedRun : IDisposable
    {
        public string Dir { get; } = Directory.CreateTempSubdirectory("ss-resume-src-").FullName;
        public byte[] Checkpoint { get; }

        public StoppedRun()
        {
            var (code, _, err) = CliRunner.Run("train", "--model", "lenet5", "--train-limit", "96", "--test-limit", "32", "--epochs", "2",
                "--stop-after", "1", "--batch-size", "32", "--subnets", "0.5,0.2", "--prune-start", "0", "--prune-end", "1",
                "--update-every", "1", "--seed", "5", "--out", Dir);
            if (code != 0) throw new InvalidOperationException($"the stopped run failed ({code}): {err}");
            Checkpoint = File.ReadAllBytes(new RunFolder(Dir).CheckpointFile);
        }

        public void Dispose() => Directory.Delete(Dir, true);
    }

    private readonly StoppedRun _run;

    public CorruptCheckpointTests(StoppedRun run) => _run = run;

    /// <summary>A copy of the stopped run with the checkpoint replaced by <paramref name="checkpoint"/>.</summary>
    private string Copy(byte[] checkpoint)
    {
        var dir = Directory.CreateTempSubdirectory("ss-resume-").FullName;
        foreach (var f in Directory.GetFiles(_run.Dir)) File.Copy(f, Path.Combine(dir, Path.GetFileName(f)));
        File.WriteAllBytes(new RunFolder(dir).CheckpointFile, checkpoint);
        return dir;
    }

    /// <summary>Resumes from <paramref name="checkpoint"/>: it must fail with exit code 1 and a
    /// message naming the checkpoint, and leave every file of the run folder unchanged.</summary>
    private void AssertRefused(byte[] checkpoint, string what)
    {
        var dir = Copy(checkpoint);
        try
        {
            var before = Directory.GetFiles(dir).ToDictionary(f => f, File.ReadAllBytes);
            var (code, _, err) = CliRunner.Run("train", "--resume", "--out", dir);
            Assert.True(code == 1, $"{what}: exit code {code}, expected 1 (stderr: {err})");
            Assert.StartsWith("error: ", err);
            Assert.Contains("checkpoint.safetensors", err);
            Assert.Equal(before.Keys.Order(), Directory.GetFiles(dir).Order());
            foreach (var (f, bytes) in before)
                Assert.True(bytes.AsSpan().SequenceEqual(File.ReadAllBytes(f)), $"{what}: resuming changed {Path.GetFileName(f)}");
        }
        finally { Directory.Delete(dir, true); }
    }

    private static byte[] Flip(byte[] data, long bit)
    {
        var copy = (byte[])data.Clone();
        copy[bit / 8] ^= (byte)(1 << (int)(bit % 8));
        return copy;
    }

    private int HeaderLength => (int)BitConverter.ToUInt64(_run.Checkpoint, 0);

    [Fact]
    public void TheIntactCheckpointResumes()
    {
        var dir = Copy(_run.Checkpoint);
        try
        {
            var (code, output, err) = CliRunner.Run("train", "--resume", "--out", dir);
            Assert.True(code == 0, err);
            Assert.Contains("resumed at epoch 1", File.ReadAllText(new RunFolder(dir).LogFile));
            Assert.Contains("sub-net 1 [0.2]", output);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(4)]
    [InlineData(8)]
    [InlineData(100)]
    [InlineData(-1)]    // one byte short
    [InlineData(-4096)]
    public void ATruncatedCheckpointIsRefused(int keep)
    {
        int length = keep >= 0 ? keep : _run.Checkpoint.Length + keep;
        AssertRefused(_run.Checkpoint[..length], $"truncated to {length} bytes");
    }

    [Fact]
    public void AnEmptyOrJunkCheckpointIsRefused()
    {
        AssertRefused(System.Text.Encoding.UTF8.GetBytes("not a checkpoint"), "text");
        AssertRefused([.. _run.Checkpoint, 0, 0, 0, 0], "four bytes appended");
    }

    [Fact]
    public void AFlippedBitInTheHeaderIsRefused()
    {
        string header = System.Text.Encoding.UTF8.GetString(_run.Checkpoint, 8, HeaderLength);
        // The length field, a shape digit, a data offset digit, the recipe and the format in the metadata.
        var places = new List<(long Byte, string What)> { (0, "header length, low byte"), (5, "header length, high byte") };
        int shape = header.IndexOf("\"shape\":[", StringComparison.Ordinal) + 9;
        int offsets = header.IndexOf("\"data_offsets\":[", header.IndexOf("\"data_offsets\":[", StringComparison.Ordinal) + 1, StringComparison.Ordinal) + 16;
        int lr = header.IndexOf("lr", header.IndexOf("\"recipe\"", StringComparison.Ordinal), StringComparison.Ordinal);
        int format = header.IndexOf("sparseswitch-trainer", StringComparison.Ordinal);
        Assert.True(shape > 9 && offsets > 16 && lr > 0 && format > 0, "the header does not look as expected");
        foreach (var (at, what) in new[] { (shape, "a shape"), (offsets, "a data offset"), (lr, "the recipe"), (format, "the format name") })
            places.Add((8 + at, what));
        foreach (var (at, what) in places)
            AssertRefused(Flip(_run.Checkpoint, at * 8), $"bit 0 of byte {at} ({what}) flipped");
    }

    [Fact]
    public void AFlippedBitInTheTensorDataIsRefused()
    {
        // Model weights come first in the data section, then optimiser state, masks and counters:
        // bits spread over the whole section, the first and the last.
        long start = 8 + HeaderLength, bits = (_run.Checkpoint.Length - start) * 8;
        var rng = new Random(11);
        var picks = new List<long> { 0, bits - 1 };
        for (int i = 0; i < 10; i++) picks.Add(rng.NextInt64(bits));
        foreach (long bit in picks)
            AssertRefused(Flip(_run.Checkpoint, start * 8 + bit), $"data bit {bit} of {bits} flipped");
    }
}

/// <summary>The checksum a checkpoint records of itself (<see cref="CheckpointChecksum"/>).</summary>
public sealed class CheckpointChecksumTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ss-ckpt-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    private string Write(out CheckpointWriter w)
    {
        w = new CheckpointWriter();
        w.Add("w", SparseSwitch.Tensors.Tensor.FromArray([1f, 2f, 3f, 4f], 2, 2));
        w.Add("counters", new long[] { 7, 1 });
        w.Meta("format", "test");
        var path = Path.Combine(_dir, "c.safetensors");
        w.Save(path);
        return path;
    }

    [Fact]
    public void AGoodCheckpointRecordsAndPassesItsChecksum()
    {
        var path = Write(out _);
        var f = SparseSwitch.Serialization.SafeTensors.Load(path);
        Assert.Matches("^[0-9a-f]{64}$", f.Meta(CheckpointChecksum.Key));
        var r = new CheckpointReader(path);
        Assert.Equal(new long[] { 7, 1 }, r.Longs("counters"));
    }

    [Fact]
    public void AValidFileWithOtherContentIsRefusedAndOneWithoutAChecksumIsRead()
    {
        var path = Write(out _);
        var f = SparseSwitch.Serialization.SafeTensors.Load(path);
        var entries = f.Names.Select(n => (n, f[n].DType, f[n].Shape, f[n].Bytes)).ToList();
        // The same file with one counter changed, still well-formed safetensors: refused.
        var changed = entries.Select(e => e.n == "counters" ? (e.n, e.DType, e.Shape, (ReadOnlyMemory<byte>)BitConverter.GetBytes(8L).Concat(BitConverter.GetBytes(1L)).ToArray()) : e).ToList();
        SparseSwitch.Serialization.SafeTensors.SaveRaw(path, changed, f.Metadata.ToDictionary());
        var e = Assert.Throws<SparseSwitch.Serialization.SafeTensorsFormatException>(() => new CheckpointReader(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("damaged", e.Message);
        // Without the checksum (a checkpoint written before it existed) the file is read as it is.
        SparseSwitch.Serialization.SafeTensors.SaveRaw(path, changed, f.Metadata.Where(kv => kv.Key != CheckpointChecksum.Key).ToDictionary());
        Assert.Equal(new long[] { 8, 1 }, new CheckpointReader(path).Longs("counters"));
    }
}
