#!/usr/bin/env bash
# run.sh - `make bench`: deepsigns against PyTorch CPU (Debian's python3-torch),
# in one run, interleaved (ours, PyTorch, ours, PyTorch, ...), on the same data,
# architecture, batch, optimizer and thread pools:
#   - training samples/s (SGD lr 0.01 momentum 0.9, batch BATCH) and inference
#     samples/s (the forward without gradients that eval and verify use, batches
#     of 256), at each thread count of THREADS, REPS times each; the median
#     ratio with its min and max;
#   - the share of our training step spent in the GEMM kernels (every sgemm and
#     oneDNN convolution call), the step's GFLOP/s, and those kernels alone on
#     the shapes that very step issued;
#   - the wall time of one `deepsigns verify` call, white-box and black-box;
#   - tests/bench/bench_gemm (if built): sgemm of OpenBLAS, BLIS, libxsmm and
#     oneDNN and oneDNN's convolution on our shapes.
# Results: $BUILD/bench/results.tsv (one row per arch x threads x mode x rep),
# sgemm.tsv, verify.tsv, gemm.tsv; tables on stdout (markdown).
#
#   REPS=3             repetitions of each measurement per engine
#   BUDGET=3           seconds per measurement (each runs at least 2 steps)
#   THREADS="1 2"      thread counts
#   BATCH=128          training batch size
#   ARCHS="mnist-mlp mnist-cnn cifar10-cnn wrn-16-4 wrn-10-1"
#   VERIFY_ARCHS="mnist-mlp mnist-cnn cifar10-cnn wrn-10-1"   (VERIFY=0: skip)
#   GEMM=1             run bench_gemm (GEMM=0: skip)
#   COMPARE="build build-native"   instead of all the above: our engine alone, the
#                      bench_train of each build dir named, interleaved (rep 1 of
#                      each build, rep 2 of each, ...), train and infer per arch;
#                      per build the median, min and max samples per CPU second
#                      (robust to other work on the machine) and per wall second,
#                      and the median [min, max] of the per-rep ratios to the first
#                      build ($OUT/compare.tsv). For the ARCH= choice (docs/performance.md).
# The CIFAR-10-shaped data are random (a throughput measurement needs no real
# images); the MNIST ones are Fashion-MNIST. The environment (OPENBLAS_CORETYPE
# included) is left as it is. On a 2-core machine shared with other work the
# numbers are noisy: read the min and max beside each median.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
REPS=${REPS:-3}
BUDGET=${BUDGET:-3}
THREADS=${THREADS:-1 2}
BATCH=${BATCH:-128}
ARCHS=${ARCHS:-mnist-mlp mnist-cnn cifar10-cnn wrn-16-4 wrn-10-1}
VERIFY=${VERIFY:-1}
VERIFY_ARCHS=${VERIFY_ARCHS:-mnist-mlp mnist-cnn cifar10-cnn wrn-10-1}
GEMM=${GEMM:-1}
PY=/usr/bin/python3
FMNIST=/usr/share/datasets/fashion-mnist
OUT=$BUILD/bench
BT=$BUILD/bench/bench_train
mkdir -p "$OUT"
[ -x "$BT" ] || { echo "run.sh: $BT is not built (make bench)" >&2; exit 2; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# random CIFAR-10 binary batches: 5 x 1000 training records, 1000 test
$PY tests/bench/random_cifar.py "$tmp/cifar"

field() { awk -v k="$1" '$1 == k {print $2}'; }

# arch_spec NAME: "ARCH DATA [DEPTH WIDEN]"
arch_spec() {
  case $1 in
    mnist-mlp|mnist-cnn) echo "$1 $FMNIST" ;;
    cifar10-cnn) echo "$1 $tmp/cifar" ;;
    wrn-*-*) local dw=${1#wrn-}; echo "cifar10-wrn $tmp/cifar ${dw%-*} ${dw#*-}" ;;
    *) echo "run.sh: unknown arch $1" >&2; return 2 ;;
  esac
}

set_threads() {
  export OPENBLAS_NUM_THREADS=$1 OMP_NUM_THREADS=$1 MKL_NUM_THREADS=$1 BLIS_NUM_THREADS=$1
}

