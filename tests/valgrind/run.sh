#!/usr/bin/env bash
# run.sh - every deepsigns command under valgrind memcheck on a tiny model (issue 7).
#
#   BUILD=build-vg bash tests/valgrind/run.sh      (builds nothing: make BUILD=... first;
#                                                    -O1 -g gives the best stacks)
#
# Makes a 300/100-image raw IDX copy of Fashion-MNIST in a temp dir, then runs
# train (a 784-16-16-10 MLP, one epoch), embed (white-box, black-box), eval, attack (every kind, with --key),
# verify (both schemes, plain and --json) and the error paths (wrong key,
# missing files, truncated model and key files) under valgrind, each step
# feeding the next. A command passes when valgrind finds no memory error
# (invalid read/write, uninitialised value, bad free) and no definitely or
# indirectly lost block (possibly lost blocks are printed but do not fail), and
# the command exits with the status it should. One line per command:
# "PASS valgrind_<cmd>" or "FAIL valgrind_<cmd>: <reason>" (tests/sh/lib.sh
# convention); exit status 1 if any failed. Valgrind's logs are kept in
# $VG_LOGDIR (default $BUILD/test-logs/valgrind/), NAME.PID.log (model and key
# files are parsed in a forked child first, src/io/untrusted.c, and memcheck
# follows the fork), with summary.txt: per command its exit status, seconds,
# errors and bytes by leak kind of its process, then summed over its trial
# children (which leave by _exit, their heap "still reachable").
# VG_JOBS (default 2) commands run at once; the lines come out in a fixed order.
# VG_SLOW=1 also runs the slow ones (about 5 more minutes on 2 cores): white-box
# embedding from scratch (--arch: a full-width MLP) and the convolutional layers
# (mnist-cnn, a WRN-10-1: conv, batch norm, pooling, residual adds) through
# train, eval, permute and dummy on a 60/20-image set.
#
# Suppressions: tests/valgrind/deepsigns.supp (each entry says why it is not ours).
# Still-reachable blocks (HDF5's per-thread state of the main thread, freed only
# by thread-exit destructors; a trial child's whole heap) are not reported.
set -u
cd "$(dirname "$0")/../.."
ROOT=$PWD
BUILD=${BUILD:-build}
case $BUILD in /*) DS_BIN=$BUILD/deepsigns ;; *) DS_BIN=$ROOT/$BUILD/deepsigns ;; esac
. tests/sh/lib.sh
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
VG_LOGDIR=${VG_LOGDIR:-${DS_BIN%/deepsigns}/test-logs/valgrind}
SUPP="$ROOT/tests/valgrind/deepsigns.supp"
DATA_SRC=${DS_DATA:-/usr/share/datasets/fashion-mnist}

[ -x "$DS_BIN" ] || { echo "FAIL valgrind_setup: $DS_BIN is missing (make BUILD=$BUILD all)"; exit 1; }
for tool in valgrind h5dump h5ls; do # h5*: hdf5-tools, to damage files at a dataset
  command -v $tool >/dev/null || { echo "FAIL valgrind_setup: $tool is not installed"; exit 1; }
done
VG_JOBS=${VG_JOBS:-2}
mkdir -p "$VG_LOGDIR" && rm -f "$VG_LOGDIR"/*.log "$VG_LOGDIR/summary.txt"
{ make_idx_subset "$DATA_SRC" "$TMP/data" 300 100 &&
  if [ "${VG_SLOW:-0}" = 1 ]; then
    make_idx_subset "$DATA_SRC" "$TMP/data120" 120 40 && make_idx_subset "$DATA_SRC" "$TMP/data60" 60 20
  fi; } ||
  { echo "FAIL valgrind_setup: cannot make the data subset from $DATA_SRC"; exit 1; }
cd "$TMP"

VG=(valgrind --leak-check=full --show-leak-kinds=definite,indirect,possible
    --errors-for-leak-kinds=definite,indirect --error-exitcode=99 --track-origins=yes
    --num-callers=30 --suppressions="$SUPP")
TD=(--threads 1 --data "$TMP/data")
T=("${TD[@]}" --quiet)

# numbers LOG...: "errors definite indirect possible reachable" (bytes), summed
# over the logs of a command (one per process: model and key files are parsed in
# a forked child first, src/io/untrusted.c, which memcheck follows)
numbers() {
  awk '/== ERROR SUMMARY:/ { e += $4 } /definitely lost:/ { gsub(/,/, "", $4); d += $4 }
       /indirectly lost:/ { gsub(/,/, "", $4); i += $4 } /possibly lost:/ { gsub(/,/, "", $4); p += $4 }
       /still reachable:/ { gsub(/,/, "", $4); r += $4 }
       END { print e + 0, d + 0, i + 0, p + 0, r + 0 }' "$@"
}
# summary LOG...: why the logs of a command fail, empty when they are clean
summary() {
  awk '
    /== ERROR SUMMARY:/ { errs += $4; seen = 1 }
    /definitely lost:/  { gsub(/,/, "", $4); def += $4 }
    /indirectly lost:/  { gsub(/,/, "", $4); ind += $4 }
    /possibly lost:/    { gsub(/,/, "", $4); pos += $4 }
    # the first error record and its first frame in our code
    first == "" && /^==[0-9]+== (Invalid|Conditional|Use of uninit|Syscall param|Mismatched|Source and dest|Argument|[0-9,]+ bytes in [0-9,]+ blocks are (definitely|indirectly))/ {
      sub(/^==[0-9]+== /, ""); first = $0; want = 1; next }
    want && /^==[0-9]+== *$/ { want = 0 }   # the record ended with no frame of ours
    want && /^==[0-9]+==    (at|by) .*\(.*\.c:[0-9]+\)/ {
      sub(/^==[0-9]+==    (at|by) 0x[0-9A-F]+: /, ""); first = first " at " $0; want = 0 }
    END {
      if (!seen) print "no valgrind summary (valgrind itself failed?)"
      else if (errs > 0 || def > 0 || ind > 0)
        printf "%d errors, definitely lost %d B, indirectly lost %d B, possibly lost %d B; first: %s\n",
          errs, def, ind, pos, first
    }' "$@"
}

# vg NAME WANT CMD_ARGS...: deepsigns CMD_ARGS under valgrind. WANT is a
# |-separated list of acceptable exit statuses (0|1: a verdict either way),
# optionally followed by ":TEXT", a substring its stderr must contain (so that an
# error path fails for the reason it is meant to exercise).
vg() {
  local name=$1 want=${2%%:*} text=
  [[ "$2" == *:* ]] && text=${2#*:}
  shift 2
  local rc reason t=$SECONDS logs
  "${VG[@]}" --log-file="$VG_LOGDIR/$name.%p.log" "$DS_BIN" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err"
  rc=$?
  logs=("$VG_LOGDIR/$name".*.log)
  # the command's own process: the one whose parent did not run under valgrind
  local f main=() kids=() pids=" ${logs[*]##*/$name.} "
  for f in "${logs[@]}"; do
    if [[ "$pids" == *" $(sed -n 's/^==[0-9]*== Parent PID: \([0-9]*\).*/\1/p' "$f" | head -1).log "* ]]
    then kids+=("$f"); else main+=("$f"); fi
  done
  printf '%-26s exit %3s %4ss  errors/definite/indirect/possible/reachable: %-18s' \
    "$name" "$rc" "$((SECONDS - t))" "$(numbers "${main[@]}")" >"$TMP/res/$name.sum"
  if [ ${#kids[@]} -gt 0 ]; then printf '  + %d trial children: %s' "${#kids[@]}" "$(numbers "${kids[@]}")"; fi \
    >>"$TMP/res/$name.sum"
  echo >>"$TMP/res/$name.sum"
  reason=$(summary "${logs[@]}")
  if [ "$rc" -eq 99 ] && [ -z "$reason" ]; then reason="valgrind exit 99"; fi
  if [ -z "$reason" ] && ! [[ "|$want|" == *"|$rc|"* ]]; then
    reason="exit $rc, expected $want: $(tail -c 300 "$TMP/$name.err" | tr '\n' ' ')"
  fi
  if [ -z "$reason" ] && [ -n "$text" ] && ! grep -qF -- "$text" "$TMP/$name.err"; then
    reason="stderr lacks '$text': $(tail -c 300 "$TMP/$name.err" | tr '\n' ' ')"
  fi
  if [ -n "$reason" ]; then echo "FAIL valgrind_$name: $reason (logs $VG_LOGDIR/$name.*.log)"; else echo "PASS valgrind_$name"; fi
}
# need FILE...: a step whose inputs an earlier step failed to make fails with that reason
need() {
  local f
  for f in "$@"; do [ -s "$f" ] || { echo "missing input $(basename "$f") (an earlier step failed)"; return; }; done
}
# step NAME WANT INPUTS -- CMD_ARGS...: vg in the background (at most VG_JOBS at
# once), unless an input is missing; its line goes to $TMP/res/NNN.line
mkdir -p "$TMP/res"
nstep=0
step() {
  local name=$1 want=$2 inputs=() miss out; shift 2
  while [ "$1" != "--" ]; do inputs+=("$1"); shift; done; shift
  nstep=$((nstep + 1))
  out=$TMP/res/$(printf %03d "$nstep").line
  miss=$(need "${inputs[@]}")
  if [ -n "$miss" ]; then echo "FAIL valgrind_$name: $miss" >"$out"; return; fi
  while [ "$(jobs -rp | wc -l)" -ge "$VG_JOBS" ]; do wait -n; done
  vg "$name" "$want" "$@" >"$out" &
}
# barrier: wait for the running steps (the next ones need their files), print
# the lines not printed yet, in order
nprinted=0
barrier() {
  wait
  local i f
  for ((i = nprinted + 1; i <= nstep; i++)); do
    f=$TMP/res/$(printf %03d "$i").line
    if [ -s "$f" ]; then cat "$f"; else echo "FAIL valgrind_step$i: no result"; fi
  done
  nprinted=$nstep
}

t0=$(date +%s)
# tiny models: 784-16-16-10 MLP, one epoch, a handful of keys
step train 0 -- train --arch mnist-mlp --hidden 16 --epochs 1 --seed 3 "${T[@]}" -o plain.h5
barrier
step embed_whitebox 0 plain.h5 -- embed --scheme whitebox plain.h5 --bits 8 --targets 2 \
  --keys-per-class 5 --epochs 1 --seed 4 "${T[@]}" --key wb.key -o wb.h5
step embed_blackbox 0 plain.h5 -- embed --scheme blackbox plain.h5 --keys 5 --candidates 5 \
  --epochs 1 --seed 5 "${T[@]}" --key bb.key -o bb.h5
barrier
step eval 0 wb.h5 -- eval wb.h5 "${TD[@]}"
step eval_json 0 bb.h5 -- eval bb.h5 "${TD[@]}" --json
step info 0 wb.h5 -- info wb.h5
step gmm 0 plain.h5 -- gmm plain.h5 --components 3 --samples 100 --seed 2 "${TD[@]}" --json

step verify_whitebox '0|1|3' wb.h5 wb.key -- verify wb.h5 --key wb.key --threads 1
step verify_whitebox_json '0|1|3' wb.h5 wb.key -- verify wb.h5 --key wb.key --threads 1 --json
step verify_blackbox '0|1|3' bb.h5 bb.key -- verify bb.h5 --key bb.key --threads 1
step verify_blackbox_json '0|1|3' bb.h5 bb.key -- verify bb.h5 --key bb.key --threads 1 --json

step attack_prune 0 wb.h5 wb.key -- attack --kind prune --rate 0.5 wb.h5 --key wb.key "${T[@]}" -o a_prune.h5
step attack_prune_finetune 0 bb.h5 bb.key -- attack --kind prune --scope global --rate 0.3 \
  --finetune-epochs 1 bb.h5 --key bb.key "${T[@]}" --json -o a_prune_ft.h5
step attack_finetune 0 bb.h5 bb.key -- attack --kind finetune --mode rtll --epochs 1 \
  --labels predicted --data-fraction 0.5 bb.h5 --key bb.key "${T[@]}" -o a_ft.h5
step attack_quantize 0 wb.h5 wb.key -- attack --kind quantize --bits 4 wb.h5 --key wb.key "${T[@]}" -o a_q.h5
step attack_noise 0 bb.h5 bb.key -- attack --kind noise --sigma 0.2 bb.h5 --key bb.key "${T[@]}" --json -o a_noise.h5
step attack_permute 0 wb.h5 wb.key -- attack --kind permute wb.h5 --key wb.key "${T[@]}" -o a_perm.h5
step attack_dummy 0 wb.h5 wb.key -- attack --kind dummy --dummy split --neurons 4 wb.h5 --key wb.key \
  "${T[@]}" -o a_dummy.h5
step attack_overwrite_blackbox 0 bb.h5 bb.key -- attack --kind overwrite --scheme blackbox --keys 3 \
  --epochs 1 bb.h5 --key bb.key "${T[@]}" -o a_ow_bb.h5
step attack_overwrite_whitebox 0 wb.h5 wb.key -- attack --kind overwrite --scheme whitebox --bits 8 \
  --epochs 1 wb.h5 --key wb.key "${T[@]}" -o a_ow_wb.h5
# error paths: each must fail cleanly (exit 2) without leaking what it had opened.
# Damaged files: truncated (HDF5 refuses them at open), a dataset's object header
# zeroed (fails in the shape check, before the model is allocated), a NaN in the
# last parameter (fails after the model is allocated and read), key datasets
# with values out of range (fail in the key's validation).
# patch FILE DATASET HEX: overwrite the first bytes of DATASET's raw data
patch() {
  local off
  off=$(h5dump -p -H -d "$2" "$1" 2>/dev/null | awk '/OFFSET/ {print $2}')
  [ -n "$off" ] && $PY -c 'import sys
with open(sys.argv[1], "r+b") as f: f.seek(int(sys.argv[2])); f.write(bytes.fromhex(sys.argv[3]))' "$1" "$off" "$3"
}
if [ -s wb.h5 ]; then
  head -c 3000 wb.h5 >trunc.h5
  cp wb.h5 nan.h5 && patch nan.h5 /params/dense_3.b 0000c07f
  # /params' first dataset's object header (its address from h5ls -v)
  hdr=$(h5ls -v wb.h5/params/dense_1.W 2>/dev/null | awk '/Location:/ {split($2, a, ":"); print a[2]}')
  cp wb.h5 header.h5 && [ -n "$hdr" ] &&
    $PY -c 'import sys
with open(sys.argv[1], "r+b") as f: f.seek(int(sys.argv[2])); f.write(bytes(64))' header.h5 "$hdr"
fi
if [ -s wb.key ]; then
  head -c 1500 wb.key >trunc.key
  cp wb.key bits.key && patch bits.key /whitebox/bits 07
  cp wb.key label.key && patch label.key /images/y 63
fi
step verify_wrong_key '2:matches no commitment' wb.h5 bb.key -- verify wb.h5 --key bb.key --threads 1
step verify_missing_model '2:cannot open' wb.key -- verify missing.h5 --key wb.key --threads 1
step verify_missing_key '2:cannot open' wb.h5 -- verify wb.h5 --key missing.key --threads 1
step verify_truncated_model '2:truncated file' trunc.h5 wb.key -- verify trunc.h5 --key wb.key --threads 1
step verify_truncated_key '2:truncated file' wb.h5 trunc.key -- verify wb.h5 --key trunc.key --threads 1
step verify_nan_model '2:non-finite' nan.h5 wb.key -- verify nan.h5 --key wb.key --threads 1
step verify_bad_header_model '2:not a readable dataset' header.h5 wb.key -- \
  verify header.h5 --key wb.key --threads 1
step verify_bad_bits_key '2:is not a bit' wb.h5 bits.key -- verify wb.h5 --key bits.key --threads 1
step verify_bad_label_key '2:out of range' wb.h5 label.key -- verify wb.h5 --key label.key --threads 1 --json
step eval_truncated_model '2:truncated file' trunc.h5 -- eval trunc.h5 "${TD[@]}"
step eval_nan_model '2:non-finite' nan.h5 -- eval nan.h5 "${TD[@]}"
step attack_truncated_model '2:truncated file' trunc.h5 -- attack --kind prune trunc.h5 "${T[@]}" -o a_trunc.h5
# an unusable key: the attack either refuses it (2) or reports the mark as not checkable (0)
step attack_bad_key '0|2' wb.h5 bits.key -- attack --kind quantize --bits 6 wb.h5 --key bits.key "${T[@]}" \
  --json -o a_badkey.h5
step embed_existing_key '2:refusing to overwrite' plain.h5 wb.key -- \
  embed --scheme blackbox plain.h5 --keys 5 "${T[@]}" --key wb.key -o never.h5
step embed_bad_layer '2:no_such_layer' plain.h5 -- embed --scheme whitebox plain.h5 --layer no_such_layer \
  "${T[@]}" --key never.key -o never.h5
step train_missing_data '2:no-such-dir' -- train --arch mnist-mlp --hidden 16 --epochs 1 --threads 1 --quiet \
  --data "$TMP/no-such-dir" -o never.h5
barrier
# the attacked models read back (with the published commitment, as a thief need
# not keep the model's): permuted, and with dummy neurons (realigned with the
# key's reference: a verdict either way)
commit=$(sed -n 's/^commitment (publish this): //p' "$TMP/embed_whitebox.out" 2>/dev/null)
step verify_attacked_permute '0|1|3' a_perm.h5 wb.key -- verify a_perm.h5 --key wb.key \
  --commitment "${commit:-none}" --threads 1 --json
step verify_attacked_dummy '0|1|3' a_dummy.h5 wb.key -- verify a_dummy.h5 --key wb.key \
  --commitment "${commit:-none}" --threads 1

if [ "${VG_SLOW:-0}" = 1 ]; then
  # white-box from scratch: embed --arch takes no --hidden, so a 784-512-512-10
  # MLP, on 120 images (whose key pool holds classes 2 and 3)
  step embed_whitebox_scratch 0 -- embed --scheme whitebox --arch mnist-mlp --epochs 1 --bits 8 \
    --classes 2,3 --keys-per-class 5 --seed 6 --threads 1 --quiet --data "$TMP/data120" \
    --key scratch.key -o scratch.h5
  C=(--threads 1 --quiet --data "$TMP/data60")
  step train_cnn 0 -- train --arch mnist-cnn --epochs 1 "${C[@]}" -o cnn.h5
  step train_wrn 0 -- train --arch cifar10-wrn --depth 10 --widen 1 --epochs 1 "${C[@]}" -o wrn.h5
  barrier
  step eval_wrn 0 wrn.h5 -- eval wrn.h5 --threads 1 --data "$TMP/data60"
  step attack_permute_cnn 0 cnn.h5 -- attack --kind permute cnn.h5 "${C[@]}" -o cnn_perm.h5
  step attack_dummy_cnn 0 cnn.h5 -- attack --kind dummy cnn.h5 "${C[@]}" -o cnn_dummy.h5
  step attack_permute_wrn 0 wrn.h5 -- attack --kind permute wrn.h5 "${C[@]}" -o wrn_perm.h5
  step attack_dummy_wrn '2:cannot be widened' wrn.h5 -- attack --kind dummy wrn.h5 "${C[@]}" -o wrn_dummy.h5
fi
barrier
cat "$TMP"/res/*.sum >"$VG_LOGDIR/summary.txt" 2>/dev/null
failures=$(cat "$TMP"/res/*.line | grep -c '^FAIL ')
echo "valgrind: $nstep commands in $(($(date +%s) - t0)) s ($VG_JOBS at once), logs in $VG_LOGDIR"
finish
