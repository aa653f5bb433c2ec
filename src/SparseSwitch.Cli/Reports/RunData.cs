using System.Text.Json;
using SparseSwitch.Inference;
using SparseSwitch.Training;

namespace SparseSwitch.Cli.Reports;

/// <summary>A model file found in a run folder (read from its header only) and its description.</summary>
internal sealed record ModelFile(string Name, ModelInfo Info);

/// <summary>
/// What a report shows of one run folder: the resolved recipe, every epoch's metric rows per
/// sub-net, the last epoch's rows, the model files packed from it (with their latency tables), and
/// the end of its log. A run of mode independent keeps each sub-net's epochs in subnet-k/; they are
/// read from there and numbered k.
/// </summary>
internal sealed class RunData
{
    public required string Folder { get; init; }
    public required TrainRecipe Recipe { get; init; }
    /// <summary>recipe.json as stored: (key, value as written) in file order.</summary>
    public required IReadOnlyList<(string Key, string Value)> RecipeFields { get; init; }
    /// <summary>Every epoch × sub-net row, ordered by sub-net then epoch.</summary>
    public required IReadOnlyList<EpochMetrics> Rows { get; init; }
    /// <summary>The last finished epoch's row of each sub-net, by sub-net.</summary>
    public required IReadOnlyList<EpochMetrics> Final { get; init; }
    public required IReadOnlyList<ModelFile> Models { get; init; }
    /// <summary>Files that look like model files but could not be read, with the reason.</summary>
    public required IReadOnlyList<string> ModelProblems { get; init; }
    public required string Log { get; init; }

    public int Subnets => Final.Count;
    public bool Independent => Recipe.Mode == TrainMode.Independent;

    /// <summary>Rows of one sub-net, by epoch.</summary>
    public IEnumerable<EpochMetrics> Of(int subnet) => Rows.Where(r => r.Subnet == subnet).OrderBy(r => r.Epoch);

    /// <summary>True when <paramref name="dir"/> holds a run: recipe.json and metrics.jsonl.</summary>
    public static bool IsRunFolder(string dir) =>
        File.Exists(Path.Combine(dir, "recipe.json")) && File.Exists(Path.Combine(dir, "metrics.jsonl"));

    public static RunData Load(string dir)
    {
        var folder = RunFolder.Open(dir);
        var (recipe, fields) = ReadRecipe(folder.RecipeFile);
        List<EpochMetrics> rows;
        List<EpochMetrics> final;
        if (recipe.Mode == TrainMode.Independent)
        {
            rows = [];
            var top = ReadMetrics(folder.MetricsJsonl);
            for (int k = 0; k < recipe.Subnets.Count; k++)
            {
                string sub = Path.Combine(dir, $"subnet-{k}", "metrics.jsonl");
                if (File.Exists(sub)) rows.AddRange(ReadMetrics(sub).Select(m => m with { Subnet = k }));
            }
            // The top-level file holds each sub-net's last row once every sub-net has finished; before
            // that, the sub-folders' last rows stand in.
            final = top.Count > 0 ? top.OrderBy(m => m.Subnet).ToList()
                : rows.GroupBy(r => r.Subnet).OrderBy(g => g.Key).Select(g => g.MaxBy(r => r.Epoch)!).ToList();
        }
        else
        {
            rows = ReadMetrics(folder.MetricsJsonl);
            int last = rows.Count == 0 ? -1 : rows.Max(r => r.Epoch);
            final = rows.Where(r => r.Epoch == last).OrderBy(r => r.Subnet).ToList();
        }
        rows = rows.OrderBy(r => r.Subnet).ThenBy(r => r.Epoch).ToList();
        var (models, problems) = FindModels(dir);
        string log = File.Exists(folder.LogFile) ? File.ReadAllText(folder.LogFile) : "";
        return new RunData
        {
            Folder = dir, Recipe = recipe, RecipeFields = fields, Rows = rows, Final = final,
            Models = models, ModelProblems = problems, Log = log,
        };
    }

    public static (TrainRecipe Recipe, IReadOnlyList<(string, string)> Fields) ReadRecipe(string file)
    {
        if (!File.Exists(file)) throw new FileNotFoundException($"{file}: no recipe.json; not a run folder.");
        string json = File.ReadAllText(file);
        try
        {
            var recipe = TrainRecipe.FromJson(json);
            using var doc = JsonDocument.Parse(json);
            var fields = doc.RootElement.EnumerateObject()
                .Select(p => (p.Name, p.Value.ValueKind switch
                {
                    JsonValueKind.String => p.Value.GetString()!,
                    JsonValueKind.Null => "—",
                    _ => p.Value.GetRawText(),
                })).ToList();
            return (recipe, fields);
        }
        catch (JsonException e) { throw new FileFormatException($"{file}: not a valid recipe: {e.Message}", e); }
    }

    public static List<EpochMetrics> ReadMetrics(string file)
    {
        var rows = new List<EpochMetrics>();
        int n = 0;
        foreach (var line in File.ReadLines(file))
        {
            n++;
            if (line.Length == 0) continue;
            try { rows.Add(EpochMetrics.FromJsonLine(line)); }
            catch (JsonException e) { throw new FileFormatException($"{file}, line {n}: not a metrics row: {e.Message}", e); }
        }
        return rows;
    }

    /// <summary>Every *.safetensors file of the folder that is a model file (by its header; the
    /// weights are not read); a file that claims to be one but whose description cannot be read is
    /// listed with the reason.</summary>
    private static (List<ModelFile>, List<string>) FindModels(string dir)
    {
        var models = new List<ModelFile>();
        var problems = new List<string>();
        foreach (var file in Directory.EnumerateFiles(dir, "*.safetensors").Order(StringComparer.Ordinal))
        {
            if (Path.GetFileName(file) == "checkpoint.safetensors") continue;
            try
            {
                if (ModelArtifact.ReadInfo(file) is { } info) models.Add(new ModelFile(Path.GetFileName(file), info));
            }
            catch (IOException e) { problems.Add(e.Message); }
        }
        return (models, problems);
    }
}
