#!/usr/bin/env python3
"""dp_compare.py A B [C ...]: compares runs made with --iteration-log (folders with iterations.csv
and checkpoint.safetensors) against the first: the loss of every iteration (largest |difference|,
the first iteration that differs at all, and how many iterations agree to the bit) and every mask,
weight and batch-norm running statistic in the final checkpoint (the ranks' running statistics
are averaged at each epoch end, so they differ from one process's by design). Standard library only."""
import csv
import json
import struct
import sys
from array import array


def losses(run):
    with open(f"{run}/iterations.csv") as f:
        return [(int(r["t"]), r["spec"], float(r["loss"])) for r in csv.DictReader(f)]


def tensors(run):
    with open(f"{run}/checkpoint.safetensors", "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        lo, hi = t["data_offsets"]
        out[name] = (t["dtype"], data[lo:hi])
    return out


def as_floats(dtype, raw):
    if dtype != "F32":
        return None
    a = array("f")
    a.frombytes(raw)
    return a


def main(runs):
    ref, ref_t = losses(runs[0]), tensors(runs[0])
    for run in runs[1:]:
        other, other_t = losses(run), tensors(run)
        if len(other) != len(ref):
            print(f"{run}: {len(other)} iterations against {len(ref)}")
            continue
        diffs = [abs(a[2] - b[2]) for a, b in zip(ref, other)]
        order = all(a[1] == b[1] for a, b in zip(ref, other))
        first = next((i for i, d in enumerate(diffs) if d != 0), None)
        same = sum(1 for d in diffs if d == 0)
        masks = [k for k in ref_t if k.startswith("mask.")]
        mask_diff = sum(1 for k in masks if ref_t[k] != other_t.get(k))
        floats = [k for k in ref_t if not k.startswith("mask.") and as_floats(*ref_t[k]) is not None]
        wmax = smax = 0.0
        for k in floats:
            a, b = as_floats(*ref_t[k]), as_floats(*other_t[k])
            d = max((abs(x - y) for x, y in zip(a, b)), default=0.0)
            if "running_" in k:
                smax = max(smax, d)
            else:
                wmax = max(wmax, d)
        print(f"{run}: {len(diffs)} iterations, sub-net order {'same' if order else 'DIFFERENT'}, "
              f"{same} losses identical to the bit, first difference at iteration "
              f"{'none' if first is None else first}, largest |Δloss| {max(diffs):.3g}; "
              f"masks differing {mask_diff} of {len(masks)}; largest |Δweight| {wmax:.3g}; "
              f"largest |Δ batch-norm running statistic| {smax:.3g}")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    main(sys.argv[1:])
