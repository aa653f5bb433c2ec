using SparseSwitch.Tensors;
using Xunit;

namespace SparseSwitch.Tests.Tensors;

public class WorkerPoolTests
{
    private sealed class Square : IParallelBody
    {
        public int[] Out = [];
        public void Execute(int i) => Out[i] = i * i;
    }

    private sealed class Thrower : IParallelBody
    {
        public void Execute(int i) { if (i == 7) throw new InvalidOperationException("boom"); }
    }

    [Fact]
    public void RunsEveryIndexOnce()
    {
        var body = new Square { Out = new int[1000] };
        for (int rep = 0; rep < 50; rep++)
        {
            Array.Fill(body.Out, -1);
            WorkerPool.For(body.Out.Length, body);
            for (int i = 0; i < body.Out.Length; i++) Assert.Equal(i * i, body.Out[i]);
        }
    }

    [Fact]
    public void PropagatesExceptions()
    {
        var e = Assert.Throws<AggregateException>(() => WorkerPool.For(20, new Thrower()));
        Assert.IsType<InvalidOperationException>(e.InnerException);
        var body = new Square { Out = new int[10] };
        WorkerPool.For(10, body); // still usable afterwards
        Assert.Equal(81, body.Out[9]);
    }
}
