#!/usr/bin/env bash
# test_onnx.sh - ONNX import (src/io/onnx_import.c): an MLP (Gemm; and MatMul + Add),
# a CNN (Conv of several strides and pads, MaxPool, Reshape, AveragePool) and small
# residual nets (BatchNormalization, Add, GlobalAveragePool, Softmax) built and exported
# by PyTorch (tests/fixtures/make_onnx_nets.py, opsets 9 to 17) give deepsigns logits
# within 1e-4 of PyTorch's on 256 Fashion-MNIST test images; the layers keep the ONNX
# names (--layer); an imported model survives a model file; `deepsigns export` writes
# ONNX that onnx.checker accepts and numpy runs to our logits; a white-box mark embedded
# into an imported model survives export -> PyTorch -> ONNX -> import with BER 0;
# refused models say why.
source "$(dirname "$0")/lib.sh"

if ! $PY -c 'import torch, onnx' 2>/dev/null; then
  fail onnx_python "python3-torch and python3-onnx are needed (run: make deps)"
  finish
fi
data=$TMP/data nets=$TMP/nets
mkdir -p "$nets"
make_idx_subset /usr/share/datasets/fashion-mnist "$data" 1200 256
if $PY "$DS_TESTS_FIXTURES/make_onnx_nets.py" "$nets" "$data/t10k-images-idx3-ubyte" >"$TMP/py.log" 2>&1; then
  pass onnx_export
else
  fail onnx_export "$(tail -3 "$TMP/py.log")"
  finish
fi

for n in mlp mlp_matmul cnn res res_folded; do
  if ! "$DS_BIN" eval "$nets/$n.onnx" --data "$data" --logits "$TMP/$n.out" >"$TMP/$n.log" 2>&1; then
    fail "onnx_logits_$n" "eval failed: $(tail -2 "$TMP/$n.log")"
    continue
  fi
  d=$(max_diff "$TMP/$n.out" "$nets/$n.ref")
  if within "$d" 1e-4; then pass "onnx_logits_$n (max |diff| $d on 256 images)"; else fail "onnx_logits_$n" "max |diff| $d"; fi
done

# layers keep their ONNX names: info lists them, --layer takes them
"$DS_BIN" info "$nets/res.onnx" >"$TMP/info.txt" 2>&1
has onnx_names_bn "$TMP/info.txt" "/bn2/BatchNormalization"
has onnx_names_add "$TMP/info.txt" "/Add_1"
# permuting the units of /1/Gemm (and undoing it in the next layer) keeps the function
if "$DS_BIN" attack --kind permute --layer /1/Gemm "$nets/mlp.onnx" -o "$TMP/perm.h5" --data "$data" \
     >"$TMP/perm.log" 2>&1 &&
   "$DS_BIN" eval "$TMP/perm.h5" --data "$data" --logits "$TMP/perm.out" >/dev/null 2>&1; then
  d=$(max_diff "$TMP/perm.out" "$nets/mlp.ref")
  if within "$d" 1e-4; then pass "onnx_layer_by_name (permuted /1/Gemm: max |diff| $d)"; else fail onnx_layer_by_name "max |diff| $d"; fi
else
  fail onnx_layer_by_name "$(tail -2 "$TMP/perm.log")"
fi
# an imported model saved as a model file (prune at rate 0 changes nothing) loads back
# with the same layers and exactly the same logits
if "$DS_BIN" attack --kind prune --rate 0 "$nets/res.onnx" -o "$TMP/res.h5" --data "$data" >"$TMP/prune.log" 2>&1 &&
   "$DS_BIN" eval "$TMP/res.h5" --data "$data" --logits "$TMP/res_h5.out" >/dev/null 2>&1 &&
   cmp -s "$TMP/res_h5.out" "$TMP/res.out"; then
  pass onnx_model_file_roundtrip
else
  fail onnx_model_file_roundtrip "$(tail -2 "$TMP/prune.log")"
fi
"$DS_BIN" info "$TMP/res.h5" >"$TMP/info_h5.txt" 2>&1
has onnx_model_file_names "$TMP/info_h5.txt" "/bn2/BatchNormalization"

# export: a trained mnist-mlp as ONNX passes onnx.checker, and the graph run by numpy
# from the file alone (Flatten, Gemm, Relu, Dropout, with the preprocessing recorded in
# its metadata) gives our logits; importing it gives the same logits bit for bit
"$DS_BIN" train --arch mnist-mlp --hidden 32 --epochs 1 --data "$data" -o "$TMP/mlp.h5" >"$TMP/train.log" 2>&1 ||
  fail onnx_export_train "$(tail -2 "$TMP/train.log")"
