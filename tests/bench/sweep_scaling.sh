#!/usr/bin/env bash
# sweep_scaling.sh - the sweep engine's scaling on this machine (a benchmark, not
# a test): tests/bench/sweep-cpu.yaml with 1 worker (mpirun -np 2) and with 2
# workers (-np 3), one BLAS thread per rank. Prints cells per hour for each and
# their ratio; the same ratio for two bare `deepsigns train` processes against
# one (what the hardware gives two single-threaded BLAS processes); the
# coordinator's CPU use (utime + stime over wall time, from /proc, and the
# sweep's own split into writing the results file and the rest, waiting
# included); and each rank's resident and proportional memory (smaps_rollup
# Rss/Pss) next to the size of the data it shares, to show the data are held
# once per node (Pss of the ranks splits the shared window).
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BUILD:-build}/deepsigns
SPEC=tests/bench/sweep-cpu.yaml
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl=${OMPI_MCA_btl:-self,vader} OMPI_MCA_oob_tcp_if_include=${OMPI_MCA_oob_tcp_if_include:-lo}
export OPENBLAS_NUM_THREADS=1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
tick=$(getconf CLK_TCK)

run() { # run NP: prints "cells seconds coord_cpu_fraction"
  local np=$1 out="$tmp/np$1.h5" log="$tmp/np$1.log"
  local t0 t1 pid coord cpu0 mem=""
  t0=$(date +%s.%N)
  mpirun --oversubscribe -np "$np" "$BIN" sweep "$SPEC" -o "$out" > "$log" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do coord=$(sed -n 's/.*coordinator pid \([0-9]*\).*/\1/p' "$log"); [ -n "$coord" ] && break; sleep 0.1; done
  local samples=0 peak=""
  while kill -0 $pid 2>/dev/null; do
    # memory of every rank, sampled mid-run
    if [ $samples -eq 20 ]; then
      peak=$(for p in $(pgrep -f "sweep $SPEC -o $out"); do
        [ "$(cat /proc/$p/comm 2>/dev/null)" = deepsigns ] || continue
        awk -v p=$p '/^Rss:/{r=$2} /^Pss:/{s=$2} /^Shared_Clean:|^Shared_Dirty:/{sh+=$2} END{printf "pid %s Rss %.0f MB Pss %.0f MB shared %.0f MB; ", p, r/1024, s/1024, sh/1024}' /proc/$p/smaps_rollup 2>/dev/null
      done)
    fi
    [ -r /proc/$coord/stat ] && cpu0=$(awk '{print $14 + $15}' /proc/$coord/stat)
    samples=$((samples + 1))
    sleep 0.5
  done
  wait $pid
  t1=$(date +%s.%N)
  local cells
  cells=$(/usr/bin/python3 -c 'import h5py,sys; print(len(h5py.File(sys.argv[1],"r")["cells"]))' "$out")
  awk -v c="$cells" -v a="$t0" -v b="$t1" -v u="$cpu0" -v k="$tick" 'BEGIN{print c, b - a, u / k / (b - a)}'
  echo "  memory (np $np): $peak" >&2
  # how busy the engine keeps its workers: cell time over workers x wall time
  /usr/bin/python3 -c 'import h5py,sys; c=h5py.File(sys.argv[1],"r")["cells"][()]; w=int(sys.argv[2])-1; t=float(sys.argv[3]); print("  (np %s) workers busy %.1f %% of the wall time (cell seconds %.1f over %d x %.1f s)" % (sys.argv[2], 100*c["seconds"].sum()/(w*t), c["seconds"].sum(), w, t))' "$out" "$np" "$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b - a}')" >&2
  grep 'coordinator CPU' "$log" | sed "s/^/  (np $np) /" >&2
}
awk 'BEGIN{printf "data shared per node: %.1f MB (12000 + 2000 images of 784 bytes + labels)\n", 14000 * 785 / 1048576}'
read -r c1 s1 u1 < <(run 2)
read -r c2 s2 u2 < <(run 3)
awk -v c1="$c1" -v s1="$s1" -v u1="$u1" -v c2="$c2" -v s2="$s2" -v u2="$u2" 'BEGIN{
  printf "1 worker : %d cells in %.1f s = %.0f cells/h; coordinator CPU %.2f %%\n", c1, s1, c1 * 3600 / s1, u1 * 100
  printf "2 workers: %d cells in %.1f s = %.0f cells/h; coordinator CPU %.2f %%\n", c2, s2, c2 * 3600 / s2, u2 * 100
  printf "speed-up 2 workers / 1 worker: %.2fx\n", (c2 / s2) / (c1 / s1) }'
# the hardware's own scaling: two independent single-threaded trainings against one
t0=$(date +%s.%N)
"$BIN" train --arch mnist-mlp --epochs 1 --quiet -o "$tmp/a.h5" > /dev/null
t1=$(date +%s.%N)
"$BIN" train --arch mnist-mlp --epochs 1 --quiet -o "$tmp/b.h5" > /dev/null &
"$BIN" train --arch mnist-mlp --epochs 1 --quiet --seed 2 -o "$tmp/c.h5" > /dev/null
wait
t2=$(date +%s.%N)
awk -v a="$t0" -v b="$t1" -v c="$t2" 'BEGIN{printf "bare training, 2 processes / 1 process: %.2fx (%.1f s alone, %.1f s for two at once)\n", 2 * (b - a) / (c - b), b - a, c - b}'
