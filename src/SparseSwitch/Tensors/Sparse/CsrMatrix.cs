namespace SparseSwitch.Tensors.Sparse;

/// <summary>
/// A sparse weight matrix [Rows, Cols] in compressed sparse rows: row r's kept entries are
/// Values[RowStart[r] .. RowStart[r + 1]) at columns Columns[same range], in increasing column
/// order. Built from dense weights and a sub-net's mask (or the nonzeros); the inference kernels
/// (<see cref="SparseKernels"/>) read it with the activations as the dense operand.
/// </summary>
public sealed class CsrMatrix
{
    public int Rows { get; }
    public int Cols { get; }
    public int[] RowStart { get; }
    public int[] Columns { get; }
    public float[] Values { get; }

    public int NonZeros => RowStart[Rows];

    /// <summary>Kept entries over all entries.</summary>
    public double Density => Rows * (long)Cols == 0 ? 1.0 : (double)NonZeros / ((long)Rows * Cols);

    /// <summary>Bytes the kernels read for the weights: a value and a column index per entry, and the row starts.</summary>
    public long Bytes => NonZeros * 8L + (Rows + 1) * 4L;

    private CsrMatrix(int rows, int cols, int[] rowStart, int[] columns, float[] values) =>
        (Rows, Cols, RowStart, Columns, Values) = (rows, cols, rowStart, columns, values);

    /// <summary>The entries of row-major <paramref name="w"/> [rows, cols] that <paramref name="mask"/>
    /// keeps (bit i for w[i]), or, without a mask, its nonzeros.</summary>
    public static CsrMatrix FromDense(ReadOnlySpan<float> w, int rows, int cols, BitMask? mask = null)
    {
        CheckDense(w, rows, cols, mask, nameof(CsrMatrix));
        var rowStart = new int[rows + 1];
        int nnz = 0;
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < cols; c++)
                if (Keeps(w, mask, r * cols + c)) nnz++;
            rowStart[r + 1] = nnz;
        }
        var columns = new int[nnz];
        var values = new float[nnz];
        for (int r = 0, j = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
                if (Keeps(w, mask, r * cols + c))
                {
                    columns[j] = c;
                    values[j++] = w[r * cols + c];
                }
        return new CsrMatrix(rows, cols, rowStart, columns, values);
    }

    /// <summary>Whether entry i of dense weights is kept: its mask bit, or without a mask, whether it is nonzero.</summary>
    internal static bool Keeps(ReadOnlySpan<float> w, BitMask? mask, int i) => mask is null ? w[i] != 0f : mask[i];

    /// <summary>Checks that <paramref name="w"/> is a rows × cols matrix and the mask, if any, covers it.</summary>
    internal static void CheckDense(ReadOnlySpan<float> w, int rows, int cols, BitMask? mask, string format)
    {
        if (rows < 0 || cols < 0 || (long)rows * cols != w.Length)
            throw new ArgumentException($"{format}: {w.Length} weights do not make a {rows}×{cols} matrix.");
        if (mask is not null && mask.Length != w.Length)
            throw new ArgumentException($"{format}: a mask of {mask.Length} positions for {w.Length} weights.");
    }

    /// <summary>The dense matrix (dropped entries 0).</summary>
    public float[] ToDense()
    {
        var d = new float[Rows * Cols];
        for (int r = 0; r < Rows; r++)
            for (int j = RowStart[r]; j < RowStart[r + 1]; j++) d[r * Cols + Columns[j]] = Values[j];
        return d;
    }
}
