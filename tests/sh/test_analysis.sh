#!/usr/bin/env bash
# test_analysis.sh - analysis/plot_robustness.py and analysis/tables.py on a
# synthetic results file (tests/fixtures/make_results.py: exact numbers known)
# and, once `deepsigns sweep` exists, on a real one from experiments/tiny.yaml.
cd "$(dirname "$0")/../.." || exit 1
. tests/sh/lib.sh
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl=self,vader OMPI_MCA_oob_tcp_if_include=lo
PLOT=analysis/plot_robustness.py
TABLES=analysis/tables.py
FIGS="fig_wb_prune fig_bb_prune fig_finetune fig_overwrite fig_capacity fig_null fig_other"

# ---------------------------------------------------------------- the fixture
FX=$TMP/fixture.h5
logged fixture_written "$TMP/fixture.log" $PY tests/fixtures/make_results.py "$FX"

out=$TMP/fx
logged plot_fixture_runs "$TMP/plot.log" $PY $PLOT "$FX" -o "$out"
nonempty_outputs plot_fixture_outputs "$TMP/plot.log"
missing=""
for f in $FIGS; do
  for ext in png pdf; do [ -s "$out/$f.$ext" ] || missing="$missing $f.$ext"; done
done
[ -z "$missing" ] && pass plot_fixture_every_figure || fail plot_fixture_every_figure "missing:$missing"
has plot_notes_failed_cell "$TMP/plot.log" "1 failed cell(s) left out"
grep -q '^skipped' "$TMP/plot.log" && fail plot_fixture_nothing_skipped "$(grep '^skipped' "$TMP/plot.log")" \
  || pass plot_fixture_nothing_skipped

logged tables_fixture_runs "$TMP/tables.log" $PY $TABLES "$FX" -o "$out"
nonempty_outputs tables_fixture_outputs "$TMP/tables.log"
md=$out/tables.md
# seeds 1-3: base 0.885/0.887/0.889 (t-interval +-0.497), N = 16 marked 0.001 lower
has table_accuracy_wb "$md" "| white-box | 16 | 3 | 88.70 (88.20–89.20) | 88.60 (88.10–89.10) | -0.10 | 0.00 | – | 3/3 |"
has table_accuracy_bb "$md" "| black-box | 20 | 3 | 88.70 (88.20–89.20) | 88.50 (88.00–89.00) | -0.20 | – | 0.0 | 3/3 |"
has table_accuracy_capacity "$md" "| white-box | 64 | 3 | 88.70 (88.20–89.20) | 88.40 (87.90–88.90) | -0.30 | 1.56 (0.00–5.44) |"
# white-box pruning: BER 0 up to 90 %, 1 (layer) / 2 (global) of 16 bits at 95 %;
# the failed cell (global 99 %, seed 3) leaves 2 checks
has table_wb_prune_90 "$md" "| 90 | 0.00 | 48.74 (48.25–49.24) | 3/3 | 0.00 | 43.43 (42.93–43.92) | 3/3 |"
has table_wb_prune_95 "$md" "| 95 | 6.25 | 33.47 (32.97–33.96) | 0/3 | 12.50 |"
has table_wb_prune_failed_left_out "$md" "| 40.62 (37.50–43.75) | 10.00 | 0/2 |"
has table_bb_prune_theta "$md" "Claim iff m < θ = 12 (K = 20 keys)."
has table_bb_prune_90 "$md" "| 90 | 13.0 (10.5–15.5) |"
has table_finetune "$md" "| RTAL | 10 | 6.25 | 87.90 (87.65–88.15) | 0/3 | 10.0 (7.5–12.5) |"
has table_overwrite "$md" "| black-box | 20 | – | 7.0 (4.5–9.5) | 88.10 (87.60–88.60) | 3/3 |"
has table_other "$md" "| permute | – | 0 | 43.75 (28.22–59.28) |"
# nulls: 0/24 white-box, 1/24 black-box; Clopper-Pearson 95 %: 0/24 -> [0, 14.25 %],
# 1/24 -> [0.105, 21.12 %]; analytic P(Bin(16,1/2) = 0) and P(Bin(20,0.9) <= 11)
has table_null_wb "$md" "| white-box | 16 | p < 0.0001 | 24 | 0/24 | 0.00 | 0.00–14.25 | 0.00153 |"
has table_null_bb "$md" "| black-box | 20 | m < θ = 12 | 24 | 1/24 | 4.17 | 0.11–21.12 | 0.00599 |"
has table_failed "$md" "rank 1: attack prune: out of memory"
has table_counts_latest_rows "$md" "(303 cells, 1 failed)"
has table_check_not_possible "$md" "| done | attack | white-box | dummy | split | 64 | 1 |"
has table_other_no_check "$md" "| dummy | split | 64 | – | – | 0/3 | 88.60 (88.10–89.10) | 0/3 |"
grep -q "run again" "$md" && fail table_superseded_failure_left_out "a failed row that was run again is listed" \
  || pass table_superseded_failure_left_out
