"""PyTorch's peak resident memory training the models of bench/torch_train_step.py (same
definitions; resnet20-a / wrn32-a with option-A shortcuts as ours) on a synthetic batch: SGD with
momentum and weight decay, --steps training steps, then (with --eval-batch N) an evaluation forward
of N images without gradients and --steps more training steps, as a training run alternates.
One model per process, so that each peak is its own:

  /usr/bin/python3 bench/torch_memory.py --model resnet20-a
  /usr/bin/python3 bench/torch_memory.py --model wrn32 --eval-batch 256

Prints the resident size after `import torch`, after building the model, and the peak (the kernel's
maximum resident set size of the process).
"""
import argparse
import resource
import re

import torch
import torch.nn as nn
import torch.nn.functional as F

from torch_train_step import MODELS, BasicBlock, CifarResNet


def rss_mib():
    with open("/proc/self/status") as f:
        return int(re.search(r"^VmRSS:\s+(\d+) kB", f.read(), re.M).group(1)) / 1024


def peak_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class OptionA(nn.Module):
    """He et al.'s option-A shortcut: subsample by the stride, zero channels on both sides."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.pad, self.stride = (cout - cin) // 2, stride

    def forward(self, x):
        x = x[:, :, ::self.stride, ::self.stride]
        return F.pad(x, (0, 0, 0, 0, self.pad, self.pad))


def option_a(model):
    for m in model.modules():
        if isinstance(m, BasicBlock) and len(m.shortcut) > 0:
            conv = m.shortcut[0]
            m.shortcut = OptionA(conv.in_channels, conv.out_channels, conv.stride[0])
    return model


def build(name):
    if name.endswith("-a"):
        ctor, shape, _ = MODELS[name[:-2]]
        return option_a(ctor()), shape
    ctor, shape, _ = MODELS[name]
    return ctor(), shape


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="resnet20-a", help="resnet20, resnet20-a, resnet32, wrn32, wrn32-a, ...")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--eval-batch", type=int, default=0, help="also an evaluation forward of this many images (0: none)")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    base = rss_mib()
    torch.manual_seed(0)
    model, shape = build(a.model)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    x = torch.randn(a.batch, *shape)
    y = torch.randint(0, 10, (a.batch,))
    built = rss_mib()

    def train(steps):
        model.train()
        for _ in range(steps):
            opt.zero_grad(set_to_none=False)
            F.cross_entropy(model(x), y).backward()
            opt.step()

    train(a.steps)
    trained = peak_mib()
    if a.eval_batch:
        model.eval()
        with torch.no_grad():
            model(torch.randn(a.eval_batch, *shape))
        train(a.steps)
    params = sum(p.numel() for p in model.parameters())
    print(f"torch {torch.__version__}, {a.model}, {params:,} parameters, batch {a.batch}, threads {a.threads}")
    print(f"resident after import {base:.1f} MiB, after building the model {built:.1f} MiB")
    print(f"peak resident after {a.steps} training steps {trained:.1f} MiB")
    if a.eval_batch:
        print(f"peak resident with an evaluation batch of {a.eval_batch} and {a.steps} more steps {peak_mib():.1f} MiB")


if __name__ == "__main__":
    main()
