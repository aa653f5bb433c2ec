using System.CommandLine;
using SparseSwitch.Cli.Commands;
using Xunit;

namespace SparseSwitch.Tests.Support;

/// <summary>Runs the command-line tool in process, as <c>sparseswitch ARGS</c> would, and returns
/// its exit code and what it wrote to standard output and standard error. Console output is
/// process-wide, so test classes that use this join <see cref="ConsoleCollection"/>.</summary>
public static class CliRunner
{
    public static (int Code, string Out, string Err) Run(params string[] args)
    {
        var root = new RootCommand("test");
        foreach (var c in CommandRegistry.All()) root.Subcommands.Add(c);
        var (savedOut, savedErr) = (Console.Out, Console.Error);
        var (o, e) = (new StringWriter(), new StringWriter());
        Console.SetOut(o);
        Console.SetError(e);
        try { return (SparseSwitch.Cli.Cli.Run(root, args), o.ToString(), e.ToString()); }
        finally
        {
            Console.SetOut(savedOut);
            Console.SetError(savedErr);
        }
    }
}

/// <summary>Test classes that capture the console run alone (no other test writes to it meanwhile).</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ConsoleCollection
{
    public const string Name = "Console";
}
