#!/usr/bin/env bash
# test_badinput.sh - bad input at the command line (docs/bad-input.md): each
# refusal exits 2 with one exact message line naming the file and what is wrong,
# and leaves an existing output file (-o) byte for byte as it was. Tiny fixtures
# (a 600-image Fashion-MNIST subset, 16-unit MLPs) built in $TMP; runs in seconds.
. "$(dirname "$0")/lib.sh"
DS_BIN=$(readlink -f "$DS_BIN")
export OMPI_ALLOW_RUN_AS_ROOT=${OMPI_ALLOW_RUN_AS_ROOT:-1} OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=${OMPI_ALLOW_RUN_AS_ROOT_CONFIRM:-1}
export OMPI_MCA_btl=${OMPI_MCA_btl:-self,vader} OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
FM=/usr/share/datasets/fashion-mnist
cd "$TMP" || exit 1
Q="--quiet --threads 1"

# refused NAME LINE CMD...: expect_line, and the existing output file keep.h5
# (every command here writes -o keep.h5) is left byte for byte as it was
refused() {
  local name=$1 before
  before=$(md5sum < keep.h5)
  expect_line "$@"
  if [ "$(md5sum < keep.h5)" = "$before" ]; then pass "${name}_output_kept"
  else fail "${name}_output_kept" "keep.h5 changed"; fi
}

# ---------------------------------------------------------------- fixtures
make_idx_subset "$FM" d 600 200
"$DS_BIN" train --arch mnist-mlp --hidden 16 --epochs 1 $Q --data d -o m.h5 >/dev/null
"$DS_BIN" train --arch mnist-mlp --hidden 16 --dropout 0 --epochs 1 $Q --data d -o m0.h5 >/dev/null
"$DS_BIN" train --arch mnist-mlp --hidden 24 --epochs 1 $Q --data d -o m24.h5 >/dev/null
"$DS_BIN" embed --scheme blackbox m.h5 --keys 5 --epochs 1 $Q --data d --key bb.key -o bb.h5 >/dev/null
"$DS_BIN" embed --scheme blackbox m.h5 --keys 5 --epochs 1 --seed 9 $Q --data d --key other.key -o other.h5 >/dev/null
# wb.key has no reference (--probes 0): a layer of another width is then refused
"$DS_BIN" embed --scheme whitebox m.h5 --bits 8 --keys-per-class 5 --probes 0 --epochs 1 $Q --data d --json \
  --key wb.key -o wb.h5 >wb.json
"$DS_BIN" embed --scheme whitebox m.h5 --layer dropout_1 --bits 8 --keys-per-class 5 --epochs 1 $Q \
  --data d --json --key drop.key -o drop.h5 >drop.json
cp m.h5 keep.h5
check fixtures test -s bb.key -a -s other.key -a -s wb.key -a -s drop.key -a -s m0.h5 -a -s m24.h5
wb_commit=$(json_get wb.json commitment)
drop_commit=$(json_get drop.json commitment)

# Broken copies: data directories, CIFAR-10 batches, model files.
$PY - <<'PYEOF'
import os, shutil
import h5py, numpy as np

def data_variant(name, fn):
    shutil.copytree("d", name)
    fn(name)

def patch(path, at, raw):
    b = bytearray(open(path, "rb").read())
    b[at:at + len(raw)] = raw
    open(path, "wb").write(bytes(b))

be = lambda v: v.to_bytes(4, "big")
data_variant("d_magic", lambda d: patch(d + "/train-images-idx3-ubyte", 0, be(0x903)))
def overflow(d):  # 2^32 - 1 images of 4096 x 4096: 2^56 bytes announced
    patch(d + "/train-images-idx3-ubyte", 4, be(0xFFFFFFFF) + be(4096) + be(4096))
    patch(d + "/train-labels-idx1-ubyte", 4, be(0xFFFFFFFF))
data_variant("d_overflow", overflow)
def truncate(d):
    p = d + "/t10k-images-idx3-ubyte"
    open(p, "r+b").truncate(os.path.getsize(p) - 100)
