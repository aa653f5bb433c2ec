namespace SparseSwitch.Data;

/// <summary>
/// Writes one byte image (C×H×W) into a float destination, normalised through a per-channel lookup
/// table, shifted by a crop offset and optionally mirrored:
/// out[c, y, x] = lut[c, src[c, y + dy, x' + dx]] with x' = W−1−x when flipped, else x, and
/// src = 0 outside the image (zero padding). Row-wise with the pad regions filled separately.
/// </summary>
public static class ImageWriter
{
    public static void Write(ReadOnlySpan<byte> src, int channels, int height, int width,
        ReadOnlySpan<float> lut, int dy, int dx, bool flip, Span<float> dst)
    {
        int plane = height * width;
        if (src.Length < channels * plane || dst.Length < channels * plane || lut.Length < channels * 256)
            throw new ArgumentException("Image, destination or lookup table too small for the shape.");
        for (int c = 0; c < channels; c++)
        {
            var table = lut.Slice(c * 256, 256);
            float pad = table[0];
            var sp = src.Slice(c * plane, plane);
            var dp = dst.Slice(c * plane, plane);
            for (int y = 0; y < height; y++)
            {
                var drow = dp.Slice(y * width, width);
                int sy = y + dy;
                if ((uint)sy >= (uint)height) { drow.Fill(pad); continue; }
                var srow = sp.Slice(sy * width, width);
                // Source column for output x (before flip) is x + dx; valid for x in [lo, hi).
                int lo = Math.Clamp(-dx, 0, width), hi = Math.Clamp(width - dx, lo, width);
                if (!flip)
                {
                    drow[..lo].Fill(pad);
                    for (int x = lo; x < hi; x++) drow[x] = table[srow[x + dx]];
                    drow[hi..].Fill(pad);
                }
                else
                {
                    // Output x = W−1−u shows unflipped position u; u < lo and u ≥ hi are padding.
                    drow[..(width - hi)].Fill(pad);
                    for (int u = lo; u < hi; u++) drow[width - 1 - u] = table[srow[u + dx]];
                    drow[(width - lo)..].Fill(pad);
                }
            }
        }
    }

    /// <summary>Plain per-pixel twin of <see cref="Write"/> (the test oracle).</summary>
    public static void WriteReference(ReadOnlySpan<byte> src, int channels, int height, int width,
        ReadOnlySpan<float> lut, int dy, int dx, bool flip, Span<float> dst)
    {
        for (int c = 0; c < channels; c++)
            for (int y = 0; y < height; y++)
                for (int x = 0; x < width; x++)
                {
                    int xs = (flip ? width - 1 - x : x) + dx, ys = y + dy;
                    byte p = xs >= 0 && xs < width && ys >= 0 && ys < height ? src[(c * height + ys) * width + xs] : (byte)0;
                    dst[(c * height + y) * width + x] = lut[c * 256 + p];
                }
    }
}
