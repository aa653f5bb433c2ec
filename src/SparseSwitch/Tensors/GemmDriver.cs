using System.Runtime.CompilerServices;

namespace SparseSwitch.Tensors;

/// <summary>
/// The loops around the GEMM micro-kernel (BLIS order): for each NC-wide column block of C and
/// each KC-deep slice of k, pack that slice of op(B) and all of op(A) into aligned panels, then
/// run the micro-kernel over the MR×NR tiles of the block. Both phases are split across
/// <see cref="WorkerPool"/> threads; the phase boundary is the pool's join. Each tile of C is
/// written by exactly one thread per k-slice and the k-slices run in order, so the bits of the
/// result do not depend on the thread count or on timing. One instance per calling thread (its
/// buffers are reused, so a call allocates nothing once they have grown).
/// </summary>
internal sealed unsafe class GemmDriver<TV, TO> : IParallelBody
    where TV : struct where TO : struct, IGemmVector<TV>
{
    private const int MR = GemmMicroKernel.MR;
    private static readonly int NR = GemmMicroKernel.NV * TO.Width;
    /// <summary>Below this many multiply-adds (m·n·k) a product runs on the calling thread only.</summary>
    public const long ParallelThreshold = 1L << 18;

    [ThreadStatic] private static GemmDriver<TV, TO>? _forThisThread;
    public static GemmDriver<TV, TO> ForThisThread => _forThisThread ??= new GemmDriver<TV, TO>();

    private readonly GemmBuffer _packedA = new(), _packedB = new();
    private float* _a, _b, _c;
    private nint _lda, _ldb, _ldc;
    private bool _transA, _transB;
    private int _m, _n, _k;
    private float _alpha, _beta;
    // Current block.
    private int _jc, _nc, _pc, _kc;
    private float* _ap, _bp;
    private int _mPanels, _nPanels;
    private bool _packing;
    private int _packBTasks, _packATasks, _nParts;
    private int _kcBlock, _mcPanels;

    public void Run(bool transA, bool transB, int m, int n, int k, float alpha,
        float* a, nint lda, float* b, nint ldb, float beta, float* c, nint ldc)
    {
        _a = a; _b = b; _c = c;
        (_lda, _ldb, _ldc) = (lda, ldb, ldc);
        (_transA, _transB, _m, _n, _k, _alpha) = (transA, transB, m, n, k, alpha);
        _mPanels = (m + MR - 1) / MR;
        int threads = (long)m * n * k < ParallelThreshold ? 1 : Engine.Threads;
        _kcBlock = GemmBlocking.KC;
        _mcPanels = GemmBlocking.MC / MR;
        int NC = GemmBlocking.NCPanels * NR, KC = _kcBlock, MC = _mcPanels * MR;
        int kcMax = Math.Min(KC, k);
        _ap = _packedA.Ensure((long)_mPanels * MR * kcMax);
        _bp = _packedB.Ensure((long)(Math.Min(NC, n) + NR - 1) / NR * NR * kcMax);
        int mBlocks = (m + MC - 1) / MC;
        for (_jc = 0; _jc < n; _jc += NC)
        {
            _nc = Math.Min(NC, n - _jc);
            _nPanels = (_nc + NR - 1) / NR;
            _nParts = threads == 1 ? 1 : Math.Min(_nPanels, Math.Max(1, (2 * threads + mBlocks - 1) / mBlocks));
            for (_pc = 0; _pc < k; _pc += KC)
            {
                _kc = Math.Min(KC, k - _pc);
                _beta = _pc == 0 ? beta : 1f;
                _packing = true;
                _packBTasks = Math.Min(_nPanels, threads);
                _packATasks = Math.Min(_mPanels, threads);
                WorkerPool.For(_packBTasks + _packATasks, this, threads);
                _packing = false;
                WorkerPool.For(mBlocks * _nParts, this, threads);
            }
        }
        _a = _b = _c = null;
    }

    public void Execute(int task)
    {
        if (_packing) Pack(task);
        else Compute(task / _nParts, task % _nParts);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Pack(int task)
    {
        if (task < _packBTasks)
        {
            int from = (int)((long)task * _nPanels / _packBTasks), to = (int)((long)(task + 1) * _nPanels / _packBTasks);
            for (int jr = from; jr < to; jr++)
            {
                int col0 = _jc + jr * NR;
                GemmPacking.PackB<TV, TO>(_b, _ldb, _transB, col0, Math.Min(NR, _n - col0), _pc, _kc, _bp + (long)jr * NR * _kc);
            }
        }
        else
        {
            task -= _packBTasks;
            int from = (int)((long)task * _mPanels / _packATasks), to = (int)((long)(task + 1) * _mPanels / _packATasks);
            for (int ir = from; ir < to; ir++)
                GemmPacking.PackA(_a, _lda, _transA, ir * MR, Math.Min(MR, _m - ir * MR), _pc, _kc, _ap + (long)ir * MR * _kc);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Compute(int mBlock, int part)
    {
        float* tile = stackalloc float[MR * GemmMicroKernel.NV * 16];
        int irFrom = mBlock * _mcPanels, irTo = Math.Min(_mPanels, irFrom + _mcPanels);
        int jrFrom = (int)((long)part * _nPanels / _nParts), jrTo = (int)((long)(part + 1) * _nPanels / _nParts);
        int kc = _kc;
        float alpha = _alpha, beta = _beta;
        nint ldc = _ldc;
        for (int jr = jrFrom; jr < jrTo; jr++)
        {
            int col0 = _jc + jr * NR, cols = Math.Min(NR, _n - col0);
            float* bp = _bp + (long)jr * NR * kc;
            for (int ir = irFrom; ir < irTo; ir++)
            {
                int row0 = ir * MR, rows = Math.Min(MR, _m - row0);
                float* ap = _ap + (long)ir * MR * kc;
                float* c = _c + row0 * ldc + col0;
                if (rows == MR && cols == NR)
                {
                    GemmMicroKernel.Run<TV, TO>(kc, ap, bp, c, ldc, alpha, beta);
                }
                else
                {
                    if (cols <= 2 * TO.Width) GemmMicroKernel.Run2<TV, TO>(kc, ap, bp, tile, NR);
                    else GemmMicroKernel.Run<TV, TO>(kc, ap, bp, tile, NR, 1f, 0f);
                    GemmMicroKernel.Epilogue(tile, NR, rows, cols, c, ldc, alpha, beta);
                }
            }
        }
    }
}