data_variant("d_trunc", truncate)
data_variant("d_label", lambda d: patch(d + "/train-labels-idx1-ubyte", 8 + 17, bytes([10])))
def count(d):
    p = d + "/train-labels-idx1-ubyte"
    patch(p, 4, be(599))
    open(p, "r+b").truncate(os.path.getsize(p) - 1)
data_variant("d_count", count)

rec = 3073
os.makedirs("c10")
for i in range(1, 6):
    open(f"c10/data_batch_{i}.bin", "wb").write(bytes(rec * 4))
open("c10/test_batch.bin", "wb").write(bytes(rec * 4))
shutil.copytree("c10", "c10_short")
open("c10_short/data_batch_3.bin", "r+b").truncate(rec * 4 - 7)
shutil.copytree("c10", "c10_empty")
open("c10_empty/test_batch.bin", "wb").close()

def model_variant(name, src, fn):
    shutil.copy(src, name)
    with h5py.File(name, "r+") as f:
        fn(f)

def replace(f, name, data):
    del f[name]
    f.create_dataset(name, data=data)

model_variant("shape.h5", "m.h5", lambda f: replace(f, "params/dense_1.W", np.zeros((784, 15), np.float32)))
model_variant("classes.h5", "m.h5", lambda f: f.attrs.modify("classes", np.int32(12)))
model_variant("big.h5", "m.h5", lambda f: f.attrs.modify("hidden", np.int32(15000)))
model_variant("huge.h5", "m.h5", lambda f: f.attrs.modify("hidden", np.int32(16000)))
def wide(f):
    for k, v in (("in_c", 4), ("in_h", 1024), ("in_w", 1024)):
        f.attrs.modify(k, np.int32(v))
model_variant("wide.h5", "m.h5", wide)
model_variant("extra.h5", "m.h5", lambda f: f["params"].create_dataset("dense_4.W", data=np.zeros((3, 3), np.float32)))
# The marked model with 12 outputs (two new, zero), or taking 1x14x56 inputs
# (the same 784 pixels): its stored commitment still matches bb.key.
def twelve(f):
    f.attrs.modify("classes", np.int32(12))
    w, b = f["params/dense_3.W"][()], f["params/dense_3.b"][()]
    replace(f, "params/dense_3.W", np.concatenate([w, np.zeros((w.shape[0], 2), np.float32)], 1))
    replace(f, "params/dense_3.b", np.concatenate([b, np.zeros(2, np.float32)]))
model_variant("bb12.h5", "bb.h5", twelve)
def reshaped(f):
    f.attrs.modify("in_h", np.int32(14))
    f.attrs.modify("in_w", np.int32(56))
model_variant("bbin.h5", "bb.h5", reshaped)
PYEOF

DIRS="expected a directory of IDX files train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte (each optionally .gz) or of CIFAR-10 files data_batch_1.bin .. data_batch_5.bin and test_batch.bin"
MLP="arch mnist-mlp, in_c 1, in_h 28, in_w 28"
ARCH="for the architecture its attributes describe"
TR="train --arch mnist-mlp --hidden 16 --epochs 1 $Q -o keep.h5 --data"

# ---------------------------------------------------------------- (a) experiment specs
BASE='name: x
model: {arch: mnist-mlp}
seeds: [1]
watermarks: {blackbox: {}}'
spec() { printf '%s\n%s\n' "$BASE" "$2" > "$1"; }
printf 'name: x\nseeds: [1, 2\n' > syntax.yaml
spec unknown.yaml 'trian: {epochs: 1}'
spec type.yaml 'train: {epochs: five}'
spec rate.yaml 'attacks:
  - {kind: prune, rate: [0.5, 1]}'
spec epochs.yaml 'train: {epochs: -1}'
spec keys.yaml 'attacks:
  - {kind: overwrite, keys: 20000}'
