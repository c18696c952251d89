/* coord.c - the sweep coordinator (rank 0): a dynamic queue of the plan's cells
 * over the workers, and the writing of each result as it arrives (see roles.h;
 * the messages are in proto.h, the results file's opening in coord_file.c).
 *
 * A cell can run when the cells whose model and key it needs are done; a cell
 * whose input failed is recorded failed without running. The coordinator hands
 * a runnable cell to each idle worker with the references of the blobs it
 * needs (the worker reads those it does not hold from the store), then writes
 * what has arrived while the workers compute, then waits (asleep) for the next
 * message. The workers write the blobs of what they make to the store before
 * they report it; the coordinator checks each is there (its size) before the
 * row that names it is committed, and never holds a model or key itself.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "deepsigns/outpath.h"
#include "exp/coord.h"
#include "exp/outlock.h"
#include "exp/proto.h"
#include "exp/roles.h"

/* CPU time of this process (user + system), for the coordinator's accounting. */
static double cpu_seconds(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0) return 0.0;
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* The blob of cell i's model or key: known since its cell finished, or read
 * from the results file (a cell done in an earlier run). */
static ds_status coord_blob_ref(ds_coord *c, int i, ds_proto_image kind, ds_blob_ref *out, ds_err *err)
{
    ds_blob_ref *ref = kind == DS_IMAGE_MODEL ? &c->model[i] : &c->key[i];
    if (!ref->hex[0]) {
        ds_status st = ds_results_get_blob_ref(c->res, kind == DS_IMAGE_MODEL ? "models" : "keys",
                                               c->plan->cells[i].id, ref, err);
        if (st) return st;
        if (!ref->hex[0])
            return ds_err_set(err, DS_EFORMAT, "%s: cell %s is done but its %s is not in the file",
                              c->o->out, c->plan->cells[i].id, kind == DS_IMAGE_MODEL ? "model" : "key");
    }
    *out = *ref;
    return DS_OK;
}

/* The task of cell i: the cell and the blobs of the model and key it needs. */
static ds_status coord_task_make(ds_coord *c, int i, ds_proto_task *t, ds_err *err)
{
    const ds_cell *cell = &c->plan->cells[i];
    memset(t, 0, sizeof *t);
    t->cell = i;
    t->model_cell = cell->parent;
    t->key_cell = cell->key_cell;
    ds_status st = DS_OK;
    if (t->model_cell >= 0) st = coord_blob_ref(c, t->model_cell, DS_IMAGE_MODEL, &t->model, err);
    if (!st && t->key_cell >= 0) st = coord_blob_ref(c, t->key_cell, DS_IMAGE_KEY, &t->key, err);
    return st;
}

/* A store that could not be written: say what the results file holds and how to go on. */
static ds_status coord_eio_explain(const ds_coord *c, ds_status st, ds_err *err)
{
    if (st != DS_EIO || !err) return st;
    size_t at = strlen(err->msg);
    snprintf(err->msg + at, sizeof err->msg - at,
             "; %s keeps its last commit (%zu row%s): make room (or fix the location), "
             "then run again with --resume", c->o->out, c->committed, c->committed == 1 ? "" : "s");
    return st;
}

/* Cells done of those to run, failures, cells in flight; ds_progress adds the
 * rate, elapsed time and ETA, as a bar on a terminal or a line every few
 * seconds in a log. */
static void coord_progress_show(ds_coord *c)
{
    char extra[96];
    const double el = ds_now() - c->prog.t0;
    const int n = c->sum->done + c->sum->failed;
    snprintf(extra, sizeof extra, "%d failed, %d running, %.0f cells/h", c->sum->failed,
             c->in_flight, el > 0 ? 3600.0 * n / el : 0.0);
    ds_progress_update(&c->prog, (size_t)n, extra);
}

/* Accept a finished cell: its state, counts and blobs now, its row queued for
 * coord_rows_flush. Accepting first lets the coordinator hand out the next
 * cells (a child reads its parent's blob, already in the store) before it
 * spends time writing the file. */