# COMPARE: builds of our engine against each other, nothing else
if [ -n "${COMPARE:-}" ]; then
  for b in $COMPARE; do
    [ -x "$b/bench/bench_train" ] || { echo "run.sh: $b/bench/bench_train is not built" >&2; exit 2; }
  done
  CT=$OUT/compare.tsv
  printf 'build\tcflags\tarch\tthreads\tmode\trep\tsamples_per_s\tcpu_samples_per_s\n' >"$CT"
  echo "# deepsigns build comparison ($(date -u '+%Y-%m-%d %H:%M UTC'), git $(git rev-parse --short=12 HEAD 2>/dev/null || echo '?'))"
  echo "CPU: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc --all) cores; load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "batch $BATCH (inference 256); $REPS reps x ${BUDGET}s per measurement, interleaved; threads: $THREADS"
  for t in $THREADS; do
    set_threads "$t"
    for rep in $(seq 1 "$REPS"); do
      for name in $ARCHS; do
        set -- $(arch_spec "$name")
        arch=$1 data=$2; shift 2
        for mode in train infer; do
          for b in $COMPARE; do
            o=$("$b/bench/bench_train" "$mode" "$arch" "$data" "$BATCH" "$BUDGET" "$@")
            flags=$(grep -o -- '-march=[^ ]*' "$b/gen/cflags" || echo '(no -march)')
            printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$b" "$flags" "$name" "$t" "$mode" "$rep" \
              "$(echo "$o" | field samples_per_s)" "$(echo "$o" | field cpu_samples_per_s)" >>"$CT"
            echo "  $b $name threads $t $mode rep $rep: $(echo "$o" | field samples_per_s) samples/s," \
              "$(echo "$o" | field cpu_samples_per_s) per CPU second" >&2
          done
        done
      done
    done
  done
  echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
  $PY - "$CT" <<'PYEOF'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
builds = list(dict.fromkeys(r["build"] for r in rows))
flags = {r["build"]: r["cflags"] for r in rows}
keys = list(dict.fromkeys((r["arch"], r["threads"], r["mode"]) for r in rows))
for col, what in (("cpu_samples_per_s", "samples per CPU second"), ("samples_per_s", "samples per wall second")):
    print()
    print(f"### {what}")
    print()
    print("| arch | threads | mode | " + " | ".join(f"{b} ({flags[b]}) median [min, max]" for b in builds) +
          " | " + " | ".join(f"{b} / {builds[0]} median [min, max]" for b in builds[1:]) + " |")
    print("| --- | ---: | --- |" + " ---: |" * len(builds) + " ---: |" * (len(builds) - 1))
    for k in keys:
        g = {b: {r["rep"]: float(r[col]) for r in rows if (r["arch"], r["threads"], r["mode"]) == k
                 and r["build"] == b} for b in builds}
        cells = []
        for b in builds:
            v = list(g[b].values())
            cells.append(f"{statistics.median(v):.1f} [{min(v):.1f}, {max(v):.1f}]")
        for b in builds[1:]:
            ratio = [g[b][rep] / g[builds[0]][rep] for rep in g[b] if rep in g[builds[0]]]
            cells.append(f"{statistics.median(ratio):.3f} [{min(ratio):.3f}, {max(ratio):.3f}]")
        print(f"| {k[0]} | {k[1]} | {k[2]} | " + " | ".join(cells) + " |")
PYEOF
  exit 0
fi

echo "# deepsigns bench ($(date -u '+%Y-%m-%d %H:%M UTC'), git $(git rev-parse --short=12 HEAD 2>/dev/null || echo '?'))"
echo
echo "CPU: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc --all) cores"
echo "Flags: $(lscpu | sed -n 's/^Flags: *//p')"
echo "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE-(unset)}; $("$BT" info | tr '\n' ' ')"
echo "PyTorch $($PY -c 'import torch; print(torch.__version__ + ",", [l for l in torch.__config__.parallel_info().splitlines() if "backend" in l][0].strip() + ", oneDNN", torch.backends.mkldnn.is_available())')"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg) (other work on this machine makes the numbers noisy)"
echo "batch $BATCH (inference 256), SGD lr 0.01 momentum 0.9; $REPS reps x ${BUDGET}s per measurement; threads: $THREADS"
echo

TSV=$OUT/results.tsv
printf 'arch\tthreads\tmode\trep\tours_samples_per_s\ttorch_samples_per_s\tratio\tours_gemm_share\tours_gemm_gflops\n' >"$TSV"
SG=$OUT/sgemm.tsv
printf 'arch\tthreads\tstep_ms\tgemm_ms_in_step\tgemm_share\tgemm_gflop_per_step\tstep_gflops\tgemm_in_step_gflops\tgemm_alone_gflops\tdistinct_calls\n' >"$SG"

# this machine's fp32 GEMM ceiling at each thread count (a 2048^3 sgemm, the better
# of oneDNN's and OpenBLAS's): the bound on any engine's GEMM GFLOP/s here
PK=$OUT/peak.tsv
printf 'threads\tds_sgemm_gflops\topenblas_gflops\tpeak_gflops\n' >"$PK"
for t in $THREADS; do
  set_threads "$t"
  o=$("$BT" peak 2048 2)
  printf '%s\t%s\t%s\t%s\n' "$t" "$(echo "$o" | field ds_sgemm_gflops)" \
    "$(echo "$o" | field openblas_gflops)" "$(echo "$o" | field peak_gflops)" >>"$PK"
  echo "fp32 GEMM ceiling, $t thread(s): $(echo "$o" | field peak_gflops) GFLOP/s (2048^3 sgemm)" >&2