spec nodir.yaml 'data: {dir: no-such-dir}'
SW="sweep --quiet -o keep.h5"
refused spec_malformed_yaml "deepsigns sweep: error: syntax.yaml:3: YAML syntax error: flow sequence without a closing bracket" "$DS_BIN" $SW syntax.yaml
refused spec_unknown_key "deepsigns sweep: error: unknown.yaml:5: trian: unknown key (expected name, seed, data, model, train, seeds, nulls, watermarks, attacks)" "$DS_BIN" $SW unknown.yaml
refused spec_wrong_type "deepsigns sweep: error: type.yaml:5: train.epochs: expected an integer, got 'five'" "$DS_BIN" $SW type.yaml
refused spec_attack_rate_1 "deepsigns sweep: error: rate.yaml:6: attacks[0].rate[1]: 1 is out of range [0, 1)" "$DS_BIN" $SW rate.yaml
refused spec_negative_epochs "deepsigns sweep: error: epochs.yaml:5: train.epochs: -1 is out of range [0, 100000]" "$DS_BIN" $SW epochs.yaml
refused spec_attacker_keys "deepsigns sweep: error: keys.yaml:6: attacks[0].keys: 20000 is out of range [1, 10000]" "$DS_BIN" $SW keys.yaml
refused spec_missing_file "deepsigns sweep: error: none.yaml: cannot open: No such file or directory" "$DS_BIN" $SW none.yaml
# a black-box mark with too few keys to ever be shown (the sweep's K is checked in test_spec)
refused embed_too_few_keys "deepsigns embed: error: --keys 3: 3 keys are too few for a 10-class model at alpha 0.0001: even 0 mismatches has p-value 0.001, so ownership could never be shown (4 or more are needed)" \
  "$DS_BIN" embed --scheme blackbox m.h5 --keys 3 $Q --data d --key k3.key -o keep.h5
check embed_too_few_keys_no_key test ! -e k3.key

# ---------------------------------------------------------------- (b) missing data directory
refused train_missing_data_dir "deepsigns train: error: no-such-dir: data directory not found (No such file or directory); $DIRS" "$DS_BIN" $TR no-such-dir
refused train_data_dir_is_a_file "deepsigns train: error: d/t10k-images-idx3-ubyte: not a directory (a file); $DIRS" "$DS_BIN" $TR d/t10k-images-idx3-ubyte
mkdir empty
refused train_data_dir_empty "deepsigns train: error: empty: missing IDX file train-images-idx3-ubyte (looked for train-images-idx3-ubyte[.gz] and train-images.idx3-ubyte[.gz]; an IDX directory holds train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte (each optionally .gz); no data_batch_1.bin for CIFAR-10 either)" "$DS_BIN" $TR empty
refused sweep_missing_data_dir "deepsigns sweep: error: nodir.yaml: data.dir: no-such-dir: data directory not found (No such file or directory); $DIRS" "$DS_BIN" $SW nodir.yaml
# what the spec asks of the data is checked once the data's classes are known, before any cell
printf 'name: x\nmodel: {arch: mnist-mlp}\nseeds: [1]\ndata: {dir: d}\nwatermarks: {whitebox: {targets: 11}}\n' > targets.yaml
printf 'name: x\nmodel: {arch: mnist-mlp}\nseeds: [1]\ndata: {dir: d}\nwatermarks: {blackbox: {keys: [20, 3]}}\n' > fewkeys.yaml
refused sweep_targets_over_classes "deepsigns sweep: error: targets.yaml: watermarks.whitebox.targets: 11 is more than the 10 classes of d" "$DS_BIN" $SW targets.yaml
refused sweep_too_few_keys "deepsigns sweep: error: fewkeys.yaml: watermarks.blackbox.keys: 3 keys are too few for a 10-class model at alpha 0.0001: even 0 mismatches has p-value 0.001, so ownership could never be shown (4 or more are needed)" "$DS_BIN" $SW fewkeys.yaml

