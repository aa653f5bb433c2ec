using SparseSwitch.Tensors;

namespace SparseSwitch.Nn.Models;

/// <summary>
/// The ResNet basic block: y = relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)), 3×3 convs,
/// the first with the block's stride. The shortcut is the identity when the shape is kept, else a
/// 1×1 conv + batch-norm (<c>shortcut.0</c>, <c>shortcut.1</c>; the batch-norm switchable, or shared
/// by all sub-nets with <see cref="ShortcutKind.ProjectionConvSharedNorm"/>) or the parameter-free option A.
/// Backward splits dL/d(sum) between the two branches and adds their input gradients. bn1 carries
/// the first ReLU (fused, one pass fewer); the join is relu(main + shortcut) in one pass; bn1's
/// output is applied by conv2 as it reads it and bn2's by the join, and their input gradients by
/// the convs below them (<see cref="EngineOptions.DeferNorms"/>).
/// </summary>
public sealed class BasicBlock : Module
{
    public Conv2d Conv1 { get; }
    public Module Bn1 { get; }
    public Conv2d Conv2 { get; }
    public Module Bn2 { get; }
    /// <summary>Null for the identity shortcut.</summary>
    public Module? Shortcut { get; }

    private readonly AddReLU _join = new();   // relu(main + shortcut) in one pass
    private readonly Add _inputGrad = new();  // dx = main branch's dx + shortcut's dx

    protected override void OnOptionsChanged() => _join.Options = _inputGrad.Options = Options;

    public BasicBlock(int inPlanes, int planes, int stride, ShortcutKind shortcut, int bnSets, Rng rng)
    {
        Conv1 = RegisterModule("conv1", new Conv2d(inPlanes, planes, 3, stride, 1, bias: false, rng: rng));
        Bn1 = RegisterModule("bn1", SubNets.BatchNorm(planes, bnSets, fuseRelu: true));
        Conv2 = RegisterModule("conv2", new Conv2d(planes, planes, 3, 1, 1, bias: false, rng: rng));
        Bn2 = RegisterModule("bn2", SubNets.BatchNorm(planes, bnSets));
        if (stride != 1 || inPlanes != planes)
        {
            Shortcut = shortcut switch
            {
                ShortcutKind.ProjectionConv => RegisterModule("shortcut", Projection(inPlanes, planes, stride, bnSets, rng)),
                ShortcutKind.ProjectionConvSharedNorm => RegisterModule("shortcut", Projection(inPlanes, planes, stride, 1, rng)),
                ShortcutKind.IdentityPad => RegisterModule("shortcut", new IdentityPadShortcut(inPlanes, planes, stride)),
                _ => throw new ArgumentOutOfRangeException(nameof(shortcut), shortcut, "Unknown shortcut kind."),
            };
        }
    }

    private static Sequential Projection(int inPlanes, int planes, int stride, int bnSets, Rng rng)
    {
        var s = new Sequential();
        s.Add(new Conv2d(inPlanes, planes, 1, stride, 0, bias: false, rng: rng));
        s.Add(SubNets.BatchNorm(planes, bnSets));
        return s;
    }

    /// <summary>Has the backward write the join's gradient, conv2's and conv1's input gradients into
    /// buffers the model shares between blocks (<see cref="CifarResNet"/>): within a block the
    /// three are distinct and the shortcut's gradient is the join's or the shortcut's own, and a
    /// block's input gradient is read by the block below (its join) before that writes any of its own.
    /// A shortcut's input gradient, read by conv1 as it writes its own, may take the join buffer of
    /// the blocks below (their joins write it only after this block is done). Nulls give the layers
    /// their own buffers back.</summary>
    internal void ShareGradientBuffers(SharedBuffer? join, SharedBuffer? conv2Input, SharedBuffer? conv1Input, SharedBuffer? shortcutInput = null)
    {
        _join.GradientBuffer = join;
        Conv2.InputGradientBuffer = conv2Input;
        Conv1.InputGradientBuffer = conv1Input;
        if (Shortcut is IdentityPadShortcut pad) pad.InputGradientBuffer = shortcutInput;
        else if (ProjectionParts() is var (sc, _)) sc.InputGradientBuffer = shortcutInput;
    }

