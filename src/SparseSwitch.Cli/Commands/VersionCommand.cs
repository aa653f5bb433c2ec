using System.CommandLine;
using System.Reflection;

namespace SparseSwitch.Cli.Commands;

public static class VersionCommand
{
    public static Command Build()
    {
        var c = new Command("info", "Print the library version, SIMD support and thread count.");
        c.SetAction(_ =>
        {
            var v = typeof(SparseSwitch.Tensors.Tensor).Assembly.GetName().Version;
            Console.WriteLine($"SparseSwitch {v}");
            Console.WriteLine($"Vector512 hardware acceleration: {System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated}");
            Console.WriteLine($"Vector256 hardware acceleration: {System.Runtime.Intrinsics.Vector256.IsHardwareAccelerated}");
            Console.WriteLine($"Threads: {SparseSwitch.Tensors.EngineOptions.Default.Threads}");
            return 0;
        });
        return c;
    }
}