# ---------------------------------------------------------------- (c) IDX files
refused idx_bad_magic "deepsigns train: error: d_magic/train-images-idx3-ubyte: bad magic 0x00000903 (expected 0x00000803 for an IDX image file)" "$DS_BIN" $TR d_magic
refused idx_overflowing_dims "deepsigns train: error: d_overflow/train-images-idx3-ubyte: truncated: expected 72057594021150720 bytes of pixel data, got 470400 (its header announces 4294967295 images of 4096x4096)" "$DS_BIN" $TR d_overflow
refused idx_truncated "deepsigns train: error: d_trunc/t10k-images-idx3-ubyte: truncated: expected 156800 bytes of pixel data, got 156700 (its header announces 200 images of 28x28)" "$DS_BIN" $TR d_trunc
refused idx_label_out_of_range "deepsigns train: error: d_label/train-labels-idx1-ubyte: label out of range at index 17: 10 (expected 0..9)" "$DS_BIN" $TR d_label
refused idx_count_mismatch "deepsigns train: error: count mismatch: d_count/train-images-idx3-ubyte has 600 images but d_count/train-labels-idx1-ubyte has 599 labels" "$DS_BIN" $TR d_count

# ---------------------------------------------------------------- (d) CIFAR-10 batches
check cifar_fixture_loads sh -c "'$DS_BIN' train --arch mnist-mlp --hidden 16 --epochs 1 $Q --data c10 -o c10.h5 >/dev/null"
refused cifar_wrong_size "deepsigns train: error: c10_short/data_batch_3.bin: wrong size: 12285 bytes is not a multiple of 3073 (1 label byte + 3072 pixel bytes per CIFAR-10 record): 3 records and 3066 bytes more; truncated, or not a CIFAR-10 binary batch" "$DS_BIN" $TR c10_short
refused cifar_empty "deepsigns train: error: c10_empty/test_batch.bin: wrong size: the file is empty (a CIFAR-10 batch holds records of 3073 bytes: 1 label byte + 3072 pixel bytes)" "$DS_BIN" $TR c10_empty

# ---------------------------------------------------------------- (e) model files
expect_line model_tensor_shape "deepsigns eval: error: shape.h5: /params/dense_1.W has shape 784x15, expected 784x16 $ARCH ($MLP, classes 10, hidden 16)" "$DS_BIN" eval shape.h5 --data d
expect_line model_attribute_inconsistent "deepsigns info: error: classes.h5: /params/dense_3.W has shape 16x10, expected 16x12 $ARCH ($MLP, classes 12, hidden 16)" "$DS_BIN" info classes.h5
expect_line model_attributes_not_backed "deepsigns eval: error: big.h5: /params/dense_1.W has shape 784x16, expected 784x15000 $ARCH ($MLP, classes 10, hidden 15000)" "$DS_BIN" eval big.h5 --data d
expect_line model_extra_tensor "deepsigns eval: error: extra.h5: /params/dense_4.W is not a trainable tensor of the architecture its attributes describe ($MLP, classes 10, hidden 16): a file for another architecture or options?" "$DS_BIN" eval extra.h5 --data d
refused model_too_many_params "deepsigns attack: error: huge.h5: model layout: the model has too many parameters (in mnist-mlp with input 1x28x28, 10 classes, hidden 16000; last layer laid out: dense_2, 16000x1x1)" "$DS_BIN" attack --kind noise --sigma 0.1 huge.h5 $Q --data d -o keep.h5
refused model_absurd_shape "deepsigns attack: error: wide.h5: model layout: a layer output shape is empty or absurd (in mnist-mlp with input 4x1024x1024, 10 classes, hidden 16; last layer laid out: input, 4x1024x1024)" "$DS_BIN" attack --kind noise --sigma 0.1 wide.h5 $Q --data d -o keep.h5
refused embed_bad_model "deepsigns embed: error: shape.h5: /params/dense_1.W has shape 784x15, expected 784x16 $ARCH ($MLP, classes 10, hidden 16)" "$DS_BIN" embed --scheme blackbox shape.h5 $Q --data d --key k4.key -o keep.h5
expect_line model_for_other_data "deepsigns eval: error: bbin.h5 on d: data samples are 1x28x28 but model mnist-mlp expects 1x14x56" "$DS_BIN" eval bbin.h5 --data d
# a refused input model leaves no key file behind
check embed_bad_model_no_key test ! -e k4.key