static ds_status coord_cell_accept(ds_coord *c, int i, const ds_result_row *row, const ds_blob_ref *model,
                                   const ds_blob_ref *key, ds_err *err)
{
    const ds_cell *cell = &c->plan->cells[i];
    if (c->npending == c->ranks + 1) /* never more than one per rank between flushes */
        return ds_err_set(err, DS_EINVAL, "sweep: too many results waiting to be written");
    const int ok = !strcmp(row->status, "done");
    c->state[i] = ok ? DS_CELL_DONE : DS_CELL_FAILED;
    if (ok) {
        c->sum->done++;
    } else {
        c->sum->failed++;
        fprintf(stderr, "sweep: cell %s (%s) failed: %s\n", cell->id, ds_cell_kind_name(cell->kind),
                row->reason);
    }
    if (model) c->model[i] = *model;
    if (key) c->key[i] = *key;
    c->pending[c->npending] = *row;
    c->pending_cell[c->npending++] = i;
    coord_progress_show(c);
    return DS_OK;
}

/* Remember one commit's wall time (for the summary; dropped when out of memory);
 * stored: it named a model or key of the blob store. */
static void coord_commit_note(ds_coord *c, double seconds, int stored)
{
    if (stored) c->sum->commits_stored++;
    seconds = stored ? seconds : -seconds; /* the sign keeps the kind */
    if (c->ncommits == c->commit_cap) {
        size_t cap = c->commit_cap ? 2 * c->commit_cap : 256;
        double *p = realloc(c->commit_s, cap * sizeof *p);
        if (!p) return;
        c->commit_s = p;
        c->commit_cap = cap;
    }
    c->commit_s[c->ncommits++] = seconds;
}

