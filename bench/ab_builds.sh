#!/usr/bin/env bash
# Runs one benchmark on two builds of the project in turn, A B A B ..., so that both see the same
# machine, and keeps each run's output: a before/after comparison of a change.
#
#   bench/ab_builds.sh DIR_A DIR_B ROUNDS BENCH [bench options]
#   e.g. bench/ab_builds.sh ../base . 2 train-step --models resnet20,wrn32 --rounds 7
#
# DIR_A and DIR_B are checkouts (worktrees) of the project; each is built in Release first.
# Output: ab-<bench>-<A|B>-<round>.txt in the current folder, and the ratio lines of each run.
set -euo pipefail
if [ $# -lt 4 ]; then sed -n '2,10p' "$0"; exit 2; fi
a=$(cd "$1" && pwd); b=$(cd "$2" && pwd); rounds=$3; shift 3
bench=$1
for d in "$a" "$b"; do dotnet build -c Release "$d/bench/SparseSwitch.Bench" > /dev/null; done
for r in $(seq 1 "$rounds"); do
  for side in A B; do
    d=$a; [ "$side" = B ] && d=$b
    out="ab-$bench-$side-$r.txt"
    (cd "$d" && dotnet run -c Release --no-build --project bench/SparseSwitch.Bench -- "$@") > "$out" 2>&1
    echo "== $side round $r ($d)"; grep -E "ratio|speed|img/s" "$out" | tail -20
  done
done
