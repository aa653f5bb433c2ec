using SparseSwitch.Inference;
using Xunit;

namespace SparseSwitch.Tests.Inference;

public class SelectionTests
{
    private static readonly LatencyEntry[] Table =
    [
        new(0, 1, 2, 5.0, "test"), new(1, 1, 2, 2.5, "test"), new(2, 1, 2, 1.2, "test"), new(3, 1, 2, 2.0, "test"),
        new(0, 64, 2, 150, "test"), new(1, 64, 2, 60, "test"), new(2, 64, 2, 30, "test"), new(3, 64, 2, 50, "test"),
    ];
    private static readonly double[] Accuracy = [92.0, 91.0, 88.5, 91.0];

    [Fact]
    public void PicksTheMostAccurateThatFits()
    {
        Assert.Equal(0, SubnetSelector.Select(Table, Accuracy, 5.0, 1).Subnet);     // the budget itself fits
        Assert.Equal(2, SubnetSelector.Select(Table, Accuracy, 1.5, 1).Subnet);
        Assert.Equal(2, SubnetSelector.Select(Table, Accuracy, 45, 64).Subnet);
        var s = SubnetSelector.Select(Table, Accuracy, 100, 64);
        Assert.True(s.Fits);
        Assert.Equal(3, s.Subnet);                                                   // 91 % at 50 ms beats 91 % at 60 ms
    }

    [Fact]
    public void TiesGoToTheCheaper()
    {
        var s = SubnetSelector.Select(Table, Accuracy, 3.0, 1);
        Assert.Equal(3, s.Subnet); // sub-nets 1 and 3 are both 91 %: 2.0 ms beats 2.5 ms
        Assert.Equal(2.0, s.LatencyMs);
        Assert.Equal(91.0, s.Accuracy);
    }

    [Fact]
    public void NothingWithinBudgetSaysSoAndGivesTheFastest()
    {
        var s = SubnetSelector.Select(Table, Accuracy, 1.0, 1);
        Assert.False(s.Fits);
        Assert.Equal(2, s.Subnet);
        Assert.Equal(0.2, s.MissMs, 9);
        Assert.Contains("no sub-net fits", s.ToString());
    }

    [Fact]
    public void ASingleSubnet()
    {
        LatencyEntry[] one = [new(0, 1, 2, 3.0, "test")];
        Assert.True(SubnetSelector.Select(one, [90.0], 3.5, 1).Fits);
        var miss = SubnetSelector.Select(one, [90.0], 2.0, 1);
        Assert.False(miss.Fits);
        Assert.Equal(0, miss.Subnet);
        Assert.Equal(1.0, miss.MissMs, 9);
    }

    [Fact]
    public void BadTablesAreRefusedWithAReason()
    {
        Assert.Contains("no entry for batch 8", Assert.Throws<ArgumentException>(() => SubnetSelector.Select(Table, Accuracy, 10, 8)).Message);
        Assert.Contains("accuracies", Assert.Throws<ArgumentException>(() => SubnetSelector.Select(Table, [90.0, 80.0], 10, 1)).Message);
        Assert.Throws<ArgumentException>(() => SubnetSelector.Select([new(0, 1, 2, 1.0, "test"), new(0, 1, 2, 2.0, "test")], [90.0], 10, 1));
        Assert.Throws<ArgumentException>(() => SubnetSelector.Select(Table, Accuracy, double.NaN, 1));
    }

    [Fact]
    public void ProfileMeasuresEverySubnetAtEveryBatchSize()
    {
        var (model, masks) = InferenceModelTests.Trained("lenet5", 1, 28, [1.0, 0.1]);
        var compiled = InferenceModel.Compile(model, 1, 28, masks, new InferenceOptions { Formats = FormatChoice.Density, GroupSize = 4 });
        var table = SubnetSelector.Profile(compiled, [1, 6], rounds: 3);
        Assert.Equal(4, table.Count);
        foreach (int k in new[] { 0, 1 })
            foreach (int b in new[] { 1, 6 })
                Assert.Single(table, e => e.Subnet == k && e.BatchSize == b && e.MedianMs > 0 && double.IsFinite(e.MedianMs));
    }
}