done

t_start=$SECONDS
for t in $THREADS; do
  set_threads "$t"
  for name in $ARCHS; do
    spec=$(arch_spec "$name")
    set -- $spec
    arch=$1 data=$2; shift 2
    dw=("$@")
    for mode in train infer; do
      for rep in $(seq 1 "$REPS"); do
        o=$("$BT" "$mode" "$arch" "$data" "$BATCH" "$BUDGET" "${dw[@]}")
        p=$($PY tests/bench/torch_train.py "$mode" "$arch" "$data" "$BATCH" "$BUDGET" "$t" "${dw[@]}")
        if [ "$(echo "$o" | field params)" != "$(echo "$p" | field params)" ]; then
          echo "run.sh: $name: deepsigns and PyTorch models differ in size" >&2
          exit 1
        fi
        os=$(echo "$o" | field samples_per_s) ps=$(echo "$p" | field samples_per_s)
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$t" "$mode" "$rep" "$os" "$ps" \
          "$(awk -v a="$os" -v b="$ps" 'BEGIN {printf "%.4f", a / b}')" \
          "$(echo "$o" | field gemm_share)" "$(echo "$o" | field step_gflops)" >>"$TSV"
        echo "  $name threads $t $mode rep $rep: ours $os, pytorch $ps samples/s" >&2
      done
    done
    o=$("$BT" gemm "$arch" "$data" "$BATCH" "$BUDGET" "${dw[@]}")
    row="$name	$t"
    for k in step_ms gemm_ms_in_step gemm_share gemm_gflop_per_step step_gflops \
             gemm_in_step_gflops gemm_alone_gflops distinct_calls; do
      row="$row	$(echo "$o" | field $k)"
    done
    echo "$row" >>"$SG"
  done
done
echo "(throughput: $((SECONDS - t_start)) s)" >&2

$PY - "$TSV" "$SG" "$PK" <<'PYEOF'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
peak = {r["threads"]: float(r["peak_gflops"]) for r in csv.DictReader(open(sys.argv[3]), delimiter="\t")}
print("## Throughput, deepsigns / PyTorch (samples/s, medians; ratio: median [min, max] of the per-rep ratios)")
print()
print("PyTorch GFLOP/s: its samples/s times our GEMM flops per sample (the same layers). Bound: the")
print("ratio an engine would reach running those flops at the machine's fp32 GEMM ceiling (peak.tsv)")
print("and nothing else; no fp32 engine can exceed it.")
print()
print("| arch | threads | mode | reps | deepsigns | PyTorch | ratio | [min, max] | GEMM share | ours GFLOP/s | PyTorch GFLOP/s | bound |")
print("| --- | ---: | --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |")
seen = []
for r in rows:
    key = (r["arch"], r["threads"], r["mode"])
    if key not in seen:
        seen.append(key)
for key in seen:
    g = [r for r in rows if (r["arch"], r["threads"], r["mode"]) == key]
    ours = statistics.median(float(r["ours_samples_per_s"]) for r in g)
    theirs = statistics.median(float(r["torch_samples_per_s"]) for r in g)
    ratios = [float(r["ratio"]) for r in g]
    share = statistics.median(float(r["ours_gemm_share"]) for r in g)
    per_sample = statistics.median(float(r["ours_gemm_gflops"]) / float(r["ours_samples_per_s"]) for r in g)
    theirs_gf = theirs * per_sample
    bound = f"{peak[key[1]] / theirs_gf:.2f}x" if key[1] in peak and theirs_gf > 0 else "-"
    print(f"| {key[0]} | {key[1]} | {key[2]} | {len(g)} | {ours:.1f} | {theirs:.1f} | "
          f"{statistics.median(ratios):.2f}x | [{min(ratios):.2f}, {max(ratios):.2f}] | {share:.0%} | "
          f"{ours * per_sample:.1f} | {theirs_gf:.1f} | {bound} |")
