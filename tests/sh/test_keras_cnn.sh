#!/usr/bin/env bash
# test_keras_cnn.sh - Keras weight files of the Keras MNIST CNN and CIFAR-10 CNN
# (tests/fixtures/make_keras_cnn.py: written with h5py in Keras 2's layout, channels-last
# kernels, layers wider than ours) import as mnist-cnn and cifar10-cnn whose logits on
# 256 images are within 1e-4 of PyTorch's computed channels-last, as Keras would.
source "$(dirname "$0")/lib.sh"

if ! $PY -c 'import torch, h5py' 2>/dev/null; then
  fail keras_cnn_python "python3-torch and python3-h5py are needed (run: make deps)"
  finish
fi
make_idx_subset /usr/share/datasets/fashion-mnist "$TMP/fashion" 16 256
$PY "$DS_TESTS_FIXTURES/make_cifar.py" "$TMP/cifar" 256 7 || fail keras_cnn_cifar "make_cifar.py failed"

for case in "mnist-cnn $TMP/fashion $TMP/fashion/t10k-images-idx3-ubyte" \
            "cifar10-cnn $TMP/cifar $TMP/cifar/test_batch.bin"; do
  set -- $case
  arch=$1 data=$2 images=$3
  if ! $PY "$DS_TESTS_FIXTURES/make_keras_cnn.py" "$TMP/$arch" "$arch" "$images" 2>"$TMP/$arch.py.log"; then
    fail "keras_cnn_$arch" "make_keras_cnn.py: $(tail -2 "$TMP/$arch.py.log")"
    continue
  fi
  "$DS_BIN" info "$TMP/$arch.h5" >"$TMP/$arch.info" 2>&1
  has "keras_cnn_${arch}_arch" "$TMP/$arch.info" "$arch, "
  if "$DS_BIN" eval "$TMP/$arch.h5" --data "$data" --logits "$TMP/$arch.out" >"$TMP/$arch.log" 2>&1; then
    d=$(max_diff "$TMP/$arch.out" "$TMP/$arch.ref")
    if within "$d" 1e-4; then
      pass "keras_cnn_${arch}_logits (max |diff| $d on 256 images)"
    else
      fail "keras_cnn_${arch}_logits" "max |diff| $d"
    fi
  else
    fail "keras_cnn_${arch}_logits" "$(tail -2 "$TMP/$arch.log")"
  fi
done
finish