has table_null_csv "$out/table_null.csv" "black-box,20,m < θ = 12,24,1,24,4.16667,0.105435,21.1202,0.00598585"

# the statistics against closed forms and known quantiles
check stats_closed_forms $PY - <<'EOF'
import math, sys
sys.path.insert(0, "analysis")
import stats
lo, hi = stats.clopper_pearson(1, 24)
assert abs(lo - (1 - 0.975 ** (1 / 24))) < 1e-9, lo        # Beta(1, 24) quantile
assert abs(stats.clopper_pearson(0, 24)[1] - (1 - 0.025 ** (1 / 24))) < 1e-9
assert abs(stats.t_ppf(0.975, 2) - 4.302652729911275) < 1e-7
assert abs(stats.t_ppf(0.975, 30) - 2.042272456301238) < 1e-7
assert abs(stats.bb_null_fpr(20, 12, 10) - sum(math.comb(20, i) * 0.9**i * 0.1**(20 - i) for i in range(12))) < 1e-15
assert abs(stats.wb_null_fpr(16, 1e-4) / 0.5 ** 16 - 1) < 1e-12
s = stats.summarize([1.0, 2.0])
assert (s.lo, s.hi, s.kind) == (1.0, 2.0, "minmax")
EOF

# smaller files: one seed, one scheme; and no cells at all
logged fixture_small "$TMP/small.log" $PY tests/fixtures/make_results.py "$TMP/wb1.h5" --seeds 1 --scheme whitebox
logged plot_one_seed_one_scheme "$TMP/wb1.log" $PY $PLOT "$TMP/wb1.h5" -o "$TMP/wb1"
has plot_skips_missing_scheme "$TMP/wb1.log" "skipped: fig_bb_prune: no black-box pruning cells"
logged tables_one_seed_one_scheme "$TMP/wb1t.log" $PY $TABLES "$TMP/wb1.h5" -o "$TMP/wb1"
$PY - "$TMP/empty.h5" <<'EOF'
import sys
import h5py, numpy as np
sys.path.insert(0, "tests/fixtures")
import make_results
with h5py.File(sys.argv[1], "w") as f:
    f.attrs["magic"] = np.bytes_(b"DEEPSIGNS-RESULTS")
    f.attrs["format_version"] = np.int32(1)
    f.create_dataset("cells", data=np.zeros(0, make_results.DTYPE))
EOF
$PY $PLOT "$TMP/empty.h5" -o "$TMP/empty" >"$TMP/empty.log" 2>&1 \
  && [ "$(grep -c '^skipped: ' "$TMP/empty.log")" -eq 7 ] && pass plot_empty_skips_all \
  || fail plot_empty_skips_all "$(cat "$TMP/empty.log")"

# default output folder: beside the results file, named after it
cp "$FX" "$TMP/named.h5"
$PY $TABLES "$TMP/named.h5" >/dev/null 2>&1 && [ -s "$TMP/named/tables.md" ] && pass tables_default_outdir \
  || fail tables_default_outdir "no $TMP/named/tables.md"

