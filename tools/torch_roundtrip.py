#!/usr/bin/python3
"""Checks the PyTorch round trip of the sparseswitch tool both ways, on ResNet-20 (option-A and
projection shortcuts, CIFAR-10), LeNet-5 and the 784-300-100-10 MLP (MNIST):

  (a) export: a short AST run of two sub-nets is trained and packed by the tool; each sub-net is
      exported with `export --format torch`, loaded into the PyTorch model of the same
      architecture with load_state_dict(strict=True), and its eval-mode logits are compared with
      the tool's (`infer --input x.f32 --subnet K --logits-out`) on the same random inputs;
  (b) import: the PyTorch model is initialised and trained 20 SGD steps (train mode, so the
      batch-norms' running statistics move) on random data, its state dict saved as safetensors,
      imported with `import` into an AST run of two sub-nets, packed (at epoch 0 every sub-net is
      the dense model with its own copy of the batch-norms), and the tool's logits of each sub-net
      are compared with PyTorch's eval-mode logits.

Prints max |Δ| between the tool's logits and PyTorch's (and the largest |logit|) per model,
direction and sub-net, beside a control: max |Δ| between the tool's logits and logits the check
must tell apart from them (for an export, PyTorch's of the other sub-net; for an import, PyTorch's
before the SGD steps). Exits 1 when a difference exceeds the tolerance (1e-4) or a control is
within ten times it (the check would not see the difference), 2 when a command fails.

Usage (from the repository root, after `dotnet build -c Release`; needs Debian's python3-torch):

    /usr/bin/python3 tools/torch_roundtrip.py [--cli PATH] [--models resnet20-a,resnet20,lenet5,mlp]
        [--data-dir DIR] [--keep DIR] [--threads N]

The data sets are found as `train` finds them (../shared/datasets beside the checkout, or
--data-dir); a run uses a few hundred training images. safetensors files are read and written by
hand (no safetensors package): the writer is tools/make_fixtures.py's, the models its CifarResNet
and Mlp with LeNet-5 and the option-A shortcut added here.
"""

import argparse
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_fixtures as mf  # noqa: E402  (sets one thread; the models and the safetensors writer)

TOLERANCE = 1e-4
BATCH = 8
STEPS = 20  # SGD steps of the PyTorch model before its state dict is imported

# ---------------------------------------------------------------------------------------------
# models with our state-dict names


class _Plain:
    """The make_fixtures models take a recorder of pre-ReLU activations; this one records nothing."""

    @staticmethod
    def relu(x):
        return F.relu(x)


class ResNet(mf.CifarResNet):
    """make_fixtures.CifarResNet (projection shortcuts) called as a plain model, or with option-A shortcuts."""

    def __init__(self, depth, option_a):
        super().__init__(depth, 16)
        if option_a:
            for stage in (self.layer1, self.layer2, self.layer3):
                for block in stage:
                    if len(block.shortcut) > 0:
                        conv = block.shortcut[0]
                        block.shortcut = OptionA(conv.in_channels, conv.out_channels, conv.stride[0])

    def forward(self, x):
        return super().forward(x, _Plain())


