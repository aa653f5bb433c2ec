using SparseSwitch.Data;
using SparseSwitch.Tensors;
using Xunit;

namespace SparseSwitch.Tests.Data;

public class DataLoaderTests
{
    /// <summary>A small data set with random pixels: 3×6×5 images, 7 classes.</summary>
    private static ImageDataset Random(int count, ulong seed = 5)
    {
        var rng = new Rng(seed);
        var pixels = new byte[count * 90];
        for (int i = 0; i < pixels.Length; i++) pixels[i] = (byte)rng.NextInt(256);
        var labels = Enumerable.Range(0, count).Select(i => (i * 3) % 7).ToArray();
        return new ImageDataset("random", 3, 6, 5, 7, null, pixels, labels);
    }

    private static readonly Normalization Norm = new([0.5f, 0.4f, 0.3f], [0.2f, 0.25f, 0.3f]);

    /// <summary>Copies of every batch of an epoch (images, labels, source indices).</summary>
    private static List<(float[] Images, int[] Labels, int[] Sources)> Collect(DataLoader loader, int epoch, Action? between = null, int first = 0)
    {
        var list = new List<(float[], int[], int[])>();
        foreach (var b in loader.Epoch(epoch, first))
        {
            Assert.Equal(b.Count, b.Images.Dim(0));
            list.Add((b.Images.ToArray(), (int[])b.Labels.Clone(), (int[])b.SourceIndices.Clone()));
            between?.Invoke();
        }
        return list;
    }

    private static void Same(List<(float[] Images, int[] Labels, int[] Sources)> a, List<(float[] Images, int[] Labels, int[] Sources)> b)
    {
        Assert.Equal(a.Count, b.Count);
        for (int i = 0; i < a.Count; i++)
        {
            Assert.Equal(a[i].Labels, b[i].Labels);
            Assert.Equal(a[i].Sources, b[i].Sources);
            Assert.True(a[i].Images.AsSpan().SequenceEqual(b[i].Images), $"batch {i} images differ");
        }
    }