if "$DS_BIN" export "$TMP/mlp.h5" -o "$TMP/mlp_export.onnx" >"$TMP/export.log" 2>&1 &&
   "$DS_BIN" eval "$TMP/mlp.h5" --data "$data" --logits "$TMP/mlp_h5.out" >/dev/null 2>&1 &&
   "$DS_BIN" eval "$TMP/mlp_export.onnx" --data "$data" --logits "$TMP/mlp_onnx.out" >/dev/null 2>&1 &&
   cmp -s "$TMP/mlp_h5.out" "$TMP/mlp_onnx.out"; then
  pass onnx_export_reimport_same_logits
else
  fail onnx_export_reimport_same_logits "$(tail -2 "$TMP/export.log")"
fi
if $PY - "$TMP/mlp_export.onnx" "$data/t10k-images-idx3-ubyte" "$TMP/mlp_numpy.out" <<'PYEOF' 2>"$TMP/numpy.log"
import sys
import numpy as np
import onnx
from onnx import numpy_helper
m = onnx.load(sys.argv[1])
onnx.checker.check_model(m, full_check=True)
init = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
raw = open(sys.argv[2], "rb").read()
n = int.from_bytes(raw[4:8], "big")
f = next(p.value for p in m.metadata_props if p.key == "deepsigns.preproc").split()
scale, mean, std = np.float32(f[1]), np.float32(f[5]), np.float32(f[9])  # "scale S channels 1 mean M . . std S . ."
px = np.frombuffer(raw[16:16 + n * 784], np.uint8).reshape(n, 1, 28, 28).astype(np.float32)
v = {m.graph.input[0].name: (px * scale - mean) / std}
for node in m.graph.node:
    x = v[node.input[0]]
    if node.op_type == "Flatten": y = x.reshape(x.shape[0], -1)
    elif node.op_type == "Gemm": y = x @ init[node.input[1]] + init[node.input[2]]
    elif node.op_type == "Relu": y = np.maximum(x, 0)
    elif node.op_type == "Dropout": y = x
    else: raise SystemExit("unexpected op " + node.op_type)
    v[node.output[0]] = y.astype(np.float32)
v[m.graph.output[0].name].astype("<f4").tofile(sys.argv[3])
PYEOF
then
  d=$(max_diff "$TMP/mlp_numpy.out" "$TMP/mlp_h5.out")
  if within "$d" 1e-4; then pass "onnx_export_checker_numpy (max |diff| $d)"; else fail onnx_export_checker_numpy "max |diff| $d"; fi
else
  fail onnx_export_checker_numpy "$(tail -3 "$TMP/numpy.log")"
fi

# a white-box mark embedded into an imported PyTorch MLP (layer /4/Relu by its ONNX
# name) is verified with BER 0 after export -> PyTorch -> torch.onnx.export -> import
commit=$("$DS_BIN" embed --scheme whitebox "$nets/mlp_plain.onnx" --layer /4/Relu --bits 16 --targets 1 \
           --epochs 20 --lambda 0.05 --data "$data" --key "$TMP/wb.key" -o "$TMP/wb.h5" 2>"$TMP/embed.log" |
         sed -n 's/^commitment (publish this): //p')
if [ -n "$commit" ] && "$DS_BIN" export "$TMP/wb.h5" -o "$TMP/wb.onnx" >/dev/null 2>>"$TMP/embed.log" &&
   $PY "$DS_TESTS_FIXTURES/onnx_mlp_to_torch.py" "$TMP/wb.onnx" "$TMP/wb_torch.onnx" 2>>"$TMP/embed.log" &&
   "$DS_BIN" verify "$TMP/wb_torch.onnx" --key "$TMP/wb.key" --commitment "$commit" --json \
     >"$TMP/verify.json" 2>>"$TMP/embed.log"; then
  ber=$(json_get "$TMP/verify.json" ber)
  if within "$ber" 0; then pass "onnx_whitebox_through_pytorch (BER $ber)"; else fail onnx_whitebox_through_pytorch "BER $ber"; fi
else
  fail onnx_whitebox_through_pytorch "$(tail -3 "$TMP/embed.log") $(cat "$TMP/verify.json" 2>/dev/null)"
fi

# refused, with the reason and exit 2
expect_error onnx_unsupported_op "node '/2/Sigmoid': op type 'Sigmoid' (opset 13) is not supported" \
  "$DS_BIN" eval "$nets/bad_sigmoid.onnx" --data "$data"
expect_error onnx_groups "node '/1/Conv' (Conv, opset 13): only groups = 1 is supported" \
  "$DS_BIN" info "$nets/bad_groups.onnx"
expect_error onnx_opset "bad_opset.onnx: opset 18 of the default ONNX domain; opsets 9 to 17 are supported" \
  "$DS_BIN" info "$nets/bad_opset.onnx"
expect_error onnx_external "keeps its data in the external file 'weights.bin'" \
  "$DS_BIN" eval "$nets/bad_external.onnx" --data "$data"
head -c 300 "$nets/mlp.onnx" >"$TMP/truncated.onnx"
expect_error onnx_truncated "truncated.onnx: not an ONNX model (the protobuf does not decode)" \
  "$DS_BIN" info "$TMP/truncated.onnx"
finish
