#!/bin/bash
# test_faults.sh - faults during a sweep, each with what must survive it:
#  - a cell whose training hits NaN is recorded as failed with the reason, the
#    other cells run, 1 rank and 3 ranks agree; a cell whose parent failed is
#    recorded as failed, naming the parent;
#  - a full disk (a 6 MiB tmpfs in a private mount namespace) stops the sweep
#    with a clear error, the results file keeps its last commit and no
#    temporary file is left; --resume elsewhere completes it, bit-identical to
#    an undisturbed run; a model file being replaced on a full disk is kept;
#  - an unwritable location (missing directory, a file as directory, a
#    read-only file system) is refused before any cell runs;
#  - a results file cut short is detected by --resume, which refuses with a
#    clear message and leaves the file as it was.
# (SIGKILL and SIGTERM during a sweep are in test_sweep.sh.)
cd "$(dirname "$0")/../.." || exit 1
. tests/sh/lib.sh
. tests/sh/sweeplib.sh
MPI="mpirun --oversubscribe"
DATA=/usr/share/datasets/fashion-mnist

# spec NAME TRAIN_EXTRA: 4 cells (train, black-box embed, a fine-tuning attack
# at learning rate 10 on batches of 8, which diverges, and a pruning attack)
spec() {
  cat > "$TMP/$1.yaml" <<EOF
name: $1
seed: 7
data: {dir: $DATA, train_limit: 3000, test_limit: 1000}
model: {arch: mnist-mlp}
train: {epochs: 2$2}
seeds: [1]
nulls: 0
watermarks:
  blackbox: {keys: 10, epochs: 1}
attacks:
  - {kind: finetune, mode: ftal, epochs: [3], lr: 10, batch: 8}
  - {kind: prune, scope: layer, rate: [0.5]}
EOF
}

# cells FILE: one line per row, "kind/attack/status/reason"
cells() {
  $PY -c '
import h5py, sys
for r in h5py.File(sys.argv[1], "r")["cells"][()]:
    print("/".join(r[k].decode() for k in ("kind", "attack", "status", "reason")))' "$1"
}

# ---- a cell that hits NaN
spec nan ""
$DS_BIN sweep "$TMP/nan.yaml" -o "$TMP/nan1.h5" --quiet > "$TMP/nan1.log" 2>&1
rc1=$?
$MPI -np 3 $DS_BIN sweep "$TMP/nan.yaml" -o "$TMP/nan3.h5" --quiet > "$TMP/nan3.log" 2>&1
rc3=$?
# the step and the sign of the NaN depend on the BLAS kernels: matched loosely
diverged='training diverged at epoch 1 step [0-9]* (loss -*nan); try a smaller learning rate'
t=$(cells "$TMP/nan3.h5" 2>&1)
want="train//done/
embed//done/
attack/finetune/failed/$diverged
attack/prune/done/"
[ $rc1 -eq 0 ] && [ $rc3 -eq 0 ] && printf '%s\n' "$t" | grep -qx -- "$(printf '%s\n' "$want" | sed -n 3p)" \
  && [ "$(printf '%s\n' "$t" | sed 3d)" = "$(printf '%s\n' "$want" | sed 3d)" ] \
  && [ "$(attr "$TMP/nan3.h5" status)" = complete ] \
  && grep -q "4 cells: 3 done, 1 failed" "$TMP/nan3.log" && pass nan_cell_recorded_failed \
  || fail nan_cell_recorded_failed "exit $rc1/$rc3; cells: $t; $(tail -2 "$TMP/nan3.log")"
out=$(compare "$TMP/nan1.h5" "$TMP/nan3.h5" 2>&1) && pass nan_cell_np1_equals_np3 || fail nan_cell_np1_equals_np3 "$out"

