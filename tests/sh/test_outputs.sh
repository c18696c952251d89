#!/usr/bin/env bash
# test_outputs.sh - an output path is checked before any work, and no command's
# -o destroys a key file or a results file (recognised by content) without
# --force: train, attack and embed refuse, the file unchanged byte for byte.
# A FIFO, a directory, a missing or unwritable directory as -o are refused at
# once; the key file embed writes is mode 600 under umask 022. Every reader
# refuses a FIFO (model, key, spec, data file) at once.
. "$(dirname "$0")/lib.sh"
make_idx_subset /usr/share/datasets/fashion-mnist "$TMP/data" 1000 200
T="--threads 1 --quiet --data $TMP/data"
umask 022
"$DS_BIN" train --arch mnist-mlp --hidden 32 --epochs 1 --seed 3 $T -o "$TMP/m.h5" >/dev/null
"$DS_BIN" embed --scheme blackbox "$TMP/m.h5" --keys 5 --epochs 1 --seed 4 $T --key "$TMP/real.key" \
  -o "$TMP/marked.h5" >/dev/null
# a results file: the root attributes the results reader and this check look at
$PY - "$TMP/real.results" <<'PYEOF'
import sys, h5py
with h5py.File(sys.argv[1], "w") as f:
    f.attrs["magic"] = "DEEPSIGNS-RESULTS"
    f.attrs["format_version"] = 1
PYEOF

mode=$(stat -c %a "$TMP/real.key")
if [ "$mode" = 600 ]; then pass "embed key file is 0600 under umask 022"; else fail "embed key mode" "mode $mode"; fi

sum() { sha256sum "$1" | cut -d' ' -f1; }
# refused NAME FILE KIND CMD...: exit 2, the message, FILE unchanged
refused() {
  local name=$1 file=$2 kind=$3; shift 3
  local before; before=$(sum "$file")
  expect_error "$name" "-o $file: refusing to replace a $kind file (use --force)" "$@"
  if [ "$(sum "$file")" = "$before" ]; then pass "$name: file unchanged"; else fail "$name: file changed"; fi
}
for kind in key results; do
  f="$TMP/victim.$kind"
  cp "$TMP/real.$kind" "$f"
  refused "train -o over a $kind file" "$f" "$kind" \
    "$DS_BIN" train --arch mnist-mlp --hidden 32 --epochs 1 $T -o "$f"
  refused "attack -o over a $kind file" "$f" "$kind" \
    "$DS_BIN" attack --kind noise "$TMP/m.h5" $T -o "$f"
  refused "embed -o over a $kind file" "$f" "$kind" \
    "$DS_BIN" embed --scheme blackbox "$TMP/m.h5" --keys 5 --epochs 1 $T --key "$TMP/new_$kind.key" -o "$f"
  [ ! -e "$TMP/new_$kind.key" ] && pass "embed refused before writing its key ($kind)" \
    || fail "embed refused before writing its key ($kind)"
done

# --force replaces: train over a key file gives a model file
cp "$TMP/real.key" "$TMP/forced.key"
check "train --force replaces a key file" \
  "$DS_BIN" train --arch mnist-mlp --hidden 32 --epochs 1 $T --force -o "$TMP/forced.key"
check "the replaced file is a model" "$DS_BIN" info "$TMP/forced.key"
cp "$TMP/real.results" "$TMP/forced.results"
check "attack --force replaces a results file" \
  "$DS_BIN" attack --kind noise "$TMP/m.h5" $T --force -o "$TMP/forced.results"
# a model file is not protected
check "train -o over a model file needs no --force" \
  "$DS_BIN" train --arch mnist-mlp --hidden 32 --epochs 1 $T -o "$TMP/marked.h5"

