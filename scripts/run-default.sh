#!/usr/bin/env bash
# run-default.sh - what `make run` runs after installing and building: the
# default experiment, experiments/quick.yaml, on real data (Fashion-MNIST from
# Debian's dataset-fashion-mnist) over MPI ranks (one per core plus the
# coordinator), into results/quick.h5; then the robustness plots and tables
# into results/quick/. A results file left by an earlier run of the same spec is
# resumed (a complete one is left as it is); one from another spec is refused:
# move it away first.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BUILD:-build}/deepsigns
SPEC=${SPEC:-experiments/quick.yaml}
name=$(basename "$SPEC" .yaml)
out=results/$name.h5
cores=$(nproc)
# mpirun as root needs these; keep MPI on this machine unless told otherwise
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl=${OMPI_MCA_btl:-self,vader}
export OMPI_MCA_oob_tcp_if_include=${OMPI_MCA_oob_tcp_if_include:-lo}
export OPENBLAS_NUM_THREADS=1
mkdir -p results
resume=()
[ -e "$out" ] && resume=(--resume)
echo "== sweep $SPEC on $cores cores ($((cores + 1)) ranks: a coordinator and $cores workers) -> $out"
mpirun --oversubscribe -np $((cores + 1)) "$BIN" sweep "$SPEC" -o "$out" "${resume[@]}"
echo "== plots and tables -> results/$name/"
/usr/bin/python3 analysis/plot_robustness.py "$out" -o "results/$name"
/usr/bin/python3 analysis/tables.py "$out" -o "results/$name"
echo "results: $out and results/$name/"
