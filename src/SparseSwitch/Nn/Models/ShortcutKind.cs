namespace SparseSwitch.Nn.Models;

/// <summary>How a residual block's shortcut matches shapes when the block changes width or stride.</summary>
public enum ShortcutKind
{
    /// <summary>1×1 convolution (with the block's stride) followed by batch-norm, named
    /// <c>shortcut.0</c> / <c>shortcut.1</c> (He et al. option B).</summary>
    ProjectionConv,

    /// <summary>He et al. option A: stride-2 subsampling and zero-padded channels; no parameters.</summary>
    IdentityPad,

    /// <summary>1×1 convolution (pruned like the other convolutions) followed by a batch-norm that
    /// every sub-net shares (one set, never switchable), as in the published AST code's
    /// <c>uresnet20</c>; named <c>shortcut.0</c> / <c>shortcut.1</c>.</summary>
    ProjectionConvSharedNorm,
}
