using SparseSwitch.Nn;
using SparseSwitch.Serialization;
using SparseSwitch.Tensors;
using SparseSwitch.Tests.Support;
using Xunit;

namespace SparseSwitch.Tests.Nn;

/// <summary>
/// The layers composed into He et al.'s CIFAR ResNet-20 (a minimal block written here only to
/// exercise the layers together; the library's model lives elsewhere) reproduce the PyTorch
/// fixture: logits, loss, running statistics after one train-mode forward, and every gradient.
/// </summary>
public class ResNetFixtureTests
{
    private sealed class Block : Module
    {
        private readonly Conv2d _conv1, _conv2;
        private readonly BatchNorm2d _bn1, _bn2;
        private readonly ReLU _relu1 = new(), _relu2 = new();
        private readonly Sequential? _shortcut;
        private readonly Add _add = new(), _addGrad = new();

        public Block(int inC, int outC, int stride)
        {
            _conv1 = RegisterModule("conv1", new Conv2d(inC, outC, 3, stride, 1, bias: false));
            _bn1 = RegisterModule("bn1", new BatchNorm2d(outC));
            _conv2 = RegisterModule("conv2", new Conv2d(outC, outC, 3, 1, 1, bias: false));
            _bn2 = RegisterModule("bn2", new BatchNorm2d(outC));
            if (stride != 1 || inC != outC)
                _shortcut = RegisterModule("shortcut", new Sequential(new Conv2d(inC, outC, 1, stride, 0, bias: false), new BatchNorm2d(outC)));
        }

        public override Tensor Forward(Tensor x)
        {
            var main = _bn2.Forward(_conv2.Forward(_relu1.Forward(_bn1.Forward(_conv1.Forward(x)))));
            var skip = _shortcut is null ? x : _shortcut.Forward(x);
            return _relu2.Forward(_add.Forward(main, skip));
        }

        public override Tensor Backward(Tensor dy)
        {
            var d = _relu2.Backward(dy);
            var dMain = _conv1.Backward(_bn1.Backward(_relu1.Backward(_conv2.Backward(_bn2.Backward(d)))));
            var dSkip = _shortcut is null ? d : _shortcut.Backward(d);
            return _addGrad.Forward(dMain, dSkip);
        }
    }

    private sealed class ResNet20 : Module
    {
        private readonly Sequential _stem, _body, _head;

        public ResNet20()
        {
            var conv1 = new Conv2d(3, 16, 3, 1, 1, bias: false);
            var bn1 = new BatchNorm2d(16);
            RegisterModule("conv1", conv1);
            RegisterModule("bn1", bn1);
            _stem = new Sequential(conv1, bn1, new ReLU());
            _body = new Sequential();
            int inC = 16;
            foreach (var (name, width, stride) in new[] { ("layer1", 16, 1), ("layer2", 32, 2), ("layer3", 64, 2) })
            {
                var layer = RegisterModule(name, new Sequential());
                for (int i = 0; i < 3; i++)
                {
                    layer.Add(new Block(inC, width, i == 0 ? stride : 1));
                    inC = width;
                }
                _body.Add(layer);
            }
            var linear = RegisterModule("linear", new Linear(64, 10));
            _head = new Sequential(new GlobalAvgPool2d(), new Flatten(), linear);
        }

        public override Tensor Forward(Tensor x) => _head.Forward(_body.Forward(_stem.Forward(x)));
        public override Tensor Backward(Tensor dy) => _stem.Backward(_body.Backward(_head.Backward(dy)));
    }

    [Fact]
    public void LayersComposedAsResNet20MatchPyTorch()
    {
        var f = SafeTensors.Load(Path.Combine(Paths.Fixtures, "resnet20_cifar.safetensors"));
        var net = new ResNet20();
        var state = f.Names.Where(n => n.StartsWith("state.", StringComparison.Ordinal))
            .ToDictionary(n => n["state.".Length..], n => f.Float(n));
        net.LoadStateDict(state);
        // The fixture's running stats are those after its forward; start from PyTorch's initial values.
        foreach (var (path, buffer) in net.NamedBuffers())
            buffer.Fill(path.EndsWith("running_var", StringComparison.Ordinal) ? 1f : 0f);
        var targets = f["target"].ToInt64().Select(t => checked((int)t)).ToArray();
        var ce = new CrossEntropyLoss();
        var logits = net.Forward(f.Float("input"));
        Close.Assert(f.Float("logits").Span, logits.Span, 1e-5, 1e-4, "logits");
        Close.Assert(f.Float("loss").Span, [ce.Forward(logits, targets)], 1e-5, 1e-4, "loss");
        foreach (var (path, buffer) in net.NamedBuffers())
            Close.Assert(state[path].Span, buffer.Span, 1e-5, 1e-4, path);
        net.ZeroGrad();
        net.Backward(ce.Backward());
        foreach (var (path, p) in net.NamedParameters())
            Close.Assert(f.Float("grad." + path).Span, p.Grad.Span, 1e-5, 1e-3, $"grad.{path}");
    }
}
