using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace SparseSwitch.Training;

/// <summary>What one sub-net looked like at the end of one epoch, plus the run's cost so far.</summary>
public sealed record EpochMetrics
{
    public string Run { get; init; } = "";
    public int Epoch { get; init; }
    public int Subnet { get; init; }
    public string Spec { get; init; } = "";
    public long Iteration { get; init; }
    public double Lr { get; init; }
    /// <summary>Mean training loss of this sub-net's mini-batches in the epoch (NaN if none).</summary>
    public double TrainLoss { get; init; }
    public double TestLoss { get; init; }
    public double TestAccuracy { get; init; }
    /// <summary>Kept / all weights of the prunable layers.</summary>
    public double DensityPrunable { get; init; }
    /// <summary>Kept / all parameters of the model (non-prunable ones count as kept), as MaskStats reports it.</summary>
    public double DensityAll { get; init; }
    public Dictionary<string, double> LayerDensity { get; init; } = new();
    /// <summary>|m_k ∩ m_j| / |m_k ∪ m_j| over prunable layers, for every sub-net j.</summary>
    public double[] Overlap { get; init; } = [];
    /// <summary>Gradient-correction projections fired so far, per prunable layer, summed.</summary>
    public long Projections { get; init; }
    public long CorrectionTests { get; init; }
    /// <summary>Projections fired so far per prunable layer.</summary>
    public Dictionary<string, long> LayerProjections { get; init; } = new();
    public long MaskUpdates { get; init; }
    /// <summary>SR-STE: Hamming distance between this sub-net's last two masks (0 otherwise).</summary>
    public long MaskChange { get; init; }
    public double WallSeconds { get; init; }
    public long ForwardPasses { get; init; }
    public long BackwardPasses { get; init; }
    /// <summary>Training multiply-adds so far if every layer ran dense.</summary>
    public double TrainMacsDense { get; init; }
    /// <summary>Training multiply-adds so far counting kept weights only.</summary>
    public double TrainMacsMasked { get; init; }
    /// <summary>Forward multiply-adds per sample of this sub-net (inference cost).</summary>
    public long InferenceMacs { get; init; }
    /// <summary>With batch-norm re-estimation (recipe bn-recalibrate), in the last epoch: the test
    /// accuracy with the running statistics kept during training, before they were re-estimated
    /// (<see cref="TestAccuracy"/> is after); absent otherwise.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? TestAccuracyBeforeRecalibration { get; init; }

    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public string ToJsonLine() => JsonSerializer.Serialize(this, Json);
    public static EpochMetrics FromJsonLine(string line) => JsonSerializer.Deserialize<EpochMetrics>(line, Json)!;

    public static readonly string CsvHeader =
        "run,epoch,subnet,spec,iteration,lr,train_loss,test_loss,test_accuracy,density_prunable,density_all,projections,correction_tests,mask_updates,mask_change,wall_seconds,forward_passes,backward_passes,train_macs_dense,train_macs_masked,inference_macs";

    public string ToCsvRow()
    {
        var c = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.AppendJoin(',', Run, Epoch, Subnet, Spec, Iteration, Lr.ToString("R", c), TrainLoss.ToString("R", c), TestLoss.ToString("R", c),
            TestAccuracy.ToString("R", c), DensityPrunable.ToString("R", c), DensityAll.ToString("R", c), Projections, CorrectionTests,
            MaskUpdates, MaskChange, WallSeconds.ToString("F3", c), ForwardPasses, BackwardPasses, TrainMacsDense.ToString("R", c),
            TrainMacsMasked.ToString("R", c), InferenceMacs);
        return sb.ToString();
    }
}
