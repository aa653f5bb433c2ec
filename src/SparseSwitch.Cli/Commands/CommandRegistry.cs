using System.CommandLine;

namespace SparseSwitch.Cli.Commands;

/// <summary>Every top-level command of the tool. Each command group lives in its own file and
/// exposes a static Build().</summary>
public static class CommandRegistry
{
    public static IEnumerable<Command> All()
    {
        yield return VersionCommand.Build();
        yield return ConvertCommand.Build();
        yield return ExportCommand.Build();
        yield return ImportCommand.Build();
        foreach (var c in TrainCommands.Build()) yield return c;
        foreach (var c in ModelCommands.Build()) yield return c;
        foreach (var c in InferenceCommands.Build()) yield return c;
        yield return ServeCommand.Build();
        foreach (var c in EvalCommands.Build()) yield return c;
        yield return DataCommands.Build();
        yield return ReportCommand.Build();
    }
}
