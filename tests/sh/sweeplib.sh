# sweeplib.sh - helpers for the shell tests of `deepsigns sweep` (source after
# lib.sh): compare two results files cell by cell, count rows, read a root
# attribute, wait for a running sweep to reach a number of rows.
# compare A B: same set of cells, each once, every metric column equal
# (seconds and rank excluded: wall time and placement)
compare() {
  $PY - "$1" "$2" <<'PYEOF'
import collections, sys
import h5py, numpy as np
a = h5py.File(sys.argv[1], "r")["cells"][()]
b = h5py.File(sys.argv[2], "r")["cells"][()]
for name, t in (("first", a), ("second", b)):
    dup = [k for k, v in collections.Counter(t["id"]).items() if v > 1]
    if dup:
        sys.exit(f"{name} file: cells present more than once: {dup[:3]}")
ka = {r["id"]: r for r in a}
kb = {r["id"]: r for r in b}
if set(ka) != set(kb):
    sys.exit(f"different cells: {len(ka)} vs {len(kb)}")
bad = []
for k, ra in ka.items():
    for n in a.dtype.names:
        if n in ("seconds", "rank"):
            continue
        x, y = ra[n], kb[k][n]
        same = x == y or (isinstance(x, float) and np.isnan(x) and np.isnan(y))
        if not same:
            bad.append((k, n, x, y))
if bad:
    sys.exit(f"{len(bad)} differing values, e.g. {bad[:3]}")
print(f"{len(ka)} cells identical")
PYEOF
}

# rows FILE: number of rows in /cells
rows() { $PY -c 'import h5py,sys; print(len(h5py.File(sys.argv[1],"r")["cells"]))' "$1" 2>/dev/null || echo 0; }
attr() { $PY -c 'import h5py,sys; v=h5py.File(sys.argv[1],"r").attrs[sys.argv[2]]; print(v.decode() if isinstance(v,bytes) else v)' "$1" "$2"; }

# wait_rows FILE N PID: wait until FILE has >= N rows (or the run ended)
wait_rows() {
  for _ in $(seq 1 600); do
    [ "$(rows "$1")" -ge "$2" ] && return 0
    kill -0 "$3" 2>/dev/null || return 1
    sleep 0.2
  done
  return 1
}

