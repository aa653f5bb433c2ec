using System.Diagnostics;
using System.Globalization;
using Microsoft.ML.OnnxRuntime;
using SparseSwitch.Export;
using SparseSwitch.Nn;

namespace SparseSwitch.Bench;

/// <summary>
/// ONNX Runtime (CPU) running one of our models exported to ONNX, configured as BASELINES.md says
/// is its best here: intra-op threads = ours, one inter-op thread, all graph optimisations
/// (batch-norm folded, its blocked layouts). It runs in a child process (this program's
/// <c>ort-serve</c>), as the PyTorch peer does: in our process its thread pool slowed our own
/// kernels by up to 2× even when idle. Inputs and outputs are bound once to preallocated buffers.
/// </summary>
public sealed class OrtPeer : IDisposable
{
    private readonly PeerProcess _process;
    private readonly string _file;

    private OrtPeer(PeerProcess process, string file) { _process = process; _file = file; }

    /// <summary>The model as it is (its current masks and batch-norm set), for batches of
    /// <paramref name="batch"/> of the images in <paramref name="input"/>; null with the reason when it cannot start.</summary>
    public static OrtPeer? Start(Module model, int channels, int size, int batch, int threads, float[] input, out string? why)
    {
        why = null;
        string file = Path.Combine(Path.GetTempPath(), $"ss-ort-{Environment.ProcessId}-{Guid.NewGuid():N}");
        using (var f = File.Create(file + ".onnx")) OnnxExporter.Export(model, f, channels, size);
        File.WriteAllBytes(file + ".f32", System.Runtime.InteropServices.MemoryMarshal.AsBytes(input.AsSpan()).ToArray());
        var psi = new ProcessStartInfo(Environment.ProcessPath!);
        if (Path.GetFileNameWithoutExtension(Environment.ProcessPath!) == "dotnet") psi.ArgumentList.Add(typeof(OrtPeer).Assembly.Location);
        foreach (var a in new[] { "ort-serve", "--model", file + ".onnx", "--input", file + ".f32", "--batch", batch.ToString(CultureInfo.InvariantCulture),
                     "--shape", $"{channels},{size}", "--threads", threads.ToString(CultureInfo.InvariantCulture) })
            psi.ArgumentList.Add(a);
        var p = PeerProcess.Start(psi, "ONNX Runtime", first => $"ONNX Runtime peer did not start (first line: {first ?? "<none>"})", out why);
        if (p is null)
        {
            Delete(file);
            return null;
        }
        return new OrtPeer(p, file);
    }

    /// <summary>The first <paramref name="count"/> logits of one run (to check that the peer computes what we do).</summary>
    public float[] Logits(int count)
    {
        return _process.Ask($"logits {count}").Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(v => float.Parse(v, CultureInfo.InvariantCulture)).ToArray();
    }

    /// <summary>One run of the session (a round trip to the child process).</summary>
    public void Run() => _process.Ask("run 1");

    private static void Delete(string file)
    {
        foreach (var ext in new[] { ".onnx", ".f32" })
            try { File.Delete(file + ext); } catch (IOException) { }
    }

    /// <summary>Stops the peer process while others are timed; <see cref="Resume"/> continues it.</summary>
    public void Pause() => _process.Pause();

    public void Resume() => _process.Resume();

    public void Dispose()
    {
        _process.Dispose();
        Delete(_file);
    }
}

/// <summary>ort-serve: the child process of <see cref="OrtPeer"/> (not a benchmark of its own).
/// Reads "run REPS" (answers the seconds REPS runs took), "logits N" and "quit" on standard input.</summary>
public sealed class OrtServeBench : IBench
{
    public string Name => "ort-serve";
    public string Description => "(internal) the ONNX Runtime peer process of the infer bench";

    public int Run(BenchOptions options, Harness harness)
    {
        string model = "", input = "";
        int batch = 1, threads = 2, channels = 3, size = 32;
        for (int i = 0; i < options.Rest.Count; i++)
        {
            switch (options.Rest[i])
            {
                case "--model": model = options.Rest[++i]; break;
                case "--input": input = options.Rest[++i]; break;
                case "--batch": batch = int.Parse(options.Rest[++i], CultureInfo.InvariantCulture); break;
                case "--threads": threads = int.Parse(options.Rest[++i], CultureInfo.InvariantCulture); break;
                case "--shape":
                    var cs = options.Rest[++i].Split(',');
                    channels = int.Parse(cs[0], CultureInfo.InvariantCulture);
                    size = int.Parse(cs[1], CultureInfo.InvariantCulture);
                    break;
                default: Console.Error.WriteLine($"ort-serve: unknown option {options.Rest[i]}"); return 2;
            }
        }
        using var so = new SessionOptions
        {
            IntraOpNumThreads = threads, InterOpNumThreads = 1,
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL, ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
        };
        using var session = new InferenceSession(model, so);
        var x = new float[batch * channels * size * size];
        System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(File.ReadAllBytes(input)).Slice(0, x.Length).CopyTo(x);
        int classes = (int)session.OutputMetadata[OnnxExporter.OutputName].Dimensions[^1];
        var y = new float[batch * classes];
        using var xin = OrtValue.CreateTensorValueFromMemory(x, [batch, channels, size, size]);
        using var yout = OrtValue.CreateTensorValueFromMemory(y, [batch, classes]);
        using var run = new RunOptions();
        string[] inNames = [OnnxExporter.InputName], outNames = [OnnxExporter.OutputName];
        OrtValue[] ins = [xin], outs = [yout];
        for (int w = 0; w < 30; w++) session.Run(run, inNames, ins, outNames, outs);
        Console.WriteLine("ready");
        string? line;
        while ((line = Console.ReadLine()) is not null)
        {
            var parts = line.Split(' ');
            if (parts[0] == "quit") break;
            if (parts[0] == "logits")
            {
                session.Run(run, inNames, ins, outNames, outs);
                Console.WriteLine(string.Join(' ', y.Take(int.Parse(parts[1], CultureInfo.InvariantCulture)).Select(v => v.ToString("R", CultureInfo.InvariantCulture))));
                continue;
            }
            int reps = int.Parse(parts[1], CultureInfo.InvariantCulture);
            long t0 = Stopwatch.GetTimestamp();
            for (int r = 0; r < reps; r++) session.Run(run, inNames, ins, outNames, outs);
            Console.WriteLine(Stopwatch.GetElapsedTime(t0).TotalSeconds.ToString("R", CultureInfo.InvariantCulture));
        }
        return 0;
    }
}
