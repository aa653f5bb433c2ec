#!/usr/bin/python3
"""CIFAR-10 protocol P1 in PyTorch: the same recipe as `sparseswitch train` on P1, for baseline parity.

Data: CIFAR-10 binary batches 1-4 for training, batch 5 for testing (gzip-compressed, as in
datasets/cifar10). Augmentation: 4-pixel zero-padded random crop (offsets uniform in [-4, 4]) then a
horizontal flip with probability 1/2; normalisation with mean (125.3, 123.0, 113.9)/255 and std
(63.0, 62.1, 66.7)/255. Batches of 128, reshuffled every epoch, the last partial batch dropped
(312 iterations per epoch); evaluation in eval mode (running batch-norm statistics), batches of 256.

Model: ResNet-20 as `resnet20-u` (the published AST code's uresnet20): 3x3 stem (dense), three
stages of three basic blocks (16, 32, 64), 1x1-conv + batch-norm projection shortcuts, every conv
He-normal with fan-out, the classifier Kaiming-normal (fan-in) with a zero bias; batch-norm eps 1e-5,
momentum 0.1 (PyTorch's defaults, ours too).

Optimiser: SGD, momentum 0.9, weight decay 5e-4 on every parameter (batch-norm and bias included),
no Nesterov; learning rate cosine-annealed per iteration from 0.1 to 0 over epochs x 312 iterations
(lr_t = 0.05 (1 + cos(pi t / T)), set before the step of iteration t).

Sparse mode (--density D < 1), SparseSwitch's `--mode independent` with one sub-net:
* prunable: every conv weight except the stem's (block and shortcut convs) and the classifier weight;
* the forward uses W * m; pruned weights are not zeroed (weight decay and momentum still act on them);
* mask events at iterations t = s + j*dT (s = ceil(prune_start * 312), dT = update_every), after the
  backward of iteration t and before the step: during the ramp (t < ceil(prune_end * 312)), event
  j = 1..n keeps the globally largest round(d_j * total) |W| over all prunable layers,
  d_j = D + (1 - D)(1 - j/n)^3; then, at every event, each layer drops r = ceil(p_t * nnz) of its
  kept weights of smallest |W| and switches on the r inactive positions (the just-dropped included)
  of largest |dL/d(W*m)| (the dense gradient), p_t = 0.005 + 0.495 (1 + cos(pi t / T)) / 2;
* the gradient is masked with the (new) mask before the step.

Checkpoints (model, optimiser, masks, RNG states) are written after every epoch to OUT/checkpoint.pt;
a second call with the same --out resumes. OUT/result.json holds the per-epoch metrics.

    /usr/bin/python3 tools/torch_p1.py --density 0.1 --seed 1 --out /tmp/torch-p1-d010-s1
"""
import argparse
import gzip
import json
import math
import os
import time

# One thread for every library torch calls (OpenBLAS and OpenMP start their own pools otherwise).
for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

MEAN = np.array([125.3, 123.0, 113.9], dtype=np.float32) / 255.0
STD = np.array([63.0, 62.1, 66.7], dtype=np.float32) / 255.0


def load_batches(folder, names):
    images, labels = [], []
    for name in names:
        path = os.path.join(folder, name)
        raw = gzip.open(path + ".gz").read() if os.path.exists(path + ".gz") else open(path, "rb").read()
        rec = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3073)
        labels.append(rec[:, 0].astype(np.int64))
        images.append(rec[:, 1:].reshape(-1, 3, 32, 32))
    return np.concatenate(images), np.concatenate(labels)


def normalise(u8):
    x = u8.astype(np.float32) / 255.0
    return (x - MEAN[None, :, None, None]) / STD[None, :, None, None]


class Masked:
    """Mixin: the layer's forward uses weight * mask and keeps that effective weight for its gradient."""

    def _init_mask(self):
        self.mask = None
        self.effective = None

    def masked_weight(self):
        w = self.weight
        if self.mask is not None:
            w = w * self.mask
            if self.training:
                w.retain_grad()
            self.effective = w
        return w


class MaskedConv2d(Masked, nn.Conv2d):
    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self._init_mask()

    def forward(self, x):
        return F.conv2d(x, self.masked_weight(), self.bias, self.stride, self.padding)


