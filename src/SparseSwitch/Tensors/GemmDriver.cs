using System.Runtime.CompilerServices;

namespace SparseSwitch.Tensors;

/// <summary>
/// The loops around the GEMM micro-kernel (BLIS style). For each column block of C (as wide as
/// <see cref="blocking.PackedBLimit"/> allows): phase 1 packs op(B)[all k × block] and, for
/// the first block, all of op(A) into aligned micro-panels, cut into KC-deep slices; phase 2 runs
/// compute tasks, each an MC-row × (at most) NC-column block of C, looping k-slice → B
/// micro-panel → A micro-panel → micro-kernel (the task's A block, B slice and C block stay in
/// L2). Both phases are split across <see cref="WorkerPool"/> threads; a pool join separates
/// them, so a column block costs two joins. Packed A holds all of op(A) (m·k floats, rounded up
/// to MR rows) per calling thread. Each tile of C is computed by exactly one task with the k-slices in order, so the bits
/// of the result do not depend on the thread count or on timing. One instance per calling thread
/// (its buffers are reused, so a call allocates nothing once they have grown).
/// </summary>
internal sealed unsafe class GemmDriver<TV, TO> : IParallelBody
    where TV : struct where TO : struct, IGemmVector<TV>
{
    private const int MR = GemmMicroKernel.MR;
    private static readonly int NR = GemmMicroKernel.NV * TO.Width;
    /// <summary>Below this many multiply-adds (m·n·k, 128³ ≈ 15 µs on one core) a product runs on
    /// the calling thread only: waking the workers and the two joins would cost about as much as
    /// they save.</summary>
    public const long ParallelThreshold = 1L << 21;

    [ThreadStatic] private static GemmDriver<TV, TO>? _forThisThread;
    public static GemmDriver<TV, TO> ForThisThread => _forThisThread ??= new GemmDriver<TV, TO>();

    private readonly GemmBuffer _packedA = new(), _packedB = new();
    private float* _a, _b, _c;
    private nint _lda, _ldb, _ldc;
    private bool _transA, _transB;
    private int _m, _n, _k;
    private float _alpha, _beta;
    private int _kcBlock, _mcPanels, _ncTaskPanels, _mPanels;
    private float* _ap, _bp;
    // Current column block and phase.
    private int _jc, _nPanels;
    private bool _packing, _packA;
    private int _packBTasks, _packATasks, _nParts;

    public void Run(bool transA, bool transB, int m, int n, int k, float alpha,
        float* a, nint lda, float* b, nint ldb, float beta, float* c, nint ldc, EngineOptions options)
    {
        _a = a; _b = b; _c = c;
        (_lda, _ldb, _ldc) = (lda, ldb, ldc);
        (_transA, _transB, _m, _n, _k, _alpha, _beta) = (transA, transB, m, n, k, alpha, beta);
        int threads = (long)m * n * k < ParallelThreshold ? 1 : options.Threads;
        var blocking = options.Gemm;
        _kcBlock = blocking.KC;
        _mcPanels = blocking.MC / MR;
        _ncTaskPanels = Math.Max(1, blocking.NC / NR);
        _mPanels = (m + MR - 1) / MR;
        // Column blocks of equal width (in panels), each with at most PackedBLimit packed floats.
        int totalPanels = (n + NR - 1) / NR;
        int maxPanels = (int)Math.Clamp(blocking.PackedBLimit / ((long)k * NR), 1, totalPanels);
        int blocks = (totalPanels + maxPanels - 1) / maxPanels;
        int ncPanels = (totalPanels + blocks - 1) / blocks;
        int nc = ncPanels * NR;
        _ap = _packedA.Ensure((long)_mPanels * MR * k);
        _bp = _packedB.Ensure((long)ncPanels * NR * k);
        int mBlocks = (_mPanels + _mcPanels - 1) / _mcPanels;
        for (_jc = 0; _jc < n; _jc += nc)
        {
            _nPanels = (Math.Min(nc, n - _jc) + NR - 1) / NR;
            // Tasks at most NC wide keep their KC×NC slice of B and their MC×NC block of C in L2;
            // with several threads, enough tasks to share out evenly.
            _nParts = Math.Max((_nPanels + _ncTaskPanels - 1) / _ncTaskPanels, threads == 1 ? 1 : (2 * threads + mBlocks - 1) / mBlocks);
            _nParts = Math.Min(_nPanels, _nParts);
            _packing = true;
            _packA = _jc == 0;
            _packBTasks = Math.Min(_nPanels, threads);
            _packATasks = _packA ? Math.Min(_mPanels, threads) : 0;
            WorkerPool.For(_packBTasks + _packATasks, this, options, threads);
            _packing = false;
            WorkerPool.For(mBlocks * _nParts, this, options, threads);
        }
        _a = _b = _c = null;
    }

    public void Execute(int task)
    {
        if (_packing) Pack(task);
        else Compute(task / _nParts, task % _nParts);
    }

    /// <summary>Packs a share of the panels for every k-slice. Slice pc of packed A starts at
    /// mPanels·MR·pc and holds MR×kc micro-panels; packed B likewise with nPanels·NR.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Pack(int task)
    {
        int k = _k, KC = _kcBlock;
        if (task < _packBTasks)
        {
            int from = (int)((long)task * _nPanels / _packBTasks), to = (int)((long)(task + 1) * _nPanels / _packBTasks);
            for (int pc = 0; pc < k; pc += KC)
            {
                int kc = Math.Min(KC, k - pc);
                float* slice = _bp + (long)_nPanels * NR * pc;
                for (int jr = from; jr < to; jr++)
                {
                    int col0 = _jc + jr * NR;
                    GemmPacking.PackB<TV, TO>(_b, _ldb, _transB, col0, Math.Min(NR, _n - col0), pc, kc, slice + (long)jr * NR * kc);
                }
            }
        }
        else
        {
            task -= _packBTasks;
            int from = (int)((long)task * _mPanels / _packATasks), to = (int)((long)(task + 1) * _mPanels / _packATasks);
            for (int pc = 0; pc < k; pc += KC)
            {
                int kc = Math.Min(KC, k - pc);
                float* slice = _ap + (long)_mPanels * MR * pc;
                for (int ir = from; ir < to; ir++)
                    GemmPacking.PackA(_a, _lda, _transA, ir * MR, Math.Min(MR, _m - ir * MR), pc, kc, slice + (long)ir * MR * kc);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Compute(int mBlock, int part)
    {
        float* tile = stackalloc float[MR * GemmMicroKernel.NV * 16];
        int irFrom = mBlock * _mcPanels, irTo = Math.Min(_mPanels, irFrom + _mcPanels);
        int jrFrom = (int)((long)part * _nPanels / _nParts), jrTo = (int)((long)(part + 1) * _nPanels / _nParts);
        int k = _k, KC = _kcBlock, m = _m, n = _n;
        float alpha = _alpha;
        nint ldc = _ldc;
        for (int pc = 0; pc < k; pc += KC)
        {
            int kc = Math.Min(KC, k - pc);
            float beta = pc == 0 ? _beta : 1f;
            float* aSlice = _ap + (long)_mPanels * MR * pc;
            float* bSlice = _bp + (long)_nPanels * NR * pc;
            for (int jr = jrFrom; jr < jrTo; jr++)
            {
                int col0 = _jc + jr * NR, cols = Math.Min(NR, n - col0);
                float* bp = bSlice + (long)jr * NR * kc;
                for (int ir = irFrom; ir < irTo; ir++)
                {
                    int row0 = ir * MR, rows = Math.Min(MR, m - row0);
                    float* ap = aSlice + (long)ir * MR * kc;
                    float* c = _c + row0 * ldc + col0;
                    if (rows == MR && cols == NR)
                    {
                        GemmMicroKernel.Tile<TV, TO>(kc, ap, bp, c, ldc, alpha, beta);
                    }
                    else
                    {
                        if (cols <= 2 * TO.Width) GemmMicroKernel.Run2<TV, TO>(kc, ap, bp, tile, NR);
                        else GemmMicroKernel.Tile<TV, TO>(kc, ap, bp, tile, NR, 1f, 0f);
                        GemmMicroKernel.Epilogue(tile, NR, rows, cols, c, ldc, alpha, beta);
                    }
                }
            }
        }
    }
}
