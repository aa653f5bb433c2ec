using System.CommandLine;
using System.ComponentModel;
using System.Globalization;
using System.Reflection;
using SparseSwitch.Training;

namespace SparseSwitch.Cli;

/// <summary>
/// The recipe as command-line options, made from the recipe record itself: one option per field
/// (<c>--batch-size</c> for <c>BatchSize</c>, with the short names of <see cref="RecipeFile"/> as aliases),
/// its help from the field's description and default, its value checked as a recipe file's is. With
/// <c>--recipe FILE</c> and <c>--set key=value</c>, a value comes from the defaults, then the file, then
/// <c>--set</c>, then the named option.
/// </summary>
public sealed class RecipeOptions
{
    private readonly List<(string Key, Option<string?> Option)> _fields = [];

    public Option<string?> Recipe { get; } = new("--recipe")
    {
        HelpName = "file",
        Description = "Recipe file (YAML or JSON; keys are the option names, e.g. 'batch-size: 128'). --set and the options given override it.",
    };

    public Option<string[]> Set { get; } = new("--set")
    {
        HelpName = "key=value",
        Description = "Set any recipe field: --set key=value (repeatable; the keys of a recipe file, e.g. --set epochs=3). Applied after --recipe; the named options win over it.",
        AllowMultipleArgumentsPerToken = false,
    };

    /// <param name="exclude">Recipe keys the command has no use for (e.g. <c>seeds</c> outside <c>experiment</c>).</param>
    public RecipeOptions(params string[] exclude)
    {
        var defaults = new TrainRecipe();
        var shortNames = RecipeFile.ShortNames.ToLookup(a => a.Value, a => a.Key);
        foreach (var (key, prop) in RecipeFile.Fields)
        {
            if (exclude.Contains(key)) continue;
            string[] aliases = shortNames[key].Select(a => "--" + a).ToArray();
            string help = prop.GetCustomAttribute<DescriptionAttribute>()?.Description
                ?? throw new InvalidOperationException($"Recipe field {prop.Name} has no description.");
            string dflt = DefaultText(prop.GetValue(defaults));
            help = help.EndsWith('.') ? help[..^1] + dflt + "." : help + dflt;
            var type = Nullable.GetUnderlyingType(prop.PropertyType) ?? prop.PropertyType;
            // A flag (--augment) is true when given alone; "--augment false" also works, and a value
            // that is neither is refused with the recipe's message, like any other field's.
            var option = new Option<string?>("--" + key, aliases) { Description = help, HelpName = HelpName(type) };
            if (type == typeof(bool)) option.Arity = ArgumentArity.ZeroOrOne;
            _fields.Add((key, option));
        }
    }

    /// <summary>The options to add to a command: --recipe, one per recipe field, --set.</summary>
    public IEnumerable<Option> All => [Recipe, .. _fields.Select(f => f.Option), Set];

    /// <summary>The recipe the command line gives, checked (<see cref="TrainRecipe.Validate"/>); errors are usage errors.</summary>
    public TrainRecipe Resolve(ParseResult p)
    {
        var r = p.GetValue(Recipe) is { } file ? RecipeFile.Load(file) : new TrainRecipe();
        if (p.GetValue(Set) is { Length: > 0 } sets) r = RecipeFile.ApplySets(r, sets);
        r = RecipeFile.Apply(r, Given(p));
        try { r.Validate(); }
        catch (ArgumentException e) { throw new UsageException(e.Message.StartsWith("--", StringComparison.Ordinal) ? e.Message : "--" + e.Message); }
        return r;
    }

    /// <summary>The value of a recipe option given on the command line, as text (null when not given).</summary>
    public string? Value(ParseResult p, string key)
    {
        var option = _fields.First(f => f.Key == key).Option;
        if (p.GetResult(option) is null) return null;
        return p.GetValue(option) ?? "true"; // a flag given without a value
    }

    /// <summary>The recipe options given on the command line: key, value as text, option name.</summary>
    public IEnumerable<(string Key, string Value, string Where)> Given(ParseResult p)
    {
        foreach (var (key, option) in _fields)
            if (Value(p, key) is { } v) yield return (key, v, option.Name);
    }

    private static string DefaultText(object? value) => value switch
    {
        null or false => "",
        SubnetList s => $" (default {s.ToExactString()})",
        Enum e => $" (default {System.Text.Json.JsonNamingPolicy.KebabCaseLower.ConvertName(e.ToString())})",
        true => " (default true)",
        IFormattable f => $" (default {f.ToString(null, CultureInfo.InvariantCulture)})",
        _ => $" (default {value})",
    };

    private static string HelpName(Type t) =>
        t == typeof(int) || t == typeof(ulong) ? "int"
        : t == typeof(double) ? "number"
        : t == typeof(SubnetList) ? "list"
        : t == typeof(bool) ? "true|false"
        : t.IsEnum ? string.Join("|", Enum.GetNames(t).Select(System.Text.Json.JsonNamingPolicy.KebabCaseLower.ConvertName))
        : "text";
}
