using System.Runtime.CompilerServices;

namespace SparseSwitch.Tensors;

/// <summary>
/// Matrix–vector products (m = 1 or n = 1), which the packed GEMM would run at 1/MR or 1/NR of
/// its speed and with a needless copy of the matrix. Two kernels cover the four cases:
/// Dot:  y[i] = alpha · Σ_p M[i, p] · x[p] + beta · y[i]  (matrix rows along k), and
/// Axpy: y[j] = alpha · Σ_p x[p] · M[p, j] + beta · y[j]  (matrix rows along the output).
/// A strided vector operand is first gathered into a contiguous per-thread buffer. Outputs are
/// split across threads in fixed chunks, and each output's sum runs in a fixed order with fixed
/// lane assignment, so the bits depend neither on threads nor on addresses.
/// </summary>
internal sealed unsafe class GemvDriver<TV, TO> : IParallelBody
    where TV : struct where TO : struct, IGemmVector<TV>
{
    /// <summary>Below this many multiply-adds a matrix–vector product runs on the calling thread.</summary>
    public const long ParallelThreshold = 1L << 17;

    [ThreadStatic] private static GemvDriver<TV, TO>? _forThisThread;
    public static GemvDriver<TV, TO> ForThisThread => _forThisThread ??= new GemvDriver<TV, TO>();

    private readonly GemmBuffer _xBuffer = new();
    private float* _mat, _x, _y;
    private nint _ldm, _incY;
    private int _outputs, _k, _chunk;
    private bool _dot;
    private float _alpha, _beta;

    /// <summary>Handles the product if m = 1 or n = 1; returns false otherwise.</summary>
    public bool TryRun(bool transA, bool transB, int m, int n, int k, float alpha,
        float* a, nint lda, float* b, nint ldb, float beta, float* c, nint ldc, EngineOptions options)
    {
        float* x;
        nint incX;
        if (m == 1)
        {
            // y = c row 0 (n outputs), x = op(A) row 0, matrix = B.
            x = a;
            incX = transA ? lda : 1;
            _mat = b; _y = c;
            (_ldm, _dot, _outputs, _incY) = (ldb, transB, n, 1);
        }
        else if (n == 1)
        {
            // y = c column 0 (m outputs), x = op(B) column 0, matrix = A.
            x = b;
            incX = transB ? 1 : ldb;
            _mat = a; _y = c;
            (_ldm, _dot, _outputs, _incY) = (lda, !transA, m, ldc);
        }
        else return false;
        if (incX != 1)
        {
            float* g = _xBuffer.Ensure(k);
            for (int p = 0; p < k; p++) g[p] = x[p * incX];
            x = g;
        }
        _x = x;
        (_k, _alpha, _beta) = (k, alpha, beta);
        int threads = (long)_outputs * k < ParallelThreshold ? 1 : options.Threads;
        // Chunks are whole multiples of 4 vectors so that the vector/scalar split of an output
        // never depends on the thread count.
        int unit = 4 * TO.Width;
        int chunks = Math.Max(1, Math.Min(4 * threads, (_outputs + unit - 1) / unit));
        _chunk = ((_outputs + chunks - 1) / chunks + unit - 1) / unit * unit;
        WorkerPool.For((_outputs + _chunk - 1) / _chunk, this, options, threads);
        _mat = _x = _y = null;
        return true;
    }

    public void Execute(int task)
    {
        int from = task * _chunk, to = Math.Min(_outputs, from + _chunk);
        if (_dot) Dot(from, to);
        else Axpy(from, to);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Dot(int from, int to)
    {
        nint w = TO.Width;
        int k = _k;
        float* x = _x;
        float* lanes = stackalloc float[64];
        for (int i = from; i < to; i++)
        {
            float* row = _mat + i * _ldm;
            TV s0 = TO.Zero, s1 = TO.Zero, s2 = TO.Zero, s3 = TO.Zero;
            nint p = 0;
            for (; p + 4 * w <= k; p += 4 * w)
            {
                s0 = TO.MulAdd(TO.Load(ref row[p]), TO.Load(ref x[p]), s0);
                s1 = TO.MulAdd(TO.Load(ref row[p + w]), TO.Load(ref x[p + w]), s1);
                s2 = TO.MulAdd(TO.Load(ref row[p + 2 * w]), TO.Load(ref x[p + 2 * w]), s2);
                s3 = TO.MulAdd(TO.Load(ref row[p + 3 * w]), TO.Load(ref x[p + 3 * w]), s3);
            }
            for (; p + w <= k; p += w) s0 = TO.MulAdd(TO.Load(ref row[p]), TO.Load(ref x[p]), s0);
            TV s = TO.Add(TO.Add(s0, s1), TO.Add(s2, s3));
            float sum = 0f;
            TO.Store(ref lanes[0], s);
            for (int l = 0; l < w; l++) sum += lanes[l];
            for (; p < k; p++) sum = MathF.FusedMultiplyAdd(row[p], x[p], sum);
            Store(i, sum);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Axpy(int from, int to)
    {
        nint w = TO.Width;
        int k = _k;
        float* x = _x;
        nint ldm = _ldm;
        float* lanes = stackalloc float[256];
        int j = from;
        for (; j + 4 * w <= to; j += 4 * (int)w)
        {
            TV s0 = TO.Zero, s1 = TO.Zero, s2 = TO.Zero, s3 = TO.Zero;
            float* col = _mat + j;
            for (int p = 0; p < k; p++, col += ldm)
            {
                TV xp = TO.Broadcast(x[p]);
                s0 = TO.MulAdd(xp, TO.Load(ref col[0]), s0);
                s1 = TO.MulAdd(xp, TO.Load(ref col[w]), s1);
                s2 = TO.MulAdd(xp, TO.Load(ref col[2 * w]), s2);
                s3 = TO.MulAdd(xp, TO.Load(ref col[3 * w]), s3);
            }
            TO.Store(ref lanes[0], s0);
            TO.Store(ref lanes[w], s1);
            TO.Store(ref lanes[2 * w], s2);
            TO.Store(ref lanes[3 * w], s3);
            for (int l = 0; l < 4 * w; l++) Store(j + l, lanes[l]);
        }
        for (; j < to; j++)
        {
            // Same per-output arithmetic as the vector lanes: fused multiply-adds over p in order.
            float sum = 0f;
            float* col = _mat + j;
            for (int p = 0; p < k; p++, col += ldm) sum = MathF.FusedMultiplyAdd(x[p], col[0], sum);
            Store(j, sum);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Store(int i, float sum)
    {
        float* y = _y + i * _incY;
        *y = _beta == 0f ? _alpha * sum : _alpha * sum + _beta * *y;
    }
}
