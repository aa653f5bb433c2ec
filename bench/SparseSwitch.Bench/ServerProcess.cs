using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;

namespace SparseSwitch.Bench;

/// <summary>
/// A <c>sparseswitch serve</c> server in a child process (the built CLI, run by <c>dotnet</c>),
/// listening on 127.0.0.1 on a port of its choosing: started, waited for until it prints "ready",
/// stopped with SIGTERM (it answers what is queued, then exits) and killed if it does not exit.
/// </summary>
internal sealed partial class ServerProcess : IDisposable
{
    [DllImport("libc", SetLastError = true)] private static extern int kill(int pid, int sig);
    private const int SigTerm = 15;

    private readonly Process _process;
    private readonly List<string> _output = [];
    public Uri Address { get; }
    public string Name { get; }
    public int Pid => _process.Id;
    public IReadOnlyList<string> Output { get { lock (_output) return _output.ToList(); } }

    private ServerProcess(Process process, Uri address, string name, List<string> output)
    {
        _process = process;
        Address = address;
        Name = name;
        _output = output;
    }

    [GeneratedRegex(@" on (http://127\.0\.0\.1:\d+/)")]
    private static partial Regex AddressLine();

    /// <summary>Starts the server with <paramref name="args"/> after <c>serve MODEL</c> and waits up
    /// to <paramref name="timeout"/> for it to be ready.</summary>
    public static ServerProcess Start(string cliDll, string model, IEnumerable<string> args, string name, TimeSpan timeout)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { cliDll, "serve", model, "--host", "127.0.0.1", "--port", "0" }.Concat(args)) psi.ArgumentList.Add(a);
        var p = Process.Start(psi) ?? throw new InvalidOperationException("could not start dotnet.");
        var output = new List<string>();
        var ready = new TaskCompletionSource<Uri>(TaskCreationOptions.RunContinuationsAsynchronously);
        Uri? address = null;
        p.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) { ready.TrySetException(new InvalidOperationException($"the {name} server exited before it was ready:\n" + string.Join("\n", output))); return; }
            lock (output) output.Add(e.Data);
            if (address is null && AddressLine().Match(e.Data) is { Success: true } m) address = new Uri(m.Groups[1].Value);
            if (e.Data.StartsWith("ready:", StringComparison.Ordinal) && address is not null) ready.TrySetResult(address);
        };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.Add("stderr: " + e.Data); };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        try
        {
            var uri = ready.Task.WaitAsync(timeout).GetAwaiter().GetResult();
            return new ServerProcess(p, uri, name, output);
        }
        catch
        {
            try { p.Kill(true); } catch (InvalidOperationException) { }
            p.Dispose();
            throw;
        }
    }

    /// <summary>Resident memory (bytes) and thread count of the server process, from /proc.</summary>
    public (long RssBytes, int Threads) Usage()
    {
        long rss = 0;
        int threads = 0;
        try
        {
            foreach (var line in File.ReadLines($"/proc/{Pid}/status"))
            {
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal)) rss = 1024 * long.Parse(line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries)[1]);
                else if (line.StartsWith("Threads:", StringComparison.Ordinal)) threads = int.Parse(line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries)[1]);
            }
        }
        catch (IOException) { }
        return (rss, threads);
    }

    /// <summary>SIGTERM, then up to <paramref name="grace"/> for it to finish; killed after that. True when it exited by itself with code 0.</summary>
    public bool Stop(TimeSpan grace)
    {
        if (_process.HasExited) return _process.ExitCode == 0;
        kill(_process.Id, SigTerm);
        if (_process.WaitForExit(grace)) { _process.WaitForExit(); return _process.ExitCode == 0; }
        try { _process.Kill(true); } catch (InvalidOperationException) { }
        _process.WaitForExit();
        return false;
    }

    public void Dispose()
    {
        if (!_process.HasExited) Stop(TimeSpan.FromSeconds(10));
        _process.Dispose();
    }
}
