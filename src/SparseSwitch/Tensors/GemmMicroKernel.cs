using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SparseSwitch.Tensors;

/// <summary>The vector operations the GEMM micro-kernel needs, so that one generic kernel serves
/// Vector512, Vector256 and Vector128 (the JIT specialises it per vector type).</summary>
internal interface IGemmVector<TV> where TV : struct
{
    static abstract int Width { get; }
    static abstract TV Zero { get; }
    static abstract TV Load(ref float p);
    static abstract void Store(ref float p, TV v);
    static abstract TV Broadcast(float x);
    /// <summary>a · b + c with one rounding.</summary>
    static abstract TV MulAdd(TV a, TV b, TV c);
    static abstract TV Mul(TV a, TV b);
    static abstract TV Add(TV a, TV b);
    /// <summary>The sum of the lanes (a fixed order for a given vector type).</summary>
    static abstract float Sum(TV v);
    /// <summary>[Σa, Σb, Σc, Σd]: four lane sums at once (halves folded, then pairwise adds; a
    /// fixed order for a given vector type).</summary>
    static abstract Vector128<float> Sum4(TV a, TV b, TV c, TV d);
    /// <summary>The first <paramref name="count"/> (&lt; Width) floats at p, zeros in the other
    /// lanes; nothing past p + count is read.</summary>
    static abstract unsafe TV LoadPartial(float* p, int count);
}

/// <summary>Horizontal sums of four 128-bit vectors at once.</summary>
internal static class Lanes
{
    /// <summary>[Σa, Σb, Σc, Σd] for four 4-lane vectors: ((a0 + a1) + (a2 + a3)) per vector.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Sum4(Vector128<float> a, Vector128<float> b, Vector128<float> c, Vector128<float> d)
    {
        if (Sse3.IsSupported)
            return Sse3.HorizontalAdd(Sse3.HorizontalAdd(a, b), Sse3.HorizontalAdd(c, d));
        static float S(Vector128<float> v) => (v[0] + v[1]) + (v[2] + v[3]);
        return Vector128.Create(S(a), S(b), S(c), S(d));
    }
}

