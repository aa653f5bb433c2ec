using Xunit;

namespace SparseSwitch.Tests.Support;

/// <summary>Test classes that change <c>Engine.Threads</c> join this collection
/// (<c>[Collection(EngineThreadsCollection.Name)]</c>); it runs with no other test in parallel, so
/// tests elsewhere that rely on the default thread count are not disturbed.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class EngineThreadsCollection
{
    public const string Name = "Engine.Threads";
}
