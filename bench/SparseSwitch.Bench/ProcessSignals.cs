using System.Diagnostics;
using System.Runtime.InteropServices;

namespace SparseSwitch.Bench;

/// <summary>SIGSTOP / SIGCONT for peer processes (Linux).</summary>
internal static class ProcessSignals
{
    public const int Stop = 19, Continue = 18;

    [DllImport("libc", SetLastError = true)] private static extern int kill(int pid, int sig);

    public static void Send(Process p, int signal)
    {
        if (!OperatingSystem.IsLinux() || p.HasExited) return;
        kill(p.Id, signal);
    }
}
