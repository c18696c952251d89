#!/usr/bin/env bash
# run.sh - run every test program and shell test; print one summary line.
# Each program prints "PASS name" / "FAIL name" lines; a program that exits
# non-zero without reporting a FAIL (a crash, a sanitizer abort) counts as one
# failure of its own. The last line is "N passed, N failed".
# Sanitizer reports (ASan, LSan, UBSan) go to files of their own under
# $BUILD/test-logs/sanitizer/, not to stderr: a shell test may capture or discard
# a command's stderr, pipe it into grep, or expect exit 1 (also ASan's exit
# status). A test that leaves a report there fails, and the report is appended
# to its log.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export DS_BIN="$PWD/$BUILD/deepsigns"
export DS_BUILD="$PWD/$BUILD"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl=self,vader OMPI_MCA_oob_tcp_if_include=lo
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
# oneDNN's OpenMP threads sleep when idle: the tests run more ranks and threads
# than the machine has cores, where spinning threads starve the others
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
# sanitizer builds: dependencies' own leaks are suppressed (the file says which).
# Open MPI and PMIx keep their components loaded, and ASan unwinds allocations
# with the slow unwinder (the MPI libraries have no frame pointers), so that a
# leak's stack reaches the library that made it.
export LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$PWD/tests/sanitizer/lsan.supp:print_suppressions=0"
export OMPI_MCA_mca_base_component_disable_dlclose=1 PMIX_MCA_mca_base_component_disable_dlclose=1
logdir="$BUILD/test-logs"
sandir="$PWD/$logdir/sanitizer"
rm -rf "$sandir"
mkdir -p "$logdir" "$sandir"
passed=0 failed=0
failed_names=()

run_one() { # name, command...
  local name=$1; shift
  local log="$logdir/$name.log" t0 t1 rc p f
  local san="$sandir/$name" r
  t0=$(date +%s)
  ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0:log_path=$san" \
    UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}print_stacktrace=1:log_path=$san" \
    "$@" >"$log" 2>&1
  rc=$?
  t1=$(date +%s)
  for r in "$san".*; do
    [ -e "$r" ] && { echo "FAIL $name (sanitizer report $r)"; cat "$r"; } >>"$log"
  done
  p=$(grep -c '^PASS ' "$log")
  f=$(grep -c '^FAIL ' "$log")
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; echo "FAIL $name (exit $rc)" >>"$log"; fi
  passed=$((passed + p)); failed=$((failed + f))
  printf '%-28s %3d passed %3d failed  %4ss\n' "$name" "$p" "$f" "$((t1 - t0))"
  if [ "$f" -gt 0 ]; then
    failed_names+=("$name")
    grep -E '^FAIL |CHECK|error|Error|Sanitizer' "$log" | head -20 | sed 's/^/    /'
  fi
}

for t in "$BUILD"/tests/test_*; do
  [ -x "$t" ] || continue
  run_one "$(basename "$t")" "$t"
done
for t in tests/sh/test_*.sh; do
  [ -f "$t" ] || continue
  run_one "$(basename "$t" .sh)" bash "$t"
done

[ ${#failed_names[@]} -gt 0 ] && echo "failed: ${failed_names[*]} (logs in $logdir)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
