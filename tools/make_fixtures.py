#!/usr/bin/env python3
"""Regenerates the PyTorch parity fixtures under tests/SparseSwitch.Tests/Fixtures/torch/.

Usage (from the repository root; needs PyTorch, e.g. Debian's python3-torch 1.13):

    /usr/bin/python3 tools/make_fixtures.py [OUTPUT_DIR]

Every file is a safetensors file written by hand here (8-byte little-endian header length, a JSON
header padded with spaces to a multiple of 8, then the raw little-endian tensor data). The header's
__metadata__ holds `op` (what the tests run) and the op's settings, all as strings; the format of
each op is described in the README next to the files. Everything is computed in float32 on the CPU
with one thread; each file has its own fixed seed, so a rerun with the same PyTorch build writes the
same bytes.

The whole-network fixtures (ops mlp and cifar_resnet) are made on inputs where no pre-ReLU
activation lies within float32 rounding of zero: a ReLU network's gradient jumps there, so an
implementation whose products round differently from PyTorch's could legitimately take the other
branch. Seeds are tried in turn until the smallest |pre-ReLU activation|, computed in float64 from
the same weights and input, is at least MIN_PRE_RELU; the seed and that minimum are recorded in the
metadata (`seed`, `min_abs_pre_relu`). The tests compare these fixtures' gradients also with the fast
float32 kernels.
"""

import copy
import itertools
import json
import os
import struct
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

MIN_PRE_RELU = 2e-5

torch.set_num_threads(1)

# ---------------------------------------------------------------------------------------------
# safetensors writer


def _dtype_name(t):
    if t.dtype == torch.float32:
        return "F32"
    if t.dtype == torch.int64:
        return "I64"
    raise ValueError(f"unsupported dtype {t.dtype}")


def write_safetensors(path, tensors, metadata):
    """tensors: list of (name, tensor) in file order; metadata: dict of str -> str."""
    header = {}
    blobs = []
    offset = 0
    for name, t in tensors:
        t = t.detach().contiguous().cpu()
        data = t.numpy().astype(t.numpy().dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": _dtype_name(t), "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)
    os.replace(path + ".tmp", path)


def gen(seed):
    g = torch.Generator()
    g.manual_seed(seed)
    return g


def randn(g, *shape):
    return torch.randn(*shape, generator=g, dtype=torch.float32)


# ---------------------------------------------------------------------------------------------
# single layers


def linear(out, name, seed, n, fin, fout, bias):
    g = gen(seed)
    torch.manual_seed(seed)
    layer = nn.Linear(fin, fout, bias=bias)
    x = randn(g, n, fin).requires_grad_()
    y = layer(x)
    dy = randn(g, *y.shape)
    y.backward(dy)
    t = [("x", x), ("weight", layer.weight), ("y", y), ("dy", dy), ("dx", x.grad), ("dweight", layer.weight.grad)]
    if bias:
        t += [("bias", layer.bias), ("dbias", layer.bias.grad)]
    write_safetensors(os.path.join(out, name), t, {"op": "linear", "bias": str(bias)})


def conv2d(out, name, seed, n, cin, cout, h, w, k, stride, padding, groups=1, dilation=1, bias=False):
    g = gen(seed)
    torch.manual_seed(seed)
    layer = nn.Conv2d(cin, cout, k, stride=stride, padding=padding, groups=groups, dilation=dilation, bias=bias)
    x = randn(g, n, cin, h, w).requires_grad_()
    y = layer(x)
    dy = randn(g, *y.shape)
    y.backward(dy)
    t = [("x", x), ("weight", layer.weight), ("y", y), ("dy", dy), ("dx", x.grad), ("dweight", layer.weight.grad)]
    if bias:
        t += [("bias", layer.bias), ("dbias", layer.bias.grad)]
    meta = {"op": "conv2d", "stride": stride, "padding": padding, "groups": groups, "dilation": dilation, "bias": str(bias)}
    write_safetensors(os.path.join(out, name), t, meta)


