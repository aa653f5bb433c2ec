using System.Reflection;
using SparseSwitch.Bench;

// Dispatch: `dotnet run -c Release --project bench/SparseSwitch.Bench -- <bench> [options]`.
var benches = typeof(IBench).Assembly.GetTypes()
    .Where(t => typeof(IBench).IsAssignableFrom(t) && t is { IsClass: true, IsAbstract: false })
    .Select(t => (IBench)Activator.CreateInstance(t)!)
    .OrderBy(b => b.Name, StringComparer.Ordinal)
    .ToList();

void Usage(TextWriter w)
{
    w.WriteLine("usage: SparseSwitch.Bench <bench> [--json PATH] [--threads N[,N...]] [--quick] [--rounds N] [--sample S] [--fastest] [--thread-cpu] [bench options]");
    w.WriteLine("benches:");
    foreach (var b in benches) w.WriteLine($"  {b.Name,-16} {b.Description}");
}

if (args.Length == 0 || args[0] is "-h" or "--help")
{
    Usage(Console.Out);
    return args.Length == 0 ? 2 : 0;
}
var bench = benches.FirstOrDefault(b => b.Name == args[0]);
if (bench is null)
{
    Console.Error.WriteLine($"unknown bench '{args[0]}'.");
    Usage(Console.Error);
    return 2;
}
BenchOptions options;
try { options = BenchOptions.Parse(args.Skip(1).ToList()); }
catch (ArgumentException e)
{
    Console.Error.WriteLine(e.Message);
    return 2;
}
var harness = new Harness(options);
harness.BeginBench(bench.Name);
int rc = bench.Run(options, harness);
harness.Finish();
return rc;
