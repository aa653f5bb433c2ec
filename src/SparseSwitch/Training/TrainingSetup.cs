using SparseSwitch.Data;
using SparseSwitch.Nn;
using SparseSwitch.Nn.Models;
using SparseSwitch.Optim;
using SparseSwitch.Tensors;

namespace SparseSwitch.Training;

/// <summary>
/// Turns a recipe into the objects a run needs: data sets and loaders, the model (with one
/// batch-norm set per sub-net), its prunable layers and the flat parameter table that holds its
/// parameters and gradients (built right after the model). Random streams are derived from the recipe's
/// seed in a fixed order, so a seed fixes initialisation, data order, augmentation and mask choices.
/// </summary>
public sealed class TrainingSetup : IDisposable
{
    public TrainRecipe Recipe { get; }
    public SubnetList Subnets { get; }
    public ImageDataset Train { get; }
    public ImageDataset Test { get; }
    public DataLoader TrainLoader { get; }
    public DataLoader TestLoader { get; }
    public Module Model { get; }

    /// <summary>The engine options of the run (the recipe's thread count over the process default).</summary>
    public EngineOptions Options { get; }
    public IReadOnlyList<(string Path, Parameter Param)> Prunable { get; }
    /// <summary>Every parameter of the model, rebound into flat buffers (weights, gradients).</summary>
    public ParameterTable Table { get; }
    /// <summary>Stream for mask choices (random N:M dense groups, ERK initial masks).</summary>
    public Rng MaskRng { get; }

    /// <summary>The processes training together (data parallel); one process when not distributed.</summary>
    public Distributed.ICollective Collective { get; }

    /// <summary>Builds from a recipe. Data sets may be passed in to share them between runs. With a
    /// <paramref name="collective"/> of several ranks, the loaders give this rank its share of every
    /// batch (the recipe's batch size is the global batch).</summary>
    public TrainingSetup(TrainRecipe recipe, (ImageDataset Train, ImageDataset Test)? data = null, Func<TrainingSetup, Module>? modelFactory = null,
        Distributed.ICollective? collective = null)
    {
        recipe.Validate();
        Recipe = recipe;
        Collective = collective ?? Distributed.SingleProcess.Instance;
        if (Collective.Size > 1 && recipe.BatchSize < Collective.Size)
            throw new ArgumentException($"batch-size: the global batch ({recipe.BatchSize}) must hold at least one image per rank ({Collective.Size} ranks).");
        if (Collective.Size > 1 && recipe.Distill > 0)
            throw new ArgumentException("distill: not supported in distributed training yet (the stored predictions would be each rank's own).");
        if (Collective.Size > 1 && recipe.SplitBatch)
            throw new ArgumentException("split-batch: not supported in distributed training (each rank would split its own share of the batch, so the sub-nets' slices would not be one process's).");
        (int, int)? shard = Collective.Size > 1 ? (Collective.Rank, Collective.Size) : null;
        Subnets = recipe.SubnetsToTrain;
        Options = recipe.Threads > 0 ? EngineOptions.Default with { Threads = recipe.Threads } : EngineOptions.Default;
        var (train, test) = data ?? LoadData(recipe);
        Train = train; Test = test;
        if (recipe.SplitBatch && Math.Min(train.Count, recipe.BatchSize) < Subnets.Count)
            throw new ArgumentException($"split-batch: the training set's {train.Count} images make a batch smaller than one image per sub-net ({Subnets.Count}).");
        var norm = InputNormalization(recipe, () => train);
        var augment = recipe.Augment ? Augmentation.Standard : null;
        // Prefetch 0: batches are prepared on the training thread, so no thread competes with the
        // kernels for the cores and the timing of a run does not depend on a producer thread.
        TrainLoader = new DataLoader(train, recipe.BatchSize, shuffle: true, augment, norm, recipe.Seed, dropLast: train.Count >= recipe.BatchSize, prefetch: 0, shard: shard);
        TestLoader = new DataLoader(test, Math.Max(recipe.BatchSize, 256), shuffle: false, null, norm, recipe.Seed, dropLast: false, prefetch: 0, shard: shard);
        var root = new Rng(recipe.Seed);
        var modelRng = root.Fork();
        MaskRng = root.Fork();
        _modelRng = modelRng;
        Model = modelFactory?.Invoke(this) ?? CreateModel(recipe.Model, train.Channels, train.Height, train.NumClasses, BatchNormSetsOf(recipe), modelRng);
        Model.UseOptions(Options);
        Prunable = MarkPrunable(Model, recipe);
        if (recipe.Mode != TrainMode.Dense && Prunable.Count == 0)
            throw new ArgumentException($"model: '{recipe.Model}' has no prunable layers.");
        Table = new ParameterTable(Model.NamedParameters());
    }

