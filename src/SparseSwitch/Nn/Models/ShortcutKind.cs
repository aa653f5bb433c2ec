namespace SparseSwitch.Nn.Models;

/// <summary>How a residual block's shortcut matches shapes when the block changes width or stride.</summary>
public enum ShortcutKind
{
    /// <summary>1×1 convolution (with the block's stride) followed by batch-norm, named
    /// <c>shortcut.0</c> / <c>shortcut.1</c> (He et al. option B).</summary>
    ProjectionConv,

    /// <summary>He et al. option A: stride-2 subsampling and zero-padded channels; no parameters.</summary>
    IdentityPad,
}
