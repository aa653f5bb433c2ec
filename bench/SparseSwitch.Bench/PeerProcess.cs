using System.Diagnostics;
using System.Runtime.InteropServices;

namespace SparseSwitch.Bench;

/// <summary>
/// A benchmark peer in a child process that answers one line per command line on its standard
/// streams, after a first line "ready" (the PyTorch and ONNX Runtime peers). It can be stopped
/// (SIGSTOP, Linux) while others are timed, since its idle threads may spin and take cores.
/// Disposing sends "quit" and waits a little before killing it.
/// </summary>
internal sealed class PeerProcess : IDisposable
{
    private const int SigStop = 19, SigContinue = 18;

    [DllImport("libc", SetLastError = true)] private static extern int kill(int pid, int sig);

    private readonly Process _process;
    private readonly string _name;

    private PeerProcess(Process process, string name) { _process = process; _name = name; }

    /// <summary>Starts <paramref name="psi"/> (its streams redirected here) and waits for "ready";
    /// null with the reason when it cannot start or says something else first
    /// (<paramref name="notReady"/> words the reason from that first line).</summary>
    public static PeerProcess? Start(ProcessStartInfo psi, string name, Func<string?, string> notReady, out string? why)
    {
        why = null;
        psi.RedirectStandardInput = psi.RedirectStandardOutput = psi.RedirectStandardError = true;
        psi.UseShellExecute = false;
        Process p;
        try { p = Process.Start(psi)!; }
        catch (Exception e) { why = e.Message; return null; }
        p.ErrorDataReceived += (_, _) => { };
        p.BeginErrorReadLine();
        string? first = p.StandardOutput.ReadLine();
        if (first != "ready")
        {
            why = notReady(first);
            try { p.Kill(); } catch (InvalidOperationException) { }
            p.Dispose();
            return null;
        }
        return new PeerProcess(p, name);
    }

    /// <summary>Sends one command line and returns the answer line.</summary>
    public string Ask(string command)
    {
        _process.StandardInput.WriteLine(command);
        _process.StandardInput.Flush();
        return _process.StandardOutput.ReadLine() ?? throw new InvalidOperationException($"The {_name} peer exited.");
    }

    public void Pause() => Signal(SigStop);

    public void Resume() => Signal(SigContinue);

    private void Signal(int signal)
    {
        if (!OperatingSystem.IsLinux() || _process.HasExited) return;
        kill(_process.Id, signal);
    }

    public void Dispose()
    {
        Resume();
        try
        {
            _process.StandardInput.WriteLine("quit");
            _process.StandardInput.Flush();
            if (!_process.WaitForExit(5000)) _process.Kill();
        }
        catch (Exception e) when (e is IOException or InvalidOperationException) { }
        _process.Dispose();
    }
}
