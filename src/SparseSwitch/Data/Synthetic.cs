using SparseSwitch.Tensors;

namespace SparseSwitch.Data;

/// <summary>
/// The built-in default data set: 10 classes of procedurally drawn shapes on 32×32 RGB images,
/// generated deterministically from a seed, so the quick start needs no download. Each image draws
/// its shape at a random position, size, aspect and rotation, in a random colour on a random
/// background with a colour gradient, adds a random clutter stroke and Gaussian pixel noise. Colour
/// and position carry no class information, so a linear model on raw pixels does clearly worse
/// than a CNN. Image i of a split depends only on (seed, split, i), so generation runs in parallel
/// and is identical for every thread count.
/// </summary>
public static class Synthetic
{
    public const int Side = 32, Channels = 3;

    public static readonly string[] ClassNames =
        ["disc", "ring", "square", "frame", "triangle", "plus", "cross", "h-stripes", "v-stripes", "diamond"];

    public const int DefaultTrainCount = 10_000, DefaultTestCount = 2_000;

    /// <summary>Train and test sets with balanced classes (image i has class i mod 10), made on
    /// <paramref name="threads"/> threads (default: the engine default's; the images do not depend on it).</summary>
    public static (ImageDataset Train, ImageDataset Test) Generate(int trainCount = DefaultTrainCount,
        int testCount = DefaultTestCount, ulong seed = 0, int threads = 0)
    {
        if (trainCount < 0 || testCount < 0)
            throw new ArgumentOutOfRangeException(nameof(trainCount), "Image counts must be ≥ 0.");
        if (threads < 1) threads = EngineOptions.Default.Threads;
        return (GenerateSplit(trainCount, seed, 0, "train", threads), GenerateSplit(testCount, seed, 1, "test", threads));
    }

    private static ImageDataset GenerateSplit(int count, ulong seed, ulong split, string splitName, int threads)
    {
        const int size = Channels * Side * Side;
        var pixels = new byte[(long)count * size];
        var labels = new int[count];
        Parallel.For(0, count, new ParallelOptions { MaxDegreeOfParallelism = threads }, i =>
        {
            labels[i] = i % ClassNames.Length;
            var rng = new Rng(SeedMix.Mix(SeedMix.Mix(seed, split), (ulong)i));
            Draw(labels[i], rng, pixels.AsSpan(i * size, size));
        });
        return new ImageDataset("synthetic", Channels, Side, Side, ClassNames.Length, ClassNames, pixels, labels)
        {
            Source = $"built-in synthetic shapes, {splitName} split, seed {seed}",
        };
    }

    /// <summary>Draws one image of class <paramref name="cls"/> into <paramref name="dst"/> (C×H×W).</summary>
    public static void Draw(int cls, Rng rng, Span<byte> dst)
    {
        // Geometry: centre, radius in pixels, aspect, rotation.
        double radius = 8 + 5 * rng.NextDouble();
        double cx = Side / 2.0 + 10 * (rng.NextDouble() - 0.5);
        double cy = Side / 2.0 + 10 * (rng.NextDouble() - 0.5);
        double aspect = 0.8 + 0.4 * rng.NextDouble();
        double angle = (rng.NextDouble() - 0.5) * (40 * Math.PI / 180);
        double cosA = Math.Cos(angle), sinA = Math.Sin(angle);
        double rx = radius * aspect, ry = radius / aspect;

        // Colours: a darker background, a foreground at least 0.25 brighter (luminance), clutter.
        Span<double> bg = stackalloc double[3], fg = stackalloc double[3], cl = stackalloc double[3];
        for (int c = 0; c < 3; c++) bg[c] = 0.6 * rng.NextDouble();
        do { for (int c = 0; c < 3; c++) fg[c] = 0.4 + 0.6 * rng.NextDouble(); }
        while (Luma(fg) - Luma(bg) < 0.25); // worst case (bg luma 0.6) accepts ~1 draw in 10
        for (int c = 0; c < 3; c++) cl[c] = rng.NextDouble();
        double gAngle = rng.NextDouble() * 2 * Math.PI, gAmp = 0.25 * rng.NextDouble();
        double gx = Math.Cos(gAngle) * gAmp / Side, gy = Math.Sin(gAngle) * gAmp / Side;

        // Clutter: a thin stroke between two random points (half of the images).
        bool clutter = rng.NextDouble() < 0.5;
        double lx0 = Side * rng.NextDouble(), ly0 = Side * rng.NextDouble();
        double lx1 = Side * rng.NextDouble(), ly1 = Side * rng.NextDouble();
        double noise = 0.03 + 0.05 * rng.NextDouble();

        const int plane = Side * Side;
        for (int y = 0; y < Side; y++)
            for (int x = 0; x < Side; x++)
            {
                // 2×2 supersampled coverage of the shape.
                int hits = 0;
                for (int sy = 0; sy < 2; sy++)
                    for (int sx = 0; sx < 2; sx++)
                    {
                        double px = x + 0.25 + 0.5 * sx - cx, py = y + 0.25 + 0.5 * sy - cy;
                        double u = (cosA * px + sinA * py) / rx, v = (-sinA * px + cosA * py) / ry;
                        if (Inside(cls, u, v)) hits++;
                    }
                double cover = hits * 0.25;
                double line = clutter ? Math.Max(0, 1 - SegmentDistance(x + 0.5, y + 0.5, lx0, ly0, lx1, ly1)) : 0;
                double shade = gx * (x - Side / 2.0) + gy * (y - Side / 2.0);
                for (int c = 0; c < 3; c++)
                {
                    double v = bg[c] + shade;
                    v += (cl[c] - v) * line * 0.8;
                    v += (fg[c] - v) * cover;
                    v += noise * ApproxNormal(rng);
                    dst[c * plane + y * Side + x] = (byte)Math.Clamp((int)Math.Round(v * 255), 0, 255);
                }
            }
    }

