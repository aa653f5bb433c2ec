using System.Globalization;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using SparseSwitch.Training;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace SparseSwitch.Cli;

/// <summary>
/// Reads a recipe file: a flat YAML (or JSON) mapping whose keys are the long option names of
/// <c>train</c> (<c>batch-size: 128</c>, <c>subnets: "2:4,1:4"</c>, <c>correction: every-iteration</c>).
/// Unknown keys and values of the wrong type are errors naming the key, the file and what is allowed.
/// </summary>
public static class RecipeFile
{
    private static readonly Dictionary<string, string> Aliases = new()
    {
        ["wd"] = "weight-decay", ["warmup"] = "warmup-epochs", ["srste"] = "sr-ste", ["srste-lambda"] = "sr-ste-lambda",
    };

    public static TrainRecipe Load(string path)
    {
        if (!File.Exists(path)) throw new UsageException($"--recipe: file {path} does not exist.");
        string text = File.ReadAllText(path);
        if (path.EndsWith(".json", StringComparison.OrdinalIgnoreCase))
        {
            try { return TrainRecipe.FromJson(text); }
            catch (JsonException e) { throw new UsageException($"{path}: {e.Message}"); }
        }
        var yaml = new YamlStream();
        try { yaml.Load(new StringReader(text)); }
        catch (YamlException e) { throw new UsageException($"{path}: line {e.Start.Line}: {e.Message}"); }
        if (yaml.Documents.Count == 0) return new TrainRecipe();
        if (yaml.Documents[0].RootNode is not YamlMappingNode map)
            throw new UsageException($"{path}: a recipe is a mapping of option names to values (e.g. 'epochs: 10').");
        var json = new JsonObject();
        foreach (var (k, v) in map.Children)
        {
            string key = ((YamlScalarNode)k).Value ?? "";
            var (name, prop) = Field(key, $"{path}: line {k.Start.Line}");
            if (v is not YamlScalarNode scalar)
                throw new UsageException($"{path}: line {v.Start.Line}: '{key}' needs a single value.");
            json[name] = Convert(scalar.Value ?? "", prop.PropertyType, key, path, v.Start.Line);
        }
        try { return TrainRecipe.FromJson(json.ToJsonString()); }
        catch (JsonException e) { throw new UsageException($"{path}: {e.Message}"); }
    }

    /// <summary>
    /// <paramref name="recipe"/> with each <c>key=value</c> of <paramref name="sets"/> applied in turn
    /// (<c>--set epochs=3 --set subnets=2:4,1:4</c>): the keys and values a recipe file takes, checked the
    /// same way (an unknown key lists the known ones; a value of the wrong type says what is allowed).
    /// </summary>
    public static TrainRecipe ApplySets(TrainRecipe recipe, IEnumerable<string> sets) =>
        Apply(recipe, sets.Select(set =>
        {
            int eq = set.IndexOf('=');
            if (eq <= 0) throw new UsageException($"--set: '{set}' is not key=value (e.g. --set epochs=3).");
            return (set[..eq].Trim(), set[(eq + 1)..].Trim(), "--set");
        }));

    /// <summary><paramref name="recipe"/> with each (key, value) applied in turn; errors name
    /// <c>Where</c> (the option or "--set"), the key, the value and what is allowed.</summary>
    internal static TrainRecipe Apply(TrainRecipe recipe, IEnumerable<(string Key, string Value, string Where)> values)
    {
        var json = JsonNode.Parse(recipe.ToJson())!.AsObject();
        bool any = false;
        foreach (var (key, value, where) in values)
        {
            var (name, prop) = Field(key, where);
            json[name] = Convert(value, prop.PropertyType, key, where, 0);
            any = true;
        }
        if (!any) return recipe;
        try { return TrainRecipe.FromJson(json.ToJsonString()); }
        catch (JsonException e) { throw new UsageException(e.Message); }
    }

    /// <summary>The recipe field a key names (aliases resolved), or an error at <paramref name="where"/> listing the known keys.</summary>
    private static (string Name, PropertyInfo Property) Field(string key, string where)
    {
        string name = Aliases.GetValueOrDefault(key, key);
        return Fields.TryGetValue(name, out var prop) ? (name, prop)
            : throw new UsageException($"{where}: unknown key '{key}'. Known keys: {string.Join(", ", Fields.Keys.Order())}.");
    }

    /// <summary>Short names a key may also go by (<c>wd</c> for <c>weight-decay</c>), as the options' aliases.</summary>
    internal static IReadOnlyDictionary<string, string> ShortNames => Aliases;

    /// <summary>Every recipe field by its key (the kebab-case property name): the one list recipe files,
    /// <c>--set</c> and the commands' options are made from.</summary>
    internal static readonly Dictionary<string, PropertyInfo> Fields = typeof(TrainRecipe).GetProperties(BindingFlags.Public | BindingFlags.Instance)
        .Where(p => p.CanWrite && p.GetCustomAttribute<System.Text.Json.Serialization.JsonIgnoreAttribute>() is null)
        .ToDictionary(p => JsonNamingPolicy.KebabCaseLower.ConvertName(p.Name));

    private static JsonNode? Convert(string value, Type type, string key, string path, long line)
    {
        var t = Nullable.GetUnderlyingType(type) ?? type;
        var c = CultureInfo.InvariantCulture;
        string where = line > 0 ? $"{path}: line {line}" : path;
        string Bad(string what) => where == "--" + key ? $"{where}: must be {what}, got '{value}'." : $"{where}: '{key}' must be {what}, got '{value}'.";
        if (t == typeof(string)) return JsonValue.Create(value);
        if (t == typeof(SubnetList))
        {
            try { SubnetList.Parse(value); }
            catch (ArgumentException e) { throw new UsageException(where == "--" + key ? "--" + e.Message : $"{where}: {e.Message}"); }
            return JsonValue.Create(value);
        }
        if (t.IsEnum)
        {
            string norm = value.Replace("-", "").Replace("_", "");
            var match = Enum.GetNames(t).FirstOrDefault(n => n.Equals(norm, StringComparison.OrdinalIgnoreCase))
                ?? throw new UsageException(Bad("one of " + string.Join(", ", Enum.GetNames(t).Select(n => JsonNamingPolicy.KebabCaseLower.ConvertName(n)))));
            return JsonValue.Create(JsonNamingPolicy.KebabCaseLower.ConvertName(match));
        }
        if (t == typeof(bool)) return bool.TryParse(value, out var b) ? JsonValue.Create(b) : throw new UsageException(Bad("true or false"));
        if (t == typeof(int)) return int.TryParse(value, NumberStyles.Integer, c, out var i) ? JsonValue.Create(i) : throw new UsageException(Bad("an integer"));
        if (t == typeof(ulong)) return ulong.TryParse(value, NumberStyles.Integer, c, out var u) ? JsonValue.Create(u) : throw new UsageException(Bad("a non-negative integer"));
        if (t == typeof(double)) return double.TryParse(value, NumberStyles.Float, c, out var d) ? JsonValue.Create(d) : throw new UsageException(Bad("a number"));
        throw new UsageException(Bad("a supported value"));
    }
}
