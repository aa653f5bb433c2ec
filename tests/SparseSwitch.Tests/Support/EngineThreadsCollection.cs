using Xunit;

namespace SparseSwitch.Tests.Support;

/// <summary>Test classes that change <c>Engine.Threads</c> or another process-wide engine setting
/// (matmul precision, a kernel's tuning value) join this collection
/// (<c>[Collection(EngineThreadsCollection.Name)]</c>); it runs with no other test in parallel, so
/// tests elsewhere are not disturbed — a training run compared bit for bit with a resumed one
/// comes out differently when the thread count, and so the chunking of its reductions, changes
/// under it.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class EngineThreadsCollection
{
    public const string Name = "Engine.Threads";
}