# ---------------------------------------------------------------- (f) keys for another model
V="$DS_BIN verify"
expect_line verify_wb_layer_missing "deepsigns verify: error: m0.h5 with key drop.key: the key does not fit this model: layer 'dropout_1' is not a hidden layer of mnist-mlp (see deepsigns info)" $V m0.h5 --key drop.key --commitment "$drop_commit"
expect_line verify_wb_width "deepsigns verify: error: m24.h5 with key wb.key: the key does not fit this model: layer relu_2 has width 24, the key expects 16 (the key holds no reference to realign it with)" $V m24.h5 --key wb.key --commitment "$wb_commit"
expect_line verify_bb_classes "deepsigns verify: error: bb12.h5 with key bb.key: the key is for a 10-class model but the model has 12 classes" $V bb12.h5 --key bb.key
expect_line verify_bb_input_shape "deepsigns verify: error: bbin.h5 with key bb.key: the key images are 1x28x28 but the model takes 1x14x56" $V bbin.h5 --key bb.key
other_commit=$($PY -c 'import h5py; v = h5py.File("other.h5", "r").attrs["commitment_blackbox"]; print(v.decode() if isinstance(v, bytes) else v)')
expect_line verify_other_owner "deepsigns verify: error: bb.h5 with key other.key: the key's commitment $other_commit matches no commitment: not the one stored in the model and none was given with --commitment; refusing the claim (give the one you published before the dispute with --commitment)" $V bb.h5 --key other.key
bb_commit=$($PY -c 'import h5py; v = h5py.File("bb.h5", "r").attrs["commitment_blackbox"]; print(v.decode() if isinstance(v, bytes) else v)')
expect_line verify_foreign_key_no_commitment "deepsigns verify: error: m.h5 with key bb.key: the key's commitment $bb_commit matches no commitment: none is stored in the model and none was given with --commitment; refusing the claim (give the one you published before the dispute with --commitment)" $V m.h5 --key bb.key
expect_line verify_model_as_key "deepsigns verify: error: m.h5: not a deepsigns key file (attribute 'magic' is 'DEEPSIGNS-MODEL', expected 'DEEPSIGNS-KEY'); it is a model file, not a key" $V bb.h5 --key m.h5
expect_line verify_missing_key "deepsigns verify: error: none.key: cannot open: No such file or directory" $V bb.h5 --key none.key

# attack --key: the key is checked as verify checks it (it must load, fit the
# model and match its commitment) before any work; a refusal leaves -o as it was
attack_key() {
  local name=$1 want=$2; shift 2
  cp m.h5 keep.h5
  local before rc
  before=$(md5sum < keep.h5)
  "$DS_BIN" attack --kind noise --sigma 0.01 --json $Q --data d -o keep.h5 "$@" >/dev/null 2>err.txt
  rc=$?
  [ "$rc" -eq 2 ] && grep -qxF -- "deepsigns attack: error: $want" err.txt && [ "$(md5sum < keep.h5)" = "$before" ] \
    && pass "$name" || fail "$name" "exit $rc: $(cat err.txt)"
}
attack_key attack_wb_layer_missing "m0.h5 with key drop.key: the key does not fit this model: layer 'dropout_1' is not a hidden layer of mnist-mlp (see deepsigns info)" m0.h5 --key drop.key
attack_key attack_wb_width "m24.h5 with key wb.key: the key does not fit this model: layer relu_2 has width 24, the key expects 16 (the key holds no reference to realign it with)" m24.h5 --key wb.key
attack_key attack_missing_key "none.key: cannot open: No such file or directory" bb.h5 --key none.key
attack_key attack_other_owner "bb.h5 with key other.key: the key's commitment $other_commit matches no commitment: not the one stored in the model and none was given with --commitment; refusing the claim (give the one you published before the dispute with --commitment)" bb.h5 --key other.key
attack_key attack_published_commitment_checked "m.h5 with key bb.key: the key's commitment $bb_commit matches no commitment: not the one given with --commitment ($other_commit); refusing the claim (a key must be committed to before the dispute)" m.h5 --key bb.key --commitment "$other_commit"
"$DS_BIN" attack --kind noise --sigma 0.01 $Q --data d -o att.h5 m.h5 --key bb.key --commitment "$bb_commit" >/dev/null 2>err.txt
check attack_published_commitment_accepted test $? -eq 0

