using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using SparseSwitch.Data;
using SparseSwitch.Inference;
using SparseSwitch.Nn;
using SparseSwitch.Nn.Models;
using SparseSwitch.Serialization;
using SparseSwitch.Tensors;
using Xunit;

namespace SparseSwitch.Tests.Inference;

/// <summary>The model artifact on its own: an artifact made from a zoo model with random weights,
/// running statistics and masks is written, read back, turned into a module; every hostile file
/// (rewritten with the safetensors writer) is refused with <see cref="ModelFormatException"/>
/// naming the file and the problem.</summary>
public sealed class ModelArtifactTests
{
    private const string Arch = "resnet20-a";
    private const int K = 2;

    /// <summary>ResNet-20 (option A) with two batch-norm sets whose statistics differ, two sub-nets
    /// of random masks (densities about 0.5 and 0.2), and its artifact.</summary>
    private static (Module Model, BitMask[][] Masks, ModelArtifact Artifact) Sample()
    {
        var rng = new Rng(11);
        var model = ModelZoo.Create(Arch, 3, 32, 10, K, rng);
        foreach (var (_, b) in model.NamedBuffers())
        {
            var s = b.Span;
            for (int i = 0; i < s.Length; i++) s[i] += 0.5f * rng.NextFloat();
        }
        var prunable = model.NamedParameters().Where(p => p.Param.Prunable).ToList();
        double[] keep = [0.5, 0.2];
        var masks = new BitMask[K][];
        var infos = new List<SubnetInfo>();
        for (int k = 0; k < K; k++)
        {
            masks[k] = prunable.Select(p =>
            {
                var m = new BitMask(p.Param.Length);
                for (int i = 0; i < m.Length; i++) m[i] = rng.NextFloat() < keep[k];
                return m;
            }).ToArray();
            double density = (double)masks[k].Sum(m => m.Count()) / masks[k].Sum(m => (long)m.Length);
            infos.Add(new SubnetInfo(keep[k].ToString(System.Globalization.CultureInfo.InvariantCulture), SubnetKind.Density, density, 0.5 + 0.1 * k, 1.25 - 0.1 * k));
        }
        var info = new ModelInfo
        {
            Architecture = Arch, InChannels = 3, ImageSize = 32, NumClasses = 10, ClassNames = DatasetCatalog.Cifar10.ClassNames,
            Mean = [0.4914f, 0.4822f, 0.4465f], Std = [0.2470f, 0.2435f, 0.2616f],
            MaskedParameters = prunable.Select(p => p.Path).ToList(), Subnets = infos, Data = "cifar10",
            Recipe = "{\"model\": \"resnet20-a\"}", Created = new DateTimeOffset(2025, 1, 2, 3, 4, 5, TimeSpan.Zero),
        };
        var maskDicts = masks.Select(ms => (IReadOnlyDictionary<string, BitMask>)prunable.Select((p, l) => (p.Path, ms[l])).ToDictionary(x => x.Path, x => x.Item2)).ToList();
        return (model, masks, new ModelArtifact(info, model.StateDict(), maskDicts));
    }

    private static readonly Lazy<(Module Model, BitMask[][] Masks, ModelArtifact Artifact)> Shared = new(Sample);

    private static string TempFile() => Path.Combine(Path.GetTempPath(), $"ss-model-{Guid.NewGuid():N}.safetensors");

    private static Tensor Input(int n, ulong seed)
    {
        var rng = new Rng(seed);
        var x = new Tensor(n, 3, 32, 32);
        var s = x.Span;
        for (int i = 0; i < s.Length; i++) s[i] = 2 * rng.NextFloat() - 1;
        return x;
    }