def batchnorm2d(out, name, seed, n, c, h, w, momentum=0.1, eps=1e-5):
    g = gen(seed)
    bn = nn.BatchNorm2d(c, eps=eps, momentum=momentum)
    with torch.no_grad():
        bn.weight.copy_(randn(g, c))
        bn.bias.copy_(randn(g, c) * 0.3)
    mean_before = bn.running_mean.clone()
    var_before = bn.running_var.clone()
    x = randn(g, n, c, h, w).requires_grad_()
    bn.train()
    y = bn(x)
    dy = randn(g, *y.shape)
    y.backward(dy)
    bn.eval()
    x_eval = randn(g, n, c, h, w)
    with torch.no_grad():
        y_eval = bn(x_eval)
    t = [("x", x), ("weight", bn.weight), ("bias", bn.bias), ("running_mean_before", mean_before),
         ("running_var_before", var_before), ("y", y), ("dy", dy), ("dx", x.grad), ("dweight", bn.weight.grad),
         ("dbias", bn.bias.grad), ("running_mean_after", bn.running_mean), ("running_var_after", bn.running_var),
         ("x_eval", x_eval), ("y_eval", y_eval)]
    write_safetensors(os.path.join(out, name), t, {"op": "batchnorm2d", "momentum": str(momentum), "eps": str(eps)})


def pool(out, name, seed, op, shape, kernel=None, stride=None, padding=0):
    g = gen(seed)
    x = randn(g, *shape).requires_grad_()
    if op == "maxpool2d":
        y = F.max_pool2d(x, kernel, stride, padding)
    elif op == "avgpool2d":
        y = F.avg_pool2d(x, kernel, stride, padding)
    else:
        y = F.adaptive_avg_pool2d(x, 1)
    dy = randn(g, *y.shape)
    y.backward(dy)
    meta = {"op": op}
    if op != "adaptive_avgpool2d":
        meta.update({"kernel": str(kernel), "stride": str(stride), "padding": str(padding)})
    write_safetensors(os.path.join(out, name), [("x", x), ("y", y), ("dy", dy), ("dx", x.grad)], meta)


def cross_entropy(out, name, seed, n, classes, smoothing):
    g = gen(seed)
    logits = (randn(g, n, classes) * 3).requires_grad_()
    target = torch.randint(0, classes, (n,), generator=g, dtype=torch.int64)
    loss = F.cross_entropy(logits, target, label_smoothing=smoothing)
    loss.backward()
    t = [("logits", logits), ("target", target), ("loss", loss.reshape(1)), ("dlogits", logits.grad)]
    write_safetensors(os.path.join(out, name), t, {"op": "cross_entropy", "label_smoothing": str(smoothing)})


def sgd(out, name, seed, lr, momentum, weight_decay, nesterov, steps=4, size=37):
    g = gen(seed)
    p = nn.Parameter(randn(g, size))
    opt = torch.optim.SGD([p], lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=nesterov)
    t = [("param0", p.detach().clone())]
    for s in range(steps):
        grad = randn(g, size)
        opt.zero_grad()
        p.grad = grad.clone()
        opt.step()
        t += [(f"grad{s}", grad), (f"param{s + 1}", p.detach().clone())]
    meta = {"op": "sgd", "lr": str(lr), "momentum": str(momentum), "weight_decay": str(weight_decay),
            "nesterov": str(nesterov), "steps": str(steps)}
    write_safetensors(os.path.join(out, name), t, meta)


def nm_mask_of(w, n, m):
    """Keeps the n largest |w| of every m consecutive input channels ([out, kh, kw, in] order for conv)."""
    v = w.permute(0, 2, 3, 1) if w.dim() == 4 else w
    shape = v.shape
    groups = v.contiguous().reshape(-1, m)
    idx = groups.abs().topk(n, dim=1).indices
    mask = torch.zeros_like(groups).scatter_(1, idx, 1.0).reshape(shape)
    return mask.permute(0, 3, 1, 2).contiguous() if w.dim() == 4 else mask


def nm_mask(out, name, seed, shape, n, m):
    g = gen(seed)
    w = randn(g, *shape)
    meta = {"op": "nm_mask", "n": str(n), "m": str(m), "axis": "input channels ([out,kh,kw,in] order for conv)"}
    write_safetensors(os.path.join(out, name), [("weight", w), ("mask", nm_mask_of(w, n, m))], meta)


def transposable_nm(out, name, seed, tiles=64):
    g = gen(seed)
    t = randn(g, tiles, 4, 4)
    masks = [torch.tensor(bits, dtype=torch.float32).reshape(4, 4) for bits in itertools.product((0, 1), repeat=16)]
    masks = torch.stack([mk for mk in masks if (mk.sum(0) == 2).all() and (mk.sum(1) == 2).all()])
    assert masks.shape[0] == 90
    kept = torch.einsum("tij,kij->tk", t.abs().double(), masks.double())
    best = kept.argmax(1)
    meta = {"op": "transposable_nm", "n": "2", "m": "4", "note": "optimum unique up to ties"}
    write_safetensors(os.path.join(out, name),
                      [("tiles", t), ("optimal_mask", masks[best]), ("optimal_kept_l1", kept.max(1).values.float())], meta)


