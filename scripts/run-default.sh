#!/usr/bin/env bash
# run-default.sh - what `make run` runs after installing and building: the
# default experiment on real data (Fashion-MNIST from Debian's
# dataset-fashion-mnist). Writes results/default/.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BUILD:-build}/deepsigns
out=results/default
mkdir -p "$out"
echo "== training mnist-mlp on Fashion-MNIST (5 epochs) -> $out/mnist-mlp.h5"
"$BIN" train --arch mnist-mlp --epochs 5 --json -o "$out/mnist-mlp.h5" | tee "$out/train.json"
echo "== evaluating $out/mnist-mlp.h5"
"$BIN" eval "$out/mnist-mlp.h5" --json | tee "$out/eval.json"
"$BIN" info "$out/mnist-mlp.h5" > "$out/layers.txt"
echo "results in $out/"
