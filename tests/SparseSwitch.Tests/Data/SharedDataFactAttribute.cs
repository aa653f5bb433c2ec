using SparseSwitch.Tests.Support;
using Xunit;

namespace SparseSwitch.Tests.Data;

/// <summary>A fact that needs a folder of the shared data sets (e.g. "mnist"); it is skipped, with
/// the path in the reason, only when that folder is absent.</summary>
public sealed class SharedDataFactAttribute : FactAttribute
{
    public SharedDataFactAttribute(string folder)
    {
        var path = Path.Combine(Paths.Datasets, folder);
        if (!Directory.Exists(path))
            Skip = $"shared data folder {path} is absent (set SPARSESWITCH_DATA to the datasets folder to run this test)";
    }
}