    [Fact]
    public void WriteAndReadPreserveEverythingIncludingTheLatencyTable()
    {
        var a = Shared.Value.Artifact.WithLatency([new LatencyEntry(1, 8, 2, 3.25, "test machine"), new LatencyEntry(0, 1, 1, 0.5, "other")]);
        string path = TempFile();
        try
        {
            a.Write(path);
            Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(path)!, Path.GetFileName(path) + ".tmp-*"));
            var b = ModelArtifact.Read(path);
            Assert.Equal(a.Info.ToJson(), b.Info.ToJson());
            Assert.Equal(2, b.Latency.Count);
            Assert.Equal(new LatencyEntry(1, 8, 2, 3.25, "test machine"), b.Latency[0]);
            Assert.Equal(a.Created, b.Created);
            Assert.Equal(a.State.Keys, b.State.Keys);
            foreach (var (name, t) in a.State)
                Assert.True(t.Span.SequenceEqual(b.State[name].Span), $"weight {name} changed");
            for (int k = 0; k < K; k++)
            {
                Assert.Equal(a.Masks(k).Keys.Order(), b.Masks(k).Keys.Order());
                foreach (var (name, m) in a.Masks(k)) Assert.Equal(m.ToBytes(), b.Masks(k)[name].ToBytes());
            }
            // A copy with another table leaves the original as it was.
            Assert.Empty(Shared.Value.Artifact.Latency);
            var c = ModelArtifact.Read(path).WithLatency([]);
            c.Write(path);
            Assert.Empty(ModelArtifact.Read(path).Latency);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void TheModuleOfEachSubnetComputesTheSourceModelsLogits()
    {
        var (model, masks, artifact) = Shared.Value;
        var module = artifact.CreateModule();
        Assert.False(module.Training);
        var masked = artifact.MaskedParameters.ToHashSet();
        Assert.All(module.NamedParameters(), p => Assert.Equal(masked.Contains(p.Path), p.Param.Prunable));
        var prunable = model.NamedParameters().Where(p => p.Param.Prunable).ToList();
        var x = Input(6, 3);
        model.Eval();
        var previous = new List<float[]>();
        for (int k = 0; k < K; k++)
        {
            for (int l = 0; l < prunable.Count; l++) prunable[l].Param.Mask = masks[k][l];
            SubNets.SetActive(model, k);
            var expected = model.Forward(x).ToArray();
            artifact.ApplySubnet(module, k);
            Assert.All(module.NamedParameters(), p => Assert.Equal(masked.Contains(p.Path), p.Param.Mask is not null));
            var actual = module.Forward(x).ToArray();
            Assert.Equal(expected, actual);
            Assert.DoesNotContain(previous, p => p.AsSpan().SequenceEqual(actual));
            previous.Add(actual);
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => artifact.ApplySubnet(module, K));
        Assert.Throws<ArgumentException>(() => artifact.ApplySubnet(ModelZoo.Create("lenet5", 3, 32, 10, 1, new Rng(1)), 0));
    }

    [Fact]
    public void PreprocessGivesTheDataLoadersInput()
    {
        var (_, test) = Synthetic.Generate(0, 5, seed: 4, threads: 1);
        var artifact = Shared.Value.Artifact;
        using var loader = new DataLoader(test, 5, shuffle: false, null, artifact.Normalization, seed: 1, prefetch: 0);
        var batch = loader.Epoch(0).First();
        var x = artifact.Preprocess(test.Pixels, test.Count);
        Assert.Equal(batch.Images.Shape, x.Shape);
        Assert.True(batch.Images.Span.SequenceEqual(x.Span));
        Assert.Throws<ArgumentException>(() => artifact.Preprocess(test.Pixels.AsSpan(1), test.Count));
    }