static int dbl_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median of v[0..n) (n > 0; v is reordered). */
static double median_of(double *v, size_t n)
{
    qsort(v, n, sizeof *v, dbl_cmp);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Commit times into the summary: the total, and the medians of the first and
 * the last DS_SWEEP_COMMIT_WINDOW commits of one kind: those that stored a model
 * or key when there are at least two windows of them, else all. */
static void coord_commit_summary(ds_coord *c)
{
    ds_sweep_summary *s = c->sum;
    size_t n = 0;
    const int stored = s->commits_stored >= 2 * DS_SWEEP_COMMIT_WINDOW;
    double *v = malloc((c->ncommits ? c->ncommits : 1) * sizeof *v);
    s->commits = (int)c->ncommits;
    for (size_t k = 0; k < c->ncommits; k++) {
        const double t = fabs(c->commit_s[k]);
        s->commit_total_s += t;
        if (v && (!stored || c->commit_s[k] > 0)) v[n++] = t;
    }
    s->commit_medians_stored = stored;
    const size_t w = n < DS_SWEEP_COMMIT_WINDOW ? n : DS_SWEEP_COMMIT_WINDOW;
    if (v && w) {
        s->commit_median_last_s = median_of(v + (n - w), w); /* first: it reorders its part */
        s->commit_median_first_s = median_of(v, w);
        s->commit_window = (int)w;
    }
    free(v);
}

/* Write the accepted rows (and the references of the blobs their cells made,
 * each checked to be in the store) to the results file, one commit each, in
 * the order they were accepted. */
static ds_status coord_rows_flush(ds_coord *c, ds_err *err)
{
    ds_status st = DS_OK;
    int k = 0; /* rows committed; a failed one stays first in line, and none after it is written */
    for (; k < c->npending && st == DS_OK;) {
        const int i = c->pending_cell[k];
        const char *id = c->plan->cells[i].id;
        const double cpu0 = cpu_seconds(), t0 = ds_now();
        const int stored = c->model[i].hex[0] || c->key[i].hex[0];
        if (c->model[i].hex[0]) st = ds_results_put_blob_ref(c->res, "models", id, &c->model[i], err);
        if (!st && c->key[i].hex[0]) st = ds_results_put_blob_ref(c->res, "keys", id, &c->key[i], err);
        if (!st) st = ds_results_append(c->res, &c->pending[k], err);
        if (!st) {
            c->committed = ds_results_count(c->res);
            coord_commit_note(c, ds_now() - t0, stored);
            k++;
        }
        c->sum->write_cpu += cpu_seconds() - cpu0;
    }
    coord_eio_explain(c, st, err); /* the file could not be written */
    memmove(c->pending, c->pending + k, sizeof *c->pending * (size_t)(c->npending - k));
    memmove(c->pending_cell, c->pending_cell + k, sizeof *c->pending_cell * (size_t)(c->npending - k));
    c->npending -= k;
    return st;
}

/* Record cell i as failed because dep, which it needs, failed; written at once. */
static ds_status coord_cell_fail_dep(ds_coord *c, int i, int dep, ds_err *err)
{
    ds_result_row row;
    ds_cell_row_describe(c->spec, c->plan, i, &row);
    snprintf(row.status, sizeof row.status, "failed");
    snprintf(row.reason, sizeof row.reason, "cell %s, which it needs, failed", c->plan->cells[dep].id);
    row.rank = 0;
    ds_status st = coord_cell_accept(c, i, &row, NULL, NULL, err);
    return st ? st : coord_rows_flush(c, err);
}

/* The next cell that can run now into *out, or -1. Cells whose parent failed are
 * recorded as failed on the way (they cannot run). */
static ds_status coord_cell_next(ds_coord *c, int *out, ds_err *err)
{
    *out = -1;
    for (int i = c->next; i < c->plan->n; i++) {
        if (c->state[i] != DS_CELL_PENDING) {
            if (i == c->next) c->next++;
            continue;
        }
        const ds_cell *cell = &c->plan->cells[i];
        int deps[2] = {cell->parent, cell->key_cell}, ready = 1;
        for (int d = 0; d < 2; d++) {
            if (deps[d] < 0) continue;
            if (c->state[deps[d]] == DS_CELL_FAILED) {
                ds_status st = coord_cell_fail_dep(c, i, deps[d], err);
                if (st) return st;
                ready = 0;
                break;
            }
            if (c->state[deps[d]] != DS_CELL_DONE) ready = 0;
        }
        if (ready && c->state[i] == DS_CELL_PENDING) {
            *out = i;
            return DS_OK;
        }
    }
    return DS_OK;
}

/* TASK for cell i to worker w. */
static ds_status coord_task_send(ds_coord *c, int w, int i, ds_err *err)
{
    ds_proto_task t;
    ds_status st = coord_task_make(c, i, &t, err);
    if (!st) st = ds_proto_send_task(&t, w, err);
    if (st) return st;
    c->state[i] = DS_CELL_RUNNING;
    c->busy[w] = i;
    c->in_flight++;
    return DS_OK;
}

/* What a cell's run wrote to the store, for the summary. */
static void coord_store_note(ds_coord *c, const ds_proto_result *r)
{
    c->sum->blob_write_s += r->store_s;
    c->sum->blobs_written += (r->model.hex[0] != '\0') + (r->key.hex[0] != '\0');
}

/* P = 1: rank 0 runs every cell itself, in plan order, as a worker would. */
static ds_status coord_run_local(ds_coord *c, const ds_shared_data *sd, ds_err *err)
{
    for (;;) {
        if (c->o->stop && *c->o->stop) {
            c->sum->interrupted = 1;
            return DS_OK;
        }
        int i;
        ds_status st = coord_cell_next(c, &i, err);
        if (st) return st;
        if (i < 0) return DS_OK;
        ds_proto_task t;
        ds_proto_result r;
        if ((st = coord_task_make(c, i, &t, err)) ||
            (st = ds_worker_cell_run(c->spec, c->plan, sd, c->store, &c->local, &t, &r, err)))
            return coord_eio_explain(c, st, err);
        coord_store_note(c, &r);
        r.row.rank = 0;
        if ((st = coord_cell_accept(c, i, &r.row, &r.model, &r.key, err)) || (st = coord_rows_flush(c, err)))
            return st;
    }
}

/* The message probe announced: a READY (drained) or a RESULT. A worker's error
 * ends the sweep with its message (its cell lost: nothing of it is named). */
static ds_status coord_message_take(ds_coord *c, const MPI_Status *probe, ds_err *err)
{
    const int w = probe->MPI_SOURCE;
    if (probe->MPI_TAG == DS_PROTO_READY) return ds_proto_recv_empty(w, DS_PROTO_READY, err);
    if (probe->MPI_TAG != DS_PROTO_RESULT)
        return ds_err_set(err, DS_EINVAL, "sweep: unexpected message tag %d from rank %d",
                          probe->MPI_TAG, w);
    ds_proto_result r;
    ds_status st = ds_proto_recv_result(w, &r, err);
    if (st) return st;
    if (r.cell < 0 || r.cell >= c->plan->n || c->busy[w] != r.cell)
        return ds_err_set(err, DS_EINVAL, "sweep: rank %d reported cell %d it was not given", w, r.cell);
    c->busy[w] = -1;
    c->in_flight--;
    if (r.error) {
        r.msg[sizeof r.msg - 1] = '\0';
        c->state[r.cell] = DS_CELL_PENDING;
        return coord_eio_explain(c, ds_err_set(err, r.error > DS_EKEY ? DS_EINVAL : (ds_status)r.error, "%s",
                                               r.msg), err);
    }
    coord_store_note(c, &r);
    r.row.rank = w;
    return coord_cell_accept(c, r.cell, &r.row, &r.model, &r.key, err);
}

/* P > 1: dispatch, write, wait, until nothing runs and nothing can start, or a
 * stop signal's grace period is over. */
static ds_status coord_run_mpi(ds_coord *c, ds_err *err)
{
    ds_status st;
    double stop_at = 0.0;
    for (;;) {
        const int stopping = c->o->stop && *c->o->stop;
        if (stopping && !c->sum->interrupted) {
            c->sum->interrupted = 1;
            stop_at = ds_now() + c->o->grace;
            fprintf(stderr, "\nsweep: signal received: no new cells; waiting up to %.0f s for %d in flight\n",
                    c->o->grace, c->in_flight);
        }
        /* hand cells to idle workers */
        for (int w = 1; w < c->ranks && !stopping; w++) {
            if (c->busy[w] != -1) continue;
            int i;
            if ((st = coord_cell_next(c, &i, err))) return st;
            if (i < 0) break;
            if ((st = coord_task_send(c, w, i, err))) return st;
        }
        /* then write what arrived, while the workers compute */
        if ((st = coord_rows_flush(c, err))) return st;
        if (c->in_flight == 0) return DS_OK; /* nothing runs and nothing can be started */
        if (stopping && ds_now() > stop_at) {
            c->sum->lost = c->in_flight;
            return DS_OK;
        }
        MPI_Status probe;
        int got;
        if ((st = ds_proto_wait(MPI_ANY_SOURCE, MPI_ANY_TAG, stopping ? NULL : c->o->stop, 1.0,
                                &probe, &got, err)))
            return st;
        if (got && (st = coord_message_take(c, &probe, err))) return st;
        if (!got) coord_progress_show(c); /* a line every few seconds even while cells run long */
    }
}

/* ---- the coordinator's life ---- */

static void coord_free(ds_coord *c);

/* A coordinator for plan with every cell pending and every worker idle; NULL
 * when out of memory. */
static ds_coord *coord_new(const ds_sweep_opts *o, const ds_spec *spec, const ds_plan *plan,
                           const ds_shared_data *sd, int ranks, ds_sweep_summary *sum)
{
    ds_coord *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->spec = spec; c->plan = plan; c->o = o; c->sum = sum; c->ranks = ranks;
    c->classes = sd->train.num_classes;
    c->lock_fd = -1;
    const size_t n = (size_t)plan->n;
    c->state = calloc(n, sizeof *c->state);
    c->model = calloc(n, sizeof *c->model);
    c->key = calloc(n, sizeof *c->key);
    c->busy = calloc((size_t)ranks, sizeof *c->busy);
    c->pending = calloc((size_t)ranks + 1, sizeof *c->pending);
    c->pending_cell = calloc((size_t)ranks + 1, sizeof *c->pending_cell);
    ds_cache_init(&c->local, ds_sweep_cache_bytes(o));
    if (!c->state || !c->model || !c->key || !c->busy || !c->pending || !c->pending_cell) {
        coord_free(c);
        return NULL;
    }
    for (int w = 0; w < ranks; w++) c->busy[w] = -1;
    return c;
}

/* Free the images, close the file (no commit), release the lock; accepts NULL. */
static void coord_free(ds_coord *c)
{
    if (!c) return;
    ds_cache_free(&c->local);
    ds_results_close(c->res);
    ds_outlock_release(c->real, c->lock_fd);
    free(c->planned.ids);
    free(c->state); free(c->model); free(c->key);
    free(c->commit_s);
    free(c->busy); free(c->pending); free(c->pending_cell);
    free(c);
}

/* STOP to every idle worker; a busy one (after an interruption or an error) is
 * left to the caller, which aborts. A worker whose STOP could not be sent cannot
 * end either: the caller must abort. The first failure is returned when st is
 * DS_OK (an earlier error keeps its message). */
static ds_status coord_workers_stop(ds_coord *c, ds_status st, ds_err *err)
{
    for (int w = 1; w < c->ranks; w++) {
        if (c->busy[w] != -1) continue;
        ds_err e2 = {0};
        if (ds_proto_send_empty(w, DS_PROTO_STOP, st ? &e2 : err)) {
            c->sum->abort_needed = 1;
            if (!st) st = err->code;
        }
    }
    return st;
}

/* Mark the file complete (a row for every planned cell, no interruption) or
 * incomplete, and commit; the first error wins. */
static ds_status coord_file_finish(ds_coord *c, ds_status st, ds_err *err)
{
    const ds_sweep_summary *sum = c->sum;
    ds_err e2 = {0};
    const int complete = !sum->interrupted && sum->done + sum->failed + sum->skipped == c->plan->n &&
                         ds_coord_file_complete(c);
    ds_status s2 = ds_results_set_attr(c->res, "status", complete ? "complete" : "incomplete", &e2);
    if (!s2) s2 = ds_results_commit(c->res, &e2);
    if (s2 && !st) {
        st = s2;
        *err = e2;
    }
    return st;
}

/* Lock and open the file, run the cells, flush what was accepted, finish the file. */
static ds_status coord_sweep(ds_coord *c, const ds_shared_data *sd, ds_err *err)
{
    const ds_sweep_opts *o = c->o;
    const ds_plan *plan = c->plan;
    ds_sweep_summary *sum = c->sum;
    ds_status st;
    if ((st = ds_outpath_check("-o", o->out, 1, err)) ||
        (st = ds_outlock_resolve(o->out, c->real, sizeof c->real, err)) ||
        (st = ds_outlock_acquire(c->real, &c->lock_fd, err)))
        return st;
    if ((st = ds_coord_open_results(c, c->ranks, err))) return st;
    for (int w = 1; w < c->ranks; w++)
        if ((st = ds_proto_send_store(c->store, w, err))) return st;
    if (o->progress)
        fprintf(stderr, "sweep: %d cells, %d ranks; coordinator pid %ld (SIGTERM or SIGINT to it, "
                "or SIGUSR1 to mpirun, stops the sweep cleanly)\n", plan->n, c->ranks, (long)getpid());
    c->to_run = plan->n - sum->skipped;
    if (sum->skipped)
        fprintf(stderr, "sweep: resuming %s: %d of %d cells already there\n", o->out, sum->skipped,
                plan->n);
    ds_progress_start(&c->prog, "sweep", (size_t)c->to_run, o->progress);
    const double t0 = ds_now(), cpu0 = cpu_seconds();
    st = c->ranks == 1 ? coord_run_local(c, sd, err) : coord_run_mpi(c, err);
    if (c->npending) { /* rows accepted before an error: keep them if the file takes them */
        ds_err e2 = {0};
        ds_status s2 = coord_rows_flush(c, st ? &e2 : err);
        if (!st) st = s2;
    }
    sum->seconds = ds_now() - t0;
    coord_commit_summary(c);
    sum->coord_cpu = cpu_seconds() - cpu0;
    if (c->in_flight > 0) sum->abort_needed = 1;
    char extra[96];
    snprintf(extra, sizeof extra, "%d done, %d failed", sum->done, sum->failed);
    if (o->progress) ds_progress_finish(&c->prog, extra);
    return c->res ? coord_file_finish(c, st, err) : st;
}

ds_status ds_coord_run(const ds_sweep_opts *o, const ds_spec *spec, const ds_plan *plan,
                       const ds_shared_data *sd, int ranks, ds_sweep_summary *sum, ds_err *err)
{
    sum->total = plan->n;
    ds_coord *c = coord_new(o, spec, plan, sd, ranks, sum);
    if (!c) {
        /* no queue: every worker is idle and gets its STOP */
        ds_status st = ds_err_set(err, DS_ENOMEM, "out of memory for %d cells", plan->n);
        for (int w = 1; w < ranks; w++) {
            ds_err e2 = {0};
            if (ds_proto_send_empty(w, DS_PROTO_STOP, &e2)) sum->abort_needed = 1;
        }
        return st;
    }
    ds_status st = coord_sweep(c, sd, err);
    st = coord_workers_stop(c, st, err);
    coord_free(c);
    return st;
}
