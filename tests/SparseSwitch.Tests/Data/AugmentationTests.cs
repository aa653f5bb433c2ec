using SparseSwitch.Data;
using SparseSwitch.Tensors;
using Xunit;

namespace SparseSwitch.Tests.Data;

public class AugmentationTests
{
    [Fact]
    public void Writer_matches_its_per_pixel_twin_for_every_offset_and_flip()
    {
        var rng = new Rng(1);
        foreach (var (c, h, w) in new[] { (1, 1, 1), (3, 5, 7), (2, 8, 3), (1, 4, 13), (3, 32, 32) })
        {
            var src = new byte[c * h * w];
            for (int i = 0; i < src.Length; i++) src[i] = (byte)rng.NextInt(256);
            var lut = new float[c * 256];
            rng.FillUniform(lut, -3, 3);
            var fast = new float[src.Length];
            var slow = new float[src.Length];
            int ry = Math.Min(h + 1, 6), rx = Math.Min(w + 1, 6);
            for (int dy = -ry; dy <= ry; dy++)
                for (int dx = -rx; dx <= rx; dx++)
                    foreach (bool flip in new[] { false, true })
                    {
                        ImageWriter.Write(src, c, h, w, lut, dy, dx, flip, fast);
                        ImageWriter.WriteReference(src, c, h, w, lut, dy, dx, flip, slow);
                        Assert.True(fast.AsSpan().SequenceEqual(slow), $"{c}×{h}×{w} dy {dy} dx {dx} flip {flip}");
                    }
        }
    }

    [Fact]
    public void Crop_shifts_and_flip_mirrors_with_zero_padding()
    {
        // One channel 3×4 image with distinct values; identity lookup (value = byte).
        byte[] src = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
        var lut = Enumerable.Range(0, 256).Select(v => (float)v).ToArray();
        var dst = new float[12];
        ImageWriter.Write(src, 1, 3, 4, lut, 1, -1, false, dst);
        Assert.Equal(new float[] { 0, 5, 6, 7, 0, 9, 10, 11, 0, 0, 0, 0 }, dst);
        ImageWriter.Write(src, 1, 3, 4, lut, 0, 0, true, dst);
        Assert.Equal(new float[] { 4, 3, 2, 1, 8, 7, 6, 5, 12, 11, 10, 9 }, dst);
        // Crop then flip (the torchvision order): flip of the shifted image.
        ImageWriter.Write(src, 1, 3, 4, lut, 0, 1, true, dst);
        Assert.Equal(new float[] { 0, 4, 3, 2, 0, 8, 7, 6, 0, 12, 11, 10 }, dst);
    }

    [Fact]
    public void Draws_cover_every_offset_and_flip_about_half_the_time()
    {
        var aug = Augmentation.Standard;
        var rng = new Rng(3);
        var dys = new int[9]; var dxs = new int[9]; int flips = 0;
        const int n = 18_000;
        for (int i = 0; i < n; i++)
        {
            var (dy, dx, flip) = aug.Draw(rng);
            dys[dy + 4]++; dxs[dx + 4]++; if (flip) flips++;
        }
        Assert.All(dys, c => Assert.InRange(c, 1700, 2300));
        Assert.All(dxs, c => Assert.InRange(c, 1700, 2300));
        Assert.InRange(flips, 8500, 9500);
        Assert.Equal((0, 0, false), Augmentation.RandomCrop(0).Draw(rng));
        Assert.Throws<ArgumentOutOfRangeException>(() => Augmentation.RandomCrop(-1));
    }

    [Fact]
    public void Loader_applies_the_drawn_augmentation()
    {
        var rng = new Rng(4);
        var pixels = new byte[40 * 3 * 8 * 8];
        for (int i = 0; i < pixels.Length; i++) pixels[i] = (byte)rng.NextInt(256);
        var ds = new ImageDataset("r", 3, 8, 8, 2, null, pixels, Enumerable.Range(0, 40).Select(i => i % 2).ToArray());
        var norm = Normalization.Identity(3);
        var lut = norm.BuildLookup();
        using var plain = new DataLoader(ds, 40, false, null, norm, 1);
        using var aug = new DataLoader(ds, 40, false, Augmentation.Standard, norm, 1);
        var p = plain.Epoch(0).Single().Images.ToArray();
        var a = aug.Epoch(0).Single().Images.ToArray();
        var one = new float[192];
        int changed = 0;
        for (int i = 0; i < 40; i++)
        {
            // Each augmented image equals one of the 9×9×2 candidate transforms of its source.
            bool found = false;
            for (int dy = -4; dy <= 4 && !found; dy++)
                for (int dx = -4; dx <= 4 && !found; dx++)
                    foreach (bool flip in new[] { false, true })
                    {
                        ImageWriter.WriteReference(ds.Image(i), 3, 8, 8, lut, dy, dx, flip, one);
                        if (one.AsSpan().SequenceEqual(a.AsSpan(i * 192, 192))) { found = true; break; }
                    }
            Assert.True(found, $"image {i} is not a crop/flip of its source");
            if (!a.AsSpan(i * 192, 192).SequenceEqual(p.AsSpan(i * 192, 192))) changed++;
        }
        Assert.True(changed > 30, $"only {changed} of 40 images were changed by augmentation");
    }
}
