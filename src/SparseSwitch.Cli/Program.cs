using System.CommandLine;
using SparseSwitch.Cli;
using SparseSwitch.Cli.Commands;

var root = new RootCommand("SparseSwitch: train once, get several sparse sub-networks, switch between them at run time.");
foreach (var command in CommandRegistry.All()) root.Subcommands.Add(command);
return Cli.Run(root, args);