# ---------------------------------------------------------------------------------------------
# whole networks


class Recorder:
    """Collects every pre-ReLU activation of one forward."""

    def __init__(self):
        self.values = []

    def relu(self, x):
        self.values.append(x.detach())
        return F.relu(x)

    def min_abs(self):
        return min(v.abs().min().item() for v in self.values)


class Mlp(nn.Module):
    def __init__(self, sizes):
        super().__init__()
        layers = [nn.Flatten()]
        for i in range(len(sizes) - 1):
            layers.append(nn.Linear(sizes[i], sizes[i + 1]))
            if i < len(sizes) - 2:
                layers.append(nn.ReLU())
        self.seq = nn.Sequential(*layers)

    def forward(self, x, rec):
        for layer in self.seq:
            x = rec.relu(x) if isinstance(layer, nn.ReLU) else layer(x)
        return x

    def named_state(self):
        return {k[len("seq."):]: v for k, v in self.state_dict().items()}

    def named_grads(self):
        return {k[len("seq."):]: p.grad for k, p in self.named_parameters()}


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x, rec):
        o = rec.relu(self.bn1(self.conv1(x)))
        o = self.bn2(self.conv2(o))
        return rec.relu(o + self.shortcut(x))


class CifarResNet(nn.Module):
    """He et al. 2016, section 4.2: depth 6n+2, widths w, 2w, 4w, 1x1 conv + BN projection shortcuts."""

    def __init__(self, depth, width, classes=10, cin=3):
        super().__init__()
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(cin, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        planes = width
        for s, w in enumerate([width, 2 * width, 4 * width]):
            blocks = []
            for b in range(n):
                blocks.append(BasicBlock(planes, w, 2 if s > 0 and b == 0 else 1))
                planes = w
            setattr(self, f"layer{s + 1}", nn.ModuleList(blocks))
        self.linear = nn.Linear(planes, classes)

    def forward(self, x, rec):
        o = rec.relu(self.bn1(self.conv1(x)))
        for s in range(3):
            for block in getattr(self, f"layer{s + 1}"):
                o = block(o, rec)
        o = F.adaptive_avg_pool2d(o, 1).flatten(1)
        return self.linear(o)

    def named_state(self):
        return {k: v for k, v in self.state_dict().items() if not k.endswith("num_batches_tracked")}

    def named_grads(self):
        return {k: p.grad for k, p in self.named_parameters()}


def find_seed(make):
    """The first seed whose network and input keep every pre-ReLU activation, in float64, at least
    MIN_PRE_RELU away from zero. make(seed) -> (model, input, target)."""
    for seed in itertools.count():
        model, x, _ = make(seed)
        rec = Recorder()
        with torch.no_grad():
            copy.deepcopy(model).double().train()(x.double(), rec)
        m = rec.min_abs()
        if m >= MIN_PRE_RELU:
            return seed, m
        print(f"  seed {seed}: min |pre-ReLU| {m:.3e} < {MIN_PRE_RELU:g}, next", file=sys.stderr)


def whole_network(out, name, make, meta, interleave):
    seed, margin = find_seed(make)
    model, x, target = make(seed)
    model.train()
    logits = model(x, Recorder())
    loss = F.cross_entropy(logits, target)
    loss.backward()
    state, grads = model.named_state(), model.named_grads()
    t = [("input", x), ("target", target), ("logits", logits), ("loss", loss.reshape(1))]
    if interleave:
        for k, v in state.items():
            t.append(("state." + k, v))
            if k in grads:
                t.append(("grad." + k, grads[k]))
    else:
        t += [("state." + k, v) for k, v in state.items()]
        t += [("grad." + k, v) for k, v in grads.items()]
    meta = dict(meta, seed=str(seed), min_abs_pre_relu=f"{margin:.6e}")
    write_safetensors(os.path.join(out, name), t, meta)
    print(f"  {name}: seed {seed}, min |pre-ReLU| {margin:.3e}", file=sys.stderr)


def mlp(out, name, sizes, batch):
    def make(seed):
        torch.manual_seed(seed)
        model = Mlp(sizes)
        x = torch.randn(batch, 1, 28, 28)
        target = torch.randint(0, sizes[-1], (batch,))
        return model, x, target

    meta = {"op": "mlp", "layers": "-".join(map(str, sizes)), "note": "names follow nn.Sequential indices 1,3,5"}
    whole_network(out, name, make, meta, interleave=True)


def cifar_resnet(out, name, depth, width, batch, size):
    def make(seed):
        torch.manual_seed(seed)
        model = CifarResNet(depth, width)
        x = torch.randn(batch, 3, size, size)
        target = torch.randint(0, 10, (batch,))
        return model, x, target

    meta = {"op": "cifar_resnet", "depth": str(depth), "width": str(width),
            "note": "state.* after one train-mode forward (running stats updated); logits/loss/grad.* from that forward"}
    whole_network(out, name, make, meta, interleave=False)


# ---------------------------------------------------------------------------------------------


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "tests", "SparseSwitch.Tests", "Fixtures", "torch")
    os.makedirs(out, exist_ok=True)
    print(f"PyTorch {torch.__version__}, writing to {os.path.abspath(out)}", file=sys.stderr)

    linear(out, "linear_bias.safetensors", 101, 4, 7, 5, True)
    linear(out, "linear_nobias.safetensors", 102, 3, 16, 9, False)

    conv2d(out, "conv_k3s1p1.safetensors", 201, 2, 3, 4, 9, 9, 3, 1, 1)
    conv2d(out, "conv_k3s2p1.safetensors", 202, 2, 4, 6, 8, 8, 3, 2, 1)
    conv2d(out, "conv_k1s2p0.safetensors", 203, 2, 4, 8, 8, 8, 1, 2, 0)
    conv2d(out, "conv_k5s1p2_bias.safetensors", 204, 1, 2, 3, 7, 6, 5, 1, 2, bias=True)
    conv2d(out, "conv_depthwise_k3s1p1.safetensors", 205, 2, 6, 6, 7, 7, 3, 1, 1, groups=6)
    conv2d(out, "conv_groups2_k3s1p1.safetensors", 206, 2, 4, 6, 6, 7, 3, 1, 1, groups=2)
    conv2d(out, "conv_dilation2_k3s1p2.safetensors", 207, 2, 3, 4, 9, 8, 3, 1, 2, dilation=2)
    conv2d(out, "conv_dilation2_k3s2p1_groups2_bias.safetensors", 208, 2, 4, 4, 9, 9, 3, 2, 1, groups=2, dilation=2, bias=True)

    batchnorm2d(out, "batchnorm2d.safetensors", 301, 4, 3, 5, 5)

    pool(out, "maxpool_k2s2.safetensors", 401, "maxpool2d", (2, 3, 8, 8), 2, 2, 0)
    pool(out, "maxpool_k3s2p1.safetensors", 402, "maxpool2d", (2, 3, 9, 9), 3, 2, 1)
    pool(out, "avgpool_k2s2.safetensors", 403, "avgpool2d", (2, 3, 8, 8), 2, 2, 0)
    pool(out, "global_avgpool.safetensors", 404, "adaptive_avgpool2d", (2, 5, 7, 7))

    cross_entropy(out, "cross_entropy.safetensors", 501, 6, 10, 0.0)
    cross_entropy(out, "cross_entropy_smooth.safetensors", 502, 6, 10, 0.1)

    sgd(out, "sgd_plain.safetensors", 601, 0.1, 0.0, 0.0, False)
    sgd(out, "sgd_momentum_wd.safetensors", 602, 0.1, 0.9, 0.0005, False)
    sgd(out, "sgd_nesterov.safetensors", 603, 0.05, 0.9, 0.0001, True)

    nm_mask(out, "nm_2of4_linear.safetensors", 701, (16, 32), 2, 4)
    nm_mask(out, "nm_1of4_conv.safetensors", 702, (8, 16, 3, 3), 1, 4)
    nm_mask(out, "nm_1of8_conv.safetensors", 703, (8, 16, 3, 3), 1, 8)
    transposable_nm(out, "transposable_2of4.safetensors", 704)

    mlp(out, "mlp_784_300_100_10.safetensors", [784, 300, 100, 10], 8)
    cifar_resnet(out, "resnet20_cifar.safetensors", 20, 16, RESNET_BATCH, RESNET_SIZE)


RESNET_BATCH, RESNET_SIZE = 4, 16

if __name__ == "__main__":
    main()
