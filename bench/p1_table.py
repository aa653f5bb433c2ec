#!/usr/bin/env python3
"""The table of an ablation folder written by bench/p1_ablation.sh: one row per ablation row, with
each sub-net's last-epoch test accuracy (mean over the seeds found, and their spread), the training
cost (forward/backward passes, wall seconds of training) and the number of seeds. A row run with
bnrecal also gives its accuracy before the batch-norm re-estimation (the same training without it;
its cost then includes the re-estimation's forward passes), which counts as a seed of the row
without bnrecal where that row has no run of its own with that seed.

    python3 bench/p1_table.py OUT
"""
import glob
import json
import os
import re
import statistics
import sys


def last_metrics(run):
    """The last epoch's rows of a run folder (mode independent: of each subnet-k folder)."""
    folders = sorted(glob.glob(os.path.join(run, "subnet-*"))) or [run]
    rows, cost = [], [0, 0, 0.0]
    for f in folders:
        path = os.path.join(f, "metrics.jsonl")
        if not os.path.exists(path):
            return None
        lines = [json.loads(l) for l in open(path) if l.strip()]
        if not lines:
            return None
        last = max(l["epoch"] for l in lines)
        here = [l for l in lines if l["epoch"] == last]
        rows += here
        # A trainer's rows carry its whole cost (the same in each sub-net's row): once per folder.
        cost[0] += here[0]["forward_passes"]
        cost[1] += here[0]["backward_passes"]
        cost[2] += here[0]["wall_seconds"]
    return rows, cost


def main(out):
    groups, derived = {}, {}
    for run in sorted(glob.glob(os.path.join(out, "*-s*"))):
        m = re.match(r"(.+)-s(\d+)$", os.path.basename(run))
        if not m or not os.path.isdir(run):
            continue
        found = last_metrics(run)
        if found is None:
            continue
        rows, cost = found
        recipe = json.load(open(os.path.join(run, "recipe.json")))
        done = all(r["epoch"] == recipe["epochs"] - 1 for r in rows)
        groups.setdefault(m.group(1), {})[int(m.group(2))] = (cost, rows, done)
        # A run with batch-norm re-estimation (bnrecal) also reports its last epoch's accuracy with
        # the statistics kept during training: the same training without the re-estimation. It
        # counts as that row's seed where the row has no run of its own with that seed.
        if done and all(r.get("test_accuracy_before_recalibration") is not None for r in rows):
            plain = [dict(r, test_accuracy=r["test_accuracy_before_recalibration"]) for r in rows]
            name = "+".join(p for p in m.group(1).split("+") if p != "bnrecal") or "base"
            derived.setdefault(name, {})[int(m.group(2))] = ((cost, plain, done), m.group(1))
    for name, seeds in derived.items():
        own = groups.setdefault(name, {})
        for seed, (run, source) in seeds.items():
            if seed not in own:
                own[seed] = run
                print(f"{name} seed {seed}: the accuracy before re-estimation of {source}-s{seed}")
    groups = {name: list(seeds.values()) for name, seeds in sorted(groups.items())}
    print("| row | sub-net accuracy % (mean ± spread over seeds) | seeds | forward passes | backward passes | wall s (training) |")
    print("|---|---|---|---|---|---|")
    for name, runs in groups.items():
        finished = [r for r in runs if r[2]]
        if not finished:
            print(f"| {name} | (running: epoch {max(x['epoch'] for x in runs[0][1]) + 1}) | 0 | | | |")
            continue
        specs = [r["spec"] for r in finished[0][1]]
        cells = []
        for spec in specs:
            accs = [100 * next(x["test_accuracy"] for x in rows if x["spec"] == spec) for _, rows, _ in finished]
            spread = statistics.stdev(accs) if len(accs) > 1 else 0.0
            cells.append(f"{spec}: {statistics.mean(accs):.2f} ± {spread:.2f}")
        fwd = statistics.mean(c[0] for c, _, _ in finished)
        bwd = statistics.mean(c[1] for c, _, _ in finished)
        wall = statistics.mean(c[2] for c, _, _ in finished)
        print(f"| {name} | {'; '.join(cells)} | {len(finished)} | {fwd:.0f} | {bwd:.0f} | {wall:.0f} |")
    return 0


if __name__ == "__main__":
    if len(sys.argv) < 2:
        print(__doc__)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