# ---- a parent that fails: training the base model diverges
spec parent ", lr: 10, batch: 8"
$MPI -np 3 $DS_BIN sweep "$TMP/parent.yaml" -o "$TMP/parent.h5" --quiet > "$TMP/parent.log" 2>&1
rc=$?
t=$(cells "$TMP/parent.h5" 2>&1)
train_id=$($PY -c 'import h5py,sys; print(h5py.File(sys.argv[1],"r")["cells"][0]["id"].decode())' "$TMP/parent.h5")
embed_id=$($PY -c 'import h5py,sys; print(h5py.File(sys.argv[1],"r")["cells"][1]["id"].decode())' "$TMP/parent.h5")
want="embed//failed/cell $train_id, which it needs, failed
attack/finetune/failed/cell $embed_id, which it needs, failed
attack/prune/failed/cell $embed_id, which it needs, failed"
[ $rc -eq 0 ] && printf '%s\n' "$t" | sed -n 1p | grep -qx -- "train//failed/$diverged" \
  && [ "$(printf '%s\n' "$t" | sed 1d)" = "$want" ] && pass failed_parent_recorded \
  || fail failed_parent_recorded "exit $rc; cells: $t"

# ---- full disk, unwritable locations: a private mount namespace with tmpfs
# mounts (as root; otherwise in a user namespace mapping us to root)
MNT="$TMP/mnt"
mkdir -p "$MNT/full" "$MNT/ro" "$TMP/out"
ns() { unshare --mount "$@" 2>/dev/null || unshare --user --map-root-user --mount "$@"; }
if ! ns true; then
  fail full_disk "cannot make a mount namespace (unshare --mount) to mount a small tmpfs"
