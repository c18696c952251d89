#!/bin/bash
# test_sweep.sh - the MPI sweep engine on experiments/tiny.yaml with real ranks:
# 1 rank and 3 ranks give the same table bit for bit; SIGKILL mid-sweep then
# --resume gives every cell once with the same numbers; SIGTERM stops cleanly
# (exit 3) and --resume completes; refusals keep existing results intact.
cd "$(dirname "$0")/../.." || exit 1
. tests/sh/lib.sh
. tests/sh/sweeplib.sh
SPEC=experiments/tiny.yaml
MPI="mpirun --oversubscribe"

# 1 rank against 3 ranks
$DS_BIN sweep $SPEC -o "$TMP/np1.h5" --quiet > "$TMP/np1.log" 2>&1
rc=$?
[ $rc -eq 0 ] && pass sweep_np1_runs || fail sweep_np1_runs "exit $rc: $(tail -3 "$TMP/np1.log")"
$MPI -np 3 $DS_BIN sweep $SPEC -o "$TMP/np3.h5" --quiet > "$TMP/np3.log" 2>&1
rc=$?
[ $rc -eq 0 ] && pass sweep_np3_runs || fail sweep_np3_runs "exit $rc: $(tail -3 "$TMP/np3.log")"
out=$(compare "$TMP/np1.h5" "$TMP/np3.h5" 2>&1) && pass sweep_np1_equals_np3 || fail sweep_np1_equals_np3 "$out"
# the workers wrote the blobs of what they made: every model and key the file
# names is in the store, 0600, its size and SHA-256 as named, made on a worker
# (the row's rank), and the summary counts them as written by the workers
out=$($PY - "$TMP/np3.h5" <<'PYEOF' 2>&1
import hashlib, os, stat, sys, h5py
f = h5py.File(sys.argv[1], "r")
store = os.path.join(os.path.dirname(sys.argv[1]), f.attrs["blob_store"].decode())
rank = {r["id"].decode(): int(r["rank"]) for r in f["cells"][()]}
bad, n = [], 0
for g in ("models", "keys"):
    for cid, d in f[g].items():
        n += 1
        h, size = d[()].decode(), int(d.attrs["bytes"])
        p = os.path.join(store, h)
        b = open(p, "rb").read()
        if hashlib.sha256(b).hexdigest() != h or len(b) != size or stat.S_IMODE(os.stat(p).st_mode) != 0o600 or rank[cid] not in (1, 2):
            bad.append((g, cid, rank[cid]))
print(n, bad)
PYEOF
)
named=${out%% *}
written=$(sed -n 's/^sweep: blob store: \([0-9]*\) blobs written by the ranks that ran the cells.*/\1/p' "$TMP/np3.log")
[ "${out#* }" = "[]" ] && [ "$named" -ge 8 ] 2>/dev/null && [ "$written" = "$named" ] && pass sweep_workers_write_blobs \
  || fail sweep_workers_write_blobs "named and bad: $out; written: '$written'"
# a worker cache of 1 MiB (smaller than one model: every image is evicted at
# the next one) gives the same numbers: a worker reads what it lacks from the
# store; each rank's peak memory is reported
$MPI -np 3 $DS_BIN sweep $SPEC -o "$TMP/np3c.h5" --cache-mb 1 > "$TMP/np3c.log" 2>&1
rc=$?
out=$(compare "$TMP/np1.h5" "$TMP/np3c.h5" 2>&1)
crc=$?
[ $rc -eq 0 ] && [ $crc -eq 0 ] && grep -qE "^sweep: peak resident memory per rank \(MiB\): 0: [0-9]+ 1: [0-9]+ 2: [0-9]+; largest [0-9]+$" "$TMP/np3c.log" \
  && pass sweep_small_cache_same_numbers || fail sweep_small_cache_same_numbers "exit $rc: $out $(tail -3 "$TMP/np3c.log")"
n=$($PY -c 'import h5py,sys; c=h5py.File(sys.argv[1],"r")["cells"][()]; print(sum(s==b"done" for s in c["status"]), len(c), sorted(set(c["rank"].tolist())))' "$TMP/np3.h5")
[ "$n" = "32 32 [1, 2]" ] && pass sweep_all_done_on_workers || fail sweep_all_done_on_workers "$n"
[ "$(attr "$TMP/np3.h5" status)" = complete ] && pass sweep_status_complete || fail sweep_status_complete
# the MPI versions, which the sweep gives the results writer (src/io has no MPI)
ver=$(attr "$TMP/np3.h5" openmpi_version)
lib=$(attr "$TMP/np3.h5" mpi_library_version)
[ -n "$ver" ] && case "$lib" in "Open MPI v$ver"*) true ;; *) false ;; esac && pass sweep_mpi_versions_recorded \
  || fail sweep_mpi_versions_recorded "openmpi_version '$ver', mpi_library_version '$lib'"

