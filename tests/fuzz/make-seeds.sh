#!/usr/bin/env bash
# make-seeds.sh - regenerate the seed corpora in tests/fuzz/corpus/<target>/.
# Needs build/deepsigns (make) and the Fashion-MNIST package (make deps); the
# model and key seeds come from a 784-8-8-10 mnist-mlp trained for one epoch on
# 600 images. Run from anywhere: bash tests/fuzz/make-seeds.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${DS_BIN:-build/deepsigns}
C=tests/fuzz/corpus
export OPENBLAS_NUM_THREADS=1
. tests/sh/lib.sh  # make_idx_subset; $TMP, removed on exit
tmp=$TMP
mkdir -p "$C"/idx "$C"/cifar "$C"/spec "$C"/model "$C"/key

python3 - "$C" <<'PYEOF'
import gzip, os, struct, sys
corpus = sys.argv[1]
def idx(magic, dims, body):
    return struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in dims) + bytes(body)
def put(name, b):
    open(os.path.join(corpus, name), "wb").write(b)
# IDX: 2 images of 3x3 and their labels, raw and gzipped (mtime 0: reproducible)
img = idx(0x803, [2, 3, 3], range(0, 180, 10))
lab = idx(0x801, [2], [3, 9])
for name, b in (("images-2x3x3", img), ("labels-2", lab)):
    put("idx/" + name, b)
    put("idx/" + name + ".gz", gzip.compress(b, mtime=0))
# the first two Fashion-MNIST test images and labels, as the real files have them
src = "/usr/share/datasets/fashion-mnist"
raw = gzip.open(os.path.join(src, "t10k-images-idx3-ubyte.gz")).read()
put("idx/fashion-images-2", raw[:4] + struct.pack(">I", 2) + raw[8:16 + 2 * 784])
raw = gzip.open(os.path.join(src, "t10k-labels-idx1-ubyte.gz")).read()
put("idx/fashion-labels-2", raw[:4] + struct.pack(">I", 2) + raw[8:10])
# CIFAR-10: one and two records (label byte, 3072 pixel bytes)
rec = lambda label, seed: bytes([label]) + bytes((seed + 7 * i) % 256 for i in range(3072))
put("cifar/one-record", rec(3, 1))
put("cifar/two-records", rec(0, 5) + rec(9, 11))
PYEOF
# a 600/100-image Fashion-MNIST subset for the model and key seeds
make_idx_subset /usr/share/datasets/fashion-mnist "$tmp/data" 600 100

cp experiments/tiny.yaml "$C"/spec/tiny.yaml
cp experiments/quick.yaml "$C"/spec/quick.yaml

common=(--data "$tmp/data" --epochs 1 --batch 50 --threads 1 --quiet)
"$BIN" train --arch mnist-mlp --hidden 8 "${common[@]}" -o "$C"/model/mlp-8.h5
"$BIN" embed --scheme blackbox "$C"/model/mlp-8.h5 --keys 4 --candidates 4 --alpha 0.5 \
    "${common[@]}" --key "$tmp/bb.key" -o "$tmp/bb.h5"
"$BIN" embed --scheme whitebox "$C"/model/mlp-8.h5 --bits 4 --targets 1 --keys-per-class 4 \
    "${common[@]}" --key "$tmp/wb.key" -o "$tmp/wb.h5"
cp "$tmp/bb.key" "$C"/key/blackbox-4.key
cp "$tmp/wb.key" "$C"/key/whitebox-4.key
cp "$tmp/wb.h5" "$C"/model/mlp-8-whitebox.h5
chmod 644 "$C"/key/*.key
ls -l "$C"/*
