#!/bin/bash
# test_resume_changes.sh - a results file says what it was made from, and a
# resume cannot silently mix two experiments:
#  - a resume after the spec or the data changed is refused (the file byte for
#    byte unchanged); with --force it runs, /runs keeps every run's spec, data
#    fingerprint and cells, total_cells counts the union of the plans, and the
#    tables and figures keep the two models apart;
#  - a symbolic link as -o is refused (one file, one lock);
#  - a relative data.dir is the spec file's neighbour, wherever the sweep runs;
#  - a spec naming a layer the model lacks is a spec error before any work;
#  - a sweep's marked model carries its key's commitment, the table records it,
#    and verify with that published commitment says OWNED.
cd "$(dirname "$0")/../.." || exit 1
. tests/sh/lib.sh
. tests/sh/sweeplib.sh
umask 022
case $DS_BIN in /*) ;; *) DS_BIN=$PWD/$DS_BIN ;; esac  # one run below starts in /
make_idx_subset /usr/share/datasets/fashion-mnist "$TMP/data" 1200 100 || exit 1
spec() { # spec FILE HIDDEN DATADIR [extra watermark options]
  cat > "$1" <<EOF
name: changes
seed: 5
data: {dir: $3}
model: {arch: mnist-mlp, hidden: $2}
train: {epochs: 1}
seeds: [1]
nulls: 0
watermarks:
  whitebox: {bits: 8, targets: 1, epochs: 1, keys_per_class: 5${4:-}}
attacks:
  - {kind: prune, scope: layer, rate: [0.5]}
EOF
}
spec "$TMP/a.yaml" 64 "$TMP/data"
spec "$TMP/b.yaml" 32 "$TMP/data"
R="$TMP/r.h5"
sweep() { $DS_BIN sweep "$@" --threads 1 --quiet; }
py() { $PY - "$@" 2>&1; }

if sweep "$TMP/a.yaml" -o "$R" > "$TMP/a.log" 2>&1; then pass first_run; else fail first_run "$(tail -3 "$TMP/a.log")"; fi
cp "$R" "$TMP/r.before"

# another spec: refused, the file untouched
sweep "$TMP/b.yaml" -o "$R" --resume > "$TMP/b1.log" 2>&1; rc=$?
if [ $rc -ne 0 ] && grep -q "was made from another spec" "$TMP/b1.log" && cmp -s "$R" "$TMP/r.before"
then pass changed_spec_refused; else fail changed_spec_refused "rc $rc; $(tail -2 "$TMP/b1.log")"; fi

# other data at the same path: refused, the file untouched
cp -r "$TMP/data" "$TMP/data.orig"
make_idx_subset /usr/share/datasets/fashion-mnist "$TMP/data2" 1100 100 || exit 1
rm -rf "$TMP/data" && cp -r "$TMP/data2" "$TMP/data"
sweep "$TMP/a.yaml" -o "$R" --resume > "$TMP/d1.log" 2>&1; rc=$?
if [ $rc -ne 0 ] && grep -q "was made from other data: the files in $TMP/data changed" "$TMP/d1.log" &&
   cmp -s "$R" "$TMP/r.before"
then pass changed_data_refused; else fail changed_data_refused "rc $rc; $(tail -2 "$TMP/d1.log")"; fi
rm -rf "$TMP/data" && cp -r "$TMP/data.orig" "$TMP/data"

# the same spec and data again: a plain resume, nothing to do
if sweep "$TMP/a.yaml" -o "$R" --resume > "$TMP/a2.log" 2>&1; then pass same_resume_runs
else fail same_resume_runs "$(tail -3 "$TMP/a2.log")"; fi

# --force with the other spec: both plans in the history, the union counted
if sweep "$TMP/b.yaml" -o "$R" --resume --force > "$TMP/b2.log" 2>&1 &&
   grep -q "holds cells of another spec" "$TMP/b2.log"
then pass changed_spec_forced; else fail changed_spec_forced "$(tail -3 "$TMP/b2.log")"; fi
got=$(py "$R" "$TMP/b.yaml" <<'PYEOF'
import sys, h5py
f = h5py.File(sys.argv[1], "r")
a, runs, t = f.attrs, f["runs"], f["cells"][()]
s = lambda x: x.decode() if isinstance(x, bytes) else str(x)
modes = [s(runs[k].attrs["mode"]) for k in sorted(runs)]
planned = set()
for k in runs:
    planned |= set(runs[k]["cells"][()])
print(modes, len(runs["0001"]["cells"]), int(a["total_cells"]), len(planned), len(set(t["id"])),
      s(a["status"]), s(a["spec_text"]) == open(sys.argv[2]).read(),
      s(runs["0001"].attrs["spec_hash"]) != s(a["spec_hash"]) == s(runs["0003"].attrs["spec_hash"]),
      len(s(a["data_sha256"])), int(a["classes"]), float(a["wb_alpha"]))
PYEOF
)
want="['new', 'resume', 'resume --force'] 3 6 6 6 complete True True 64 10 0.0001"
if [ "$got" = "$want" ]; then pass history_and_total_cells; else fail history_and_total_cells "got $got; want $want"; fi

# the analysis keeps the two models apart: one accuracy table each, 1 seed in each
out="$TMP/tables"
if $PY analysis/tables.py "$R" -o "$out" > "$TMP/t.log" 2>&1 && grep -q "note: 2 model configurations" "$TMP/t.log" &&
   [ -f "$out/table_accuracy_model1.csv" ] && [ -f "$out/table_accuracy_model2.csv" ] &&
   [ "$(grep -c '^# model [12] of 2: mnist-mlp' "$out/tables.md")" = 2 ]
then pass tables_per_model; else fail tables_per_model "$(cat "$TMP/t.log")"; fi
seeds=$(py "$out" <<'PYEOF'
import csv, sys
for k in (1, 2):
    rows = list(csv.DictReader(open("%s/table_accuracy_model%d.csv" % (sys.argv[1], k))))
    print(len(rows), rows[0]["seeds"], end=" ")
PYEOF
)
if [ "$seeds" = "1 1 1 1 " ]; then pass tables_never_merge_models; else fail tables_never_merge_models "$seeds"; fi
if $PY analysis/plot_robustness.py "$R" -o "$TMP/figs" > "$TMP/p.log" 2>&1 &&
   [ -f "$TMP/figs/fig_wb_prune_model1.png" ] && [ -f "$TMP/figs/fig_wb_prune_model2.png" ]
then pass figures_per_model; else fail figures_per_model "$(tail -3 "$TMP/p.log")"; fi

# --force with other data: accepted, recorded
rm -rf "$TMP/data" && cp -r "$TMP/data2" "$TMP/data"
sha0=$(attr "$R" data_sha256)
if sweep "$TMP/b.yaml" -o "$R" --resume --force > "$TMP/d2.log" 2>&1; then
  got=$(py "$R" "$sha0" <<'PYEOF'
import sys, h5py
f = h5py.File(sys.argv[1], "r")
s = lambda x: x.decode() if isinstance(x, bytes) else str(x)
r = f["runs"]
print(len(r), s(r["0004"].attrs["mode"]), s(f.attrs["data_sha256"]) == s(r["0004"].attrs["data_sha256"]) != sys.argv[2])
PYEOF
)
  if [ "$got" = "4 resume --force True" ]; then pass changed_data_forced; else fail changed_data_forced "$got"; fi
else fail changed_data_forced "$(tail -3 "$TMP/d2.log")"; fi
rm -rf "$TMP/data" && cp -r "$TMP/data.orig" "$TMP/data"

# a symbolic link as -o: refused before any work, the file and the link kept
ln -s "$R" "$TMP/link.h5"
cp "$R" "$TMP/r.before"
sweep "$TMP/b.yaml" -o "$TMP/link.h5" --resume > "$TMP/l.log" 2>&1; rc=$?
if [ $rc -ne 0 ] && grep -q -- "-o $TMP/link.h5: is a symbolic link (to $R)" "$TMP/l.log" &&
   [ -L "$TMP/link.h5" ] && cmp -s "$R" "$TMP/r.before" && [ ! -e "$TMP/link.h5.lock" ]
then pass symlink_out_refused; else fail symlink_out_refused "rc $rc; $(tail -2 "$TMP/l.log")"; fi

# a relative data.dir: beside the spec, run from elsewhere
mkdir -p "$TMP/exp"
spec "$TMP/exp/rel.yaml" 16 "../data"
if (cd / && sweep "$TMP/exp/rel.yaml" -o "$TMP/rel.h5" > "$TMP/rel.log" 2>&1) &&
   [ "$(attr "$TMP/rel.h5" data_dir)" = "$TMP/exp/../data" ]
then pass relative_data_dir_beside_spec; else fail relative_data_dir_beside_spec "$(tail -3 "$TMP/rel.log")"; fi

# a file made before format 3 (no /runs, no config, no data fingerprint): a
# resume warns, records its first run from its own spec text, and upgrades it
py "$TMP/rel.h5" "$TMP/old.h5" <<'PYEOF' > "$TMP/mk_old.log"
import sys, h5py, numpy as np
src, dst = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "w")
for k, v in src.attrs.items():
    if k not in ("data_sha256", "data_dir", "classes", "wb_alpha", "blob_store"):
        dst.attrs[k] = v
dst.attrs["format_version"] = np.int32(2)
t = src["cells"][()][:1]   # only the train cell: the resume runs the embed and the attack
names = [n for n in t.dtype.names if n not in ("config", "commitment")]
o = np.empty(t.shape, dtype=np.dtype([(n, t.dtype.fields[n][0]) for n in names]))
for n in names:
    o[n] = t[n]
d = dst.create_dataset("cells", data=o, chunks=(64,), maxshape=(None,))
d.attrs["units"] = src["cells"].attrs["units"][:len(names)]
import os  # format 2 kept its models and keys inline, as uint8 datasets
store = os.path.join(os.path.dirname(sys.argv[1]), src.attrs["blob_store"].decode())
for g in ("models", "keys"):
    for cid, ref in src[g].items():
        if cid.encode() not in set(t["id"]):
            continue
        blob = open(os.path.join(store, ref[()].decode()), "rb").read()
        dst.create_dataset("%s/%s" % (g, cid), data=np.frombuffer(blob, dtype=np.uint8))
PYEOF
chmod 600 "$TMP/old.h5"
if (cd / && sweep "$TMP/exp/rel.yaml" -o "$TMP/old.h5" --resume > "$TMP/old.log" 2>&1) &&
   grep -q "records no data fingerprint (made by an older version)" "$TMP/old.log"; then
  got=$(py "$TMP/old.h5" <<'PYEOF'
import sys, h5py
f = h5py.File(sys.argv[1], "r")
s = lambda x: x.decode() if isinstance(x, bytes) else str(x)
r = f["runs"]
print(int(f.attrs["format_version"]), [s(r[k].attrs["mode"]) for k in sorted(r)], len(r["0001"]["cells"]),
      int(f.attrs["total_cells"]), s(f.attrs["status"]), len(f["cells"]), "config" in f["cells"].dtype.names)
PYEOF
)
  want="5 ['new (recorded when first resumed)', 'resume'] 3 3 complete 3 True"
  if [ "$got" = "$want" ]; then pass format2_file_upgraded_on_resume
  else fail format2_file_upgraded_on_resume "got $got; want $want"; fi
  # its old train row has no config, the new rows have: still one model to the analysis
  if $PY analysis/tables.py "$TMP/old.h5" -o "$TMP/oldt" > "$TMP/oldt.log" 2>&1 &&
     ! grep -q "model configurations" "$TMP/oldt.log" && [ -f "$TMP/oldt/table_accuracy.csv" ]
  then pass format2_rows_one_model; else fail format2_rows_one_model "$(cat "$TMP/oldt.log")"; fi
else fail format2_file_upgraded_on_resume "$(tail -3 "$TMP/old.log")"; fi

# a layer the model does not have: a spec error, no file
spec "$TMP/nosuch.yaml" 16 "$TMP/data" ", layer: nosuch"
sweep "$TMP/nosuch.yaml" -o "$TMP/nosuch.h5" > "$TMP/n.log" 2>&1; rc=$?
if [ $rc -ne 0 ] && [ ! -e "$TMP/nosuch.h5" ] &&
   grep -q "$TMP/nosuch.yaml: watermarks.whitebox.layer: 'nosuch' is not a hidden layer of mnist-mlp" "$TMP/n.log"
then pass spec_layer_checked; else fail spec_layer_checked "rc $rc; $(cat "$TMP/n.log")"; fi

# --set: overrides checked like the spec, the text that ran recorded
if (cd / && sweep "$TMP/exp/rel.yaml" -o "$TMP/set.h5" --set train.epochs=0 --set 'attacks.0.rate=[0.25, 0.5]' \
      --set data.test_limit=50 > "$TMP/set.log" 2>&1); then
  got=$(py "$TMP/set.h5" <<'PYEOF'
import sys, h5py
f = h5py.File(sys.argv[1], "r")
s = lambda x: x.decode() if isinstance(x, bytes) else str(x)
t = f["cells"][()]
text = s(f.attrs["spec_text"])
print(len(t), sorted(float(x) for x in t["strength"][t["kind"] == b"attack"]),
      "# --set train.epochs=0" in text, "test_limit: 50" in text)
PYEOF
)
  if [ "$got" = "4 [0.25, 0.5] True True" ]; then pass set_overrides_run_and_are_recorded
  else fail set_overrides_run_and_are_recorded "$got"; fi
else fail set_overrides_run_and_are_recorded "$(tail -3 "$TMP/set.log")"; fi
sweep "$TMP/exp/rel.yaml" -o "$TMP/set2.h5" --set train.epochs=five > "$TMP/set2.log" 2>&1; rc=$?
if [ $rc -ne 0 ] && [ ! -e "$TMP/set2.h5" ] &&
   grep -q "with --set: $TMP/exp/rel.yaml:[0-9]*: train.epochs: expected an integer, got 'five'" "$TMP/set2.log"
then pass set_checked_like_the_spec; else fail set_checked_like_the_spec "rc $rc; $(cat "$TMP/set2.log")"; fi
sweep "$TMP/exp/rel.yaml" -o "$TMP/set3.h5" --set attacks.5.rate=0.5 > "$TMP/set3.log" 2>&1; rc=$?
if [ $rc -ne 0 ] && grep -q -- "--set attacks.5.rate=0.5: '5' is not an index of that list (1 items)" "$TMP/set3.log"
then pass set_bad_path_refused; else fail set_bad_path_refused "rc $rc; $(cat "$TMP/set3.log")"; fi

# the marked model of a sweep: commitment in the model and in the table; verify,
# given that commitment as the published one, accepts the key and agrees with the table
got=$(py "$TMP/rel.h5" "$TMP" <<'PYEOF'
import os, sys, h5py
f = h5py.File(sys.argv[1], "r")
t = f["cells"][()]
e = [r for r in t if r["kind"] == b"embed"][0]
cid, commit = e["id"].decode(), e["commitment"].decode()
store = os.path.join(os.path.dirname(sys.argv[1]), f.attrs["blob_store"].decode())
blob = lambda g: open(os.path.join(store, f[g][cid][()].decode()), "rb").read()
open(os.path.join(sys.argv[2], "m.h5"), "wb").write(blob("models"))
fd = os.open(os.path.join(sys.argv[2], "k.key"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
os.write(fd, blob("keys")); os.close(fd)
m = h5py.File(os.path.join(sys.argv[2], "m.h5"), "r")
stored = m.attrs["commitment_whitebox"]
stored = stored.decode() if isinstance(stored, bytes) else str(stored)
print(len(commit), stored == commit, commit, int(e["bit_errors"]), int(e["owned"]))
PYEOF
)
set -- $got
if [ "${1:-}" = 64 ] && [ "${2:-}" = True ]; then pass sweep_model_carries_commitment
else fail sweep_model_carries_commitment "$got"; fi
$DS_BIN verify "$TMP/m.h5" --key "$TMP/k.key" --commitment "${3:-none}" --threads 1 --json > "$TMP/v.json" 2> "$TMP/v.err"; rc=$?
v=$(py "$TMP/v.json" <<'PYEOF'
import json, sys
j = json.load(open(sys.argv[1]))
print(j["errors"], int(j["owned"]), j["commitment"])
PYEOF
)
if [ $rc -le 1 ] && [ "$v" = "${4:-x} ${5:-x} published (given)" ] && [ $rc -eq $((1 - ${5:-0})) ]
then pass sweep_mark_verifies_with_commitment
else fail sweep_mark_verifies_with_commitment "rc $rc; verify: $v; table: ${4:-} errors, owned ${5:-}; $(cat "$TMP/v.err")"; fi
finish
