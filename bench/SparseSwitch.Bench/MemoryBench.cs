using System.Text.RegularExpressions;
using SparseSwitch.Nn;
using SparseSwitch.Nn.Models;
using SparseSwitch.Optim;
using SparseSwitch.Tensors;
using SparseSwitch.Training;

namespace SparseSwitch.Bench;

/// <summary>
/// memory: where a training process's resident memory goes. Two modes:
///   steps (default): loads the data set as a run does (--data cifar10), builds the model (--model
///     resnet20-a) with SGD, trains --steps steps at --batch 128 on one batch of random images,
///     evaluates 256 images as the trainer does (in slices of a training batch) and one batch of
///     16, and trains again;
///   --trainer: the training driver itself (TrainingSetup, AlternatingTrainer) on a recipe like the
///     CIFAR-10 P1 one (--subnets 0.1,0.05,0.02), its epochs cut short by --train-limit (1280):
///     --epochs 2 epochs, each followed by the evaluation of every sub-net on the whole test set.
/// After each phase: the resident size (VmRSS) and its peak so far (VmHWM); the managed heap by
/// part, after a full collection (--no-collect: as the last collection left it), size and free
/// space within: gen0-2, the large object heap (the data set's pixels), the pinned object heap
/// (tensors: layer buffers, parameters, optimizer state); what the GC has committed; and the tensor
/// storage reachable from the model (its layers' buffers, parameters and gradients), with a
/// breakdown by the field it is reached through after the first training.
/// </summary>
public sealed class MemoryBench : IBench
{
    public string Name => "memory";
    public string Description => "resident memory of a training process by phase and heap (--model resnet20-a --batch 128 --data cifar10 [--trainer])";

    private bool _collect = true;
    private EngineOptions _engine = EngineOptions.Default;

    public int Run(BenchOptions options, Harness harness)
    {
        string model = "resnet20-a", data = "cifar10", subnets = "0.1,0.05,0.02";
        int batch = 128, steps = 5, trainLimit = 1280, epochs = 2;
        bool trainer = false;
        for (int i = 0; i < options.Rest.Count; i++)
        {
            switch (options.Rest[i])
            {
                case "--model": model = options.Rest[++i]; break;
                case "--data": data = options.Rest[++i]; break;
                case "--batch": batch = int.Parse(options.Rest[++i]); break;
                case "--steps": steps = int.Parse(options.Rest[++i]); break;
                case "--trainer": trainer = true; break;
                case "--subnets": subnets = options.Rest[++i]; break;
                case "--train-limit": trainLimit = int.Parse(options.Rest[++i]); break;
                case "--epochs": epochs = int.Parse(options.Rest[++i]); break;
                case "--no-collect": _collect = false; break;
                default: Console.Error.WriteLine($"memory: unknown option {options.Rest[i]}"); return 2;
            }
        }
        _engine = EngineOptions.Default with { Threads = options.ThreadCountsOr(2)[0] };
        Console.WriteLine($"{model}, batch {batch}, data {data}, threads {_engine.Threads}, server GC {System.Runtime.GCSettings.IsServerGC}");
        Console.WriteLine($"{"phase",-32} {"rss",7} {"peak",7} | {(_collect ? "after a full collection" : "as of the last collection"),-25}: " +
            $"{"gen0-2",7} {"LOH/free",13} {"POH/free",13} {"committed",9} | {"model",7}  (MiB)");
        Report("start");
        return trainer ? Trainer(model, data, batch, subnets, trainLimit, epochs) : Steps(model, data, batch, steps);
    }

    private int Steps(string model, string data, int batch, int steps)
    {
        var (train, test) = TrainingSetup.LoadData(new TrainRecipe { Data = data });
        Console.WriteLine($"  data: {train.Count} + {test.Count} images, {(train.Pixels.LongLength + test.Pixels.LongLength) / 1048576.0:0.0} MiB of pixels");
        Report("data loaded");
        var rng = new Rng(1);
        var net = ModelZoo.Create(model, train.Channels, train.Height, train.NumClasses, 1, rng);
        net.UseOptions(_engine);
        var opt = new Sgd(net.NamedParameters(), 0.1, momentum: 0.9, weightDecay: 5e-4);
        var loss = new CrossEntropyLoss();
        Report("model and optimizer built", net);
        Tensor Images(int n)
        {
            var x = new Tensor(n, train.Channels, train.Height, train.Width);
            rng.FillNormal(x.Span, 0, 1);
            return x;
        }
        var x = Images(batch);
        int[] targets = Enumerable.Range(0, batch).Select(i => i % train.NumClasses).ToArray();
        void Train()
        {
            for (int s = 0; s < steps; s++)
            {
                opt.ZeroGrad();
                loss.Forward(net.Forward(x), targets);
                net.Backward(loss.Backward());
                opt.Step();
            }
        }
        Train();
        Report($"{steps} training steps", net);
        Breakdown(net);
        net.Eval();
        var eval = Images(256);
        int slices = (256 + batch - 1) / batch, imageLength = eval.Length / 256;
        for (int i = 0; i < slices; i++)
        {
            var (start, end) = ParallelRange.Bounds(i, slices, 256);
            net.Forward(eval.View(start * imageLength, end - start, train.Channels, train.Height, train.Width));
        }
        net.Forward(Images(16));
        net.Train();
        Report("evaluation: 256 in slices, 16", net);
        Train();
        Report($"{steps} more training steps", net);
        GC.KeepAlive(test);
        return 0;
    }

