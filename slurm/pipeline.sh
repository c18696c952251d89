#!/bin/bash
# pipeline.sh - submit a sweep and, after it, its figures and tables.
#
#   slurm/pipeline.sh [--wait] [--logdir DIR] [SBATCH-OPTION...] SPEC [OUT]
#
# Submits slurm/sweep.sbatch SPEC OUT, then slurm/plots.sbatch OUT with
# --dependency=afterok:<sweep job> (cancelled if the sweep fails). Options
# before SPEC go to the sweep's sbatch (e.g. --ntasks=17 --time=12:00:00
# --partition=long). OUT defaults to results/<spec file name>.h5; figures and
# tables go to the folder named after it. Prints "sweep job ID" and "plots job
# ID". --wait: wait for the plots job and exit with its status (non-zero if the
# sweep failed). --logdir: the jobs' logs go to DIR (default: results/). Run
# from anywhere; the jobs run in this checkout.
set -euo pipefail

usage() { sed -n '2,/^set /p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }

ROOT=$(cd "$(dirname "$0")/.." && pwd)
wait=0
opts=()
logs=()
while [ $# -gt 0 ]; do
    case $1 in
        --wait) wait=1 ;;
        --logdir) [ $# -ge 2 ] || usage; logs=(--output="$2/slurm-%x-%j.out"); shift ;;
        -h | --help) usage ;;
        -*) opts+=("$1") ;;
        *) break ;;
    esac
    shift
done
[ $# -ge 1 ] && [ $# -le 2 ] || usage
SPEC=$1
OUT=${2:-results/$(basename "$SPEC" .yaml).h5}
# paths as the jobs see them: relative to the checkout, or absolute
case $SPEC in /*) ;; *) [ -f "$SPEC" ] && [ ! -f "$ROOT/$SPEC" ] && SPEC=$(cd "$(dirname "$SPEC")" && pwd)/$(basename "$SPEC") ;; esac
[ -f "$SPEC" ] || [ -f "$ROOT/$SPEC" ] || { echo "pipeline.sh: spec $SPEC not found" >&2; exit 2; }
mkdir -p "$ROOT/results"

sweep=$(sbatch --parsable --chdir="$ROOT" "${logs[@]}" "${opts[@]}" "$ROOT/slurm/sweep.sbatch" "$SPEC" "$OUT")
sweep=${sweep%%;*}
echo "sweep job $sweep: $SPEC -> $OUT"
plots_opts=(--parsable --chdir="$ROOT" "${logs[@]}" --dependency="afterok:$sweep" --kill-on-invalid-dep=yes)
job_state() { { scontrol show job "$1" 2>/dev/null || true; } | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p' | head -1; }
if [ $wait = 1 ]; then
    echo "plots job (after $sweep): waiting"
    rc=0
    plots=$(sbatch --wait "${plots_opts[@]}" "$ROOT/slurm/plots.sbatch" "$OUT") || rc=$?
    plots=${plots%%;*}
    pstate=$(job_state "$plots")
    # a plots job cancelled because the sweep failed ends "successfully" for sbatch --wait
    [ "$rc" = 0 ] && [ -n "$pstate" ] && [ "$pstate" != COMPLETED ] && rc=1
    sstate=$(job_state "$sweep")
    echo "sweep job $sweep: ${sstate:-ended}; plots job $plots: ${pstate:-gone} (exit status $rc)"
    exit $rc
fi
plots=$(sbatch "${plots_opts[@]}" "$ROOT/slurm/plots.sbatch" "$OUT")
echo "plots job ${plots%%;*} (after $sweep): figures and tables of $OUT"
