using System.Runtime.InteropServices;
using Google.Protobuf;
using Onnx;

namespace SparseSwitch.Export;

/// <summary>A value of the graph being built: its name and its shape, with −1 for the batch
/// dimension (symbolic in the graph).</summary>
internal readonly record struct OnnxValue(string Name, int[] Shape)
{
    public int Rank => Shape.Length;
    public int Dim(int i) => Shape[i < 0 ? Shape.Length + i : i];
}

/// <summary>
/// Collects the nodes and initializers of one ONNX graph: each node gets a unique name and output
/// name derived from the module path that emitted it, each initializer a unique name (a parameter's
/// or buffer's state-dict path where there is one). Float tensors are stored as little-endian raw
/// data, as the format requires.
/// </summary>
internal sealed class OnnxGraphBuilder
{
    /// <summary>The name of the symbolic batch dimension of the graph's input and output.</summary>
    public const string BatchDim = "N";

    private readonly GraphProto _graph;
    private readonly HashSet<string> _names = new(StringComparer.Ordinal);
    private readonly Dictionary<string, NodeProto> _producers = new(StringComparer.Ordinal);
    private readonly HashSet<string> _consumed = new(StringComparer.Ordinal);

    public OnnxGraphBuilder(string graphName)
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("ONNX export writes raw little-endian tensors; this machine is big-endian.");
        _graph = new GraphProto { Name = graphName };
    }

    public GraphProto Graph => _graph;

    /// <summary>Declares a float graph input of the given shape (−1: the symbolic batch dimension).</summary>
    public OnnxValue Input(string name, int[] shape)
    {
        Claim(name);
        _graph.Input.Add(ValueInfo(name, shape));
        return new OnnxValue(name, shape);
    }

    /// <summary>Makes <paramref name="value"/> the graph output <paramref name="name"/>: the node that
    /// produced it is renamed when nothing else reads it, else an Identity node is added.</summary>
    public void Output(OnnxValue value, string name)
    {
        if (value.Name != name)
        {
            if (_producers.TryGetValue(value.Name, out var node) && !_consumed.Contains(value.Name) && !_names.Contains(name))
            {
                node.Output[0] = name;
                _names.Remove(value.Name);
                _producers.Remove(value.Name);
                Claim(name);
                _producers[name] = node;
                value = value with { Name = name };
            }
            else
            {
                value = Node("Identity", name, value.Shape, [value.Name]);
                if (value.Name != name) throw new InvalidOperationException($"ONNX export: the output name '{name}' is already taken.");
            }
        }
        _graph.Output.Add(ValueInfo(value.Name, value.Shape));
    }

    /// <summary>A float initializer of <paramref name="shape"/> holding <paramref name="data"/>;
    /// returns its unique name.</summary>
    public string Initializer(string name, ReadOnlySpan<float> data, ReadOnlySpan<int> shape)
    {
        long count = 1;
        foreach (int d in shape) count *= d;
        if (count != data.Length) throw new ArgumentException($"ONNX export: initializer '{name}' has {data.Length} values for shape [{string.Join(", ", shape.ToArray())}].");
        var t = new TensorProto { Name = Unique(name), DataType = (int)TensorProto.Types.DataType.Float };
        foreach (int d in shape) t.Dims.Add(d);
        t.RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(data));
        _graph.Initializer.Add(t);
        return t.Name;
    }

    /// <summary>A 1-D int64 initializer (shapes, pads, slice bounds); returns its unique name.</summary>
    public string Initializer(string name, ReadOnlySpan<long> data)
    {
        var t = new TensorProto { Name = Unique(name), DataType = (int)TensorProto.Types.DataType.Int64 };
        t.Dims.Add(data.Length);
        t.RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(data));
        _graph.Initializer.Add(t);
        return t.Name;
    }

    /// <summary>Adds node <paramref name="op"/> reading <paramref name="inputs"/>; its one output is
    /// named after <paramref name="name"/> (made unique) and has <paramref name="shape"/>.</summary>
    public OnnxValue Node(string op, string name, int[] shape, string[] inputs, params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = op, Name = Unique(name) };
        node.Input.Add(inputs);
        node.Output.Add(node.Name);
        node.Attribute.Add(attributes);
        foreach (var i in inputs) _consumed.Add(i);
        _producers[node.Name] = node;
        _graph.Node.Add(node);
        return new OnnxValue(node.Name, shape);
    }

    public static AttributeProto Int(string name, long value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    public static AttributeProto Float(string name, float value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value };

    public static AttributeProto Ints(string name, params long[] values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.Add(values);
        return a;
    }

    private static ValueInfoProto ValueInfo(string name, int[] shape)
    {
        var tensor = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = new TensorShapeProto() };
        foreach (int d in shape)
            tensor.Shape.Dim.Add(d < 0 ? new TensorShapeProto.Types.Dimension { DimParam = BatchDim } : new TensorShapeProto.Types.Dimension { DimValue = d });
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = tensor } };
    }

    /// <summary><paramref name="name"/>, or with the first free suffix _1, _2, … when taken.</summary>
    private string Unique(string name)
    {
        if (string.IsNullOrEmpty(name)) name = "value";
        string candidate = name;
        for (int i = 1; _names.Contains(candidate); i++) candidate = $"{name}_{i}";
        Claim(candidate);
        return candidate;
    }

    private void Claim(string name)
    {
        if (!_names.Add(name)) throw new InvalidOperationException($"ONNX export: the name '{name}' is used twice.");
    }
}
