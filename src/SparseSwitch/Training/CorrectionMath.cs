using System.Numerics;
using System.Runtime.InteropServices;

namespace SparseSwitch.Training;

/// <summary>
/// The span arithmetic of gradient correction (SPEC §2.6), for one weight tensor:
/// if ⟨g, g′⟩ &lt; 0 then g ← g − (⟨g, g′⟩ / ‖g′‖²)·g′. Reductions use a fixed order (four
/// vector accumulators over consecutive blocks, then a fixed-order sum in double), so results
/// never depend on thread timing. <see cref="DotScalar"/> is the plain oracle.
/// </summary>
public static class CorrectionMath
{
    /// <summary>⟨a, b⟩ (a, b of equal length). Vector partial sums in float, combined in double.</summary>
    public static double Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        if (a.Length != b.Length) throw new ArgumentException($"Dot: lengths {a.Length} and {b.Length} differ.");
        int w = Vector<float>.Count;
        int i = 0;
        double total = 0;
        if (Vector.IsHardwareAccelerated && a.Length >= 4 * w)
        {
            var va = MemoryMarshal.Cast<float, Vector<float>>(a);
            var vb = MemoryMarshal.Cast<float, Vector<float>>(b);
            Vector<float> s0 = default, s1 = default, s2 = default, s3 = default;
            int v = 0, nv4 = va.Length / 4 * 4;
            for (; v < nv4; v += 4)
            {
                s0 += va[v] * vb[v];
                s1 += va[v + 1] * vb[v + 1];
                s2 += va[v + 2] * vb[v + 2];
                s3 += va[v + 3] * vb[v + 3];
            }
            for (; v < va.Length; v++) s0 += va[v] * vb[v];
            var s = (s0 + s1) + (s2 + s3);
            for (int j = 0; j < w; j++) total += s[j];
            i = va.Length * w;
        }
        for (; i < a.Length; i++) total += (double)a[i] * b[i];
        return total;
    }

    /// <summary>Scalar oracle for <see cref="Dot"/> (double accumulation).</summary>
    public static double DotScalar(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++) s += (double)a[i] * b[i];
        return s;
    }

    /// <summary>g ← g − c·p.</summary>
    public static void SubtractScaled(Span<float> g, ReadOnlySpan<float> p, float c)
    {
        if (g.Length != p.Length) throw new ArgumentException($"SubtractScaled: lengths {g.Length} and {p.Length} differ.");
        System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(p, -c, g, g);
    }

    /// <summary>
    /// Projects g off g′ when they conflict. Returns true when a projection happened; then
    /// ⟨g, g′⟩ = (1 − strength)·(its value before) up to rounding: 0 with the full projection
    /// (strength 1), which removes the whole conflicting component. A zero g′ never fires.
    /// </summary>
    public static bool Project(Span<float> g, ReadOnlySpan<float> gPrev, out double dot, double strength = 1.0)
    {
        dot = Dot(g, gPrev);
        if (!(dot < 0)) return false;
        double norm2 = Dot(gPrev, gPrev);
        if (!(norm2 > 0)) return false;
        SubtractScaled(g, gPrev, (float)(strength * dot / norm2));
        return true;
    }
}