else
  make_idx_subset "$DATA" "$TMP/data" 600 200
  $DS_BIN train --arch mnist-mlp --epochs 1 --data "$TMP/data" -o "$TMP/model.h5" --quiet > /dev/null 2>&1 \
    || fail train_fixture "train failed"
  # inside: the sweep on a 4 MiB file system (the first model, 2.7 MB, fits in
  # the blob store, the second does not); then a model file replaced on a
  # 4 MiB one that holds the old file but not a second copy; then a read-only one
  ns bash -c '
    set -u
    mount -t tmpfs -o size=4m tmpfs "$1/full" || exit 90
    "$2" sweep "$3/nan.yaml" -o "$1/full/r.h5" --quiet > "$3/full.log" 2>&1
    echo $? > "$3/full.rc"
    { ls -A "$1/full"; ls -A "$1/full/r.h5.blobs" | grep -vcxE "[0-9a-f]{64}"; } > "$3/full.ls"
    cp -r "$1/full/r.h5" "$1/full/r.h5.blobs" "$3/out/"
    umount "$1/full"
    mount -t tmpfs -o size=4m tmpfs "$1/full" || exit 90
    cp "$3/model.h5" "$1/full/m.h5"
    "$2" train --arch mnist-mlp --epochs 1 --seed 2 --data "$3/data" -o "$1/full/m.h5" --quiet > "$3/train.log" 2>&1
    echo $? > "$3/train.rc"
    cp "$1/full/m.h5" "$3/out/m.h5"
    ls -A "$1/full" > "$3/train.ls"
    mount -t tmpfs -o ro tmpfs "$1/ro" || exit 90
    "$2" sweep "$3/nan.yaml" -o "$1/ro/r.h5" --quiet > "$3/ro.log" 2>&1
    echo $? > "$3/ro.rc"
  ' ns "$MNT" "$DS_BIN" "$TMP"
  rc=$?
  if [ $rc -ne 0 ]; then
    fail full_disk "the mount namespace script failed (exit $rc)"
  else
    kept=$(rows "$TMP/out/r.h5")
    [ "$kept" = 1 ] && kept="1 row" || kept="$kept rows"
    want="deepsigns sweep: error: $MNT/full/r.h5.blobs/"
    tail2="No space left on device; $MNT/full/r.h5 keeps its last commit ($kept): make room (or fix the location), then run again with --resume"
    msg=$(cat "$TMP/full.log")
    case "$msg" in
      "$want"*": cannot write $MNT/full/r.h5.blobs/"*".tmp."*"$tail2") [ "$(cat "$TMP/full.rc")" = 2 ] && pass full_disk_clear_error \
                          || fail full_disk_clear_error "exit $(cat "$TMP/full.rc")" ;;
      *) fail full_disk_clear_error "exit $(cat "$TMP/full.rc"): $msg" ;;
    esac
    # the results file and its blob store, which holds no temporary file
    [ "$(cat "$TMP/full.ls")" = "$(printf 'r.h5\nr.h5.blobs\n0')" ] && pass full_disk_no_temp_left \
      || fail full_disk_no_temp_left "$(cat "$TMP/full.ls")"
    # the file is a complete earlier commit: some cells, each done, status
    # incomplete (the small table still fits where the model did not)
    t=$(cells "$TMP/out/r.h5" 2>&1)
    n=$(rows "$TMP/out/r.h5")
    [ "$n" -ge 1 ] && [ "$n" -lt 4 ] && [ "$(printf '%s\n' "$t" | grep -c '/done/$')" = "$n" ] \
      && [ "$(attr "$TMP/out/r.h5" status)" = incomplete ] \
      && pass full_disk_file_intact || fail full_disk_file_intact "cells: $t"
    $DS_BIN sweep "$TMP/nan.yaml" -o "$TMP/out/r.h5" --resume --quiet > "$TMP/full-resume.log" 2>&1
    rc=$?
    out=$(compare "$TMP/nan1.h5" "$TMP/out/r.h5" 2>&1)
    crc=$?
    [ $rc -eq 0 ] && [ $crc -eq 0 ] && grep -q "$n already there" "$TMP/full-resume.log" \
      && pass full_disk_resume_completes || fail full_disk_resume_completes "exit $rc: $out $(cat "$TMP/full-resume.log")"

    msg=$(cat "$TMP/train.log")
    case "$msg" in
      *"$MNT/full/m.h5"*"No space left on device"*)
        [ "$(cat "$TMP/train.rc")" != 0 ] && pass full_disk_model_clear_error \
          || fail full_disk_model_clear_error "exit 0" ;;
      *) fail full_disk_model_clear_error "exit $(cat "$TMP/train.rc"): $msg" ;;
    esac
    cmp -s "$TMP/model.h5" "$TMP/out/m.h5" && [ "$(cat "$TMP/train.ls")" = m.h5 ] \
      && pass full_disk_old_model_kept || fail full_disk_old_model_kept "$(cat "$TMP/train.ls")"

    [ "$(cat "$TMP/ro.rc")" = 2 ] && grep -qx "deepsigns sweep: error: -o $MNT/ro/r.h5: directory $MNT/ro is not writable (Read-only file system)" "$TMP/ro.log" \
      && pass readonly_location_refused || fail readonly_location_refused "exit $(cat "$TMP/ro.rc"): $(cat "$TMP/ro.log")"
  fi
fi

# ---- unwritable locations, without namespaces
expect_error missing_dir_refused "-o $TMP/no/such/dir/r.h5: directory $TMP/no/such/dir does not exist" \
  $DS_BIN sweep "$TMP/nan.yaml" -o "$TMP/no/such/dir/r.h5" --quiet
: > "$TMP/afile"
expect_error file_as_dir_refused "-o $TMP/afile/r.h5: $TMP/afile is not a directory" \
  $DS_BIN sweep "$TMP/nan.yaml" -o "$TMP/afile/r.h5" --quiet

# ---- a results file cut short (a copy interrupted, a disk fault)
cp "$TMP/nan1.h5" "$TMP/cut.h5"
truncate -s $(( $(stat -c %s "$TMP/cut.h5") / 2 )) "$TMP/cut.h5"
sum=$(md5sum < "$TMP/cut.h5")
expect_error cut_file_refused "deepsigns sweep: error: $TMP/cut.h5: not a readable results file (truncated or damaged?): " \
  $DS_BIN sweep "$TMP/nan.yaml" -o "$TMP/cut.h5" --resume --quiet
[ "$(md5sum < "$TMP/cut.h5")" = "$sum" ] && [ ! -e "$TMP/cut.h5.lock" ] && pass cut_file_left_as_is || fail cut_file_left_as_is
finish
