#!/bin/bash
# test_resume_integrity.sh - what a sweep's results file keeps private and exact:
#  - its blob store (the models and key files) is 0700 with 0600 files, and a
#    loose one is named by a resume and by the analysis;
#  - it holds key files (/keys), so it is created 0600 under umask 022, stays
#    0600 after --resume (also after the user's own chmod 600), and a --resume of
#    a file opened to others warns and writes it 0600 again; the analysis reader
#    warns about such a file and about one whose status is not complete;
#  - a worker reads the model it needs from the store, checked against its
#    hash (a damaged blob stops the sweep, naming it), and a resume checks at
#    open that every blob the file names is there;
#  - a seed of 2^64-1 round-trips into the /cells seed column (uint64: not
#    negative, not the old -1 "unused" value).
cd "$(dirname "$0")/../.." || exit 1
. tests/sh/lib.sh
. tests/sh/sweeplib.sh
umask 022
make_idx_subset /usr/share/datasets/fashion-mnist "$TMP/data" 1200 100 || exit 1
BIG=18446744073709551615   # 2^64 - 1
cat > "$TMP/s.yaml" <<EOF
name: integrity
seed: 3
data: {dir: $TMP/data}
model: {arch: mnist-mlp}
train: {epochs: 1}
seeds: [$BIG]
nulls: 0
watermarks:
  whitebox: {bits: 8, targets: 1, epochs: 1, keys_per_class: 5}
attacks:
  - {kind: prune, scope: layer, rate: [0.5]}
EOF
R="$TMP/r.h5"
mode() { stat -c %a "$1"; }
sweep() { $DS_BIN sweep "$TMP/s.yaml" -o "$R" --threads 1 --quiet "$@"; }
load() { $PY -c 'import sys; sys.path.insert(0, "analysis"); import resultsfile; resultsfile.load(sys.argv[1])' "$1" 2>&1; }

if sweep > "$TMP/run1.log" 2>&1; then pass sweep_runs; else fail sweep_runs "$(tail -3 "$TMP/run1.log")"; fi
keys=$($PY -c 'import h5py,sys; print(len(h5py.File(sys.argv[1],"r")["keys"]))' "$R" 2>&1)
if [ "$keys" -ge 1 ] 2>/dev/null; then pass file_holds_keys; else fail file_holds_keys "keys: $keys"; fi
m=$(mode "$R")
if [ "$m" = 600 ]; then pass created_0600; else fail created_0600 "mode $m under umask 022"; fi

# --resume keeps 0600, and says nothing about the mode
sweep --resume > "$TMP/run2.log" 2>&1 || fail resume_runs "$(tail -3 "$TMP/run2.log")"
m=$(mode "$R")
if [ "$m" = 600 ] && ! grep -q "secret key material" "$TMP/run2.log"; then pass resume_keeps_0600
else fail resume_keeps_0600 "mode $m; $(cat "$TMP/run2.log")"; fi
chmod 600 "$R"
sweep --resume > "$TMP/run3.log" 2>&1 || fail resume_runs "$(tail -3 "$TMP/run3.log")"
m=$(mode "$R")
if [ "$m" = 600 ]; then pass resume_after_chmod_600; else fail resume_after_chmod_600 "mode $m"; fi

# the blob store beside it holds the key files: 0700, each blob 0600; one
# opened to others is named by a resume and by the analysis
S="$R.blobs"
loose=$(find "$S" -mindepth 1 ! -perm 600 | wc -l)
if [ "$(mode "$S")" = 700 ] && [ "$loose" = 0 ] && [ "$(find "$S" -type f | wc -l)" -ge 2 ]
then pass blob_store_private; else fail blob_store_private "store $(mode "$S"), $loose loose"; fi
one=$(find "$S" -type f | head -1)
chmod 644 "$one"
sweep --resume > "$TMP/run_store.log" 2>&1 || fail resume_runs "$(tail -3 "$TMP/run_store.log")"
w=$(load "$R")
if grep -q "the blob store $S holds secret key material" "$TMP/run_store.log" &&
   [[ "$w" == *"$S: holds secret key material"* ]]
then pass blob_store_loose_warned; else fail blob_store_loose_warned "$(cat "$TMP/run_store.log"); $w"; fi
chmod 600 "$one"