    [Fact]
    public void TheInferenceSourcesDoNotUseTheTrainer()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "SparseSwitch.slnx"))) dir = dir.Parent;
        Assert.NotNull(dir);
        var files = Directory.GetFiles(Path.Combine(dir.FullName, "src", "SparseSwitch", "Inference"), "*.cs");
        Assert.NotEmpty(files);
        Assert.All(files, f => Assert.DoesNotContain("SparseSwitch.Training", File.ReadAllText(f)));
    }

    [Fact]
    public void ReadingAMissingFileSaysSo()
    {
        var e = Assert.Throws<FileNotFoundException>(() => ModelArtifact.Read("/nonexistent/model.safetensors"));
        Assert.Contains("/nonexistent/model.safetensors", e.Message);
    }

    // ---- hostile files ----

    private sealed class Parts
    {
        public List<(string Name, SafeDType DType, long[] Shape, ReadOnlyMemory<byte> Bytes)> Entries = new();
        public Dictionary<string, string> Meta = new();
        public JsonObject Model => (JsonObject)JsonNode.Parse(Meta[ModelArtifact.ModelKey])!;
        public void SetModel(JsonObject o) => Meta[ModelArtifact.ModelKey] = o.ToJsonString();
        public void EditModel(Action<JsonObject> edit) { var o = Model; edit(o); SetModel(o); }
        public int Index(string name) => Entries.FindIndex(e => e.Name == name);
        public void Remove(string name) => Entries.RemoveAt(Index(name) is >= 0 and var i ? i : throw new ArgumentException(name));
        public void RemoveWhere(Func<string, bool> f) => Entries.RemoveAll(e => f(e.Name));
        public float[] Floats(string name) => MemoryMarshal.Cast<byte, float>(Entries[Index(name)].Bytes.Span).ToArray();
        public void SetFloats(string name, float[] v, long[]? shape = null)
        {
            int i = Index(name);
            Entries[i] = (name, SafeDType.F32, shape ?? Entries[i].Shape, MemoryMarshal.AsBytes(v.AsSpan()).ToArray());
        }
        public void Add(string name, SafeDType dtype, long[] shape, byte[] bytes) => Entries.Add((name, dtype, shape, bytes));
    }

    private static Parts Good()
    {
        var bytes = GoodBytes.Value;
        var f = SafeTensors.Parse(bytes, "good");
        var p = new Parts();
        foreach (var n in f.Names) p.Entries.Add((n, f[n].DType, f[n].Shape, f[n].Bytes.ToArray()));
        foreach (var (k, v) in f.Metadata) p.Meta[k] = v;
        return p;
    }

    private static readonly Lazy<byte[]> GoodBytes = new(() =>
    {
        string path = TempFile();
        try
        {
            Shared.Value.Artifact.Write(path);
            return File.ReadAllBytes(path);
        }
        finally { File.Delete(path); }
    });

    private static string FirstMasked => Shared.Value.Artifact.MaskedParameters[0];

    /// <summary>Every hostile case, by name: how the good file is changed, and what the message must say.</summary>
    public static TheoryData<string> Cases => new(HostileCases.Keys);

    private static readonly Dictionary<string, (Action<Parts> Damage, string Says)> HostileCases = new()
    {
        ["no format"] = (p => p.Meta.Remove("format"), "no 'format' metadata"),
        ["another format version"] = (p => p.Meta["format"] = "sparseswitch-model-0", "format 'sparseswitch-model-0', expected 'sparseswitch-model-1'"),
        ["a training checkpoint"] = (p => p.Meta["format"] = "sparseswitch-trainer-1", "training checkpoint"),
        ["no model metadata"] = (p => p.Meta.Remove("model"), "no 'model' metadata"),
        ["metadata not JSON"] = (p => p.Meta["model"] = "{\"architecture\": ", "'model' metadata is not valid"),
        ["metadata lacks a key"] = (p => p.EditModel(o => o.Remove("num_classes")), "num_classes"),
        ["metadata value of the wrong type"] = (p => p.EditModel(o => o["in_channels"] = "three"), "'model' metadata is not valid"),
        ["metadata null in a list"] = (p => p.EditModel(o => o["class_names"]![3] = null), "null"),
        ["metadata null sub-net"] = (p => p.EditModel(o => o["subnets"]![0] = null), "null"),
        ["unknown architecture"] = (p => p.EditModel(o => o["architecture"] = "resnet9000"), "unknown architecture 'resnet9000'"),
        ["huge input"] = (p => p.EditModel(o => o["image_size"] = 100_000), "outside the limits"),
        ["class names do not match the classes"] = (p => p.EditModel(o => o["num_classes"] = 11), "10 class names for 11 classes"),
        ["normalisation with a zero std"] = (p => p.EditModel(o => o["std"]![1] = 0), "input normalisation"),
        ["sub-net spec not of its kind"] = (p => p.EditModel(o => o["subnets"]![0]!["kind"] = "nm"), "spec '0.5' is not a N:M pattern"),
        ["sub-net density unlike its masks"] = (p => p.EditModel(o => o["subnets"]![1]!["density"] = 0.9), "sub-net 1: the metadata gives density 0.9"),
        ["latency of a sub-net that does not exist"] = (p => p.EditModel(o => o["latency"] = JsonNode.Parse("[{\"subnet\": 7, \"batch_size\": 1, \"threads\": 1, \"median_ms\": 1.0, \"machine\": \"m\"}]")), "latency entry (sub-net 7"),
        ["masked parameter not in the model"] = (p => p.EditModel(o => o["masked_parameters"]!.AsArray().Add("nope.weight")), "masked parameter 'nope.weight' is not a parameter"),
        ["missing weight"] = (p => p.Remove("model.linear.weight"), "missing weight 'model.linear.weight' (shape [10, 64])"),
        ["weight of the wrong shape"] = (p => p.SetFloats("model.linear.weight", p.Floats("model.linear.weight"), [64, 10]),
            "weight 'model.linear.weight' has shape [64, 10], the resnet20-a model expects [10, 64]"),
        ["weight of the wrong dtype"] = (p =>
        {
            int i = p.Index("model.linear.bias");
            p.Entries[i] = ("model.linear.bias", SafeDType.F64, [10], new byte[80]);
        }, "weight 'model.linear.bias' is F64, expected F32"),
        ["NaN in a weight"] = (p => { var v = p.Floats("model.linear.weight"); v[17] = float.NaN; p.SetFloats("model.linear.weight", v); },
            "weight 'model.linear.weight' holds NaN at element 17"),
        ["infinity in a running statistic"] = (p => { var v = p.Floats("model.bn1.running_var"); v[3] = float.PositiveInfinity; p.SetFloats("model.bn1.running_var", v); },
            "weight 'model.bn1.running_var' holds"),
        ["unexpected weight"] = (p => p.Add("model.extra.weight", SafeDType.F32, [2], new byte[8]), "unexpected weight 'model.extra.weight'"),
        ["unexpected tensor"] = (p => p.Add("optim.shared.step", SafeDType.I64, [1], new byte[8]), "unexpected tensor 'optim.shared.step'"),
        ["missing mask"] = (p => p.Remove($"mask.1.{FirstMasked}"), $"missing mask 'mask.1.{FirstMasked}' (sub-net 1)"),
        ["mask of the wrong byte length"] = (p =>
        {
            int i = p.Index($"mask.0.{FirstMasked}");
            var e = p.Entries[i];
            p.Entries[i] = (e.Name, SafeDType.U8, [e.Shape[0] - 1], e.Bytes[1..]);
        }, $"mask 'mask.0.{FirstMasked}' is U8 [287], expected U8 [288]"),
        ["mask of the wrong dtype"] = (p =>
        {
            int i = p.Index($"mask.0.{FirstMasked}");
            var e = p.Entries[i];
            p.Entries[i] = (e.Name, SafeDType.I8, e.Shape, e.Bytes);
        }, $"mask 'mask.0.{FirstMasked}' is I8"),
        ["mask for a sub-net that does not exist"] = (p => p.Add($"mask.2.{FirstMasked}", SafeDType.U8, [288], new byte[288]),
            $"mask 'mask.2.{FirstMasked}' is for sub-net 2, but the metadata lists 2 sub-net(s)"),
        ["mask for a parameter that is not masked"] = (p => p.Add("mask.0.linear.bias", SafeDType.U8, [2], new byte[2]),
            "mask 'mask.0.linear.bias' is for 'linear.bias', which is not one of the masked parameters"),
        ["mask with a malformed name"] = (p => p.Add("mask.x.linear.weight", SafeDType.U8, [80], new byte[80]), "mask 'mask.x.linear.weight' is not named"),
        ["more sub-nets than batch-norm sets"] = (p =>
        {
            p.EditModel(o => o["subnets"]!.AsArray().Add(o["subnets"]![1]!.DeepClone()));
            foreach (var e in p.Entries.Where(e => e.Name.StartsWith("mask.1.", StringComparison.Ordinal)).ToList())
                p.Add("mask.2." + e.Name["mask.1.".Length..], e.DType, e.Shape, e.Bytes.ToArray());
        }, "batch-norm 'layer1.0.bn1' holds 2 set(s) of weights, but the metadata lists 3 sub-nets"),
        ["fewer sub-nets than batch-norm sets"] = (p =>
        {
            p.EditModel(o => o["subnets"]!.AsArray().RemoveAt(1));
            p.RemoveWhere(n => n.StartsWith("mask.1.", StringComparison.Ordinal));
        }, "batch-norm 'layer1.0.bn1' holds 2 set(s) of weights, but in a model of 1 sub-net(s) it has one shared set"),
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void AHostileFileIsRefusedNamingTheProblem(string name)
    {
        var (damage, says) = HostileCases[name];
        var p = Good();
        damage(p);
        var bytes = SafeTensors.Serialize(p.Entries, p.Meta);
        var e = Assert.Throws<ModelFormatException>(() => ModelArtifact.Parse(bytes, "bad.safetensors"));
        Assert.StartsWith("bad.safetensors: ", e.Message);
        Assert.Contains(says, e.Message);
    }

    [Fact]
    public void TheGoodFileOfTheHostileCasesIsAccepted()
    {
        var p = Good();
        var a = ModelArtifact.Parse(SafeTensors.Serialize(p.Entries, p.Meta), "good.safetensors");
        Assert.Equal(K, a.SubnetCount);
    }

    [Fact]
    public void DamagedBytesAreRefusedWithTheModelError()
    {
        var good = GoodBytes.Value;
        Assert.Throws<ModelFormatException>(() => ModelArtifact.Parse(good[..(good.Length / 2)], "cut.safetensors"));
        Assert.Throws<ModelFormatException>(() => ModelArtifact.Parse([1, 2, 3], "tiny.safetensors"));
        // Flipped bits in the header (lengths, JSON, metadata): refused with our error or read whole.
        int header = (int)BitConverter.ToUInt64(good, 0) + 8;
        var rng = new Rng(5);
        for (int i = 0; i < 30; i++)
        {
            var copy = (byte[])good.Clone();
            int at = 8 + (int)(rng.NextFloat() * (header - 8));
            copy[at] ^= (byte)(1 << (int)(rng.NextFloat() * 8));
            try { ModelArtifact.Parse(copy, "flip.safetensors"); }
            catch (ModelFormatException) { }
        }
    }
}
