using System.CommandLine;

namespace SparseSwitch.Cli;

/// <summary>A usage error (bad option value, bad recipe key): exit code 2, message only.</summary>
public sealed class UsageException(string message) : Exception(message);

public static class Cli
{
    /// <summary>Parses and runs; user errors print a message without a stack trace
    /// (exit 2 for usage errors, 1 for failures).</summary>
    public static int Run(RootCommand root, string[] args)
    {
        var parse = root.Parse(args);
        if (parse.Errors.Count > 0 && !args.Any(a => a is "-h" or "--help" or "-?"))
        {
            foreach (var err in parse.Errors) Console.Error.WriteLine($"error: {err.Message}");
            Console.Error.WriteLine("Run 'sparseswitch --help' for usage.");
            return 2;
        }
        try
        {
            return parse.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (UsageException e) { Console.Error.WriteLine($"error: {e.Message}"); return 2; }
        catch (ArgumentException e) { Console.Error.WriteLine($"error: {e.Message}"); return 2; }
        catch (FileFormatException e) { Console.Error.WriteLine($"error: {e.Message}"); return 1; }
        catch (IOException e) { Console.Error.WriteLine($"error: {e.Message}"); return 1; }
        catch (OperationCanceledException) { Console.Error.WriteLine("cancelled"); return 130; }
    }
}