internal struct Gemm512 : IGemmVector<Vector512<float>>
{
    public static int Width => Vector512<float>.Count;
    public static Vector512<float> Zero => Vector512<float>.Zero;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Load(ref float p) => Vector512.LoadUnsafe(ref p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(ref float p, Vector512<float> v) => v.StoreUnsafe(ref p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Broadcast(float x) => Vector512.Create(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> MulAdd(Vector512<float> a, Vector512<float> b, Vector512<float> c) => Vector512.FusedMultiplyAdd(a, b, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Mul(Vector512<float> a, Vector512<float> b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Add(Vector512<float> a, Vector512<float> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Sum(Vector512<float> v) => Vector512.Sum(v);
    public static unsafe Vector512<float> LoadPartial(float* p, int count) =>
        Avx512F.MaskLoad(p, Vector512.LessThan(Vector512<int>.Indices, Vector512.Create(count)).AsSingle(), Vector512<float>.Zero);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Sum4(Vector512<float> a, Vector512<float> b, Vector512<float> c, Vector512<float> d) =>
        Gemm256.Sum4(a.GetLower() + a.GetUpper(), b.GetLower() + b.GetUpper(), c.GetLower() + c.GetUpper(), d.GetLower() + d.GetUpper());
}

internal struct Gemm256 : IGemmVector<Vector256<float>>
{
    public static int Width => Vector256<float>.Count;
    public static Vector256<float> Zero => Vector256<float>.Zero;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Load(ref float p) => Vector256.LoadUnsafe(ref p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(ref float p, Vector256<float> v) => v.StoreUnsafe(ref p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Broadcast(float x) => Vector256.Create(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> MulAdd(Vector256<float> a, Vector256<float> b, Vector256<float> c) => Vector256.FusedMultiplyAdd(a, b, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Mul(Vector256<float> a, Vector256<float> b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Add(Vector256<float> a, Vector256<float> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Sum(Vector256<float> v) => Vector256.Sum(v);
    public static unsafe Vector256<float> LoadPartial(float* p, int count)
    {
        float* tmp = stackalloc float[8];
        for (int i = 0; i < 8; i++) tmp[i] = i < count ? p[i] : 0f;
        return Vector256.Load(tmp);
    }
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Sum4(Vector256<float> a, Vector256<float> b, Vector256<float> c, Vector256<float> d) =>
        Lanes.Sum4(a.GetLower() + a.GetUpper(), b.GetLower() + b.GetUpper(), c.GetLower() + c.GetUpper(), d.GetLower() + d.GetUpper());
}

internal struct Gemm128 : IGemmVector<Vector128<float>>
{
    public static int Width => Vector128<float>.Count;
    public static Vector128<float> Zero => Vector128<float>.Zero;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Load(ref float p) => Vector128.LoadUnsafe(ref p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(ref float p, Vector128<float> v) => v.StoreUnsafe(ref p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Broadcast(float x) => Vector128.Create(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> MulAdd(Vector128<float> a, Vector128<float> b, Vector128<float> c) => Vector128.FusedMultiplyAdd(a, b, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Mul(Vector128<float> a, Vector128<float> b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Add(Vector128<float> a, Vector128<float> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Sum(Vector128<float> v) => Vector128.Sum(v);
    public static unsafe Vector128<float> LoadPartial(float* p, int count)
    {
        float* tmp = stackalloc float[4];
        for (int i = 0; i < 4; i++) tmp[i] = i < count ? p[i] : 0f;
        return Vector128.Load(tmp);
    }
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Sum4(Vector128<float> a, Vector128<float> b, Vector128<float> c, Vector128<float> d) => Lanes.Sum4(a, b, c, d);
}

/// <summary>Where the micro-kernel finds row p of its B panel (the NR values for one p): the
/// first vector at Row(p), the second and third <see cref="Second"/> and <see cref="Third"/>
/// floats after it (one vector and two for a contiguous row; anywhere for rows whose columns
/// are whole vectors gathered from a strided layout).</summary>
internal unsafe interface IBRows
{
    float* Row(int p);
    nint Second { get; }
    nint Third { get; }
}

/// <summary>A packed micro-panel: row p at bp + p·NR, its vectors w floats apart.</summary>
internal readonly unsafe struct PackedB(float* bp, nint nr, nint w) : IBRows
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public float* Row(int p) => bp + p * nr;
    public nint Second => w;
    public nint Third => 2 * w;
}

/// <summary>Rows read in place: row p at b + off[p], its three vectors at 0, second and third
/// (see <see cref="RowsKernels"/>).</summary>
internal readonly unsafe struct OffsetRows(float* b, nint* off, nint second, nint third) : IBRows
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public float* Row(int p) => b + off[p];
    public nint Second => second;
    public nint Third => third;
}

/// <summary>
/// The register-blocked micro-kernel: C[MR×NR] = alpha · Ap[MR×kc] · Bp[kc×NR] + beta · C, with
/// MR = 8 rows and NR = 3 vectors. Ap holds, for each p, the MR values of column p (packed A
/// micro-panel); Bp holds, for each p, the NR values of row p (packed B micro-panel). The 24
/// accumulators stay in registers (Zen 5 has 32 zmm); per p: 3 vector loads, 8 broadcasts,
/// 24 FMAs. beta = 0 does not read C. The k-order is fixed (p ascending), so the result does not
/// depend on which thread runs the tile.
/// </summary>
internal static class GemmMicroKernel
{
    public const int MR = 8;
    public const int NV = 3;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static unsafe void Run<TV, TO, TB>(int kc, float* ap, TB b, float* c, nint ldc, float alpha, float beta)
        where TV : struct where TO : struct, IGemmVector<TV> where TB : struct, IBRows
    {
        nint w = TO.Width, nr = NV * TO.Width;
        if (Sse.IsSupported)
        {
            // Start fetching the C tile now; the k loop hides the latency (rows of C are often a
            // power of two apart and would otherwise miss one after another in the epilogue).
            float* row = c;
            for (int r = 0; r < MR; r++, row += ldc)
                for (nint j = 0; j < nr; j += 16) Sse.Prefetch0(row + j);
        }
        nint second = b.Second, third = b.Third;
        TV c00 = TO.Zero, c01 = TO.Zero, c02 = TO.Zero;
        TV c10 = TO.Zero, c11 = TO.Zero, c12 = TO.Zero;
        TV c20 = TO.Zero, c21 = TO.Zero, c22 = TO.Zero;
        TV c30 = TO.Zero, c31 = TO.Zero, c32 = TO.Zero;
        TV c40 = TO.Zero, c41 = TO.Zero, c42 = TO.Zero;
        TV c50 = TO.Zero, c51 = TO.Zero, c52 = TO.Zero;
        TV c60 = TO.Zero, c61 = TO.Zero, c62 = TO.Zero;
        TV c70 = TO.Zero, c71 = TO.Zero, c72 = TO.Zero;
        for (int p = 0; p < kc; p++)
        {
            float* bp = b.Row(p);
            TV b0 = TO.Load(ref bp[0]);
            TV b1 = TO.Load(ref bp[second]);
            TV b2 = TO.Load(ref bp[third]);
            TV a;
            a = TO.Broadcast(ap[0]); c00 = TO.MulAdd(a, b0, c00); c01 = TO.MulAdd(a, b1, c01); c02 = TO.MulAdd(a, b2, c02);
            a = TO.Broadcast(ap[1]); c10 = TO.MulAdd(a, b0, c10); c11 = TO.MulAdd(a, b1, c11); c12 = TO.MulAdd(a, b2, c12);
            a = TO.Broadcast(ap[2]); c20 = TO.MulAdd(a, b0, c20); c21 = TO.MulAdd(a, b1, c21); c22 = TO.MulAdd(a, b2, c22);
            a = TO.Broadcast(ap[3]); c30 = TO.MulAdd(a, b0, c30); c31 = TO.MulAdd(a, b1, c31); c32 = TO.MulAdd(a, b2, c32);
            a = TO.Broadcast(ap[4]); c40 = TO.MulAdd(a, b0, c40); c41 = TO.MulAdd(a, b1, c41); c42 = TO.MulAdd(a, b2, c42);
            a = TO.Broadcast(ap[5]); c50 = TO.MulAdd(a, b0, c50); c51 = TO.MulAdd(a, b1, c51); c52 = TO.MulAdd(a, b2, c52);
            a = TO.Broadcast(ap[6]); c60 = TO.MulAdd(a, b0, c60); c61 = TO.MulAdd(a, b1, c61); c62 = TO.MulAdd(a, b2, c62);
            a = TO.Broadcast(ap[7]); c70 = TO.MulAdd(a, b0, c70); c71 = TO.MulAdd(a, b1, c71); c72 = TO.MulAdd(a, b2, c72);
            ap += MR;
        }
        TV va = TO.Broadcast(alpha);
        if (beta == 0f)
        {
            StoreRow<TV, TO>(c, w, va, c00, c01, c02); c += ldc;
            StoreRow<TV, TO>(c, w, va, c10, c11, c12); c += ldc;
            StoreRow<TV, TO>(c, w, va, c20, c21, c22); c += ldc;
            StoreRow<TV, TO>(c, w, va, c30, c31, c32); c += ldc;
            StoreRow<TV, TO>(c, w, va, c40, c41, c42); c += ldc;
            StoreRow<TV, TO>(c, w, va, c50, c51, c52); c += ldc;
            StoreRow<TV, TO>(c, w, va, c60, c61, c62); c += ldc;
            StoreRow<TV, TO>(c, w, va, c70, c71, c72);
        }
        else
        {
            TV vb = TO.Broadcast(beta);
            UpdateRow<TV, TO>(c, w, va, vb, c00, c01, c02); c += ldc;
            UpdateRow<TV, TO>(c, w, va, vb, c10, c11, c12); c += ldc;
            UpdateRow<TV, TO>(c, w, va, vb, c20, c21, c22); c += ldc;
            UpdateRow<TV, TO>(c, w, va, vb, c30, c31, c32); c += ldc;
            UpdateRow<TV, TO>(c, w, va, vb, c40, c41, c42); c += ldc;
            UpdateRow<TV, TO>(c, w, va, vb, c50, c51, c52); c += ldc;
            UpdateRow<TV, TO>(c, w, va, vb, c60, c61, c62); c += ldc;
            UpdateRow<TV, TO>(c, w, va, vb, c70, c71, c72);
        }
    }

    /// <summary>True where the CPU has 16 vector registers (x64 without AVX-512): the 24
    /// accumulators of <see cref="Run{TV, TO}"/> would spill, so full tiles run as two 4-row
    /// halves (<see cref="RunHalf{TV, TO, TB}"/>). A constant to the JIT; tests compare the two
    /// kernels directly.</summary>
    internal static readonly bool FewRegisters = !Avx512F.IsSupported && !System.Runtime.Intrinsics.Arm.AdvSimd.IsSupported;

    /// <summary>A full MR×NR tile: <see cref="Run{TV, TO}"/>, or two halves where registers are few
    /// (identical bits either way: each element sees the same fused multiply-adds in order).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe void Tile<TV, TO, TB>(int kc, float* ap, TB b, float* c, nint ldc, float alpha, float beta)
        where TV : struct where TO : struct, IGemmVector<TV> where TB : struct, IBRows
    {
        if (FewRegisters)
        {
            RunHalf<TV, TO, TB>(kc, ap, b, c, ldc, alpha, beta);
            RunHalf<TV, TO, TB>(kc, ap + MR / 2, b, c + MR / 2 * ldc, ldc, alpha, beta);
        }
        else Run<TV, TO, TB>(kc, ap, b, c, ldc, alpha, beta);
    }

    /// <summary><see cref="Tile{TV, TO, TB}"/> over a packed B micro-panel.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe void Tile<TV, TO>(int kc, float* ap, float* bp, float* c, nint ldc, float alpha, float beta)
        where TV : struct where TO : struct, IGemmVector<TV> =>
        Tile<TV, TO, PackedB>(kc, ap, new PackedB(bp, NV * TO.Width, TO.Width), c, ldc, alpha, beta);

    /// <summary>Rows 0–3 of a packed A micro-panel (pass ap + 4 for rows 4–7) × 3 vectors: 12
    /// accumulators + 3 B vectors + 1 broadcast fit 16 registers.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static unsafe void RunHalf<TV, TO, TB>(int kc, float* ap, TB b, float* c, nint ldc, float alpha, float beta)
        where TV : struct where TO : struct, IGemmVector<TV> where TB : struct, IBRows
    {
        nint w = TO.Width, nr = NV * TO.Width;
        nint second = b.Second, third = b.Third;
        TV c00 = TO.Zero, c01 = TO.Zero, c02 = TO.Zero;
        TV c10 = TO.Zero, c11 = TO.Zero, c12 = TO.Zero;
        TV c20 = TO.Zero, c21 = TO.Zero, c22 = TO.Zero;
        TV c30 = TO.Zero, c31 = TO.Zero, c32 = TO.Zero;
        for (int p = 0; p < kc; p++)
        {
            float* bp = b.Row(p);
            TV b0 = TO.Load(ref bp[0]);
            TV b1 = TO.Load(ref bp[second]);
            TV b2 = TO.Load(ref bp[third]);
            TV a;
            a = TO.Broadcast(ap[0]); c00 = TO.MulAdd(a, b0, c00); c01 = TO.MulAdd(a, b1, c01); c02 = TO.MulAdd(a, b2, c02);
            a = TO.Broadcast(ap[1]); c10 = TO.MulAdd(a, b0, c10); c11 = TO.MulAdd(a, b1, c11); c12 = TO.MulAdd(a, b2, c12);
            a = TO.Broadcast(ap[2]); c20 = TO.MulAdd(a, b0, c20); c21 = TO.MulAdd(a, b1, c21); c22 = TO.MulAdd(a, b2, c22);
            a = TO.Broadcast(ap[3]); c30 = TO.MulAdd(a, b0, c30); c31 = TO.MulAdd(a, b1, c31); c32 = TO.MulAdd(a, b2, c32);
            ap += MR;
        }
        TV va = TO.Broadcast(alpha);
        if (beta == 0f)
        {
            StoreRow<TV, TO>(c, w, va, c00, c01, c02); c += ldc;
            StoreRow<TV, TO>(c, w, va, c10, c11, c12); c += ldc;
            StoreRow<TV, TO>(c, w, va, c20, c21, c22); c += ldc;
            StoreRow<TV, TO>(c, w, va, c30, c31, c32);
        }
        else
        {
            TV vb = TO.Broadcast(beta);
            UpdateRow<TV, TO>(c, w, va, vb, c00, c01, c02); c += ldc;
            UpdateRow<TV, TO>(c, w, va, vb, c10, c11, c12); c += ldc;
            UpdateRow<TV, TO>(c, w, va, vb, c20, c21, c22); c += ldc;
            UpdateRow<TV, TO>(c, w, va, vb, c30, c31, c32);
        }
    }

    /// <summary>The same kernel for a B micro-panel with at most two vectors of live columns (the
    /// right edge of C): 8 × 2 vectors, B rows still NV vectors apart. Same arithmetic per
    /// element as <see cref="Run{TV, TO}"/>, so the bits do not depend on which kernel ran.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static unsafe void Run2<TV, TO>(int kc, float* ap, float* bp, float* c, nint ldc)
        where TV : struct where TO : struct, IGemmVector<TV>
    {
        nint w = TO.Width, nr = NV * TO.Width;
        TV c00 = TO.Zero, c01 = TO.Zero, c10 = TO.Zero, c11 = TO.Zero;
        TV c20 = TO.Zero, c21 = TO.Zero, c30 = TO.Zero, c31 = TO.Zero;
        TV c40 = TO.Zero, c41 = TO.Zero, c50 = TO.Zero, c51 = TO.Zero;
        TV c60 = TO.Zero, c61 = TO.Zero, c70 = TO.Zero, c71 = TO.Zero;
        for (int p = 0; p < kc; p++)
        {
            TV b0 = TO.Load(ref bp[0]);
            TV b1 = TO.Load(ref bp[w]);
            TV a;
            a = TO.Broadcast(ap[0]); c00 = TO.MulAdd(a, b0, c00); c01 = TO.MulAdd(a, b1, c01);
            a = TO.Broadcast(ap[1]); c10 = TO.MulAdd(a, b0, c10); c11 = TO.MulAdd(a, b1, c11);
            a = TO.Broadcast(ap[2]); c20 = TO.MulAdd(a, b0, c20); c21 = TO.MulAdd(a, b1, c21);
            a = TO.Broadcast(ap[3]); c30 = TO.MulAdd(a, b0, c30); c31 = TO.MulAdd(a, b1, c31);
            a = TO.Broadcast(ap[4]); c40 = TO.MulAdd(a, b0, c40); c41 = TO.MulAdd(a, b1, c41);
            a = TO.Broadcast(ap[5]); c50 = TO.MulAdd(a, b0, c50); c51 = TO.MulAdd(a, b1, c51);
            a = TO.Broadcast(ap[6]); c60 = TO.MulAdd(a, b0, c60); c61 = TO.MulAdd(a, b1, c61);
            a = TO.Broadcast(ap[7]); c70 = TO.MulAdd(a, b0, c70); c71 = TO.MulAdd(a, b1, c71);
            ap += MR;
            bp += nr;
        }
        TO.Store(ref c[0], c00); TO.Store(ref c[w], c01); c += ldc;
        TO.Store(ref c[0], c10); TO.Store(ref c[w], c11); c += ldc;
        TO.Store(ref c[0], c20); TO.Store(ref c[w], c21); c += ldc;
        TO.Store(ref c[0], c30); TO.Store(ref c[w], c31); c += ldc;
        TO.Store(ref c[0], c40); TO.Store(ref c[w], c41); c += ldc;
        TO.Store(ref c[0], c50); TO.Store(ref c[w], c51); c += ldc;
        TO.Store(ref c[0], c60); TO.Store(ref c[w], c61); c += ldc;
        TO.Store(ref c[0], c70); TO.Store(ref c[w], c71);
    }

    /// <summary>C row = alpha · acc (the same two-rounding formula as <see cref="Epilogue"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void StoreRow<TV, TO>(float* c, nint w, TV alpha, TV x0, TV x1, TV x2)
        where TV : struct where TO : struct, IGemmVector<TV>
    {
        TO.Store(ref c[0], TO.Mul(alpha, x0));
        TO.Store(ref c[w], TO.Mul(alpha, x1));
        TO.Store(ref c[2 * w], TO.Mul(alpha, x2));
    }

    /// <summary>C row = alpha · acc + beta · C (multiply, multiply, add: no fused rounding, so the
    /// full-tile and edge-tile paths give identical bits).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void UpdateRow<TV, TO>(float* c, nint w, TV alpha, TV beta, TV x0, TV x1, TV x2)
        where TV : struct where TO : struct, IGemmVector<TV>
    {
        TO.Store(ref c[0], TO.Add(TO.Mul(alpha, x0), TO.Mul(beta, TO.Load(ref c[0]))));
        TO.Store(ref c[w], TO.Add(TO.Mul(alpha, x1), TO.Mul(beta, TO.Load(ref c[w]))));
        TO.Store(ref c[2 * w], TO.Add(TO.Mul(alpha, x2), TO.Mul(beta, TO.Load(ref c[2 * w]))));
    }

    /// <summary>Edge tile: C[rows×cols] = alpha · tile + beta · C from a kernel result computed with
    /// alpha = 1, beta = 0 into <paramref name="tile"/> (row stride NR).</summary>
    public static unsafe void Epilogue(float* tile, nint nr, int rows, int cols, float* c, nint ldc, float alpha, float beta)
    {
        for (int r = 0; r < rows; r++, tile += nr, c += ldc)
        {
            if (beta == 0f)
                for (int j = 0; j < cols; j++) c[j] = alpha * tile[j];
            else
                for (int j = 0; j < cols; j++) c[j] = alpha * tile[j] + beta * c[j];
        }
    }
}