class OptionA(nn.Module):
    """He et al.'s option-A shortcut: every stride-th pixel, zero channels added on both sides."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.pad, self.stride = (cout - cin) // 2, stride

    def forward(self, x):
        x = x[:, :, ::self.stride, ::self.stride]
        return F.pad(x, (0, 0, 0, 0, self.pad, self.pad))


class LeNet5(nn.Module):
    """LeNet-5 as sparseswitch builds it for 28x28 inputs: conv 6 (5x5, padding 2) -> ReLU -> max-pool 2
    -> conv 16 (5x5) -> ReLU -> max-pool 2 -> fc 120 -> ReLU -> fc 84 -> ReLU -> fc classes."""

    def __init__(self, cin=1, size=28, classes=10):
        super().__init__()
        pad = 2 if size == 28 else 0
        s = ((size + 2 * pad - 4) // 2 - 4) // 2
        self.conv1 = nn.Conv2d(cin, 6, 5, 1, pad)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * s * s, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.relu(self.fc1(x.flatten(1)))
        return self.fc3(F.relu(self.fc2(x)))


def mlp():
    # nn.Sequential(Flatten, Linear, ReLU, Linear, ReLU, Linear): names 1.*, 3.*, 5.*
    return mf.Mlp([784, 300, 100, 10]).seq


# name: (data, input shape, PyTorch model, sub-nets, learning rate of our run)
MODELS = {
    "resnet20-a": ("cifar10", (3, 32, 32), lambda: ResNet(20, option_a=True), "0.3,0.1", 0.1),
    "resnet20": ("cifar10", (3, 32, 32), lambda: ResNet(20, option_a=False), "2:4,1:4", 0.1),
    "lenet5": ("mnist", (1, 28, 28), LeNet5, "0.3,0.1", 0.05),
    "mlp": ("mnist", (1, 28, 28), mlp, "0.3,0.1", 0.05),
}

# ---------------------------------------------------------------------------------------------
# safetensors, read by hand

_DTYPES = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "I32": np.int32, "U8": np.uint8}


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    header.pop("__metadata__", None)
    out = {}
    for name, e in header.items():
        begin, end = e["data_offsets"]
        a = np.frombuffer(data[8 + n + begin:8 + n + end], dtype=np.dtype(_DTYPES[e["dtype"]]).newbyteorder("<"))
        out[name] = torch.from_numpy(a.reshape(e["shape"]).copy())
    return out


# ---------------------------------------------------------------------------------------------


class CommandFailed(Exception):
    pass


class Tool:
    def __init__(self, cli, threads, data_dir):
        self.cli, self.threads, self.data_dir = cli, threads, data_dir

    def run(self, *args, data=False):
        cmd = [self.cli, *args]
        if data and self.data_dir:
            cmd += ["--data-dir", self.data_dir]
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode != 0:
            raise CommandFailed(f"{' '.join(cmd)} exited {p.returncode}:\n{p.stdout}{p.stderr}")
        return p.stdout

    def logits(self, model_file, x, subnet, work):
        xf, yf = os.path.join(work, "x.f32"), os.path.join(work, f"logits-{subnet}.f32")
        x.numpy().astype("<f4").tofile(xf)
        self.run("infer", model_file, "--input", xf, "--subnet", str(subnet), "--logits-out", yf, "--threads", str(self.threads))
        return torch.from_numpy(np.fromfile(yf, dtype="<f4").reshape(x.shape[0], -1))


def torch_logits(model, x):
    model.eval()
    with torch.no_grad():
        return model(x)


def compare(rows, model, direction, subnet, ours, theirs, control):
    """control: logits the check must tell from ours (another sub-net's, or the PyTorch model's
    before training): their max |Δ| shows that a difference of the tolerance would be seen."""
    delta = (ours - theirs).abs().max().item()
    control_delta = (ours - control).abs().max().item()
    ok = delta <= TOLERANCE and control_delta > 10 * TOLERANCE
    rows.append((model, direction, subnet, delta, theirs.abs().max().item(), control_delta, ok))


def check_export(tool, name, work, rows):
    data, shape, make, subnets, lr = MODELS[name]
    run = os.path.join(work, f"{name}-run")
    tool.run("train", "--model", name, "--data", data, "--subnets", subnets, "--epochs", "1", "--train-limit", "256",
             "--test-limit", "64", "--batch-size", "32", "--lr", str(lr), "--prune-start", "0", "--prune-end", "1",
             "--update-every", "2", "--seed", "3", "--threads", str(tool.threads), "--out", run, data=True)
    model_file = os.path.join(run, "model.safetensors")
    tool.run("pack", run)
    x = torch.randn(BATCH, *shape, generator=mf.gen(11))
    ours, theirs = [], []
    for k in range(len(subnets.split(","))):
        exported = os.path.join(work, f"{name}-subnet{k}.safetensors")
        tool.run("export", model_file, "--subnet", str(k), "--format", "torch", "--out", exported)
        model = make()
        model.load_state_dict(read_safetensors(exported), strict=True)
        ours.append(tool.logits(model_file, x, k, work))
        theirs.append(torch_logits(model, x))
    for k in range(len(ours)):
        compare(rows, name, "export", k, ours[k], theirs[k], theirs[(k + 1) % len(ours)])


def check_import(tool, name, work, rows):
    data, shape, make, subnets, _ = MODELS[name]
    torch.manual_seed(5)
    model = make()
    x = torch.randn(BATCH, *shape, generator=mf.gen(13))
    initial = torch_logits(model, x)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    g = mf.gen(7)
    for _ in range(STEPS):
        xb, yb = torch.randn(16, *shape, generator=g), torch.randint(0, 10, (16,), generator=g)
        opt.zero_grad()
        F.cross_entropy(model(xb), yb).backward()
        opt.step()
    state = os.path.join(work, f"{name}-torch.safetensors")
    mf.write_safetensors(state, list(model.state_dict().items()), {"source": "tools/torch_roundtrip.py"})
    run = os.path.join(work, f"{name}-imported")
    tool.run("import", state, "--model", name, "--data", data, "--subnets", subnets, "--test-limit", "64",
             "--threads", str(tool.threads), "--out", run, data=True)
    tool.run("pack", run)
    expected = torch_logits(model, x)
    for k in range(len(subnets.split(","))):
        compare(rows, name, "import", k, tool.logits(os.path.join(run, "model.safetensors"), x, k, work), expected, initial)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cli", default=os.path.join(here, "..", "src", "SparseSwitch.Cli", "bin", "Release", "net10.0", "SparseSwitch.Cli"),
                    help="the sparseswitch executable (default: the Release build of the checkout)")
    ap.add_argument("--models", default=",".join(MODELS), help="comma-separated, of " + ", ".join(MODELS))
    ap.add_argument("--data-dir", default=None, help="folder holding the data sets (default: as train searches)")
    ap.add_argument("--keep", default=None, help="work in this folder and keep it (default: a temporary folder, removed)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    names = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in names if m not in MODELS]
    if unknown or not names:
        print(f"--models: {', '.join(unknown) or '(none)'} not among {', '.join(MODELS)}", file=sys.stderr)
        return 2
    if not os.path.isfile(args.cli):
        print(f"--cli: {args.cli} does not exist; build first (dotnet build -c Release)", file=sys.stderr)
        return 2
    tool = Tool(os.path.abspath(args.cli), args.threads, args.data_dir)
    work = args.keep or tempfile.mkdtemp(prefix="torch-roundtrip-")
    os.makedirs(work, exist_ok=True)
    print(f"PyTorch {torch.__version__}; {tool.cli}; tolerance {TOLERANCE:g}; {BATCH} random inputs per check")
    rows = []
    try:
        for name in names:
            check_export(tool, name, work, rows)
            check_import(tool, name, work, rows)
    except CommandFailed as e:
        print(e, file=sys.stderr)
        return 2
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    print(f"{'model':<12} {'direction':<9} {'sub-net':>7} {'max |Δ|':>11} {'max |logit|':>12} {'control Δ':>11}  result")
    for model, direction, k, delta, scale, control, ok in rows:
        print(f"{model:<12} {direction:<9} {k:>7} {delta:>11.3e} {scale:>12.4f} {control:>11.3e}  {'ok' if ok else 'FAILED'}")
    failed = sum(1 for r in rows if not r[-1])
    print(f"{len(rows) - failed} of {len(rows)} checks within {TOLERANCE:g} (and their controls beyond {10 * TOLERANCE:g})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
