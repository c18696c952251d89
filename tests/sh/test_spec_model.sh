#!/usr/bin/env bash
# test_spec_model.sh - a sweep spec naming a model file (model.file) as its base
# model: an ONNX file exported by deepsigns and one exported by PyTorch, on real
# mpirun ranks. The base rows give the accuracy `deepsigns eval` gives on the
# same file; the marks are embedded and claimed; attacks and nulls run (null
# models: the file's architecture trained from scratch); 1 rank and 3 ranks give
# the same table; a changed file is refused on resume; bad files are refused
# before any cell runs, naming the spec and the file.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/sweeplib.sh"
fmnist_workdir 3000 1000
MPI="mpirun --oversubscribe"

"$DS_BIN" train --arch mnist-mlp --hidden 64 --epochs 3 --data d $Q -o m.h5 >/dev/null
"$DS_BIN" export m.h5 -o ours.onnx >/dev/null
mkdir -p nets
$PY "$DS_TESTS_FIXTURES/make_onnx_nets.py" nets d/t10k-images-idx3-ubyte >/dev/null 2>&1
check fixtures_made test -s ours.onnx -a -s nets/mlp.onnx

# spec FILE MODEL LAYER NULLS: a short sweep on MODEL (a path relative to the spec)
spec() {
  cat >"$1" <<EOF
name: filemodel
seed: 5
data: {dir: d}
model: {file: $2}
train: {epochs: 1}
seeds: [1, 2]
nulls: $4
watermarks:
  whitebox: {bits: 16, targets: 2, epochs: 5, keys_per_class: 20, layer: "$3"}
  blackbox: {keys: 10, epochs: 2}
attacks:
  - kind: prune
    scope: layer
    rate: [0.3]
  - kind: permute
EOF
}

# rows_check H5 ACC: base rows at accuracy ACC, every row done, marks claimed,
# the attacks and nulls present
rows_check() {
  $PY - "$1" "$2" <<'PYEOF'
import sys, h5py
c = h5py.File(sys.argv[1], "r")["cells"][()]
want = float(sys.argv[2])
k = lambda r: r["kind"].decode()
bad = [r["id"] for r in c if r["status"].decode() != "done"]
if bad: sys.exit(f"{len(bad)} rows not done: {[ (r['kind'], r['reason']) for r in c if r['status'].decode() != 'done'][:3]}")
base = [r for r in c if k(r) == "train" and r["acc_before"] != r["acc_before"] and abs(r["acc_after"] - want) < 1e-4]
embeds = [r for r in c if k(r) == "embed"]
owned = [r for r in embeds if r["owned"] == 1]
attacks = {r["attack"].decode() for r in c if k(r) == "attack"}
nulls = [r for r in c if k(r) == "null"]
print(f"base {len(base)} embeds {len(embeds)} owned {len(owned)} attacks {sorted(attacks)} nulls {len(nulls)}",
      [(r["scheme"].decode(), r["seed"], float(r["ber"]), int(r["mismatches"])) for r in embeds if r["owned"] != 1])
if len(base) < 2 or len(embeds) != 4 or len(owned) != 4 or attacks != {"prune", "permute"}:
    sys.exit("unexpected rows")
PYEOF
}

# 1. deepsigns' own export, nulls trained from its architecture
acc=$("$DS_BIN" eval ours.onnx --data d --json | $PY -c 'import json,sys; print(json.load(sys.stdin)["accuracy"])')
spec ours.yaml ours.onnx relu_2 1
$MPI -np 3 "$DS_BIN" sweep ours.yaml -o ours3.h5 --quiet >ours3.log 2>&1
check file_model_sweep_np3 test $? -eq 0
out=$(rows_check ours3.h5 "$acc" 2>&1) && pass "file_model_rows ($out)" || fail file_model_rows "$out"
"$DS_BIN" sweep ours.yaml -o ours1.h5 --quiet >ours1.log 2>&1
out=$(compare ours1.h5 ours3.h5 2>&1) && pass file_model_np1_equals_np3 || fail file_model_np1_equals_np3 "$out"
nulls=$($PY -c 'import h5py,sys; c=h5py.File(sys.argv[1],"r")["cells"][()]; print(sum(r["kind"]==b"null" for r in c))' ours3.h5)
check file_model_nulls_ran test "$nulls" -ge 4

# 2. a PyTorch export (torch.onnx.export), layer by its ONNX name, no nulls
acc=$("$DS_BIN" eval nets/mlp.onnx --data d --json | $PY -c 'import json,sys; print(json.load(sys.stdin)["accuracy"])')
spec torch.yaml nets/mlp.onnx /2/Relu 0
$MPI -np 3 "$DS_BIN" sweep torch.yaml -o torch.h5 --quiet >torch.log 2>&1
check torch_model_sweep test $? -eq 0
out=$(rows_check torch.h5 "$acc" 2>&1) && pass "torch_model_rows ($out)" || fail torch_model_rows "$out"

# 3. the model file changed under a results file: refused on resume, file intact
cp ours3.h5 keep.h5
cp m.h5 ours.onnx # another model (ours, HDF5) under the same name
expect_error resume_changed_model "model.file" "$DS_BIN" sweep ours.yaml -o ours3.h5 --resume --quiet
check resume_changed_model_file_intact cmp -s ours3.h5 keep.h5
"$DS_BIN" export m.h5 -o ours.onnx >/dev/null

# 4. bad model files: named with the spec, exit 2, nothing written
spec missing.yaml nosuch.onnx relu_2 0
expect_error missing_model_file "missing.yaml:4: model.file: " "$DS_BIN" sweep missing.yaml -o x.h5 --quiet
echo "not a model" >text.onnx
spec text.yaml text.onnx relu_2 0
expect_error text_model_file "model.file" "$DS_BIN" sweep text.yaml -o x.h5 --quiet
head -c 300 ours.onnx >cut.onnx
spec cut.yaml cut.onnx relu_2 0
expect_error truncated_model_file "cut.onnx" "$DS_BIN" sweep cut.yaml -o x.h5 --quiet
/usr/bin/python3 "$DS_TESTS_FIXTURES/make_cifar.py" c 50 1
"$DS_BIN" train --arch cifar10-cnn --epochs 1 --data c $Q -o cifar.h5 >/dev/null
spec shape.yaml cifar.h5 relu_2 0
expect_error model_input_does_not_fit "expects 3x32x32" "$DS_BIN" sweep shape.yaml -o x.h5 --quiet
spec layer.yaml ours.onnx nosuch 0
expect_error model_layer_missing "'nosuch' is not a hidden layer" "$DS_BIN" sweep layer.yaml -o x.h5 --quiet
check bad_files_wrote_nothing test ! -e x.h5

finish
