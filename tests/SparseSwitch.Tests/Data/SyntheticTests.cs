using System.Numerics.Tensors;
using SparseSwitch.Data;
using SparseSwitch.Tensors;
using SparseSwitch.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace SparseSwitch.Tests.Data;

public class SyntheticTests(ITestOutputHelper output)
{
    [Fact]
    public void Generation_is_deterministic_balanced_and_thread_count_independent()
    {
        {
            var (a, at) = Synthetic.Generate(300, 50, seed: 7, threads: 1);
            var (b, bt) = Synthetic.Generate(300, 50, seed: 7, threads: 2);
            Assert.Equal(a.Pixels, b.Pixels);
            Assert.Equal(at.Pixels, bt.Pixels);
            Assert.Equal(a.Labels, b.Labels);
            var (c, _) = Synthetic.Generate(300, 50, seed: 8);
            Assert.NotEqual(a.Pixels, c.Pixels);
            Assert.NotEqual(a.Pixels.AsSpan(0, 3072).ToArray(), at.Pixels.AsSpan(0, 3072).ToArray());
            Assert.All(a.ClassCounts(), n => Assert.Equal(30, n));
            Assert.Equal((3, 32, 32, 10), (a.Channels, a.Height, a.Width, a.NumClasses));
            Assert.Equal("disc", a.ClassNames[0]);
            // Named loading gives the same images.
            var (n1, _) = Datasets.Load("synthetic", seed: 7, syntheticTrainCount: 300, syntheticTestCount: 50);
            Assert.Equal(a.Pixels, n1.Pixels);
        }
    }

    [Fact]
    public void Linear_classifiers_stay_far_below_perfect()
    {
        var (train, test) = Synthetic.Generate(2000, 500, seed: 1);
        var norm = Normalization.Compute(train);
        float[][] Features(ImageDataset ds)
        {
            var lut = norm.BuildLookup();
            var x = new float[ds.Count][];
            for (int i = 0; i < ds.Count; i++)
            {
                x[i] = new float[ds.ImageSize];
                ImageWriter.Write(ds.Image(i), 3, 32, 32, lut, 0, 0, false, x[i]);
            }
            return x;
        }
        var xtr = Features(train);
        var xte = Features(test);
        int d = train.ImageSize, k = 10;

        // Nearest class mean.
        var means = new float[k][];
        for (int c = 0; c < k; c++) means[c] = new float[d];
        var counts = train.ClassCounts();
        for (int i = 0; i < train.Count; i++) TensorPrimitives.Add(means[train.Labels[i]], xtr[i], means[train.Labels[i]]);
        for (int c = 0; c < k; c++) TensorPrimitives.Divide(means[c], counts[c], means[c]);
        double ncm = Accuracy(xte, test.Labels, x => Enumerable.Range(0, k).MinBy(c => TensorPrimitives.Distance(x, means[c])));

        // Softmax regression (multinomial logistic), SGD, a few epochs.
        var w = new float[k][];
        for (int c = 0; c < k; c++) w[c] = new float[d];
        var bias = new float[k];
        var z = new float[k];
        var rng = new Rng(2);
        var order = Enumerable.Range(0, train.Count).ToArray();
        for (int epoch = 0; epoch < 4; epoch++)
        {
            rng.Shuffle(order.AsSpan());
            foreach (int i in order)
            {
                for (int c = 0; c < k; c++) z[c] = bias[c] + TensorPrimitives.Dot(w[c], xtr[i]);
                float max = TensorPrimitives.Max(z), sum = 0;
                for (int c = 0; c < k; c++) sum += z[c] = MathF.Exp(z[c] - max);
                for (int c = 0; c < k; c++)
                {
                    float g = z[c] / sum - (c == train.Labels[i] ? 1 : 0);
                    bias[c] -= 0.002f * g;
                    TensorPrimitives.MultiplyAdd(xtr[i], -0.002f * g, w[c], w[c]);
                }
            }
        }
        double linear = Accuracy(xte, test.Labels, x => Enumerable.Range(0, k).MaxBy(c => bias[c] + TensorPrimitives.Dot(w[c], x)));
        double linearTrain = Accuracy(xtr, train.Labels, x => Enumerable.Range(0, k).MaxBy(c => bias[c] + TensorPrimitives.Dot(w[c], x)));
        output.WriteLine($"synthetic (2000 train / 500 test): nearest class mean {ncm:P1}, softmax regression test {linear:P1} (train {linearTrain:P1}), chance 10%");
        Assert.InRange(ncm, 0.12, 0.6);
        Assert.InRange(linear, 0.12, 0.7);
    }

    private static double Accuracy(float[][] x, int[] labels, Func<float[], int> predict) =>
        Enumerable.Range(0, x.Length).Count(i => predict(x[i]) == labels[i]) / (double)x.Length;
}
