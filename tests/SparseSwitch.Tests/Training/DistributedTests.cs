using System.Diagnostics;
using System.Globalization;
using SparseSwitch.Serialization;
using SparseSwitch.Training;
using Xunit;

namespace SparseSwitch.Tests.Training;

/// <summary>A fact that needs Open MPI's mpirun (Debian: apt-get install -y openmpi-bin
/// libopenmpi-dev; .ci/run installs it); skipped, with the reason, when there is none.</summary>
public sealed class MpiFactAttribute : FactAttribute
{
    public MpiFactAttribute()
    {
        if (DistributedTests.Mpirun() is null)
            Skip = "no mpirun on PATH (apt-get install -y openmpi-bin libopenmpi-dev) for the data-parallel tests";
    }
}

/// <summary>
/// <c>train</c> data-parallel under <c>mpirun -np 2</c> on loopback, against the same run in one
/// process: the same loss at every iteration within float rounding, the same masks; a rank killed
/// mid-run ends the whole job, and a resume (with another number of ranks) finishes it.
/// </summary>
public sealed class DistributedTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ss-mpi-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    public static string? Mpirun() =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Select(d => Path.Combine(d, "mpirun")).FirstOrDefault(File.Exists);

    private static readonly string[] Recipe =
    [
        "--model", "lenet5", "--data", "synthetic", "--train-limit", "4096", "--test-limit", "512", "--epochs", "2", "--prune-start", "0",
        "--prune-end", "1", "--update-every", "4", "--batch-size", "64", "--lr", "0.1", "--threads", "1", "--iteration-log", "--quiet",
    ];

    private static ProcessStartInfo Start(int ranks, IEnumerable<string> args)
    {
        string cli = Path.Combine(AppContext.BaseDirectory, "SparseSwitch.Cli.dll");
        var psi = new ProcessStartInfo(ranks > 0 ? Mpirun()! : "dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (ranks > 0)
        {
            foreach (string a in new[] { "-np", ranks.ToString(CultureInfo.InvariantCulture), "--oversubscribe", "dotnet" }) psi.ArgumentList.Add(a);
            psi.Environment["OMPI_ALLOW_RUN_AS_ROOT"] = "1";
            psi.Environment["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1";
        }
        psi.ArgumentList.Add(cli);
        foreach (string a in args) psi.ArgumentList.Add(a);
        return psi;
    }

    /// <summary>Runs to the end: exit code and standard error. ranks 0: one plain process.</summary>
    private static (int Code, string Err) Run(int ranks, params string[] args)
    {
        using var p = Process.Start(Start(ranks, args))!;
        var err = p.StandardError.ReadToEndAsync();
        p.StandardOutput.ReadToEnd();
        Assert.True(p.WaitForExit(300_000), "the job did not end");
        return (p.ExitCode, err.Result);
    }

    private static List<(long T, int Subnet, float Loss)> Losses(string run) =>
        File.ReadAllLines(Path.Combine(run, "iterations.csv")).Skip(1).Select(l => l.Split(','))
            .Select(f => (long.Parse(f[0], CultureInfo.InvariantCulture), int.Parse(f[1], CultureInfo.InvariantCulture), float.Parse(f[3], CultureInfo.InvariantCulture)))
            .ToList();

    private static Dictionary<string, byte[]> Masks(string run)
    {
        var f = SafeTensors.Load(Path.Combine(run, "checkpoint.safetensors"));
        return f.Names.Where(n => n.StartsWith("mask.", StringComparison.Ordinal)).ToDictionary(n => n, n => f[n].Bytes.ToArray());
    }

    [MpiFact]
    public void TwoRanksWithHalfBatchesFollowOneProcessWithTheWholeBatch()  // LeNet-5 AST: no batch-norm
    {
        // One process takes the batch in two micro-batches: the same arithmetic in the same order as
        // two ranks with one half each, so losses agree to the bit and masks exactly. (In one pass
        // over the whole batch the sums run in another order: losses agree to about 1e-7 until a mask
        // update meets two weights within that of each other, and the runs part from there.)
        string one = Path.Combine(_dir, "one"), two = Path.Combine(_dir, "two");
        var (c1, e1) = Run(0, ["train", .. Recipe, "--micro-batches", "2", "--out", one]);
        Assert.True(c1 == 0, e1);
        var (c2, e2) = Run(2, ["train", .. Recipe, "--out", two]);
        Assert.True(c2 == 0, e2);

        var a = Losses(one);
        var b = Losses(two);
        Assert.Equal(128, a.Count);  // 2 epochs × 64 batches of 64
        Assert.Equal(a.Select(x => (x.T, x.Subnet)), b.Select(x => (x.T, x.Subnet)));
        for (int i = 0; i < a.Count; i++)
            Assert.True(a[i].Loss == b[i].Loss, $"iteration {i}: {a[i].Loss} in one process, {b[i].Loss} over two ranks");
        Assert.True(a.TakeLast(8).Average(x => x.Loss) < a.Take(8).Average(x => x.Loss) - 0.1, "the run should learn (else the comparison shows little)");
        var ma = Masks(one);
        var mb = Masks(two);
        Assert.Equal(ma.Keys.Order(), mb.Keys.Order());
        foreach (var (name, bytes) in ma) Assert.True(bytes.AsSpan().SequenceEqual(mb[name]), $"{name} differs");
        var ra = new RunFolder(one).ReadMetrics();
        var rb = new RunFolder(two).ReadMetrics();
        Assert.Equal(ra.Select(m => (m.Epoch, m.Spec, m.DensityPrunable, m.MaskChange, m.Projections, m.ForwardPasses)),
            rb.Select(m => (m.Epoch, m.Spec, m.DensityPrunable, m.MaskChange, m.Projections, m.ForwardPasses)));
        // Rank 0 alone wrote the folder: one log line per epoch and the start.
        Assert.Equal(3, File.ReadAllLines(Path.Combine(two, "log.txt")).Length);
    }

    [MpiFact]
    public void OptionsThatDoNotSplitOverRanksAreRefusedBeforeTraining()
    {
        foreach (var (option, message) in new[] { (new[] { "--split-batch" }, "split-batch: not supported in distributed training"), (["--distill", "0.5"], "distill: not supported in distributed training") })
        {
            string run = Path.Combine(_dir, "refused" + option[0]);
            var (code, err) = Run(2, ["train", .. Recipe, .. option, "--out", run]);
            Assert.NotEqual(0, code);
            Assert.Contains(message, err);
            Assert.False(File.Exists(Path.Combine(run, "checkpoint.safetensors")));
        }
    }

    [MpiFact]
    public void SynchronisedBatchNormGivesTwoRanksTheStatisticsOfTheWholeBatch()
    {
        // ResNet-20 (batch-norm everywhere), dense, batch 64: one process against two ranks with and
        // without synchronised batch-norm. Iteration 0's loss is the forward alone; iteration 1's
        // follows the first step, so it checks the backward's global sums too. (Later iterations part
        // at the rate rounding grows in this network: one process with 1 and 2 threads parts as fast.)
        string[] recipe = ["--model", "resnet20", "--data", "synthetic", "--train-limit", "256", "--test-limit", "64", "--epochs", "1",
            "--mode", "dense", "--batch-size", "64", "--lr", "0.01", "--threads", "1", "--iteration-log", "--quiet"];
        string one = Path.Combine(_dir, "bn-one"), sync = Path.Combine(_dir, "bn-sync"), local = Path.Combine(_dir, "bn-local");
        foreach (var (ranks, dir, extra) in new[] { (0, one, Array.Empty<string>()), (2, sync, ["--sync-batch-norm"]), (2, local, Array.Empty<string>()) })
        {
            var (code, err) = Run(ranks, ["train", .. recipe, .. extra, "--out", dir]);
            Assert.True(code == 0, err);
        }
        var a = Losses(one);
        var b = Losses(sync);
        var c = Losses(local);
        Assert.Equal(4, a.Count);
        for (int i = 0; i < 2; i++)
            Assert.True(Math.Abs(a[i].Loss - b[i].Loss) <= 1e-6 * a[i].Loss, $"iteration {i}: {a[i].Loss} in one process, {b[i].Loss} over two synchronised ranks");
        Assert.True(Math.Abs(a[0].Loss - c[0].Loss) > 1e-4 * a[0].Loss, "per-rank statistics should give another loss (else this test shows nothing)");
    }

    [MpiFact]
    public void AKilledRankEndsTheJobAndAResumeWithOneRankFinishesIt()
    {
        string run = Path.Combine(_dir, "killed");
        string[] args = ["train", .. Recipe.Select(a => a == "2" ? "3" : a), "--out", run];
        using var job = Process.Start(Start(2, args))!;
        var err = job.StandardError.ReadToEndAsync();
        var output = job.StandardOutput.ReadToEndAsync();
        // Wait for the first epoch's checkpoint, then kill rank 1 in the second epoch.
        var clock = Stopwatch.StartNew();
        string checkpoint = Path.Combine(run, "checkpoint.safetensors");
        while (!File.Exists(checkpoint) && clock.Elapsed < TimeSpan.FromSeconds(120)) Thread.Sleep(50);
        Assert.True(File.Exists(checkpoint), "no checkpoint after the first epoch");
        int rank1 = RankProcess(1);
        Process.GetProcessById(rank1).Kill();
        var killedAt = clock.Elapsed;
        Assert.True(job.WaitForExit(60_000), "the other rank did not end within 60 s of its peer's death");
        Assert.NotEqual(0, job.ExitCode);
        Assert.True(clock.Elapsed - killedAt < TimeSpan.FromSeconds(60));
        _ = output.Result;
        _ = err.Result;

        var (code, e) = Run(0, ["train", "--resume", "--out", run, "--quiet"]);
        Assert.True(code == 0, e);
        var metrics = new RunFolder(run).ReadMetrics();
        Assert.Equal([0, 1, 2], metrics.Select(m => m.Epoch).Distinct().Order());
    }

    /// <summary>The process of rank <paramref name="rank"/> of the running job (by its environment).</summary>
    private static int RankProcess(int rank)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(30))
        {
            foreach (var dir in Directory.GetDirectories("/proc"))
            {
                if (!int.TryParse(Path.GetFileName(dir), out int pid)) continue;
                try
                {
                    string env = File.ReadAllText(Path.Combine(dir, "environ"));
                    if (env.Contains($"\0OMPI_COMM_WORLD_RANK={rank}\0") && env.Contains("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1")
                        && File.ReadAllText(Path.Combine(dir, "cmdline")).Contains("SparseSwitch.Cli.dll"))
                        return pid;
                }
                catch (IOException) { }
                catch (UnauthorizedAccessException) { }
            }
            Thread.Sleep(50);
        }
        throw new InvalidOperationException($"rank {rank}'s process not found");
    }
}
