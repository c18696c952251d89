#!/usr/bin/env bash
# run.sh - run the libFuzzer targets built by `make fuzz-build` (docs/fuzzing.md).
#   run.sh [--seconds N] [--work DIR] TARGET...   fuzz each target for N s (default 60)
#   run.sh --replay TARGET...                     run each file of tests/fuzz/regressions/TARGET/
#                                                 once; every one must pass
# Options of a target's own: tests/fuzz/TARGET.dict (a libFuzzer dictionary) and
# tests/fuzz/TARGET.options (libFuzzer flags on one line).
# Fuzzing starts from the seeds in tests/fuzz/corpus/TARGET/ (never written to) and
# keeps what it finds in DIR/corpus/TARGET/ (default build-fuzz/work), crash inputs
# in DIR/artifacts/TARGET/. Each target prints one line:
#   fuzz_T: E executions in S s, C crashes, H HDF5-internal
# A crash whose report puts the faulting code (and, for a heap error, the code that
# allocated or freed the memory) inside HDF5 is counted as HDF5-internal: HDF5
# 1.10 crashes on some damaged files and we cannot fix it (docs/fuzzing.md). After
# one, fuzzing resumes for the rest of the target's time; any other crash ends the
# target. Exit status: 1 if any target had a crash that is not HDF5-internal.
# Sanitizer reports go to the log of each run (a log_path in ASAN_OPTIONS or
# UBSAN_OPTIONS is dropped here), and the report of a crash is printed.
set -u
cd "$(dirname "$0")/../.."
FUZZ_BUILD=${FUZZ_BUILD:-build-fuzz}
seconds=60
work=$FUZZ_BUILD/work
replay=0
while [ $# -gt 0 ]; do
  case $1 in
    --seconds) seconds=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    --replay) replay=1; shift ;;
    -*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
    *) break ;;
  esac
done
[ $# -gt 0 ] || { echo "usage: run.sh [--seconds N] [--work DIR] | --replay  TARGET..." >&2; exit 2; }
case $seconds in ''|*[!0-9]*) echo "run.sh: --seconds needs a whole number" >&2; exit 2 ;; esac

# Sanitizer settings: reports into the run's own log, our LeakSanitizer suppressions.
drop_log_path() { # OPTIONS string without any log_path=...
  local IFS=: o out=()
  for o in $1; do case $o in log_path=*|'') ;; *) out+=("$o") ;; esac; done
  (IFS=:; echo "${out[*]}")
}
ASAN_OPTIONS=$(drop_log_path "${ASAN_OPTIONS:-}")
UBSAN_OPTIONS=$(drop_log_path "${UBSAN_OPTIONS:-}")
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1:max_allocation_size_mb=1024"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}print_stacktrace=1"
export LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$PWD/tests/sanitizer/lsan.supp:print_suppressions=0"
export OPENBLAS_NUM_THREADS=1

# classify LOG: "hdf5" if the report of the crash in LOG blames HDF5 alone, else "ours".
# The blamed frame of a stack is its first frame outside the sanitizer runtime, libc
# and libFuzzer; the stacks looked at are the first one of the report and those of
# "allocated by" / "freed by" (a heap error in HDF5 on a buffer of ours is ours). A
# report without a stack (an RSS limit reached) is ours: single allocations over
# -malloc_limit_mb get a stack.
classify() {
  awk '
    # the sanitizer runtime and libFuzzer are in the fuzz binary without line info
    function blame(line) {
      if (line ~ /\(\/[^ ]*\/fuzz_[a-z_]+\+0x[0-9a-f]+\)/) return ""
      if (line ~ /sysdeps\/|\/libc\.so|libc-start|\/libstdc\+\+|\/libgcc|in (abort|raise|__libc|__GI_)/) return ""
      return line ~ /libhdf5/ ? "hdf5" : "ours"
    }
    /^==[0-9]+== ?ERROR: |runtime error: / { seen = 1 }
    !seen { next }
    /^ *#[0-9]+ 0x/ {
      if (!instack) { instack = 1; want = (nstacks == 0 || heapstack); nstacks++; found = "" }
      if (want && found == "") { found = blame($0); if (found != "") verdict[found] = 1 }
      next
    }
    { instack = 0; heapstack = ($0 ~ /(allocated|freed) by thread/) }
    END {
      if (nstacks == 0 || ("ours" in verdict) || !("hdf5" in verdict)) print "ours"; else print "hdf5"
    }' "$1"
}

