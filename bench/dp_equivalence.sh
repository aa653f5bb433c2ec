#!/bin/bash
# dp_equivalence.sh OUT [DATA_ROOT]: data-parallel training against one process (issue: 2 ranks ×
# batch 64 follow 1 rank × batch 128). Runs, with --iteration-log, each of
#   LeNet-5 on MNIST (AST, 2 epochs) and ResNet-20 on CIFAR-10 (AST, P1 recipe, 1 epoch):
#   one    1 process, batch 128 in one pass
#   micro  1 process, batch 128 in 2 slices of 64 (--micro-batches 2): the arithmetic of 2 ranks
#   ranks  mpirun -np 2, 64 images per rank
#   sync   mpirun -np 2 --sync-batch-norm (ResNet-20 only): batch-norm over the whole batch, as one
# then compares every iteration's loss, the masks and the weights (bench/dp_compare.py).
# DATA_ROOT holds mnist/ and cifar10/ (default ../shared/datasets). Takes about 15 minutes.
set -euo pipefail
OUT=${1:?usage: dp_equivalence.sh OUT [DATA_ROOT]}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DATA=${2:-$ROOT/../shared/datasets}
mkdir -p "$OUT"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
dotnet build -c Release -v q -nologo "$ROOT/src/SparseSwitch.Cli" > "$OUT/build.log"
CLI=(dotnet "$ROOT/src/SparseSwitch.Cli/bin/Release/net10.0/SparseSwitch.Cli.dll" train)
MPI=(mpirun -np 2 --oversubscribe)
L=(--model lenet5 --data mnist --data-dir "$DATA/mnist" --subnets 0.1,0.05,0.02 --epochs 2 --prune-start 0 --prune-end 1
   --batch-size 128 --lr 0.05 --update-every 33 --threads 1 --iteration-log --quiet)
R=(--recipe "$ROOT/recipes/cifar10-p1-resnet20-ast.yaml" --data-dir "$DATA/cifar10" --epochs 1 --prune-end 1 --threads 1
   --iteration-log --quiet)
run() { local name=$1; shift; [ -f "$OUT/$name/metrics.jsonl" ] || "$@" --out "$OUT/$name" > "$OUT/$name.log" 2>&1; }
run lenet-one "${CLI[@]}" "${L[@]}"
run lenet-micro "${CLI[@]}" "${L[@]}" --micro-batches 2
run lenet-ranks "${MPI[@]}" "${CLI[@]}" "${L[@]}"
run resnet-one "${CLI[@]}" "${R[@]}"
run resnet-micro "${CLI[@]}" "${R[@]}" --micro-batches 2
run resnet-ranks "${MPI[@]}" "${CLI[@]}" "${R[@]}"
run resnet-sync "${MPI[@]}" "${CLI[@]}" "${R[@]}" --sync-batch-norm
echo "LeNet-5, MNIST, against 1 process with 2 slices:"
python3 "$ROOT/bench/dp_compare.py" "$OUT/lenet-micro" "$OUT/lenet-ranks" "$OUT/lenet-one"
echo "ResNet-20, CIFAR-10, against 1 process with 2 slices:"
python3 "$ROOT/bench/dp_compare.py" "$OUT/resnet-micro" "$OUT/resnet-ranks"
echo "ResNet-20, CIFAR-10, against 1 process with the whole batch in one pass:"
python3 "$ROOT/bench/dp_compare.py" "$OUT/resnet-one" "$OUT/resnet-sync" "$OUT/resnet-ranks"