    private readonly Rng _modelRng;

    /// <summary>The initialisation stream (for model factories passed to the constructor).</summary>
    public Rng ModelRng => _modelRng;

    /// <summary>Number of batch-norm sets the model must have.</summary>
    public int BatchNormSets => BatchNormSetsOf(Recipe);

    /// <summary>Number of batch-norm sets a model trained by <paramref name="recipe"/> has: one per
    /// sub-net, one in mode independent (each run trains one sub-net).</summary>
    public static int BatchNormSetsOf(TrainRecipe recipe) => recipe.Mode == TrainMode.Independent ? 1 : recipe.SubnetsToTrain.Count;

    /// <summary>The prunable parameters of <paramref name="model"/> under <paramref name="recipe"/>:
    /// those the model marks, less the classifier (the last weight of rank ≥ 2, unmarked here) when
    /// the recipe keeps it dense.</summary>
    public static List<(string Path, Parameter Param)> MarkPrunable(Module model, TrainRecipe recipe)
    {
        var prunable = model.NamedParameters().Where(p => p.Param.Prunable).ToList();
        if (!recipe.ClassifierPrunable && prunable.Count > 0)
        {
            var last = model.NamedParameters().Where(p => p.Param.Shape.Length >= 2).Last();
            last.Param.Prunable = false;
            prunable = prunable.Where(p => !ReferenceEquals(p.Param, last.Param)).ToList();
        }
        return prunable;
    }

    /// <summary>The input normalisation of a run: the data set's standard values, or for synthetic
    /// data (no standard values) those measured on the training set, which is only read then.</summary>
    public static Normalization InputNormalization(TrainRecipe recipe, Func<ImageDataset> train) =>
        Normalization.Standard(recipe.Data) ?? Normalization.Compute(train());

    public static (ImageDataset Train, ImageDataset Test) LoadData(TrainRecipe r)
    {
        var data = ReadData(r);
        // Reading the files left about twice the data set's size of garbage on the large object
        // heap (decompression buffers, the per-file arrays joined into one, a subset's source),
        // which no later collection would hand back while training allocates nothing: one
        // compacting collection returns it to the system now (ReadData has returned, so nothing
        // on its frame keeps the whole set alive when a subset was taken).
        GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        return data;
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static (ImageDataset Train, ImageDataset Test) ReadData(TrainRecipe r)
    {
        // The synthetic images are drawn with a fixed seed: every run and seed sees the same data.
        var (train, test) = r.Data.Equals("synthetic", StringComparison.OrdinalIgnoreCase)
            ? Datasets.Load("synthetic", null, seed: 0, syntheticTrainCount: r.TrainLimit > 0 ? r.TrainLimit : Synthetic.DefaultTrainCount,
                syntheticTestCount: r.TestLimit > 0 ? r.TestLimit : Synthetic.DefaultTestCount)
            : Datasets.Load(r.Data, r.DataDir);
        if (r.TrainLimit > 0 && r.TrainLimit < train.Count) train = train.Subset(Enumerable.Range(0, r.TrainLimit).ToArray());
        if (r.TestLimit > 0 && r.TestLimit < test.Count) test = test.Subset(Enumerable.Range(0, r.TestLimit).ToArray());
        return (train, test);
    }

    /// <summary>A model of the zoo by name.</summary>
    public static Module CreateModel(string name, int channels, int size, int classes, int sets, Rng rng)
    {
        if (!ModelZoo.Names.Contains(name.Trim().ToLowerInvariant()))
            throw new ArgumentException($"model: '{name}' is not one of {string.Join(", ", ModelZoo.Names)}.");
        return ModelZoo.Create(name, channels, size, classes, sets, rng);
    }

    public void Dispose()
    {
        TrainLoader.Dispose();
        TestLoader.Dispose();
    }
}
