#!/usr/bin/env bash
# run-default.sh - what `make run` runs after installing and building: the
# default experiment on real data (Fashion-MNIST from Debian's
# dataset-fashion-mnist), until the MPI sweep engine takes over: train an
# mnist-mlp, mark it with a black-box watermark (K = 20), and verify the claim
# on the marked model and on the unmarked one. Writes results/default/.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BUILD:-build}/deepsigns
out=results/default
mkdir -p "$out"
rm -f "$out/bb.key" # a fresh run makes a fresh key (embed refuses to overwrite one)
echo "== training mnist-mlp on Fashion-MNIST (5 epochs) -> $out/mnist-mlp.h5"
"$BIN" train --arch mnist-mlp --epochs 5 --json -o "$out/mnist-mlp.h5" | tee "$out/train.json"
"$BIN" info "$out/mnist-mlp.h5" > "$out/layers.txt"
echo "== marking it with a black-box watermark (20 keys) -> $out/marked.h5, key $out/bb.key"
"$BIN" embed --scheme blackbox "$out/mnist-mlp.h5" --keys 20 --json --key "$out/bb.key" \
  -o "$out/marked.h5" | tee "$out/embed.json"
commit=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["commitment"])' "$out/embed.json")
echo "== verifying the marked model (expect: owned)"
"$BIN" verify "$out/marked.h5" --key "$out/bb.key" --json | tee "$out/verify-marked.json"
echo "== verifying the unmarked model with the published commitment (expect: not shown)"
rc=0
"$BIN" verify "$out/mnist-mlp.h5" --key "$out/bb.key" --commitment "$commit" --json \
  | tee "$out/verify-unmarked.json" || rc=$?
[ "$rc" -eq 1 ] || { echo "unexpected verdict on the unmarked model (exit $rc)" >&2; exit 1; }
echo "results in $out/"