# SIGKILL to mpirun in the middle; the ranks lose their launcher and die; --resume
setsid $MPI -np 3 $DS_BIN sweep $SPEC -o "$TMP/kill.h5" --quiet > "$TMP/kill.log" 2>&1 &
pid=$!
if wait_rows "$TMP/kill.h5" 6 $pid; then
  kill -KILL $pid
  wait $pid 2>/dev/null
  for _ in $(seq 1 150); do pgrep -f "$TMP/kill.h5" > /dev/null || break; sleep 0.2; done
  if pgrep -f "$TMP/kill.h5" > /dev/null; then
    fail sweep_sigkill_ranks_end "ranks still alive 30 s after mpirun was killed"
    pkill -9 -f "$TMP/kill.h5"
  else
    pass sweep_sigkill_ranks_end
  fi
  before=$(rows "$TMP/kill.h5")
  [ "$before" -ge 6 ] && [ "$before" -lt 32 ] && pass sweep_sigkill_partial_file || fail sweep_sigkill_partial_file "$before rows"
  $MPI -np 3 $DS_BIN sweep $SPEC -o "$TMP/kill.h5" --resume --quiet > "$TMP/resume.log" 2>&1
  rc=$?
  [ $rc -eq 0 ] && grep -q "$before of 32 cells already there" "$TMP/resume.log" && pass sweep_resume_after_kill \
    || fail sweep_resume_after_kill "exit $rc: $(tail -3 "$TMP/resume.log")"
  out=$(compare "$TMP/np1.h5" "$TMP/kill.h5" 2>&1) && pass sweep_resume_identical || fail sweep_resume_identical "$out"
else
  fail sweep_sigkill "the sweep ended before 6 rows: $(tail -3 "$TMP/kill.log")"
fi

# stop_test NAME HOW: HOW=term sends SIGTERM to the coordinator (as srun or a
# scheduler does), HOW=usr1 sends SIGUSR1 to mpirun (which forwards it). The
# sweep starts no new cell, ends those in flight, writes the file and exits 3;
# --resume completes it with the same numbers.
stop_test() {
  local name=$1 how=$2 f="$TMP/$2.h5"
  $MPI -np 3 $DS_BIN sweep $SPEC -o "$f" --grace 60 > "$TMP/$how.log" 2>&1 &
  local pid=$!
  if ! wait_rows "$f" 4 $pid; then fail "$name" "the sweep ended before 4 rows: $(tail -3 "$TMP/$how.log")"; return; fi
  if [ "$how" = term ]; then
    local coord
    coord=$(sed -n 's/.*coordinator pid \([0-9]*\).*/\1/p' "$TMP/$how.log")
    kill -TERM "$coord"
  else
    kill -USR1 $pid
  fi
  wait $pid
  local rc=$? st n
  st=$(attr "$f" status)
  n=$(rows "$f")
  [ $rc -eq 3 ] && [ "$st" = incomplete ] && [ "$n" -lt 32 ] && grep -q "interrupted (0 cells lost" "$TMP/$how.log" \
    && pass "$name" || fail "$name" "exit $rc, status $st, $n rows: $(tail -3 "$TMP/$how.log")"
  $DS_BIN sweep $SPEC -o "$f" --resume --quiet > "$TMP/$how-resume.log" 2>&1
  local out
  out=$(compare "$TMP/np1.h5" "$f" 2>&1) && pass "${name}_resume" || fail "${name}_resume" "$out"
}
stop_test sweep_sigterm_coordinator term
stop_test sweep_sigusr1_mpirun usr1

# a complete file: --resume runs nothing
$DS_BIN sweep $SPEC -o "$TMP/np1.h5" --resume --quiet > "$TMP/again.log" 2>&1
grep -q "0 done, 0 failed, 32 already there" "$TMP/again.log" && pass sweep_resume_complete_noop \
  || fail sweep_resume_complete_noop "$(cat "$TMP/again.log")"

# refusals leave the existing file as it was
sum_before=$(md5sum < "$TMP/np1.h5")
expect_error sweep_refuses_existing "exists: use --resume" $DS_BIN sweep $SPEC -o "$TMP/np1.h5" --quiet
sed 's/^seed: 7/seed: 8/' $SPEC > "$TMP/other.yaml"
expect_error sweep_refuses_other_spec "was made from another spec" $DS_BIN sweep "$TMP/other.yaml" -o "$TMP/np1.h5" --resume --quiet
printf 'name: bad\nseeds: [1]\nwatermarks:\n  blackbox: {keys: 5}\nmodel:\n  arch: mnist-mlp\n  hiden: 3\n' > "$TMP/bad.yaml"
expect_error sweep_bad_spec "bad.yaml:7" $DS_BIN sweep "$TMP/bad.yaml" -o "$TMP/bad.h5" --quiet
[ "$(md5sum < "$TMP/np1.h5")" = "$sum_before" ] && pass sweep_refusals_leave_file || fail sweep_refusals_leave_file
[ ! -e "$TMP/bad.h5" ] && pass sweep_bad_spec_writes_nothing || fail sweep_bad_spec_writes_nothing

finish
