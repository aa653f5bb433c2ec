using SparseSwitch.Optim.Schedules;
using Xunit;

namespace SparseSwitch.Tests.Optim;

public class LrScheduleTests
{
    [Fact]
    public void CosineFollowsClosedFormAndEndsAtMinLr()
    {
        var s = new CosineSchedule(0.1, totalSteps: 100, minLr: 0.001);
        Assert.Equal(0.1, s.At(0), 12);
        Assert.Equal(0.001 + 0.099 * 0.5, s.At(50), 12);
        Assert.Equal(0.001 + 0.099 * (1 + Math.Cos(Math.PI * 0.3)) / 2, s.At(30), 12);
        Assert.Equal(0.001, s.At(100), 12);
        Assert.Equal(0.001, s.At(1000), 12);
        for (long t = 1; t <= 100; t++) Assert.True(s.At(t) <= s.At(t - 1));
    }

    [Fact]
    public void WarmupRisesLinearlyThenScheduleStarts()
    {
        var s = new CosineSchedule(0.2, totalSteps: 110, warmupSteps: 10);
        Assert.Equal(0.02, s.At(0), 12);
        Assert.Equal(0.1, s.At(4), 12);
        Assert.Equal(0.2, s.At(9), 12);
        Assert.Equal(0.2, s.At(10), 12);
        Assert.Equal(0.1, s.At(60), 12);
        Assert.Equal(0, s.At(110), 12);
    }

    [Fact]
    public void StepAndMultiStepDecayAtTheirBoundaries()
    {
        var st = new StepSchedule(1.0, stepSize: 30, gamma: 0.1);
        Assert.Equal(1.0, st.At(29), 12);
        Assert.Equal(0.1, st.At(30), 12);
        Assert.Equal(0.01, st.At(65), 12);
        var ms = new MultiStepSchedule(0.1, [100, 150], 0.1, warmupSteps: 5);
        Assert.Equal(0.1 / 5, ms.At(0), 12);
        Assert.Equal(0.1, ms.At(99), 12);
        Assert.Equal(0.01, ms.At(100), 12);
        Assert.Equal(0.001, ms.At(150), 12);
    }

    [Fact]
    public void BadArgumentsAreRejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new CosineSchedule(0.1, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new CosineSchedule(0.1, 10, warmupSteps: 11));
        Assert.Throws<ArgumentOutOfRangeException>(() => new CosineSchedule(-1, 10));
        Assert.Throws<ArgumentException>(() => new MultiStepSchedule(0.1, [5, 5], 0.1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new StepSchedule(0.1, 0, 0.1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new StepSchedule(0.1, 10, 0.1).At(-1));
    }
}