# ---------------------------------------------------------------- not results files
echo "not hdf5" >"$TMP/text.h5"
$PY -c 'import h5py,sys; f=h5py.File(sys.argv[1],"w"); f.attrs["magic"]="SOMETHING-ELSE"; f.close()' "$TMP/foreign.h5"
$PY -c 'import h5py,sys; f=h5py.File(sys.argv[1],"w"); f.create_dataset("cells",data=[1]); f.close()' "$TMP/nomagic.h5"
for s in $PLOT $TABLES; do
  n=$(basename "$s" .py)
  expect_error "${n}_text_file" "$TMP/text.h5: not an HDF5 file" $PY $s "$TMP/text.h5" -o "$TMP/x"
  expect_error "${n}_foreign_hdf5" "$TMP/foreign.h5: not a deepsigns results file" $PY $s "$TMP/foreign.h5" -o "$TMP/x"
  expect_error "${n}_no_magic" "magic attribute is missing" $PY $s "$TMP/nomagic.h5" -o "$TMP/x"
  expect_error "${n}_missing_file" "$TMP/none.h5: no such file" $PY $s "$TMP/none.h5" -o "$TMP/x"
  lines=$($PY $s "$TMP/text.h5" 2>&1 >/dev/null | wc -l)
  [ "$lines" -eq 1 ] && pass "${n}_error_one_line" || fail "${n}_error_one_line" "$lines lines"
done

# ---------------------------------------------------------------- HOOK: a real results file
# Once `deepsigns sweep` exists (build/deepsigns sweep --help succeeds) and
# experiments/tiny.yaml is there, run the real sweep and check that both scripts
# read its output. The exact numbers above stay on the fixture.
SPEC=experiments/tiny.yaml
if [ -x "$DS_BIN" ] && [ -f "$SPEC" ]; then
  REAL=$TMP/tiny.h5
  logged real_sweep_tiny "$TMP/sweep.log" \
    timeout 1200 mpirun --oversubscribe -np 2 "$DS_BIN" sweep "$SPEC" -o "$REAL"
  if [ -s "$REAL" ]; then
    logged real_plot_runs "$TMP/real_plot.log" $PY $PLOT "$REAL" -o "$TMP/real"
    nonempty_outputs real_plot_outputs "$TMP/real_plot.log"
    logged real_tables_runs "$TMP/real_tables.log" $PY $TABLES "$REAL" -o "$TMP/real"
    has real_tables_accuracy "$TMP/real/tables.md" "## Base vs. marked test accuracy"
    # the reader's idea of the file is the writer's: the same columns, and the
    # root attributes it reads instead of assuming
    agree=$($PY - "$REAL" <<'PYEOF' 2>&1
import sys
sys.path.insert(0, "analysis")
import h5py, resultsfile as rf
f = h5py.File(sys.argv[1], "r")
cols = set(f["cells"].dtype.names)
known = set(rf.REQUIRED_FIELDS) | set(rf.OPTIONAL_STRING_FIELDS) | set(rf.OPTIONAL_NUMBER_FIELDS)
missing = [a for a in ("classes", "wb_alpha", "format_version", "status") if a not in f.attrs]
r = rf.load(sys.argv[1])
print(sorted(cols - known), sorted(known - cols), missing, r.classes == int(f.attrs["classes"]),
      r.wb_alpha == float(f.attrs["wb_alpha"]), int(f.attrs["format_version"]) in rf.SUPPORTED_FORMATS)
PYEOF
)
    if [ "$agree" = "[] [] [] True True True" ]; then pass real_file_matches_reader
    else fail real_file_matches_reader "writer vs reader (extra columns, missing columns, missing attributes, ...): $agree"; fi
  else
    fail real_sweep_tiny_file "no results file from the real sweep"
  fi
else
  fail real_sweep_tiny "no deepsigns binary ($DS_BIN) or no $SPEC: the analysis must be checked against a real sweep"
fi

finish
