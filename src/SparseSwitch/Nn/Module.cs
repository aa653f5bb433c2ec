using SparseSwitch.Tensors;

namespace SparseSwitch.Nn;

/// <summary>
/// A layer or a model: explicit forward and backward. Forward caches exactly what backward needs;
/// backward takes dL/dy, accumulates parameter gradients (+=) and returns dL/dx. Output and
/// gradient tensors are owned by the module and reused across calls of the same batch shape (no
/// allocation in steady state): a caller must not keep them across the next call.
/// Parameters, buffers and children are registered by name, so paths match PyTorch's state-dict
/// keys (<c>layer1.0.conv1.weight</c>).
/// </summary>
public abstract class Module
{
    private readonly List<(string Name, Module Module)> _children = new();
    private readonly List<(string Name, Parameter Param)> _parameters = new();
    private readonly List<(string Name, Tensor Buffer)> _buffers = new();

    public bool Training { get; private set; } = true;

    /// <summary>The engine options this module's kernels run with (threads, precision, which
    /// convolution algorithms, tuning values): <see cref="EngineOptions.Default"/> until
    /// <see cref="UseOptions"/> gives it others.</summary>
    public EngineOptions Options { get; private set; } = EngineOptions.Default;

    /// <summary>Sets the engine options of this module and all its descendants; returns this module.
    /// Call it between steps, not during one.</summary>
    public Module UseOptions(EngineOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        Options = options;
        foreach (var (_, m) in _children) m.UseOptions(options);
        OnOptionsChanged();
        return this;
    }

    /// <summary>Called after <see cref="UseOptions"/> changed this module's options.</summary>
    protected virtual void OnOptionsChanged() { }

    public abstract Tensor Forward(Tensor x);
    public abstract Tensor Backward(Tensor dy);

    /// <summary>Called with the input at the start of <see cref="Forward"/> by layers that report
    /// it (the weighted layers do, via <see cref="ObserveInput"/>). Calibration tools (AdaPrune) set
    /// it to capture a layer's inputs; null (the default) costs nothing.</summary>
    public Action<Module, Tensor>? InputObserver { get; set; }

    /// <summary>Layers call this first thing in Forward.</summary>
    protected void ObserveInput(Tensor x) => InputObserver?.Invoke(this, x);

    /// <summary>Train mode (batch statistics, dropout) or eval mode; applies to all descendants.</summary>
    public void Train(bool training = true)
    {
        Training = training;
        foreach (var (_, m) in _children) m.Train(training);
    }

    public void Eval() => Train(false);

    protected T RegisterModule<T>(string name, T module) where T : Module
    {
        CheckName(name);
        _children.Add((name, module));
        return module;
    }

    protected Parameter RegisterParameter(string name, Parameter p)
    {
        CheckName(name);
        _parameters.Add((name, p));
        return p;
    }

    protected Tensor RegisterBuffer(string name, Tensor t)
    {
        CheckName(name);
        _buffers.Add((name, t));
        return t;
    }

    private void CheckName(string name)
    {
        if (string.IsNullOrEmpty(name)) throw new ArgumentException("Names of modules, parameters and buffers must not be empty.");
        if (name.Contains('.')) throw new ArgumentException($"Name '{name}' must not contain a dot.");
        if (_children.Any(c => c.Name == name) || _parameters.Any(p => p.Name == name) || _buffers.Any(b => b.Name == name))
            throw new ArgumentException($"Name '{name}' is already registered in {GetType().Name}.");
    }

    public IReadOnlyList<(string Name, Module Module)> Children => _children;

    public IEnumerable<(string Path, Parameter Param)> NamedParameters(string prefix = "")
    {
        foreach (var (n, p) in _parameters) yield return (prefix + n, p);
        foreach (var (n, m) in _children)
            foreach (var x in m.NamedParameters(prefix + n + ".")) yield return x;
    }

    public IEnumerable<(string Path, Tensor Buffer)> NamedBuffers(string prefix = "")
    {
        foreach (var (n, b) in _buffers) yield return (prefix + n, b);
        foreach (var (n, m) in _children)
            foreach (var x in m.NamedBuffers(prefix + n + ".")) yield return x;
    }

    public IEnumerable<(string Path, Module Module)> NamedModules(string prefix = "")
    {
        yield return (prefix.TrimEnd('.'), this);
        foreach (var (n, m) in _children)
            foreach (var x in m.NamedModules(prefix + n + ".")) yield return x;
    }

    public IEnumerable<Parameter> Parameters() => NamedParameters().Select(p => p.Param);

    /// <summary>Parameters and buffers by path, the PyTorch state dict (views of the live tensors).</summary>
    public Dictionary<string, Tensor> StateDict()
    {
        var d = new Dictionary<string, Tensor>();
        foreach (var (n, p) in NamedParameters()) d[n] = p.Data;
        foreach (var (n, b) in NamedBuffers()) d[n] = b;
        return d;
    }

    /// <summary>Copies values from a state dict into this module. Missing or unexpected keys and
    /// shape mismatches are errors (strict, like PyTorch's default); everything is checked before
    /// anything is copied, so a refused state dict leaves the module unchanged.</summary>
    public void LoadStateDict(IReadOnlyDictionary<string, Tensor> state, bool strict = true)
    {
        var own = StateDict();
        if (strict)
        {
            var missing = own.Keys.Where(k => !state.ContainsKey(k)).ToList();
            var unexpected = state.Keys.Where(k => !own.ContainsKey(k)).ToList();
            if (missing.Count > 0 || unexpected.Count > 0)
                throw new InvalidDataException(
                    $"State dict does not match the model. Missing: [{string.Join(", ", missing)}]. Unexpected: [{string.Join(", ", unexpected)}].");
        }
        foreach (var (k, t) in own)
            if (state.TryGetValue(k, out var src) && !src.SameShape(t.Shape))
                throw new InvalidDataException($"'{k}': shape [{string.Join(", ", src.Shape)}] in the state dict, [{string.Join(", ", t.Shape)}] in the model.");
        foreach (var (k, t) in own)
            if (state.TryGetValue(k, out var src)) src.Span.CopyTo(t.Span);
    }

    public void ZeroGrad()
    {
        foreach (var p in Parameters()) p.ZeroGrad();
    }
}