# the analysis reader warns about a file open to others; a resume warns and tightens it
chmod 644 "$R"
w=$(load "$R")
if [[ "$w" == *"holds secret key material but its mode is 644"* ]]; then pass analysis_warns_mode
else fail analysis_warns_mode "stderr: $w"; fi
sweep --resume > "$TMP/run4.log" 2>&1 || fail resume_runs "$(tail -3 "$TMP/run4.log")"
m=$(mode "$R")
if grep -q "sweep: warning: $R may hold secret key material (/keys) but its mode is 644" "$TMP/run4.log" && [ "$m" = 600 ]
then pass resume_warns_and_tightens; else fail resume_warns_and_tightens "mode $m; $(cat "$TMP/run4.log")"; fi
w=$(load "$R")
if [ -z "$w" ]; then pass analysis_quiet_when_private_and_complete
else fail analysis_quiet_when_private_and_complete "stderr: $w"; fi

# an incomplete file: the analysis says so
$PY -c 'import h5py,sys,numpy as np; h5py.File(sys.argv[1],"r+").attrs["status"]=np.bytes_(b"incomplete")' "$R"
w=$(load "$R")
if [[ "$w" == *"status is 'incomplete', not complete"* ]]; then pass analysis_warns_incomplete
else fail analysis_warns_incomplete "stderr: $w"; fi

# a resume that adds a cell (another prune rate, --force) on 3 ranks: the
# worker that runs it reads its parent, the marked model, from the store (no
# image travels over MPI), checked against its hash: a damaged blob stops the
# sweep with the blob's name and nothing is added; a missing one is found when
# the file is opened, before any cell runs, and the file is left as it was
sed 's/rate: \[0.5\]/rate: [0.5, 0.25]/' "$TMP/s.yaml" > "$TMP/s2.yaml"
resume3() { mpirun --oversubscribe -np 3 $DS_BIN sweep "$TMP/s2.yaml" -o "$R" --threads 1 --quiet --resume --force "$@"; }
marked=$($PY -c '
import h5py, sys
f = h5py.File(sys.argv[1], "r")
e = [r["id"].decode() for r in f["cells"][()] if r["kind"] == b"embed"][0]
print(f["models"][e][()].decode())' "$R" 2>&1)
B="$S/$marked"
if [ -f "$B" ]; then
  cp "$B" "$TMP/marked.blob"
  chmod 600 "$B"
  $PY -c 'import sys; p = sys.argv[1]; b = bytearray(open(p, "rb").read()); b[len(b) // 2] ^= 1; open(p, "wb").write(b)' "$B"
  rows0=$(rows "$R")
  resume3 > "$TMP/damaged.log" 2>&1
  rc=$?
  if [ $rc = 2 ] && grep -q "error: .*the blob $B is damaged" "$TMP/damaged.log" && [ "$(rows "$R")" = "$rows0" ]
  then pass worker_refuses_damaged_blob; else fail worker_refuses_damaged_blob "exit $rc, $(rows "$R") rows: $(tail -3 "$TMP/damaged.log")"; fi
  rm "$B"
  cp "$R" "$TMP/before-missing.h5"
  resume3 > "$TMP/missing.log" 2>&1
  rc=$?
  if [ $rc = 2 ] && grep -q "cannot resume: $R: models/.*: the blob $B is not there" "$TMP/missing.log" && cmp -s "$R" "$TMP/before-missing.h5"
  then pass resume_checks_store_at_open; else fail resume_checks_store_at_open "exit $rc: $(tail -3 "$TMP/missing.log")"; fi
  cp "$TMP/marked.blob" "$B"
  chmod 600 "$B"
  resume3 > "$TMP/added.log" 2>&1
  rc=$?
  new=$($PY -c '
import h5py, sys
c = h5py.File(sys.argv[1], "r")["cells"][()]
print([(int(r["rank"]), r["status"].decode()) for r in c if r["kind"] == b"attack" and abs(r["strength"] - 0.25) < 1e-9])' "$R" 2>&1)
  case "$new" in
    "[(1, 'done')]"|"[(2, 'done')]") [ $rc = 0 ] && pass worker_reads_parent_from_store || fail worker_reads_parent_from_store "exit $rc" ;;
    *) fail worker_reads_parent_from_store "exit $rc, rows $new: $(tail -3 "$TMP/added.log")" ;;
  esac
else
  fail worker_reads_parent_from_store "no blob for the marked model: $marked"
fi

# the seed column: uint64, 2^64-1 in every row (train, embed and attack all carry it)
s=$($PY -c '
import h5py, sys
f = h5py.File(sys.argv[1], "r")
t = f["cells"][()]
print(t["seed"].dtype, sorted(set(int(x) for x in t["seed"])), int(f.attrs["format_version"]))' "$R" 2>&1)
if [ "$s" = "uint64 [$BIG] 5" ]; then pass seed_2_64_minus_1_round_trips
else fail seed_2_64_minus_1_round_trips "$s"; fi
finish
