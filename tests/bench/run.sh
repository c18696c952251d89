#!/usr/bin/env bash
# run.sh - `make bench`: training throughput of deepsigns against PyTorch CPU
# (Debian's python3-torch) on the same data, architecture, batch size,
# optimizer and thread count, in one run; and the GFLOP/s of deepsigns'
# mnist-mlp training step next to OpenBLAS sgemm alone on the same shapes.
#
#   THREADS=1 (default)  thread count for both engines (BLAS and OpenMP pools)
#   BATCH=128            batch size
# The CIFAR-10-shaped data are random (a throughput measurement needs no real
# images); the MNIST ones are Fashion-MNIST.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
THREADS=${THREADS:-1}
BATCH=${BATCH:-128}
PY=/usr/bin/python3
FMNIST=/usr/share/datasets/fashion-mnist
# Both engines get exactly THREADS threads: OpenBLAS and OpenMP pools alike
# (PyTorch's set_num_threads does not limit the BLAS it calls).
export OPENBLAS_NUM_THREADS=$THREADS OMP_NUM_THREADS=$THREADS MKL_NUM_THREADS=$THREADS

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
$PY - "$tmp/cifar" <<'PYEOF'
import os, sys
import numpy as np
out = sys.argv[1]
os.makedirs(out)
rng = np.random.default_rng(1)
for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
    rec = rng.integers(0, 256, size=(1000, 3073), dtype=np.uint8)
    rec[:, 0] = rng.integers(0, 10, size=1000)
    rec.tofile(os.path.join(out, name))
PYEOF

field() { awk -v k="$1" '$1 == k {print $2}'; }

echo "deepsigns vs PyTorch $($PY -c 'import torch; print(torch.__version__)') CPU training throughput"
echo "threads $THREADS, batch $BATCH, SGD lr 0.01 momentum 0.9; $(nproc --all) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
printf '%-12s %8s %7s %14s %14s %7s\n' arch samples epochs "deepsigns/s" "pytorch/s" ratio

for spec in "mnist-mlp $FMNIST 20000 2" "mnist-cnn $FMNIST 2048 1" "cifar10-cnn $tmp/cifar 2048 1"; do
  set -- $spec
  ours=$("$BUILD/bench/bench_train" "$1" "$2" "$3" "$4" "$BATCH" | field samples_per_s)
  theirs=$($PY tests/bench/torch_train.py "$1" "$2" "$3" "$4" "$BATCH" "$THREADS" | field samples_per_s)
  ratio=$(awk -v a="$ours" -v b="$theirs" 'BEGIN {printf "%.2f", a / b}')
  printf '%-12s %8s %7s %14.1f %14.1f %6sx\n' "$1" "$3" "$4" "$ours" "$theirs" "$ratio"
done
out=$("$BUILD/bench/bench_train" sgemm-mlp "$FMNIST" 20000 1 "$BATCH")
echo "mnist-mlp training step: $(echo "$out" | field mlp_step_gflops) GFLOP/s (GEMM flops only); cblas_sgemm on the same shapes alone: $(echo "$out" | field sgemm_gflops) GFLOP/s"

