namespace SparseSwitch.Tensors.Conv;

/// <summary>
/// The scalar twin of every convolution algorithm (<see cref="IConvAlgorithm"/>): the definition
/// computed directly, each sum accumulated in double. Any geometry (stride, padding, dilation,
/// groups). x: [B, Cin, H, W], w: [Cout, Cin/groups, KH, KW], y and dy: [B, Cout, OH, OW].
///   y[n, o, i, j]  = b[o] + Σ_{c in o's group, ki, kj} w[o, c, ki, kj] · x[n, c, i·SH − PH + ki·DH, j·SW − PW + kj·DW]
///   dx[n, c, …]   = Σ over the (o, i, j, ki, kj) that read it of w · dy
///   dw[o, c, ki, kj] = Σ_{n, i, j} x[…] · dy[n, o, i, j];   db[o] = Σ_{n, i, j} dy[n, o, i, j]
/// Slow; the tests' oracle and a fallback one can read.
/// </summary>
public static class ConvReference
{
    /// <summary>y (overwritten) of a batch of <paramref name="batch"/> images; an empty bias adds nothing.</summary>
    public static void Forward(in ConvGeometry g, int batch, int cout, int groups, ReadOnlySpan<float> x, ReadOnlySpan<float> w,
        ReadOnlySpan<float> bias, Span<float> y)
    {
        Check(g, batch, cout, groups, x.Length, w.Length, y.Length);
        int cin = g.C, cg = cin / groups, og = cout / groups;
        for (int n = 0; n < batch; n++)
        for (int o = 0; o < cout; o++)
        for (int i = 0; i < g.OH; i++)
        for (int j = 0; j < g.OW; j++)
        {
            double s = bias.IsEmpty ? 0 : bias[o];
            int c0 = o / og * cg;
            for (int c = 0; c < cg; c++)
            for (int ki = 0; ki < g.KH; ki++)
            for (int kj = 0; kj < g.KW; kj++)
            {
                int yy = i * g.SH - g.PH + ki * g.DH, xx = j * g.SW - g.PW + kj * g.DW;
                if ((uint)yy >= (uint)g.H || (uint)xx >= (uint)g.W) continue;
                s += (double)w[((o * cg + c) * g.KH + ki) * g.KW + kj] * x[((n * cin + c0 + c) * g.H + yy) * g.W + xx];
            }
            y[((n * cout + o) * g.OH + i) * g.OW + j] = (float)s;
        }
    }

    /// <summary>dx, dw and db (each overwritten; an empty span is skipped) from dy.</summary>
    public static void Backward(in ConvGeometry g, int batch, int cout, int groups, ReadOnlySpan<float> x, ReadOnlySpan<float> w,
        ReadOnlySpan<float> dy, Span<float> dx, Span<float> dw, Span<float> db)
    {
        Check(g, batch, cout, groups, x.Length, w.Length, dy.Length);
        int cin = g.C, cg = cin / groups, og = cout / groups;
        var sdx = dx.IsEmpty ? [] : new double[dx.Length];
        var sdw = dw.IsEmpty ? [] : new double[dw.Length];
        var sdb = db.IsEmpty ? [] : new double[db.Length];
        for (int n = 0; n < batch; n++)
        for (int o = 0; o < cout; o++)
        for (int i = 0; i < g.OH; i++)
        for (int j = 0; j < g.OW; j++)
        {
            double d = dy[((n * cout + o) * g.OH + i) * g.OW + j];
            if (sdb.Length > 0) sdb[o] += d;
            int c0 = o / og * cg;
            for (int c = 0; c < cg; c++)
            for (int ki = 0; ki < g.KH; ki++)
            for (int kj = 0; kj < g.KW; kj++)
            {
                int yy = i * g.SH - g.PH + ki * g.DH, xx = j * g.SW - g.PW + kj * g.DW;
                if ((uint)yy >= (uint)g.H || (uint)xx >= (uint)g.W) continue;
                int wi = ((o * cg + c) * g.KH + ki) * g.KW + kj, xi = ((n * cin + c0 + c) * g.H + yy) * g.W + xx;
                if (sdx.Length > 0) sdx[xi] += w[wi] * d;
                if (sdw.Length > 0) sdw[wi] += x[xi] * d;
            }
        }
        for (int i = 0; i < sdx.Length; i++) dx[i] = (float)sdx[i];
        for (int i = 0; i < sdw.Length; i++) dw[i] = (float)sdw[i];
        for (int i = 0; i < sdb.Length; i++) db[i] = (float)sdb[i];
    }

    private static void Check(in ConvGeometry g, int batch, int cout, int groups, int xLength, int wLength, int yLength)
    {
        if (groups < 1 || g.C % groups != 0 || cout % groups != 0)
            throw new ArgumentException($"ConvReference: groups={groups} must divide Cin={g.C} and Cout={cout}.");
        if (xLength != batch * g.C * g.H * g.W || wLength != cout * (g.C / groups) * g.KH * g.KW || yLength != batch * cout * g.OH * g.OW)
            throw new ArgumentException("ConvReference: buffer sizes do not match the geometry.");
    }
}
