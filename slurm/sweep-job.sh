# shellcheck shell=bash
# sweep-job.sh - the body of a sweep job, sourced by sweep.sbatch and
# array.sbatch in the batch shell itself, so that the shell that Slurm signals
# (--signal=B:TERM@60, scancel --signal=TERM --batch) is the one that traps.
#
#   ds_sweep_job SPEC OUT    run `deepsigns sweep SPEC -o OUT` over the job's
#                            tasks; with --resume when OUT exists
#
# Settings (environment, set by the sbatch script's edit block):
#   DS_BIN           the deepsigns program            [build/deepsigns]
#   LAUNCHER         auto | srun | mpirun  (auto: srun --mpi=pmix when srun lists
#                    pmix, else mpirun)                [auto]
#   MPIRUN_ARGS      extra mpirun options, e.g. --oversubscribe   []
#   GRACE            seconds the sweep waits for cells in flight after a stop [40]
#   REQUEUE_ON_TERM  yes: after a SIGTERM to the batch shell (the time-limit
#                    warning, or scancel --signal=TERM --batch) the sweep stops
#                    cleanly and the job requeues itself to resume  [yes]
# A plain `scancel` cancels for good: the job is then no longer RUNNING and is
# not requeued. Exit status: the sweep's (0 done, 2 error, 3 interrupted).

ds_log() { printf '%s [job %s%s] %s\n' "$(date '+%F %T')" "${SLURM_JOB_ID:-none}" \
    "${SLURM_RESTART_COUNT:+, restart $SLURM_RESTART_COUNT}" "$*"; }

# ds_launcher: srun or mpirun, from LAUNCHER
ds_launcher() {
    case ${LAUNCHER:-auto} in
        srun | mpirun) echo "$LAUNCHER" ;;
        auto)
            if command -v srun >/dev/null && srun --mpi=list 2>&1 | grep -qw pmix; then
                echo srun
            else
                echo mpirun
            fi ;;
        *) ds_log "error: LAUNCHER=$LAUNCHER: expected auto, srun or mpirun"; return 2 ;;
    esac
}

# ds_sweep_cmd LAUNCHER BIN SPEC OUT: sets cmd, the sweep's command line (with
# --resume when OUT exists)
ds_sweep_cmd() {
    local args=(sweep "$3" -o "$4" --grace "${GRACE:-40}" --threads "${SLURM_CPUS_PER_TASK:-1}")
    if [ -e "$4" ]; then
        args+=(--resume)
        ds_log "resuming $4"
    fi
    if [ "$1" = srun ]; then
        cmd=(srun --mpi=pmix "$2" "${args[@]}")
    else
        # shellcheck disable=SC2206  # MPIRUN_ARGS is a list of words on purpose
        cmd=(mpirun -np "${SLURM_NTASKS:-1}" ${MPIRUN_ARGS:-} "$2" "${args[@]}")
    fi
}

# ds_launch_failed RC ERRLOG: whether srun failed before the program started
# (srun's own messages say so; its status may still be 0)
ds_launch_failed() {
    case $1 in 2 | 3) return 1 ;; esac   # the sweep ran: error or interrupted
    sleep 0.2   # let tee finish the copy
    grep -qE 'launch failed|aborted before step completely launched|Unable to create step' "$2"
}

ds_job_state() { scontrol show job "$SLURM_JOB_ID" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p' | head -1; }

ds_sweep_job() {
    local spec=$1 out=$2 bin=${DS_BIN:-build/deepsigns} launcher rc=0
    [ -x "$bin" ] || { ds_log "error: $bin not found or not executable (run make; or set DS_BIN)"; return 2; }
    [ -f "$spec" ] || { ds_log "error: spec $spec not found (in $PWD)"; return 2; }
    mkdir -p "$(dirname "$out")" || return 2
    launcher=$(ds_launcher) || return 2

    # The sweep stops cleanly on SIGUSR1 (both srun and mpirun forward it to every
    # rank; mpirun would answer SIGTERM by killing the job).
    local child stopped=0 try errlog cmd
    errlog=$(mktemp "${TMPDIR:-/tmp}/ds-launch.XXXXXX") || return 2
    trap 'stopped=1; ds_log "SIGTERM: asking the sweep to stop (SIGUSR1 to $launcher)"; kill -USR1 "$child" 2>/dev/null' TERM INT
    for try in 1 2 3; do
        ds_sweep_cmd "$launcher" "$bin" "$spec" "$out"
        ds_log "on $(hostname): ${cmd[*]}"
        : >"$errlog"
        # stderr still reaches the log; a copy tells a failed step launch apart
        "${cmd[@]}" 2> >(tee -a "$errlog" >&2) &
        child=$!
        while :; do
            wait "$child"
            rc=$?
            kill -0 "$child" 2>/dev/null || break   # a trapped signal interrupted wait
        done
        # srun can fail to launch the step, and then exit 0 having run nothing
        # (seen on local-slurm with pmix, on fresh and requeued jobs): try again
        # (with --resume if the file exists by now); never report it as done
        ds_launch_failed "$rc" "$errlog" || break
        [ "$rc" = 0 ] && rc=1
        [ "$stopped" = 0 ] && [ "$try" -lt 3 ] || break
        ds_log "the step did not launch (srun status $rc): trying again in 5 s"
        sleep 5
    done
    rm -f "$errlog"
    trap - TERM INT

    case $rc in
        0) ds_log "sweep complete: $out" ;;
        3) ds_log "sweep interrupted: $out holds the cells done so far" ;;
        *) ds_log "sweep failed with status $rc" ;;
    esac
    if [ "$rc" = 3 ] && [ "$stopped" = 1 ] && [ "${REQUEUE_ON_TERM:-yes}" = yes ] \
            && [ -n "${SLURM_JOB_ID:-}" ] && [ "$(ds_job_state)" = RUNNING ]; then
        # log first: the requeue signals this job at once (and the shell ignores that)
        ds_log "requeueing the job: the next run resumes $out"
        trap '' TERM
        scontrol requeue "$SLURM_JOB_ID" && return 0
        trap - TERM
        ds_log "scontrol requeue failed: submit the same job again to resume"
    fi
    return "$rc"
}