# ---------------------------------------------------------------- (g) a key readable by others
chmod 644 bb.key
"$DS_BIN" verify bb.h5 --key bb.key >/dev/null 2>err.txt
rc=$?
if [ "$rc" -ne 2 ] && grep -qxF "deepsigns verify: warning: bb.key is readable or writable by others (chmod 600 it: it holds your secrets)" err.txt
then pass verify_loose_key_warns; else fail verify_loose_key_warns "exit $rc: $(cat err.txt)"; fi
"$DS_BIN" attack --kind noise --sigma 0.01 $Q --data d -o att.h5 bb.h5 --key bb.key >/dev/null 2>err.txt
rc=$?
if [ "$rc" -eq 0 ] && grep -qxF "deepsigns attack: warning: bb.key is readable or writable by others (chmod 600 it: it holds your secrets)" err.txt
then pass attack_loose_key_warns; else fail attack_loose_key_warns "exit $rc: $(cat err.txt)"; fi

# ---------------------------------------------------------------- embed never leaves a key without its model
expect_line embed_key_is_output "deepsigns embed: error: -o and --key name the same file 'same.h5'" "$DS_BIN" embed --scheme blackbox m.h5 $Q --data d --key same.h5 -o same.h5
expect_line embed_key_is_output_by_another_name "deepsigns embed: error: -o ./same.key and --key same.key name the same file (the key file same.key this run wrote was removed)" \
  "$DS_BIN" embed --scheme blackbox m.h5 --keys 5 --epochs 1 $Q --data d --key same.key -o ./same.key
check embed_key_is_output_no_file test ! -e same.key -a ! -e same.h5
"$DS_BIN" embed --scheme blackbox m.h5 --keys 5 --epochs 1 $Q --data d --key orphan.key -o no-such-dir/x.h5 >/dev/null 2>err.txt
rc=$?
want="deepsigns embed: error: -o no-such-dir/x.h5: directory no-such-dir does not exist"
if [ "$rc" -eq 2 ] && [ "$(cat err.txt)" = "$want" ]; then pass embed_unwritable_output
else fail embed_unwritable_output "exit $rc: $(cat err.txt)"; fi
check embed_unwritable_output_no_key test ! -e orphan.key

# ---------------------------------------------------------------- a key file crafted against HDF5
# tests/fixtures/hostile/key-attr-overread.h5 (found by fuzz_key) makes HDF5 1.10.8
# read past an attribute message; whether that faults depends on the heap layout
# (here, on the length of the file's name). Every load is tried in a child process
# first, so each name gives exit 2 and a refusal naming the file, never a crash.
HOSTILE="$OLDPWD/tests/fixtures/hostile/key-attr-overread.h5"
crashes=0 bad=""
for n in a ab abc abcd abcdefgh; do
  cp "$HOSTILE" "$n.h5" && chmod 600 "$n.h5"
  # a sanitizer build reports HDF5's overread in the child: keep that report out of the suite's
  msg=$(ASAN_OPTIONS=log_path=$TMP/child-asan UBSAN_OPTIONS=log_path=$TMP/child-ubsan \
    "$DS_BIN" verify m.h5 --key "$n.h5" 2>&1 > /dev/null)
  rc=$?
  case "$rc:$msg" in
    "2:deepsigns verify: error: $n.h5: reading this key file crashed the reader (signal "*"): the file is damaged or crafted to attack its reader (HDF5 1.10 crashes on some such files); refusing it") crashes=$((crashes + 1)) ;;
    "2:deepsigns verify: error: $n.h5: reading this key file ended abnormally (the reading process exited with status "*"): the file is damaged or crafted to attack its reader; refusing it") crashes=$((crashes + 1)) ;;
    "2:deepsigns verify: error: $n.h5: not a deepsigns key file (attribute 'magic' is '', expected 'DEEPSIGNS-KEY')") ;;
    *) bad="$bad [$n: exit $rc: $msg]" ;;
  esac
done
[ -z "$bad" ] && pass hostile_key_refused || fail hostile_key_refused "$bad"
echo "NOTE hostile_key_refused: HDF5 faulted in the trial reading for $crashes of 5 names"

finish