    [Fact]
    public void Batches_depend_only_on_seed_and_epoch_not_on_timing_or_prefetch()
    {
        var ds = Random(103);
        var aug = Augmentation.RandomCrop(2).WithHorizontalFlip();
        using var fast = new DataLoader(ds, 16, true, aug, Norm, seed: 42, prefetch: 3);
        using var sync = new DataLoader(ds, 16, true, aug, Norm, seed: 42, prefetch: 0);
        using var slow = new DataLoader(ds, 16, true, aug, Norm, seed: 42, prefetch: 1);
        var rng = new Rng(9);
        for (int epoch = 0; epoch < 3; epoch++)
        {
            var a = Collect(fast, epoch);
            Same(a, Collect(sync, epoch));
            Same(a, Collect(slow, epoch, () => Thread.Sleep(rng.NextInt(3))));
        }
        // Resuming at epoch 2 with a fresh loader reproduces epoch 2.
        using var resumed = new DataLoader(ds, 16, true, aug, Norm, seed: 42);
        Same(Collect(fast, 2), Collect(resumed, 2));
        // Another seed or epoch gives another order.
        using var other = new DataLoader(ds, 16, true, aug, Norm, seed: 43);
        Assert.NotEqual(Collect(fast, 1)[0].Sources, Collect(other, 1)[0].Sources);
        Assert.NotEqual(Collect(fast, 1)[0].Sources, Collect(fast, 2)[0].Sources);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(3)]
    public void An_epoch_started_at_a_later_batch_gives_the_same_batches_from_there(int prefetch)
    {
        var ds = Random(103);
        var aug = Augmentation.RandomCrop(2).WithHorizontalFlip();
        using var whole = new DataLoader(ds, 16, true, aug, Norm, seed: 42, prefetch: prefetch);
        using var part = new DataLoader(ds, 16, true, aug, Norm, seed: 42, prefetch: prefetch);
        var all = Collect(whole, 1);
        foreach (int first in new[] { 1, 4, 6, 7 })
            Same(all.Skip(first).ToList(), Collect(part, 1, first: first));
        // The same loader goes on to whole epochs afterwards.
        Same(Collect(whole, 2), Collect(part, 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => part.Epoch(0, 8).ToList());
        Assert.Throws<ArgumentOutOfRangeException>(() => part.Epoch(0, -1).ToList());
    }

    [Theory]
    [InlineData(2, 103)]
    [InlineData(3, 103)]
    [InlineData(2, 97)]   // a last batch of 1 image: dropped, as it cannot be shared
    public void The_ranks_shares_of_a_batch_together_are_the_batch_of_one_process(int ranks, int count)
    {
        var ds = Random(count);
        var aug = Augmentation.RandomCrop(2).WithHorizontalFlip();
        using var one = new DataLoader(ds, 16, true, aug, Norm, seed: 42);
        var shards = Enumerable.Range(0, ranks).Select(r => new DataLoader(ds, 16, true, aug, Norm, seed: 42, shard: (r, ranks))).ToList();
        try
        {
            var whole = Collect(one, 1);
            var parts = shards.Select(l => Collect(l, 1)).ToList();
            int expectBatches = count % 16 >= ranks ? whole.Count : whole.Count - 1;
            Assert.All(parts, p => Assert.Equal(expectBatches, p.Count));
            Assert.Equal(whole.Count, shards[0].BatchesPerEpoch + (count % 16 >= ranks ? 0 : 1));
            for (int b = 0; b < expectBatches; b++)
            {
                Assert.Equal(whole[b].Labels, parts.SelectMany(p => p[b].Labels));
                Assert.Equal(whole[b].Sources, parts.SelectMany(p => p[b].Sources));
                Assert.True(whole[b].Images.AsSpan().SequenceEqual(parts.SelectMany(p => p[b].Images).ToArray()), $"batch {b}: images differ");
                int n = whole[b].Labels.Length;
                Assert.All(parts, p => Assert.InRange(p[b].Labels.Length, n / ranks, (n + ranks - 1) / ranks));
            }
        }
        finally { foreach (var l in shards) l.Dispose(); }
    }

    [Fact]
    public void Each_epoch_is_a_permutation_with_the_right_batch_sizes()
    {
        var ds = Random(103);
        using var keep = new DataLoader(ds, 16, true, null, Norm, 1);
        Assert.Equal(7, keep.BatchesPerEpoch);
        var batches = Collect(keep, 0);
        Assert.Equal([16, 16, 16, 16, 16, 16, 7], batches.Select(b => b.Labels.Length));
        var all = batches.SelectMany(b => b.Sources).ToArray();
        Assert.Equal(Enumerable.Range(0, 103), all.Order());
        Assert.NotEqual(Enumerable.Range(0, 103), all);
        foreach (var b in batches)
            for (int i = 0; i < b.Labels.Length; i++) Assert.Equal(ds.Labels[b.Sources[i]], b.Labels[i]);

        using var drop = new DataLoader(ds, 16, false, null, Norm, 1, dropLast: true);
        Assert.Equal(6, drop.BatchesPerEpoch);
        Assert.Equal(Enumerable.Range(0, 96), Collect(drop, 0).SelectMany(b => b.Sources));

        using var tiny = new DataLoader(Random(5), 16, true, null, Norm, 1);
        Assert.Equal([5], Collect(tiny, 0).Select(b => b.Labels.Length));
        using var none = new DataLoader(Random(5), 16, true, null, Norm, 1, dropLast: true);
        Assert.Empty(Collect(none, 0));
    }

    [Fact]
    public void Without_augmentation_images_are_the_normalised_pixels()
    {
        var ds = Random(20);
        using var loader = new DataLoader(ds, 8, true, null, Norm, 3);
        foreach (var b in loader.Epoch(0))
            for (int i = 0; i < b.Count; i++)
            {
                var img = ds.Image(b.SourceIndices[i]);
                var got = b.Images.Span.Slice(i * 90, 90);
                for (int j = 0; j < 90; j++)
                {
                    int c = j / 30;
                    float expect = (float)((img[j] / 255.0 - Norm.Mean[c]) / Norm.Std[c]);
                    Assert.True(Math.Abs(got[j] - expect) <= 1e-6f * (1 + Math.Abs(expect)), $"pixel {j}: {got[j]} vs {expect}");
                }
            }
    }

    [Fact]
    public void A_batch_stays_valid_until_the_next_but_one_move()
    {
        var ds = Random(200);
        using var loader = new DataLoader(ds, 10, true, Augmentation.Standard, Norm, 8, prefetch: 2);
        var reference = Collect(loader, 4);
        using var e = loader.Epoch(4).GetEnumerator();
        Batch? previous = null;
        float[]? previousCopy = null;
        int index = 0;
        while (e.MoveNext())
        {
            Thread.Sleep(1); // let the producer run ahead as far as it may
            if (previous is not null)
                Assert.True(previous.Images.Span.SequenceEqual(previousCopy), $"batch {index - 1} changed after one more MoveNext");
            Assert.True(e.Current.Images.Span.SequenceEqual(reference[index].Images));
            previous = e.Current;
            previousCopy = e.Current.Images.ToArray();
            index++;
        }
        Assert.Equal(20, index);
    }

    [Fact]
    public void Abandoned_epochs_restart_cleanly_and_overlapping_epochs_are_refused()
    {
        var ds = Random(100);
        using var loader = new DataLoader(ds, 10, true, Augmentation.Standard, Norm, 8);
        var full = Collect(loader, 1);
        foreach (var _ in loader.Epoch(0).Take(3)) { }
        Same(full, Collect(loader, 1));
        using var e = loader.Epoch(0).GetEnumerator();
        Assert.True(e.MoveNext());
        Assert.Throws<InvalidOperationException>(() => loader.Epoch(1).GetEnumerator().MoveNext());
    }

    [Fact]
    public void Steady_state_batches_allocate_nothing()
    {
        var ds = Random(640);
        using var loader = new DataLoader(ds, 32, true, Augmentation.Standard, Norm, 3, prefetch: 0);
        foreach (var _ in loader.Epoch(0)) { } // warm up (JIT, first use)
        long before = GC.GetAllocatedBytesForCurrentThread();
        int n = 0;
        foreach (var b in loader.Epoch(1)) n += b.Count;
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(640, n);
        Assert.True(allocated < 1024, $"{allocated} bytes allocated over an epoch of 20 batches (only the enumerator is expected)");
    }

    [Fact]
    public void Bad_arguments_are_named()
    {
        var ds = Random(10);
        Assert.Contains("batchSize", Assert.Throws<ArgumentOutOfRangeException>(() => new DataLoader(ds, 0, true, null, Norm, 1)).Message);
        Assert.Contains("channels", Assert.Throws<ArgumentException>(() => new DataLoader(ds, 4, true, null, Normalization.Mnist, 1)).Message);
    }

    [Fact]
    public void Split_is_stratified_disjoint_and_seeded()
    {
        var ds = Random(700);
        var (train, val) = ds.Split(0.2, 5);
        Assert.Equal(700, train.Count + val.Count);
        Assert.Equal(140, val.Count);
        Assert.All(val.ClassCounts(), c => Assert.Equal(20, c));
        var (train2, val2) = ds.Split(0.2, 5);
        Assert.Equal(val.Pixels, val2.Pixels);
        var (_, val3) = ds.Split(0.2, 6);
        Assert.NotEqual(val.Pixels, val3.Pixels);
        // Every image lands in exactly one side: compare the multiset of image bytes.
        var key = (ImageDataset d, int i) => Convert.ToHexString(d.Image(i));
        var union = Enumerable.Range(0, train.Count).Select(i => key(train, i))
            .Concat(Enumerable.Range(0, val.Count).Select(i => key(val, i))).Order();
        Assert.Equal(Enumerable.Range(0, ds.Count).Select(i => key(ds, i)).Order(), union);
    }
}
