#!/usr/bin/env python3
"""Compares two run folders' metrics.csv row by row, ignoring the columns that are not results
(the run folder and wall-clock seconds). Prints the differing cells; exit 1 when any differ.

    python3 tools/compare_metrics.py RUN_A RUN_B
"""
import csv
import os
import sys

IGNORED = {"run", "wall_seconds"}


def load(folder):
    with open(os.path.join(folder, "metrics.csv"), newline="") as f:
        return list(csv.reader(f))


def main(a, b):
    ra, rb = load(a), load(b)
    if ra[0] != rb[0]:
        print(f"different columns:\n  {ra[0]}\n  {rb[0]}")
        return 1
    header = ra[0]
    diffs = 0
    if len(ra) != len(rb):
        print(f"{len(ra) - 1} rows in {a}, {len(rb) - 1} in {b}")
        diffs += 1
    for n, (x, y) in enumerate(zip(ra[1:], rb[1:]), start=1):
        for col, u, v in zip(header, x, y):
            if col not in IGNORED and u != v:
                print(f"row {n} {col}: {u} != {v}")
                diffs += 1
    print(f"{len(ra) - 1} rows, {len(header) - len(IGNORED)} compared columns: " + ("identical" if diffs == 0 else f"{diffs} differences"))
    return 0 if diffs == 0 else 1


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
