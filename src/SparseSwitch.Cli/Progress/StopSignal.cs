using System.Runtime.InteropServices;

namespace SparseSwitch.Cli;

/// <summary>
/// Turns the first Ctrl-C (SIGINT) or SIGTERM into a stop request for a training run, which ends it
/// after the batch in progress with a checkpoint there. A second Ctrl-C ends the process at once
/// (the last checkpoint written stays valid: checkpoints are replaced atomically).
/// </summary>
internal sealed class StopSignal : IDisposable
{
    private readonly CancellationTokenSource _cts = new();
    private readonly TextWriter _say;
    private readonly PosixSignalRegistration? _term;

    public StopSignal(TextWriter say)
    {
        _say = say;
        Console.CancelKeyPress += OnCancelKey;
        try { _term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, ctx => { ctx.Cancel = true; Request("SIGTERM"); }); }
        catch (PlatformNotSupportedException) { _term = null; }
    }

    public CancellationToken Token => _cts.Token;

    private void OnCancelKey(object? sender, ConsoleCancelEventArgs e)
    {
        if (_cts.IsCancellationRequested) return; // the second one: let the process end
        e.Cancel = true;
        Request("Ctrl-C");
    }

    private void Request(string what)
    {
        if (_cts.IsCancellationRequested) return;
        _say.WriteLine($"{what}: stopping after this batch and writing a checkpoint (Ctrl-C again quits at once, keeping the last epoch's checkpoint).");
        _cts.Cancel();
    }

    public void Dispose()
    {
        Console.CancelKeyPress -= OnCancelKey;
        _term?.Dispose();
        _cts.Dispose();
    }
}