class MaskedLinear(Masked, nn.Linear):
    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self._init_mask()

    def forward(self, x):
        return F.linear(x, self.masked_weight(), self.bias)


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = MaskedConv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = MaskedConv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(MaskedConv2d(cin, cout, 1, stride, 0, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        o = F.relu(self.bn1(self.conv1(x)))
        o = self.bn2(self.conv2(o))
        return F.relu(o + self.shortcut(x))


class ResNet20U(nn.Module):
    def __init__(self, num_classes=10, width=16, n=3):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 3, 1, 1, bias=False)   # stem: dense
        self.bn1 = nn.BatchNorm2d(width)
        layers, cin = [], width
        for s, w in enumerate([width, 2 * width, 4 * width]):
            blocks = []
            for b in range(n):
                blocks.append(BasicBlock(cin, w, 2 if s > 0 and b == 0 else 1))
                cin = w
            layers.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = layers
        self.linear = MaskedLinear(cin, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.Linear):
                nn.init.kaiming_normal_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        o = F.relu(self.bn1(self.conv1(x)))
        o = self.layer3(self.layer2(self.layer1(o)))
        o = F.adaptive_avg_pool2d(o, 1).flatten(1)
        return self.linear(o)

    def prunable(self):
        return [(n, m) for n, m in self.named_modules() if isinstance(m, (MaskedConv2d, MaskedLinear))]


def cubic(final, init, j, n):
    f = 1.0 - min(j, n) / n
    return final + (init - final) * f ** 3


def prune_rate(t, total, start=0.5, end=0.005):
    x = min(max(t / total, 0.0), 1.0)
    return end + (start - end) * 0.5 * (1 + math.cos(math.pi * x))


@torch.no_grad()
def global_magnitude(layers, density):
    ws = [m.weight.detach().abs().flatten() for _, m in layers]
    allw = torch.cat(ws)
    keep = int(round(density * allw.numel()))
    idx = torch.topk(allw, keep, largest=True, sorted=False).indices
    flat = torch.zeros(allw.numel(), dtype=torch.bool)
    flat[idx] = True
    off = 0
    for (_, m), w in zip(layers, ws):
        m.mask = flat[off:off + w.numel()].view_as(m.weight).to(m.weight.dtype)
        off += w.numel()


@torch.no_grad()
def prune_regrow(layers, rate):
    for _, m in layers:
        mask = m.mask.flatten().bool()
        nnz = int(mask.sum())
        r = math.ceil(rate * nnz)
        if r == 0:
            continue
        r = min(r, nnz)
        w = m.weight.detach().abs().flatten()
        score = torch.where(mask, w, torch.full_like(w, float("inf")))
        drop = torch.topk(score, r, largest=False, sorted=False).indices
        new = mask.clone()
        new[drop] = False
        g = m.effective.grad.detach().abs().flatten()
        inactive = ~new
        grow = min(r, int(inactive.sum()))
        gscore = torch.where(inactive, g, torch.full_like(g, -1.0))
        up = torch.topk(gscore, grow, largest=True, sorted=False).indices
        new[up] = True
        m.mask = new.view_as(m.weight).to(m.weight.dtype)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default="/work/shared/datasets/cifar10")
    ap.add_argument("--density", type=float, default=1.0, help="1 = dense; below 1 = single-sparsity run")
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--wd", type=float, default=5e-4)
    ap.add_argument("--prune-start", type=float, default=0)
    ap.add_argument("--prune-end", type=float, default=10)
    ap.add_argument("--update-every", type=int, default=99)
    ap.add_argument("--prune-rate", type=float, default=0.5)
    ap.add_argument("--prune-rate-final", type=float, default=0.005)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--train-limit", type=int, default=0)
    ap.add_argument("--test-limit", type=int, default=0)
    ap.add_argument("--stop-after", type=int, default=0, help="stop after this many epochs (resume later)")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    os.makedirs(a.out, exist_ok=True)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)

    xtr, ytr = load_batches(a.data_dir, [f"data_batch_{i}.bin" for i in range(1, 5)])
    xte, yte = load_batches(a.data_dir, ["data_batch_5.bin"])
    if a.train_limit:
        xtr, ytr = xtr[:a.train_limit], ytr[:a.train_limit]
    if a.test_limit:
        xte, yte = xte[:a.test_limit], yte[:a.test_limit]
    padded = np.pad(xtr, ((0, 0), (0, 0), (4, 4), (4, 4)))      # pixel value 0, as torchvision
    test_x = torch.from_numpy(normalise(xte)).contiguous(memory_format=torch.channels_last)
    test_y = torch.from_numpy(yte)

    # Channels-last activations and weights take oneDNN's convolutions (faster on one thread; the same math).
    model = ResNet20U().to(memory_format=torch.channels_last)
    sparse = a.density < 1
    layers = model.prunable() if sparse else []
    if sparse:
        for _, m in layers:
            m.mask = torch.ones_like(m.weight)
    opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=a.momentum, weight_decay=a.wd)

    per_epoch = len(xtr) // a.batch_size
    total = per_epoch * a.epochs
    start_it = math.ceil(a.prune_start * per_epoch)
    ramp_end = math.ceil(a.prune_end * per_epoch)
    n_ramp = 0 if ramp_end <= start_it else (ramp_end - 1 - start_it) // a.update_every + 1

    ck = os.path.join(a.out, "checkpoint.pt")
    history, epoch0, t = [], 0, 0
    if os.path.exists(ck):
        s = torch.load(ck)
        model.load_state_dict(s["model"])
        opt.load_state_dict(s["opt"])
        for (n, m) in layers:
            m.mask = s["masks"][n]
        torch.set_rng_state(s["torch_rng"])
        rng.bit_generator.state = s["np_rng"]
        history, epoch0, t = s["history"], s["epoch"], s["t"]
        print(f"resumed from {ck} at epoch {epoch0}", flush=True)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); resnet20-u, density {a.density}, "
          f"{len(xtr)} train / {len(xte)} test, {a.epochs} epochs x {per_epoch} iterations, seed {a.seed}", flush=True)

    def evaluate():
        model.eval()
        correct, loss = 0, 0.0
        with torch.no_grad():
            for i in range(0, len(test_x), 256):
                out = model(test_x[i:i + 256])
                loss += F.cross_entropy(out, test_y[i:i + 256], reduction="sum").item()
                correct += (out.argmax(1) == test_y[i:i + 256]).sum().item()
        model.train()
        return loss / len(test_x), correct / len(test_x)

    for epoch in range(epoch0, a.epochs):
        t0 = time.time()
        model.train()
        order = rng.permutation(len(xtr))
        loss_sum = 0.0
        for b in range(per_epoch):
            idx = order[b * a.batch_size:(b + 1) * a.batch_size]
            dy = rng.integers(0, 9, size=len(idx))
            dx = rng.integers(0, 9, size=len(idx))
            flip = rng.random(len(idx)) < 0.5
            batch = np.empty((len(idx), 3, 32, 32), dtype=np.uint8)
            for i, j in enumerate(idx):
                img = padded[j, :, dy[i]:dy[i] + 32, dx[i]:dx[i] + 32]
                batch[i] = img[:, :, ::-1] if flip[i] else img
            x = torch.from_numpy(normalise(batch)).contiguous(memory_format=torch.channels_last)
            y = torch.from_numpy(ytr[idx])
            for g in opt.param_groups:
                g["lr"] = 0.5 * a.lr * (1 + math.cos(math.pi * t / total))
            opt.zero_grad(set_to_none=False)
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            if sparse:
                if t >= start_it and (t - start_it) % a.update_every == 0:
                    if t < ramp_end:
                        j = (t - start_it) // a.update_every + 1
                        global_magnitude(layers, cubic(a.density, 1.0, j, n_ramp))
                    prune_regrow(layers, prune_rate(t, total, a.prune_rate, a.prune_rate_final))
                with torch.no_grad():
                    for _, m in layers:
                        m.weight.grad.copy_(m.effective.grad * m.mask)
            opt.step()
            loss_sum += loss.item()
            t += 1
        train_s = time.time() - t0
        test_loss, acc = evaluate()
        rec = {"epoch": epoch, "iteration": t, "lr": 0.5 * a.lr * (1 + math.cos(math.pi * (t - 1) / total)),
               "train_loss": loss_sum / per_epoch, "test_loss": test_loss, "test_accuracy": acc,
               "train_seconds": train_s, "seconds": time.time() - t0}
        if sparse:
            kept = sum(int(m.mask.sum()) for _, m in layers)
            rec["density_prunable"] = kept / sum(m.weight.numel() for _, m in layers)
        history.append(rec)
        print(json.dumps(rec), flush=True)
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(),
                    "masks": {n: m.mask for n, m in layers}, "torch_rng": torch.get_rng_state(),
                    "np_rng": rng.bit_generator.state, "history": history, "epoch": epoch + 1, "t": t}, ck + ".tmp")
        os.replace(ck + ".tmp", ck)
        result = {"recipe": vars(a), "model": "resnet20-u", "torch": torch.__version__, "epochs_done": epoch + 1,
                  "final_test_accuracy": acc, "history": history}
        if sparse:
            result["layer_density"] = {n: float(m.mask.mean()) for n, m in layers}
        with open(os.path.join(a.out, "result.json"), "w") as f:
            json.dump(result, f, indent=1)
        if a.stop_after and epoch + 1 >= a.stop_after:
            break


if __name__ == "__main__":
    main()