# refused_fast NAME MSG CMD...: exit 2 with MSG, no progress and nothing
# written on stdout or stderr, in well under the time the work would take
refused_fast() {
  local name=$1 msg=$2; shift 2
  local t0 t1 out
  t0=$(date +%s%N)
  expect_error "$name" "$msg" timeout 20 "$@"
  t1=$(date +%s%N)
  out=$(timeout 20 "$@" 2>&1)
  case "$out" in *elapsed* | *wrote* | *trained*) out="progress: $out" ;; *) out="" ;; esac
  if [ -z "$out" ] && [ $(( (t1 - t0) / 1000000 )) -lt 2000 ]; then pass "$name: before any work"
  else fail "$name: before any work" "$(( (t1 - t0) / 1000000 )) ms, stdout '$out'"; fi
}
LONG="--arch mnist-mlp --epochs 3000 --threads 1 --data $TMP/data" # would train for many seconds
mkfifo "$TMP/fifo"
mkdir "$TMP/dir" "$TMP/ro"
chmod 555 "$TMP/ro"
refused_fast "train -o FIFO" "-o $TMP/fifo: not a regular file (a FIFO)" "$DS_BIN" train $LONG -o "$TMP/fifo"
refused_fast "attack -o FIFO" "-o $TMP/fifo: not a regular file (a FIFO)" \
  "$DS_BIN" attack --kind noise "$TMP/m.h5" $T -o "$TMP/fifo"
refused_fast "embed -o FIFO" "-o $TMP/fifo: not a regular file (a FIFO)" \
  "$DS_BIN" embed --scheme blackbox "$TMP/m.h5" --keys 5 $T --key "$TMP/k2.key" -o "$TMP/fifo"
refused_fast "train -o DIR" "-o $TMP/dir: is a directory" "$DS_BIN" train $LONG -o "$TMP/dir"
refused_fast "train -o nodir/x.h5" "-o $TMP/nodir/x.h5: directory $TMP/nodir does not exist" \
  "$DS_BIN" train $LONG -o "$TMP/nodir/x.h5"
if [ "$(id -u)" != 0 ]; then # root writes anywhere
  refused_fast "train -o in an unwritable directory" "-o $TMP/ro/x.h5: directory $TMP/ro is not writable (Permission denied)" \
    "$DS_BIN" train $LONG -o "$TMP/ro/x.h5"
fi
refused_fast "train -o empty" "-o: empty path" "$DS_BIN" train $LONG -o ""
refused_fast "sweep -o empty" "-o: empty path" "$DS_BIN" sweep experiments/tiny.yaml -o ""
refused_fast "sweep -o FIFO" "-o $TMP/fifo: not a regular file (a FIFO)" \
  "$DS_BIN" sweep experiments/tiny.yaml -o "$TMP/fifo"
refused_fast "embed --key nodir/k" "--key $TMP/nodir/k.key: directory $TMP/nodir does not exist" \
  "$DS_BIN" embed --scheme blackbox "$TMP/m.h5" --keys 5 $T --key "$TMP/nodir/k.key" -o "$TMP/y.h5"

# readers: a FIFO (or a directory) where a file is read is refused at once, never opened
refused_fast "eval FIFO model" "$TMP/fifo: not a regular file (a FIFO)" "$DS_BIN" eval "$TMP/fifo" --threads 1 --data "$TMP/data"
refused_fast "attack FIFO model" "$TMP/fifo: not a regular file (a FIFO)" \
  "$DS_BIN" attack --kind noise "$TMP/fifo" $T -o "$TMP/z.h5"
refused_fast "verify FIFO key" "$TMP/fifo: not a regular file (a FIFO)" \
  "$DS_BIN" verify "$TMP/marked.h5" --key "$TMP/fifo" --threads 1
refused_fast "sweep FIFO spec" "$TMP/fifo: not a regular file (a FIFO)" "$DS_BIN" sweep "$TMP/fifo"
refused_fast "eval directory model" "$TMP/dir: not a regular file (a directory)" "$DS_BIN" eval "$TMP/dir" --threads 1 --data "$TMP/data"
cp -r "$TMP/data" "$TMP/fifodata"
rm "$TMP/fifodata/t10k-labels-idx1-ubyte"
mkfifo "$TMP/fifodata/t10k-labels-idx1-ubyte"
# the directory lookup takes only regular files, so a FIFO there is a missing file
refused_fast "train FIFO IDX file" "$TMP/fifodata: missing IDX file t10k-labels-idx1-ubyte" \
  "$DS_BIN" train --arch mnist-mlp --threads 1 --data "$TMP/fifodata" -o "$TMP/w.h5"
finish