# The final statistic NAME of LOG (0 if absent).
stat_of() { awk -v k="stat::$2:" '$1 == k { v = $2 } END { print v + 0 }' "$1"; }

if [ "$replay" = 1 ]; then
  status=0
  for t in "$@"; do
    bin=$FUZZ_BUILD/fuzz_$t dir=tests/fuzz/regressions/$t n=0 bad=0
    [ -x "$bin" ] || { echo "fuzz_$t: $bin is missing (make fuzz-build)"; status=1; continue; }
    for f in "$dir"/*; do
      [ -f "$f" ] || continue
      n=$((n + 1))
      log=$(mktemp)
      if ! "$bin" -timeout=30 -rss_limit_mb=2048 "$f" >"$log" 2>&1; then
        bad=$((bad + 1))
        echo "fuzz_$t: regression $f fails:"
        grep -E 'ERROR|runtime error|^ *#[0-9]+ 0x|SUMMARY|harness' "$log" | head -30 | sed 's/^/    /'
      fi
      rm -f "$log"
    done
    echo "fuzz_$t: $n regression inputs, $bad failed"
    [ "$bad" -eq 0 ] || status=1
  done
  exit $status
fi

status=0 all_execs=0 all_crashes=0 all_hdf5=0
for t in "$@"; do
  bin=$FUZZ_BUILD/fuzz_$t
  [ -x "$bin" ] || { echo "fuzz_$t: $bin is missing (make fuzz-build)"; status=1; continue; }
  seeds=tests/fuzz/corpus/$t corpus=$work/corpus/$t art=$work/artifacts/$t
  mkdir -p "$corpus" "$art"
  opts=(-timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 -print_final_stats=1 -artifact_prefix="$art/")
  # FUZZ_OPTS: more libFuzzer flags (test_fuzz.sh fixes -seed and -runs for a repeatable run)
  read -r -a extra <<<"${FUZZ_OPTS:-}"
  opts+=("${extra[@]}")
  [ -f "tests/fuzz/$t.dict" ] && opts+=(-dict="tests/fuzz/$t.dict")
  [ -f "tests/fuzz/$t.options" ] && read -r -a more <"tests/fuzz/$t.options" && opts+=("${more[@]}")
  execs=0 crashes=0 hdf5=0 runs=0 t0=$SECONDS
  hdf5_seen=()
  while :; do
    left=$((seconds - (SECONDS - t0)))
    [ "$left" -gt 0 ] || break
    runs=$((runs + 1))
    log=$work/fuzz_$t.log
    "$bin" "${opts[@]}" -max_total_time="$left" "$corpus" "$seeds" >"$log" 2>&1
    rc=$?
    execs=$((execs + $(stat_of "$log" number_of_executed_units)))
    [ "$rc" -eq 0 ] && break
    input=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
    if [ "$(classify "$log")" = hdf5 ]; then
      hdf5=$((hdf5 + 1))
      hdf5_seen+=("${input:-?}")
      [ "$runs" -lt 50 ] && continue
      break
    fi
    crashes=$((crashes + 1))
    echo "fuzz_$t: crash (exit $rc), input ${input:-not written}; the report:"
    grep -E 'ERROR|WARNING|runtime error|^ *#[0-9]+ 0x|SUMMARY|harness|by thread|Direct leak' "$log" |
      grep -v 'fuzzer::' | head -40 | sed 's/^/    /'
    break
  done
  echo "fuzz_$t: $execs executions in $((SECONDS - t0)) s, $crashes crashes, $hdf5 HDF5-internal"
  for f in "${hdf5_seen[@]}"; do echo "    HDF5-internal crash input: $f"; done
  [ "$crashes" -eq 0 ] || status=1
  all_execs=$((all_execs + execs)) all_crashes=$((all_crashes + crashes)) all_hdf5=$((all_hdf5 + hdf5))
done
[ $# -gt 1 ] && echo "fuzz: $# targets, $all_execs executions, $all_crashes crashes, $all_hdf5 HDF5-internal"
exit $status