print()
print("## Our training step against its GEMM kernels alone (sgemm and oneDNN convolution calls; their flops only; one measurement each)")
print()
print("| arch | threads | step ms | GEMM ms in step | share | GFLOP/step | step GFLOP/s | GEMM in step GFLOP/s | GEMM alone GFLOP/s | calls |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for r in csv.DictReader(open(sys.argv[2]), delimiter="\t"):
    print(f"| {r['arch']} | {r['threads']} | {float(r['step_ms']):.1f} | {float(r['gemm_ms_in_step']):.1f} | "
          f"{float(r['gemm_share']):.0%} | {float(r['gemm_gflop_per_step']):.2f} | "
          f"{float(r['step_gflops']):.1f} | {float(r['gemm_in_step_gflops']):.1f} | "
          f"{float(r['gemm_alone_gflops']):.1f} | {r['distinct_calls']} |")
print()
PYEOF

# ---- wall time per `deepsigns verify` call ----
if [ "$VERIFY" = 1 ]; then
  t_start=$SECONDS
  $PY tests/fixtures/make_idx_subset.py "$FMNIST" "$tmp/fmnist" 6000 1000
  VT=$OUT/verify.tsv
  printf 'arch\tscheme\tthreads\trep\tseconds\texit\n' >"$VT"
  DS=$BUILD/deepsigns
  for name in $VERIFY_ARCHS; do
    spec=$(arch_spec "$name")
    set -- $spec
    arch=$1 data=$2; shift 2
    [ "$data" = "$FMNIST" ] && data=$tmp/fmnist
    extra=()
    [ $# -eq 2 ] && extra=(--depth "$1" --widen "$2")
    d=$tmp/v-$name
    mkdir -p "$d"
    set_threads 2
    T=(--threads 2 --quiet --data "$data")
    "$DS" train --arch "$arch" "${extra[@]}" --epochs 1 --seed 3 "${T[@]}" -o "$d/plain.h5" >/dev/null
    wb=$("$DS" embed --scheme whitebox "$d/plain.h5" --keys-per-class 40 --epochs 1 --seed 4 "${T[@]}" \
         --key "$d/wb.key" -o "$d/wb.h5" --json | $PY -c 'import json, sys; print(json.load(sys.stdin)["commitment"])')
    bb=$("$DS" embed --scheme blackbox "$d/plain.h5" --keys 20 --epochs 1 --seed 5 "${T[@]}" \
         --key "$d/bb.key" -o "$d/bb.h5" --json | $PY -c 'import json, sys; print(json.load(sys.stdin)["commitment"])')
    for t in $THREADS; do
      set_threads "$t"
      for rep in $(seq 1 "$REPS"); do
        for scheme in whitebox blackbox; do
          if [ $scheme = whitebox ]; then f=wb c=$wb; else f=bb c=$bb; fi
          t0=$EPOCHREALTIME
          rc=0
          "$DS" verify "$d/$f.h5" --key "$d/$f.key" --commitment "$c" --threads "$t" --json \
            >"$d/verify.json" || rc=$?
          t1=$EPOCHREALTIME
          if [ $rc -ne 0 ] && [ $rc -ne 1 ]; then
            echo "run.sh: verify of the $scheme mark of $name failed (exit $rc)" >&2
            exit 1
          fi
          printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$scheme" "$t" "$rep" \
            "$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.4f", b - a}')" "$rc" >>"$VT"
        done
      done
    done
  done
  echo "(verify: $((SECONDS - t_start)) s)" >&2
  $PY - "$VT" <<'PYEOF'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
print("## Wall time per `deepsigns verify` call (s; process start, model and key load, check)")
print()
print("White-box: 2 target classes x 40 key images, 32 bits each; black-box: 20 key images.")
print("Models trained for 1 epoch on 5500 Fashion-MNIST images (CIFAR: random images).")
print()
print("| arch | scheme | threads | calls | median | min | max | verdict exit |")
print("| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |")
seen = []
for r in rows:
    k = (r["arch"], r["scheme"], r["threads"])
    if k not in seen:
        seen.append(k)
for k in seen:
    s = [float(r["seconds"]) for r in rows if (r["arch"], r["scheme"], r["threads"]) == k]
    e = sorted({r["exit"] for r in rows if (r["arch"], r["scheme"], r["threads"]) == k})
    print(f"| {k[0]} | {k[1]} | {k[2]} | {len(s)} | {statistics.median(s):.3f} | {min(s):.3f} | "
          f"{max(s):.3f} | {','.join(e)} |")
print()
PYEOF
fi

# ---- the GEMM backends on our shapes (tests/bench/bench_gemm.c) ----
if [ "$GEMM" = 1 ] && [ -x "$BUILD/bench/bench_gemm" ]; then
  t_start=$SECONDS
  for t in $THREADS; do
    set_threads "$t"
    "$BUILD/bench/bench_gemm" --reps "$REPS" --tsv "$OUT/gemm-$t.tsv"
  done
  echo "(gemm: $((SECONDS - t_start)) s)" >&2
fi
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "TSV files in $OUT/: results.tsv peak.tsv sgemm.tsv verify.tsv gemm-*.tsv"
