# lib.sh - helpers for shell tests: each check prints "PASS name" or "FAIL name";
# tests/run.sh counts them. Source it, then call `finish` last (exit 1 if any failed).
set -u
DS_BIN=${DS_BIN:-build/deepsigns}
PY=/usr/bin/python3
failures=0
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: ${2:-}"; failures=$((failures + 1)); }

# check NAME CMD...: the command must succeed
check() {
  local name=$1; shift
  if "$@"; then pass "$name"; else fail "$name" "command failed: $*"; fi
}

# expect_error NAME "substring" CMD...: exits 2 and stderr contains the substring
expect_error() { expect_exit2 substring "$@"; }
# expect_line NAME LINE CMD...: exits 2 and LINE is one whole line of stderr
expect_line() { expect_exit2 line "$@"; }
expect_exit2() {
  local how=$1 name=$2 want=$3; shift 3
  local err rc found
  err=$("$@" 2>&1 >/dev/null)
  rc=$?
  if [ "$rc" -ne 2 ]; then fail "$name" "exit $rc, expected 2 (stderr: $err)"; return; fi
  if [ "$how" = line ]; then
    printf '%s\n' "$err" | grep -qxF -- "$want"; found=$?
  else
    case "$err" in *"$want"*) found=0 ;; *) found=1 ;; esac
  fi
  if [ "$found" -eq 0 ]; then pass "$name"; else fail "$name" "stderr lacks the $how
  $want
got
  $err"; fi
}

# json_get FILE KEY: a top-level value of a one-object JSON file
json_get() { $PY -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

# make_idx_subset SRC_DIR DST_DIR NTRAIN NTEST: the first N images of an IDX
# dataset, written as raw (uncompressed) IDX files
DS_TESTS_FIXTURES=$(cd "$(dirname "${BASH_SOURCE[0]}")/../fixtures" && pwd)  # any cwd
make_idx_subset() {
  $PY "$DS_TESTS_FIXTURES/make_idx_subset.py" "$@"
}

# fmnist_workdir NTRAIN NTEST: for tests of the program on real data: DS_BIN
# made absolute, Q the quiet one-thread options, the working directory $TMP
# with d/ the first NTRAIN / NTEST Fashion-MNIST images (DS_FASHION_MNIST: elsewhere)
fmnist_workdir() {
  DS_BIN=$(readlink -f "$DS_BIN")
  FM=${DS_FASHION_MNIST:-/usr/share/datasets/fashion-mnist}
  Q="--quiet --threads 1"
  cd "$TMP" || exit 1
  make_idx_subset "$FM" d "$1" "$2"
}

# nonempty_outputs NAME LOG: every file a script listed after "wrote:" exists,
# is non-empty and is a PNG / PDF / Markdown / CSV as its name says
nonempty_outputs() {
  local name=$1 log=$2 f bad="" n=0
  while read -r f; do
    n=$((n + 1))
    if [ ! -s "$f" ]; then bad="$bad $f(empty)"; continue; fi
    case $f in
      *.png) head -c 8 "$f" | od -An -c | grep -q 'P   N   G' || bad="$bad $f(not PNG)" ;;
      *.pdf) [ "$(head -c 4 "$f")" = "%PDF" ] || bad="$bad $f(not PDF)" ;;
    esac
  done < <(sed -n '/^wrote:/,$p' "$log" | sed -n 's/^  //p')
  if [ -z "$bad" ] && [ "$n" -gt 0 ]; then pass "$name ($n files)"; else fail "$name" "n=$n$bad"; fi
}

# logged NAME LOG CMD...: the command succeeds; its output goes to LOG
logged() {
  local name=$1 log=$2; shift 2
  if "$@" >"$log" 2>&1; then pass "$name"; else fail "$name" "exit $?: $(tail -3 "$log")"; fi
}

# has NAME FILE STRING: the file contains the string (fixed, not a regex)
has() {
  if grep -qF -- "$3" "$2"; then pass "$1"; else fail "$1" "$2 lacks: $3"; fi
}

# max_diff A B: the largest absolute difference of two float32 files of equal size
# (little-endian, as eval --logits writes them), or "size N vs M"
max_diff() {
  $PY -c 'import numpy as np, sys
a, b = (np.fromfile(f, "<f4") for f in sys.argv[1:3])
print(abs(a - b).max() if a.size == b.size and a.size else "size %d vs %d" % (a.size, b.size))' "$1" "$2"
}
# within X BOUND: X is a number no larger than BOUND
within() { $PY -c 'import sys; sys.exit(not float(sys.argv[1]) <= float(sys.argv[2]))' "$1" "$2" 2>/dev/null; }

finish() {
  [ "$failures" -eq 0 ]
  exit $?
}