    public override Tensor Forward(Tensor x)
    {
        if (Options.DeferNorms && Bn1 is IDeferrableNorm n1 && Bn2 is IDeferrableNorm n2)
        {
            // The convs take their outputs' plane statistics as they write them (training only).
            var h = Conv1.Forward(x, default, outputStats: Training);
            var t1 = n1.ForwardDeferred(h, Conv1.OutputPlaneStats);  // bn1 + relu, applied by conv2
            h = Conv2.Forward(h, t1, outputStats: Training);
            var t2 = n2.ForwardDeferred(h, Conv2.OutputPlaneStats);  // bn2, applied by the join
            if (ProjectionParts() is var (sc, sn))
            {
                // The projection's batch-norm is applied by the join too.
                var s = sc.Forward(x, default, outputStats: Training);
                var ts = sn.ForwardDeferred(s, sc.OutputPlaneStats);
                return _join.Forward(h, SameShape(s, h), t2, ts);
            }
            return _join.Forward(h, CheckedShortcut(x, h), t2);
        }
        var o = Conv1.Forward(x);
        o = Bn1.Forward(o);                       // bn1 + relu
        o = Conv2.Forward(o);
        o = Bn2.Forward(o);
        return _join.Forward(o, CheckedShortcut(x, o));
    }

    /// <summary>The projection shortcut's conv and deferrable batch-norm, or null.</summary>
    private (Conv2d Conv, IDeferrableNorm Norm)? ProjectionParts() =>
        Shortcut is Sequential { Count: 2 } seq && seq[0] is Conv2d c && seq[1] is IDeferrableNorm n ? (c, n) : null;

    private Tensor CheckedShortcut(Tensor x, Tensor main) => SameShape(Shortcut is null ? x : Shortcut.Forward(x), main);

    /// <summary>The shortcut's output, checked against the residual branch's shape.</summary>
    private static Tensor SameShape(Tensor shortcut, Tensor main)
    {
        if (!shortcut.SameShape(main.Shape))
            throw new ArgumentException($"BasicBlock: residual shape [{string.Join(", ", main.Shape)}] differs from shortcut shape [{string.Join(", ", shortcut.Shape)}].");
        return shortcut;
    }

    public override Tensor Backward(Tensor dy)
    {
        var d = _join.Backward(dy);               // dL/d(main + shortcut); both branches receive it
        if (Options.DeferNorms && Bn1 is IDeferrableNorm n1 && Bn2 is IDeferrableNorm n2)
        {
            var ds = Shortcut is null ? d
                : ProjectionParts() is var (sc, sn) && !_join.ShortcutNormSums.IsEmpty
                    ? sc.Backward(d, sn.BackwardDeferred(d, _join.ShortcutNormSums))
                    : Shortcut.Backward(d);
            // Each batch-norm's input gradient is applied by the conv below it as it fills dy's planes.
            // Their sums come from the join's backward and conv2's dx, taken while those were in cache.
            // conv1 adds the shortcut's gradient to its dx while that is in cache.
            var g = Conv2.Backward(d, n2.BackwardDeferred(d, _join.MainNormSums));
            return Conv1.Backward(g, n1.BackwardDeferred(g, Conv2.InputNormSums), addToInputGradient: ds);
        }
        var dShortcut = Shortcut is null ? d : Shortcut.Backward(d);
        var dm = Bn2.Backward(d);
        dm = Conv2.Backward(dm);
        dm = Bn1.Backward(dm);
        dm = Conv1.Backward(dm);
        return _inputGrad.Forward(dm, dShortcut);
    }
}
