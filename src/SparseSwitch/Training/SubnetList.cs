using System.Collections;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace SparseSwitch.Training;

/// <summary>
/// The sub-nets of a run, parsed once (CLI option, recipe file or recipe JSON) and passed down as a
/// value: a non-empty list of one kind — all densities or all N:M patterns — with no sub-net listed
/// twice. Equality compares the items (so recipes holding equal lists are equal). Written in recipes
/// as the text it parses from ("0.1,0.05,0.02", "2:4,1:4,1:8").
/// </summary>
[JsonConverter(typeof(SubnetListJsonConverter))]
public sealed class SubnetList : IReadOnlyList<SubnetSpec>, IEquatable<SubnetList>
{
    /// <summary>What a list may hold, for error messages.</summary>
    public const string Allowed = "densities in (0, 1] like 0.1,0.05,0.02, or N:M patterns (1 ≤ N < M) like 2:4,1:4,1:8; one kind per list, each sub-net once";

    private readonly SubnetSpec[] _items;

    /// <summary>The single dense sub-net of the dense baseline.</summary>
    public static SubnetList Dense { get; } = new([SubnetSpec.Unstructured(1.0)]);

    /// <summary>Checks the items (each valid, one kind, no repeats); errors say what is allowed.</summary>
    public SubnetList(IEnumerable<SubnetSpec> items)
    {
        ArgumentNullException.ThrowIfNull(items);
        _items = items.ToArray();
        if (_items.Length == 0) throw new ArgumentException($"subnets: the list is empty; give {Allowed}.");
        foreach (var s in _items)
        {
            try { s.Check(); }
            catch (ArgumentException e) { throw new ArgumentException($"subnets: {e.Message}", e); }
        }
        if (_items.Any(s => s.IsNm != _items[0].IsNm))
            throw new ArgumentException($"subnets: '{ToExactString()}' mixes densities and N:M patterns; give {Allowed}.");
        if (_items.Distinct().Count() != _items.Length)
            throw new ArgumentException($"subnets: '{ToExactString()}' lists a sub-net twice.");
    }

    /// <summary>Parses a comma-separated list; errors name the list, the offending item and what is allowed.</summary>
    public static SubnetList Parse(string text)
    {
        if (string.IsNullOrWhiteSpace(text)) throw new ArgumentException($"subnets: the list is empty; give {Allowed}.");
        var list = new List<SubnetSpec>();
        foreach (var item in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            try { list.Add(ParseItem(item)); }
            catch (ArgumentException e) { throw new ArgumentException($"subnets: '{text}': {e.Message}", e); }
        }
        if (list.Count == 0) throw new ArgumentException($"subnets: '{text}' holds no sub-net; give {Allowed}.");
        return new SubnetList(list);
    }

    private static SubnetSpec ParseItem(string item)
    {
        if (item.Contains(':'))
        {
            var parts = item.Split(':');
            if (parts.Length != 2 || !int.TryParse(parts[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out int n)
                || !int.TryParse(parts[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out int m))
                throw new ArgumentException($"'{item}' is not an N:M pattern like 2:4.");
            return SubnetSpec.NOfM(n, m);
        }
        if (!double.TryParse(item, NumberStyles.Float, CultureInfo.InvariantCulture, out double d))
            throw new ArgumentException($"'{item}' is neither a density like 0.05 nor an N:M pattern like 2:4.");
        return SubnetSpec.Unstructured(d);
    }

    public int Count => _items.Length;
    public SubnetSpec this[int index] => _items[index];
    /// <summary>Whether the sub-nets are N:M patterns (else densities).</summary>
    public bool IsNm => _items[0].IsNm;

    /// <summary>The text that parses back to this list exactly (recipes).</summary>
    public string ToExactString() => string.Join(",", _items.Select(s => s.ToExactString()));

    /// <summary>Display form: the items' <see cref="SubnetSpec.ToString"/> joined by ", ".</summary>
    public override string ToString() => string.Join(", ", _items);

    public IEnumerator<SubnetSpec> GetEnumerator() => ((IEnumerable<SubnetSpec>)_items).GetEnumerator();
    IEnumerator IEnumerable.GetEnumerator() => _items.GetEnumerator();

    public bool Equals(SubnetList? other) => other is not null && _items.AsSpan().SequenceEqual(other._items);
    public override bool Equals(object? obj) => Equals(obj as SubnetList);
    public override int GetHashCode()
    {
        var h = new HashCode();
        foreach (var s in _items) h.Add(s);
        return h.ToHashCode();
    }

    public static bool operator ==(SubnetList? a, SubnetList? b) => a is null ? b is null : a.Equals(b);
    public static bool operator !=(SubnetList? a, SubnetList? b) => !(a == b);
}

/// <summary>Reads and writes a <see cref="SubnetList"/> as its text ("0.1,0.05,0.02").</summary>
public sealed class SubnetListJsonConverter : JsonConverter<SubnetList>
{
    public override SubnetList Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType != JsonTokenType.String)
            throw new JsonException($"subnets: expected a string such as \"0.1,0.05,0.02\" or \"2:4,1:4\", got {reader.TokenType}.");
        try { return SubnetList.Parse(reader.GetString()!); }
        catch (ArgumentException e) { throw new JsonException(e.Message, e); }
    }

    public override void Write(Utf8JsonWriter writer, SubnetList value, JsonSerializerOptions options) =>
        writer.WriteStringValue(value.ToExactString());
}
