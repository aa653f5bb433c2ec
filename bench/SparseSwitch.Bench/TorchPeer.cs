using System.Diagnostics;
using System.Globalization;

namespace SparseSwitch.Bench;

/// <summary>
/// A PyTorch process running bench/torch_train_step.py --serve, started with BASELINES.md's
/// environment (OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE removed, ATEN_CPU_CAPABILITY=avx512, the
/// glibc malloc thresholds) plus the configuration's own variables. <see cref="Run"/> asks it for
/// REPS training steps of a model and returns the seconds they took, so its samples can be
/// interleaved with ours. PyTorch is a benchmark peer only.
/// </summary>
public sealed class TorchPeer : IDisposable
{
    private readonly PeerProcess _process;
    public string Label { get; }

    private TorchPeer(PeerProcess process, string label) { _process = process; Label = label; }

    /// <summary>Starts the peer; with <paramref name="eval"/> a "step" is an eval-mode forward under
    /// torch.inference_mode() instead of a training step.</summary>
    public static TorchPeer? Start(string label, string[] env, int threads, int batch, out string? why, bool eval = false)
    {
        why = null;
        const string python = "/usr/bin/python3";
        string? script = FindScript();
        if (!File.Exists(python)) { why = $"{python} not found"; return null; }
        if (script is null) { why = "bench/torch_train_step.py not found above the working or program folder"; return null; }
        var psi = new ProcessStartInfo(python);
        foreach (var a in new[] { script, "--serve", "--threads", threads.ToString(CultureInfo.InvariantCulture), "--batch", batch.ToString(CultureInfo.InvariantCulture) })
            psi.ArgumentList.Add(a);
        if (eval) psi.ArgumentList.Add("--eval");
        psi.Environment.Remove("OPENBLAS_CORETYPE");
        psi.Environment.Remove("OPENBLAS_L2_SIZE");
        psi.Environment["ATEN_CPU_CAPABILITY"] = "avx512";
        psi.Environment["GLIBC_TUNABLES"] = "glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=4294967296";
        foreach (var kv in env)
        {
            int eq = kv.IndexOf('=');
            psi.Environment[kv[..eq]] = kv[(eq + 1)..];
        }
        var p = PeerProcess.Start(psi, "PyTorch", first => $"'import torch' failed or the script did not start (first line: {first ?? "<none>"})", out why);
        if (p is null) return null;
        return new TorchPeer(p, label);
    }

    /// <summary>Seconds PyTorch took for <paramref name="reps"/> steps of <paramref name="model"/>.</summary>
    public double Run(string model, int reps)
    {
        string line = _process.Ask($"run {model} {reps}");
        if (!double.TryParse(line, NumberStyles.Float, CultureInfo.InvariantCulture, out double s))
            throw new InvalidOperationException($"PyTorch peer: {line}");
        return s;
    }

    private static string? FindScript()
    {
        foreach (var start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
        {
            for (var d = new DirectoryInfo(start); d is not null; d = d.Parent)
            {
                var f = Path.Combine(d.FullName, "bench", "torch_train_step.py");
                if (File.Exists(f)) return f;
            }
        }
        return null;
    }

    /// <summary>Stops the peer process while others are timed; <see cref="Resume"/> continues it.</summary>
    public void Pause() => _process.Pause();

    public void Resume() => _process.Resume();

    public void Dispose() => _process.Dispose();
}