    /// <summary>Approximately standard normal: the sum of four 16-bit uniforms from one draw,
    /// centred and scaled to unit variance (cheap; the tails are bounded at ±3.46).</summary>
    private static double ApproxNormal(Rng rng)
    {
        ulong r = rng.NextULong();
        double sum = (r & 0xFFFF) + ((r >> 16) & 0xFFFF) + ((r >> 32) & 0xFFFF) + (r >> 48);
        return (sum / 65536.0 - 2.0) * 1.7320508075688772;
    }

    private static double Luma(ReadOnlySpan<double> rgb) => 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2];

    /// <summary>Whether shape-local point (u, v) (unit radius) is inside class <paramref name="cls"/>'s shape.</summary>
    private static bool Inside(int cls, double u, double v)
    {
        double au = Math.Abs(u), av = Math.Abs(v);
        switch (cls)
        {
            case 0: return u * u + v * v <= 1;                                   // disc
            case 1: { double r2 = u * u + v * v; return r2 <= 1 && r2 >= 0.36; } // ring
            case 2: return au <= 0.8 && av <= 0.8;                               // square
            case 3: return au <= 0.85 && av <= 0.85 && (au >= 0.5 || av >= 0.5); // frame
            case 4: return v <= 0.75 && v >= 2.0 * au - 1.0;                     // triangle (apex up)
            case 5: return (au <= 0.28 && av <= 0.95) || (av <= 0.28 && au <= 0.95); // plus
            case 6:                                                               // cross (rotated plus)
                {
                    double a = Math.Abs(u + v) * 0.7071, b = Math.Abs(u - v) * 0.7071;
                    return (a <= 0.24 && b <= 1.0) || (b <= 0.24 && a <= 1.0);
                }
            case 7: return au <= 0.9 && av <= 0.9 && ((v + 0.9) / 0.6) % 1.0 < 0.5; // horizontal stripes
            case 8: return au <= 0.9 && av <= 0.9 && ((u + 0.9) / 0.6) % 1.0 < 0.5; // vertical stripes
            case 9: return au + av <= 1.0;                                        // diamond
            default: throw new ArgumentOutOfRangeException(nameof(cls));
        }
    }

    private static double SegmentDistance(double px, double py, double x0, double y0, double x1, double y1)
    {
        double dx = x1 - x0, dy = y1 - y0;
        double len2 = dx * dx + dy * dy;
        double t = len2 > 0 ? Math.Clamp(((px - x0) * dx + (py - y0) * dy) / len2, 0, 1) : 0;
        double qx = x0 + t * dx - px, qy = y0 + t * dy - py;
        return Math.Sqrt(qx * qx + qy * qy);
    }
}
