"""PyTorch peer for the train-step bench: one training step (forward, cross-entropy, backward,
SGD momentum update) at batch 128 on random data, for the same models as the C# bench.

Run it the way BASELINES.md describes (the C# bench starts it with that environment):
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE ATEN_CPU_CAPABILITY=avx512 \
      GLIBC_TUNABLES=glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=4294967296 \
      OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 bench/torch_train_step.py --models mlp,resnet20

Modes:
  default   measure each model, print img/s (median and mean over --rounds samples)
  --eval    time an eval-mode forward under torch.inference_mode() instead of a training step
            (the infer bench's PyTorch peer)
  --serve   read commands from stdin, one per line, answer one line each (used by the C# bench
            to interleave its rounds with ours):  "run MODEL REPS" -> seconds for REPS steps;
            "quit". Models are built on first use and kept.
"""
import argparse
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


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

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    def __init__(self, depth, width=16, classes=10):
        super().__init__()
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(3, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        layers, cin = [], width
        for s, w in enumerate([width, 2 * width, 4 * width]):
            blocks = []
            for b in range(n):
                blocks.append(BasicBlock(cin, w, 2 if s > 0 and b == 0 else 1))
                cin = w
            layers.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = layers
        self.linear = nn.Linear(cin, classes)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        return self.linear(out)


def lenet5(caffe=False):
    if caffe:
        return nn.Sequential(nn.Conv2d(1, 20, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(20, 50, 5), nn.ReLU(),
                             nn.MaxPool2d(2), nn.Flatten(), nn.Linear(800, 500), nn.ReLU(), nn.Linear(500, 10))
    return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
                         nn.Linear(84, 10))


# name -> (constructor, input shape without batch, convolutional)
MODELS = {
    "mlp": (lambda: nn.Sequential(nn.Flatten(), nn.Linear(784, 300), nn.ReLU(), nn.Linear(300, 100), nn.ReLU(),
                                  nn.Linear(100, 10)), (1, 28, 28), False),
    "lenet5": (lambda: lenet5(False), (1, 28, 28), True),
    "lenet5-caffe": (lambda: lenet5(True), (1, 28, 28), True),
    "resnet20": (lambda: CifarResNet(20), (3, 32, 32), True),
    "resnet32": (lambda: CifarResNet(32), (3, 32, 32), True),
    "wrn32": (lambda: CifarResNet(32, 32), (3, 32, 32), True),
}


class Step:
    def __init__(self, name, batch, channels_last, eval_mode=False):
        ctor, shape, conv = MODELS[name]
        torch.manual_seed(0)
        self.model = ctor()
        self.x = torch.randn(batch, *shape)
        if conv and channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
            self.x = self.x.contiguous(memory_format=torch.channels_last)
        self.y = torch.randint(0, 10, (batch,))
        self.opt = torch.optim.SGD(self.model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
        self.eval_mode = eval_mode
        if eval_mode:
            self.model.eval()
        else:
            self.model.train()

    def __call__(self):
        if self.eval_mode:
            with torch.inference_mode():
                self.model(self.x)
            return
        self.opt.zero_grad(set_to_none=False)
        loss = F.cross_entropy(self.model(self.x), self.y)
        loss.backward()
        self.opt.step()


def timed(step, reps):
    t0 = time.perf_counter()
    for _ in range(reps):
        step()
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--no-channels-last", action="store_true")
    ap.add_argument("--serve", action="store_true")
    ap.add_argument("--eval", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    steps = {}

    def get(name):
        if name not in MODELS:
            raise SystemExit(f"unknown model '{name}'; known: {', '.join(MODELS)}")
        if name not in steps:
            steps[name] = Step(name, a.batch, not a.no_channels_last, a.eval)
        return steps[name]

    if a.serve:
        print("ready", flush=True)
        for line in sys.stdin:
            parts = line.split()
            if not parts or parts[0] == "quit":
                break
            if parts[0] == "run" and len(parts) == 3:
                print(f"{timed(get(parts[1]), int(parts[2])):.9f}", flush=True)
            else:
                print(f"error unknown command '{line.strip()}'", flush=True)
        return

    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, batch {a.batch}, "
          f"channels_last {not a.no_channels_last}")
    for name in a.models.split(","):
        step = get(name)
        for _ in range(3):
            step()
        once = timed(step, 1)
        reps = max(1, int(0.3 / max(once, 1e-6)))
        ips = [a.batch * reps / timed(step, reps) for _ in range(a.rounds)]
        print(f"{name:14s} median {statistics.median(ips):10.0f} img/s   mean {statistics.mean(ips):10.0f} img/s")


if __name__ == "__main__":
    main()
