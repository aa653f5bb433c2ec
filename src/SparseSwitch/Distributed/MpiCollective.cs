using System.Runtime.InteropServices;

namespace SparseSwitch.Distributed;

/// <summary>An MPI error: the call, its error code and MPI's message.</summary>
public sealed class MpiException(string message) : Exception(message);

/// <summary>
/// <see cref="ICollective"/> over Open MPI, called through a thin layer of function pointers into
/// <c>libmpi.so.40</c> (Debian <c>openmpi-bin</c>, <c>libopenmpi-dev</c>). MPI.NET 1.4 is not used: it
/// binds to MS-MPI's <c>msmpi.dll</c> and its integer handles, while Open MPI's handles are the
/// addresses of exported objects (<c>ompi_mpi_comm_world</c>, <c>ompi_mpi_float</c>, …), so no
/// redirection of its imports would work. The library is opened with RTLD_GLOBAL, since Open MPI's
/// plug-ins resolve symbols of libmpi itself. Errors are returned, not fatal (MPI_ERRORS_RETURN), and
/// become <see cref="MpiException"/>s. One instance per process: MPI is initialised once and
/// finalised on <see cref="Dispose"/>.
/// </summary>
public sealed unsafe class MpiCollective : ICollective
{
    private const int RtldNow = 2, RtldGlobal = 0x100;
    private static readonly nint InPlace = 1; // Open MPI's MPI_IN_PLACE

    private readonly nint _lib, _world, _float, _double, _int64, _sum;
    private readonly delegate* unmanaged<void*, void*, int, nint, nint, nint, int> _allreduce;
    private readonly delegate* unmanaged<void*, int, nint, void*, int, nint, nint, int> _allgather;
    private readonly delegate* unmanaged<nint, int> _barrier;
    private readonly delegate* unmanaged<nint, int, int> _abort;
    private readonly delegate* unmanaged<int, byte*, int*, int> _errorString;
    private readonly delegate* unmanaged<int> _finalize;
    private static int _created;
    private bool _disposed;

    public int Rank { get; }
    public int Size { get; }

    [DllImport("libc", EntryPoint = "dlopen")]
    private static extern nint DlOpen(string file, int mode);

    [DllImport("libc", EntryPoint = "dlerror")]
    private static extern nint DlError();

    /// <summary>Whether this process was started by an MPI launcher (<c>mpirun</c> sets these).</summary>
    public static bool LaunchedByMpi =>
        Environment.GetEnvironmentVariable("OMPI_COMM_WORLD_SIZE") is not null || Environment.GetEnvironmentVariable("PMIX_RANK") is not null;

    /// <summary>Initialises MPI (once per process) and joins MPI_COMM_WORLD.</summary>
    public MpiCollective()
    {
        if (!OperatingSystem.IsLinux()) throw new PlatformNotSupportedException("Distributed training runs on Linux with Open MPI.");
        if (Interlocked.Exchange(ref _created, 1) != 0) throw new InvalidOperationException("MPI is initialised once per process; use the one MpiCollective.");
        _lib = DlOpen("libmpi.so.40", RtldNow | RtldGlobal);
        if (_lib == 0) _lib = DlOpen("libmpi.so", RtldNow | RtldGlobal);
        if (_lib == 0)
            throw new DllNotFoundException($"Open MPI's libmpi.so.40 could not be loaded ({Marshal.PtrToStringUTF8(DlError())}); install it with 'apt-get install openmpi-bin libopenmpi-dev'.");
        if (!NativeLibrary.TryGetExport(_lib, "ompi_mpi_comm_world", out _world))
            throw new DllNotFoundException("The libmpi found is not Open MPI's (no ompi_mpi_comm_world); distributed training supports Open MPI.");
        _float = Export("ompi_mpi_float");
        _double = Export("ompi_mpi_double");
        _int64 = Export("ompi_mpi_int64_t");
        _sum = Export("ompi_mpi_op_sum");
        nint errorsReturn = Export("ompi_mpi_errors_return");
        var mpiInit = (delegate* unmanaged<int*, nint*, int>)Export("MPI_Init");
        var commRank = (delegate* unmanaged<nint, int*, int>)Export("MPI_Comm_rank");
        var commSize = (delegate* unmanaged<nint, int*, int>)Export("MPI_Comm_size");
        var setErrhandler = (delegate* unmanaged<nint, nint, int>)Export("MPI_Comm_set_errhandler");
        _allreduce = (delegate* unmanaged<void*, void*, int, nint, nint, nint, int>)Export("MPI_Allreduce");
        _allgather = (delegate* unmanaged<void*, int, nint, void*, int, nint, nint, int>)Export("MPI_Allgather");
        _barrier = (delegate* unmanaged<nint, int>)Export("MPI_Barrier");
        _abort = (delegate* unmanaged<nint, int, int>)Export("MPI_Abort");
        _errorString = (delegate* unmanaged<int, byte*, int*, int>)Export("MPI_Error_string");
        _finalize = (delegate* unmanaged<int>)Export("MPI_Finalize");
        Check(mpiInit(null, null), "MPI_Init");
        Check(setErrhandler(_world, errorsReturn), "MPI_Comm_set_errhandler");
        int rank, size;
        Check(commRank(_world, &rank), "MPI_Comm_rank");
        Check(commSize(_world, &size), "MPI_Comm_size");
        Rank = rank;
        Size = size;
    }

    private nint Export(string name) =>
        NativeLibrary.TryGetExport(_lib, name, out nint p) ? p : throw new EntryPointNotFoundException($"libmpi has no '{name}'.");

    private void Check(int code, string call)
    {
        if (code == 0) return;
        var text = new byte[512];
        int len = 0;
        fixed (byte* t = text) _errorString(code, t, &len);
        throw new MpiException($"{call} failed on rank {Rank}: {System.Text.Encoding.UTF8.GetString(text, 0, Math.Clamp(len, 0, text.Length))} (error {code}).");
    }

    public void AllreduceSum(Span<float> data)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        for (int start = 0; start < data.Length; start += int.MaxValue / 2)
        {
            var part = data.Slice(start, Math.Min(int.MaxValue / 2, data.Length - start));
            fixed (float* p = part) Check(_allreduce((void*)InPlace, p, part.Length, _float, _sum, _world), "MPI_Allreduce");
        }
    }

    public void AllreduceSum(Span<double> data)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        fixed (double* p = data) Check(_allreduce((void*)InPlace, p, data.Length, _double, _sum, _world), "MPI_Allreduce");
    }

    public long[] Allgather(long value)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var all = new long[Size];
        fixed (long* p = all) Check(_allgather(&value, 1, _int64, p, 1, _int64, _world), "MPI_Allgather");
        return all;
    }

    public void Barrier()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        Check(_barrier(_world), "MPI_Barrier");
    }

    /// <summary>Ends every rank of the job with <paramref name="code"/> (after an error on this rank,
    /// so that no other rank waits forever in a collective).</summary>
    public void Abort(int code)
    {
        if (!_disposed) _abort(_world, code);
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _finalize();
    }
}