    private int Trainer(string model, string data, int batch, string subnets, int trainLimit, int epochs)
    {
        var recipe = new TrainRecipe
        {
            Model = model, Data = data, Subnets = SubnetList.Parse(subnets), Mode = subnets.Contains(',') ? TrainMode.Ast : TrainMode.Dense,
            Epochs = epochs, BatchSize = batch, Lr = 0.1, Augment = true, PruneStart = 0, PruneEnd = epochs, UpdateEvery = 33,
            TrainLimit = trainLimit, Threads = _engine.Threads,
        };
        using var setup = new TrainingSetup(recipe);
        Console.WriteLine($"  data: {setup.Train.Count} + {setup.Test.Count} images, {(setup.Train.Pixels.LongLength + setup.Test.Pixels.LongLength) / 1048576.0:0.0} MiB of pixels");
        var tr = new AlternatingTrainer(setup);
        Report("setup and trainer built", setup.Model);
        for (int e = 0; e < recipe.Epochs; e++)
        {
            tr.RunEpoch();
            Report($"epoch {e + 1} trained", setup.Model);
            if (e == 0) Breakdown(setup.Model);
            tr.EpochReport("memory", new double[tr.K]);
            Report($"epoch {e + 1} evaluated", setup.Model);
        }
        return 0;
    }

    private void Report(string phase, Module? model = null)
    {
        var (rss, hwm) = Status();
        if (_collect)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();
        }
        var info = GC.GetGCMemoryInfo(GCKind.Any);
        static double MiB(long bytes) => bytes / 1048576.0;
        double Size(int g) => MiB(info.GenerationInfo[g].SizeAfterBytes);
        double Free(int g) => MiB(info.GenerationInfo[g].FragmentationAfterBytes);
        Console.WriteLine($"{phase,-32} {rss,7:0.0} {hwm,7:0.0} | {"",25}  {Size(0) + Size(1) + Size(2),7:0.0} {Size(3),6:0.0}/{Free(3),6:0.0} " +
            $"{Size(4),6:0.0}/{Free(4),6:0.0} {MiB(info.TotalCommittedBytes),9:0.0} | " + (model is null ? "" : $"{MiB(Held(model, out _)),7:0.0}"));
    }

    private static void Breakdown(Module model)
    {
        Held(model, out var byField);
        Console.WriteLine("  the model's tensor storage by the field it is first reached through (1 MiB and more):");
        foreach (var (field, bytes) in byField.OrderByDescending(kv => kv.Value).Where(kv => kv.Value >= 1 << 20))
            Console.WriteLine($"    {field,-40} {bytes / 1048576.0,8:0.0} MiB");
    }

    /// <summary>Bytes of the distinct float arrays reachable from <paramref name="root"/> through
    /// fields of this library's objects and the collections holding them (tensor storage), and
    /// by the field (Type.field) each was first reached through.</summary>
    private static long Held(object root, out Dictionary<string, long> byField)
    {
        var seen = new HashSet<object>(ReferenceEqualityComparer.Instance);
        var arrays = new Dictionary<object, string>(ReferenceEqualityComparer.Instance);
        var stack = new Stack<(object O, string Label)>();
        stack.Push((root, "model"));
        const System.Reflection.BindingFlags Fields = System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.Public
            | System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.DeclaredOnly;
        while (stack.Count > 0)
        {
            var (o, label) = stack.Pop();
            if (!seen.Add(o)) continue;
            var t = o.GetType();
            if (o is float[] f) { arrays[f] = label; continue; }
            if (o is Array a)
            {
                var et = t.GetElementType()!;
                if (et.IsPrimitive || et.IsEnum) continue;
                foreach (var e in a) if (e is not null) stack.Push((e, label)); // structs boxed, their fields walked below
                continue;
            }
            // This library's objects and the collections holding them (modules keep their children in lists).
            bool collection = t.Namespace?.StartsWith("System.Collections", StringComparison.Ordinal) == true;
            if (!collection && t.Namespace?.StartsWith("SparseSwitch", StringComparison.Ordinal) != true) continue;
            for (var ty = t; ty is not null; ty = ty.BaseType)
                foreach (var fi in ty.GetFields(Fields))
                    if (!fi.FieldType.IsPrimitive && !fi.FieldType.IsEnum && fi.GetValue(o) is { } v)
                        stack.Push((v, collection || o is Tensor ? label : $"{ty.Name}.{fi.Name.TrimStart('_').Replace("<", "").Replace(">k__BackingField", "")}"));
        }
        byField = arrays.GroupBy(kv => kv.Value).ToDictionary(g => g.Key, g => g.Sum(kv => (long)((float[])kv.Key).Length * sizeof(float)));
        return arrays.Keys.Sum(a => (long)((float[])a).Length * sizeof(float));
    }

    /// <summary>VmRSS and VmHWM of this process, MiB.</summary>
    private static (double Rss, double Hwm) Status()
    {
        string s = File.ReadAllText("/proc/self/status");
        double Kb(string key) => double.Parse(Regex.Match(s, $@"^{key}:\s+(\d+) kB", RegexOptions.Multiline).Groups[1].Value) / 1024;
        return (Kb("VmRSS"), Kb("VmHWM"));
    }
}
