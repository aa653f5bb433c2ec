#!/usr/bin/env python3
"""Baseline-parity table of CIFAR-10 P1 runs: ours (sparseswitch run folders) against PyTorch
(tools/torch_p1.py output folders), per case and seed, with means and the difference.

    tools/p1_table.py ROOT        # ROOT holds ours-dense-sS, ours-d010-sS, torch-dense-sS, torch-d010-sS

A run that has not finished shows its last epoch as "acc (epoch e/15)"; the means use finished runs only.
"""
import csv
import glob
import json
import os
import re
import sys


def ours(folder):
    path = os.path.join(folder, "subnet-0", "metrics.csv")
    if not os.path.exists(path):
        path = os.path.join(folder, "metrics.csv")
    if not os.path.exists(path):
        return None
    rows = list(csv.DictReader(open(path)))
    if not rows:
        return None
    last = rows[-1]
    return int(last["epoch"]) + 1, 100 * float(last["test_accuracy"]), float(last["wall_seconds"]) / (int(last["epoch"]) + 1)


def torch(folder):
    path = os.path.join(folder, "result.json")
    if not os.path.exists(path):
        return None
    r = json.load(open(path))
    h = r["history"]
    return len(h), 100 * h[-1]["test_accuracy"], sum(e["train_seconds"] for e in h) / len(h)


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "/work/p1runs"
    epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 15
    seeds = sorted({int(m.group(1)) for p in glob.glob(os.path.join(root, "*-s*"))
                    if (m := re.search(r"-s(\d+)$", p))})
    print("| case | seed | ours | PyTorch | ours − PyTorch |")
    print("|---|---|---|---|---|")
    for case, label in (("dense", "dense"), ("d010", "0.10")):
        done = {"ours": [], "torch": []}
        for s in seeds:
            cells = {}
            for who, read in (("ours", ours), ("torch", torch)):
                r = read(os.path.join(root, f"{who}-{case}-s{s}"))
                if r is None:
                    cells[who] = "—"
                    continue
                e, acc, sec = r
                cells[who] = f"{acc:.2f}" if e >= epochs else f"{acc:.2f} (epoch {e}/{epochs})"
                cells[who] += f" [{sec:.0f} s/epoch]"
                if e >= epochs:
                    done[who].append((s, acc))
            both = dict(done["ours"]).get(s), dict(done["torch"]).get(s)
            diff = f"{both[0] - both[1]:+.2f}" if None not in both else ""
            print(f"| {label} | {s} | {cells['ours']} | {cells['torch']} | {diff} |")
        mo = [a for _, a in done["ours"]]
        mt = [a for _, a in done["torch"]]
        if mo or mt:
            fo = f"{sum(mo) / len(mo):.2f} (n={len(mo)})" if mo else "—"
            ft = f"{sum(mt) / len(mt):.2f} (n={len(mt)})" if mt else "—"
            diff = f"{sum(mo) / len(mo) - sum(mt) / len(mt):+.2f}" if mo and mt else ""
            print(f"| {label} | mean | {fo} | {ft} | {diff} |")


if __name__ == "__main__":
    main()
