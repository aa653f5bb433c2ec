namespace SparseSwitch.Tests.Parity;

/// <summary>The fixture README's tolerances for single layers: values and gradients within
/// 1e-4 relative, 1e-5 absolute.</summary>
internal static class ParityTolerance
{
    public const double Atol = 1e-5;
    public const double Rtol = 1e-4;
}
