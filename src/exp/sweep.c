/* sweep.c - the MPI experiment engine: shared data, the coordinator's dynamic
 * queue with the results file, and the workers (see sweep.h).
 *
 * Messages (MPI_COMM_WORLD, tags below): a worker announces itself with READY;
 * the coordinator answers with TASK (a task_msg) followed by the model and key
 * images the worker does not hold yet (BLOB); the worker answers RESULT (a
 * result_msg) followed by the images the cell made (BLOB), and so on until
 * STOP. Workers cache images by cell; the coordinator runs the same cache policy
 * for each worker, so it knows what each holds without asking.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "deepsigns/data.h"
#include "deepsigns/outpath.h"
#include "deepsigns/progress.h"
#include "deepsigns/sweep.h"

typedef enum sweep_tag {
    TAG_READY = 1,   /* worker -> coordinator: give me a cell */
    TAG_TASK,        /* coordinator -> worker: task_msg */
    TAG_BLOB,        /* either way: the bytes of a model or key image */
    TAG_RESULT,      /* worker -> coordinator: result_msg */
    TAG_STOP,        /* coordinator -> worker: no more cells */
} sweep_tag;

enum { CACHE_SLOTS = 16, BLOB_MODEL = 1, BLOB_KEY = 2 };

typedef struct task_msg {
    int32_t cell;
    int32_t model_cell, key_cell; /* whose images the cell needs (-1: none) */
    int32_t blobs;                /* BLOB_MODEL | BLOB_KEY: which follow this message */
} task_msg;

typedef struct result_msg {
    int32_t cell;
    int32_t blobs;                /* BLOB_MODEL | BLOB_KEY: which follow */
    ds_result_row row;
} result_msg;

typedef enum cell_state { CELL_PENDING = 0, CELL_RUNNING, CELL_DONE, CELL_FAILED } cell_state;

/* CPU time of this process (user + system), for the coordinator's accounting. */
static double cpu_seconds(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0) return 0.0;
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- MPI plumbing ---- */

static ds_status mpi_fail(ds_err *err, int rc, const char *what)
{
    char s[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, s, &len) != MPI_SUCCESS) snprintf(s, sizeof s, "code %d", rc);
    return ds_err_set(err, DS_ELIB, "MPI: %s failed: %s", what, s);
}

#define MPI_TRY(call, what)                                       \
    do {                                                          \
        int mpi_rc_ = (call);                                     \
        if (mpi_rc_ != MPI_SUCCESS) return mpi_fail(err, mpi_rc_, what); \
    } while (0)

/* Wait for a message from source (or any) with tag (or any) without spinning a
 * core: probe, then sleep with a growing pause (50 us .. 5 ms). Returns with
 * *got = 0 when *stop is set or after `patience` seconds (< 0: never). */
static ds_status wait_message(int source, int tag, volatile sig_atomic_t *stop, double patience,
                              MPI_Status *status, int *got, ds_err *err)
{
    long pause_ns = 50000;
    const double give_up = patience >= 0.0 ? ds_now() + patience : 0.0;
    *got = 0;
    for (;;) {
        int flag = 0;
        MPI_TRY(MPI_Iprobe(source, tag, MPI_COMM_WORLD, &flag, status), "MPI_Iprobe");
        if (flag) {
            *got = 1;
            return DS_OK;
        }
        if ((stop && *stop) || (patience >= 0.0 && ds_now() > give_up)) return DS_OK;
        struct timespec ts = {0, pause_ns};
        nanosleep(&ts, NULL);
        if (pause_ns < 5000000) pause_ns += pause_ns / 2;
    }
}

static ds_status send_bytes(const void *p, size_t n, int dest, ds_err *err)
{
    if (n > INT_MAX) return ds_err_set(err, DS_ERANGE, "a %zu-byte image is too large to send", n);
    MPI_TRY(MPI_Send(p, (int)n, MPI_BYTE, dest, TAG_BLOB, MPI_COMM_WORLD), "MPI_Send (image)");
    return DS_OK;
}

static ds_status recv_blob(int source, void **p, size_t *n, ds_err *err)
{
    MPI_Status status;
    int count = 0;
    MPI_TRY(MPI_Probe(source, TAG_BLOB, MPI_COMM_WORLD, &status), "MPI_Probe (image)");
    MPI_TRY(MPI_Get_count(&status, MPI_BYTE, &count), "MPI_Get_count");
    *p = malloc(count ? (size_t)count : 1);
    if (!*p) return ds_err_set(err, DS_ENOMEM, "out of memory for a %d-byte image", count);
    *n = (size_t)count;
    MPI_TRY(MPI_Recv(*p, count, MPI_BYTE, source, TAG_BLOB, MPI_COMM_WORLD, MPI_STATUS_IGNORE),
            "MPI_Recv (image)");
    return DS_OK;
}

/* ---- the image cache (same policy on both ends) ---- */

typedef struct cache_slot {
    int cell;       /* -1: empty */
    int kind;       /* BLOB_MODEL or BLOB_KEY */
    long used;      /* last use (a counter) */
    void *data;     /* worker side only */
    size_t len;
} cache_slot;

typedef struct cache {
    cache_slot slot[CACHE_SLOTS];
    long clock;
} cache;

static void cache_init(cache *c)
{
    memset(c, 0, sizeof *c);
    for (int i = 0; i < CACHE_SLOTS; i++) c->slot[i].cell = -1;
}

static void cache_free(cache *c)
{
    for (int i = 0; i < CACHE_SLOTS; i++) free(c->slot[i].data);
    cache_init(c);
}

/* The slot holding (cell, kind), touched; NULL if absent. */
static cache_slot *cache_get(cache *c, int cell, int kind)
{
    for (int i = 0; i < CACHE_SLOTS; i++)
        if (c->slot[i].cell == cell && c->slot[i].kind == kind) {
            c->slot[i].used = ++c->clock;
            return &c->slot[i];
        }
    return NULL;
}

/* Insert (cell, kind), evicting the least recently used slot; takes data. */
static cache_slot *cache_put(cache *c, int cell, int kind, void *data, size_t len)
{
    int victim = 0;
    for (int i = 1; i < CACHE_SLOTS; i++)
        if (c->slot[i].used < c->slot[victim].used) victim = i;
    cache_slot *s = &c->slot[victim];
    free(s->data);
    *s = (cache_slot){.cell = cell, .kind = kind, .used = ++c->clock, .data = data, .len = len};
    return s;
}

/* ---- data, loaded once per node into a shared window ---- */

typedef struct shared_data {
    MPI_Win win;
    ds_dataset train, test;
} shared_data;

static void limit(ds_dataset *d, size_t n)
{
    if (n && n < d->n) d->n = n;
}

static ds_status data_share(const ds_spec *spec, MPI_Comm node, shared_data *sd, ds_err *err)
{
    int nr;
    MPI_TRY(MPI_Comm_rank(node, &nr), "MPI_Comm_rank");
    /* header: status, train n c h w classes, test n */
    unsigned long long h[8] = {0};
    char msg[DS_ERR_MSG_MAX] = "";
    ds_dataset tr = {0}, te = {0};
    if (nr == 0) {
        ds_err e = {0};
        if (ds_data_load_dir(spec->data_dir, spec->data_format, &tr, &te, &e)) {
            h[0] = 1;
            snprintf(msg, sizeof msg, "%s", e.msg);
        } else {
            limit(&tr, spec->train_limit);
            limit(&te, spec->test_limit);
            h[1] = tr.n; h[2] = (unsigned)tr.c; h[3] = (unsigned)tr.h; h[4] = (unsigned)tr.w;
            h[5] = (unsigned)tr.num_classes; h[6] = te.n;
        }
    }
    MPI_TRY(MPI_Bcast(h, 8, MPI_UNSIGNED_LONG_LONG, 0, node), "MPI_Bcast (data header)");
    if (h[0]) {
        MPI_TRY(MPI_Bcast(msg, sizeof msg, MPI_CHAR, 0, node), "MPI_Bcast (data error)");
        ds_dataset_free(&tr);
        ds_dataset_free(&te);
        return ds_err_set(err, DS_EIO, "%s: data.dir: %s", spec->path, msg);
    }
    const size_t sample = (size_t)(h[2] * h[3] * h[4]);
    const size_t bytes = (size_t)h[1] * (sample + 1) + (size_t)h[6] * (sample + 1);
    unsigned char *base = NULL;
    MPI_TRY(MPI_Win_allocate_shared(nr == 0 ? (MPI_Aint)bytes : 0, 1, MPI_INFO_NULL, node, &base,
                                    &sd->win), "MPI_Win_allocate_shared (data)");
    if (nr != 0) {
        MPI_Aint size;
        int disp;
        MPI_TRY(MPI_Win_shared_query(sd->win, 0, &size, &disp, &base), "MPI_Win_shared_query");
    } else {
        memcpy(base, tr.x, tr.n * sample);
        memcpy(base + tr.n * sample, tr.y, tr.n);
        memcpy(base + tr.n * (sample + 1), te.x, te.n * sample);
        memcpy(base + tr.n * (sample + 1) + te.n * sample, te.y, te.n);
        ds_dataset_free(&tr);
        ds_dataset_free(&te);
    }
    MPI_TRY(MPI_Barrier(node), "MPI_Barrier (data)");
    ds_dataset t = {.n = h[1], .c = (int)h[2], .h = (int)h[3], .w = (int)h[4],
                    .num_classes = (int)h[5], .owns = 0};
    t.x = base;
    t.y = base + t.n * sample;
    sd->train = t;
    t.n = h[6];
    t.x = base + h[1] * (sample + 1);
    t.y = t.x + t.n * sample;
    sd->test = t;
    return DS_OK;
}

/* ---- the coordinator ---- */

typedef struct id_set {
    char (*ids)[DS_CELL_ID_HEX];
    size_t n, cap;
} id_set;

static ds_status ids_add(id_set *s, const char *id, ds_err *err)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 256;
        char (*p)[DS_CELL_ID_HEX] = realloc(s->ids, cap * sizeof *p);
        if (!p) return ds_err_set(err, DS_ENOMEM, "out of memory for %zu cell identities", cap);
        s->ids = p;
        s->cap = cap;
    }
    snprintf(s->ids[s->n++], DS_CELL_ID_HEX, "%s", id);
    return DS_OK;
}

static int id_cmp(const void *a, const void *b) { return strcmp(a, b); }

/* Sort and drop repeats. */
static void ids_unique(id_set *s)
{
    if (!s->n) return;
    qsort(s->ids, s->n, sizeof *s->ids, id_cmp);
    size_t k = 1;
    for (size_t i = 1; i < s->n; i++)
        if (strcmp(s->ids[i], s->ids[k - 1])) memmove(s->ids[k++], s->ids[i], DS_CELL_ID_HEX);
    s->n = k;
}

typedef struct coord {
    const ds_spec *spec;
    const ds_plan *plan;
    const ds_sweep_opts *o;
    ds_results *res;
    cell_state *state;
    void **model, **key;          /* images of done train/embed cells (loaded lazily) */
    size_t *model_len, *key_len;
    cache *mirror;                /* [ranks]: what each worker holds */
    int *busy;                    /* [ranks]: the cell a worker runs, or -1 */
    int ranks, in_flight, next;   /* next: first cell that may still be pending */
    ds_sweep_summary *sum;
    ds_progress prog;
    int to_run;
    ds_result_row *pending;       /* [ranks + 1] accepted rows not yet written */
    int *pending_cell;
    int npending;
    size_t committed;             /* rows in the results file on disk */
    id_set planned;               /* every cell any run on the file planned (total_cells) */
    int classes;                  /* of the data */
} coord;

/* The image of cell i's model or key, from memory or the results file. */
static ds_status coord_image(coord *c, int i, int kind, void **p, size_t *n, ds_err *err)
{
    void **slot = kind == BLOB_MODEL ? &c->model[i] : &c->key[i];
    size_t *len = kind == BLOB_MODEL ? &c->model_len[i] : &c->key_len[i];
    if (!*slot) {
        ds_status st = ds_results_get_blob(c->res, kind == BLOB_MODEL ? "models" : "keys",
                                           c->plan->cells[i].id, slot, len, err);
        if (st) return st;
        if (!*slot)
            return ds_err_set(err, DS_EFORMAT, "%s: cell %s is done but its %s is not in the file",
                              c->o->out, c->plan->cells[i].id, kind == BLOB_MODEL ? "model" : "key");
    }
    *p = *slot;
    *n = *len;
    return DS_OK;
}

/* Cells done of those to run, failures, cells in flight; ds_progress adds the
 * rate, elapsed time and ETA, as a bar on a terminal or a line every few
 * seconds in a log. */
static void coord_progress(coord *c)
{
    char extra[96];
    const double el = ds_now() - c->prog.t0;
    const int n = c->sum->done + c->sum->failed;
    snprintf(extra, sizeof extra, "%d failed, %d running, %.0f cells/h", c->sum->failed,
             c->in_flight, el > 0 ? 3600.0 * n / el : 0.0);
    ds_progress_update(&c->prog, (size_t)n, extra);
}

/* Accept a finished cell: its state, counts and images (taken) now, its row
 * queued for coord_flush. Accepting first lets the coordinator hand out the
 * next cells before it spends time writing the file. */
static ds_status coord_accept(coord *c, int i, const ds_result_row *row, void *model, size_t mlen,
                              void *key, size_t klen, ds_err *err)
{
    const ds_cell *cell = &c->plan->cells[i];
    if (c->npending == c->ranks + 1) { /* never more than one per rank between flushes */
        free(model);
        free(key);
        return ds_err_set(err, DS_EINVAL, "sweep: too many results waiting to be written");
    }
    const int ok = !strcmp(row->status, "done");
    c->state[i] = ok ? CELL_DONE : CELL_FAILED;
    if (ok) {
        c->sum->done++;
    } else {
        c->sum->failed++;
        fprintf(stderr, "sweep: cell %s (%s) failed: %s\n", cell->id, ds_cell_kind_name(cell->kind),
                row->reason);
    }
    c->model[i] = model; c->model_len[i] = mlen;
    c->key[i] = key; c->key_len[i] = klen;
    c->pending[c->npending] = *row;
    c->pending_cell[c->npending++] = i;
    coord_progress(c);
    return DS_OK;
}

/* Write the accepted rows (and the images their cells made) to the results
 * file, one commit each, in the order they were accepted. */
static ds_status coord_flush(coord *c, ds_err *err)
{
    ds_status st = DS_OK;
    int k = 0;
    for (; k < c->npending && st == DS_OK; k++) {
        const int i = c->pending_cell[k];
        const char *id = c->plan->cells[i].id;
        const double cpu0 = cpu_seconds();
        if (c->model[i]) st = ds_results_put_blob(c->res, "models", id, c->model[i], c->model_len[i], err);
        if (!st && c->key[i]) st = ds_results_put_blob(c->res, "keys", id, c->key[i], c->key_len[i], err);
        if (!st) st = ds_results_append(c->res, &c->pending[k], err);
        if (!st) c->committed = ds_results_count(c->res);
        c->sum->write_cpu += cpu_seconds() - cpu0;
    }
    if (st == DS_EIO) { /* the file could not be written: say what it holds and how to go on */
        size_t at = strlen(err->msg);
        snprintf(err->msg + at, sizeof err->msg - at,
                 "; %s keeps its last commit (%zu row%s): make room (or fix the location), "
                 "then run again with --resume", c->o->out, c->committed, c->committed == 1 ? "" : "s");
    }
    memmove(c->pending, c->pending + k, sizeof *c->pending * (size_t)(c->npending - k));
    memmove(c->pending_cell, c->pending_cell + k, sizeof *c->pending_cell * (size_t)(c->npending - k));
    c->npending -= k;
    return st;
}

/* The next cell that can run now, or -1. Cells whose parent failed are
 * recorded as failed on the way (they cannot run). */
static ds_status coord_next(coord *c, int *out, ds_err *err)
{
    *out = -1;
    for (int i = c->next; i < c->plan->n; i++) {
        if (c->state[i] != CELL_PENDING) {
            if (i == c->next) c->next++;
            continue;
        }
        const ds_cell *cell = &c->plan->cells[i];
        int deps[2] = {cell->parent, cell->key_cell}, ready = 1;
        for (int d = 0; d < 2; d++) {
            if (deps[d] < 0) continue;
            if (c->state[deps[d]] == CELL_FAILED) {
                ds_result_row row;
                ds_cell_row_describe(c->spec, c->plan, i, &row);
                snprintf(row.status, sizeof row.status, "failed");
                snprintf(row.reason, sizeof row.reason, "cell %s, which it needs, failed",
                         c->plan->cells[deps[d]].id);
                row.rank = 0;
                ds_status st = coord_accept(c, i, &row, NULL, 0, NULL, 0, err);
                if (!st) st = coord_flush(c, err);
                if (st) return st;
                ready = 0;
                break;
            }
            if (c->state[deps[d]] != CELL_DONE) ready = 0;
        }
        if (ready && c->state[i] == CELL_PENDING) {
            *out = i;
            return DS_OK;
        }
    }
    return DS_OK;
}

static ds_status coord_send_task(coord *c, int w, int i, ds_err *err)
{
    const ds_cell *cell = &c->plan->cells[i];
    task_msg t = {.cell = i, .model_cell = cell->parent, .key_cell = cell->key_cell, .blobs = 0};
    void *mp = NULL, *kp = NULL;
    size_t mn = 0, kn = 0;
    ds_status st;
    if (t.model_cell >= 0 && !cache_get(&c->mirror[w], t.model_cell, BLOB_MODEL)) {
        if ((st = coord_image(c, t.model_cell, BLOB_MODEL, &mp, &mn, err))) return st;
        cache_put(&c->mirror[w], t.model_cell, BLOB_MODEL, NULL, 0);
        t.blobs |= BLOB_MODEL;
    }
    if (t.key_cell >= 0 && !cache_get(&c->mirror[w], t.key_cell, BLOB_KEY)) {
        if ((st = coord_image(c, t.key_cell, BLOB_KEY, &kp, &kn, err))) return st;
        cache_put(&c->mirror[w], t.key_cell, BLOB_KEY, NULL, 0);
        t.blobs |= BLOB_KEY;
    }
    MPI_TRY(MPI_Send(&t, sizeof t, MPI_BYTE, w, TAG_TASK, MPI_COMM_WORLD), "MPI_Send (task)");
    if ((t.blobs & BLOB_MODEL) && (st = send_bytes(mp, mn, w, err))) return st;
    if ((t.blobs & BLOB_KEY) && (st = send_bytes(kp, kn, w, err))) return st;
    c->state[i] = CELL_RUNNING;
    c->busy[w] = i;
    c->in_flight++;
    return DS_OK;
}

/* P = 1: rank 0 runs every cell itself, in plan order. */
static ds_status coord_run_local(coord *c, const shared_data *sd, ds_err *err)
{
    for (;;) {
        if (c->o->stop && *c->o->stop) {
            c->sum->interrupted = 1;
            return DS_OK;
        }
        int i;
        ds_status st = coord_next(c, &i, err);
        if (st) return st;
        if (i < 0) return DS_OK;
        const ds_cell *cell = &c->plan->cells[i];
        ds_cell_io io = {0};
        if (cell->parent >= 0 &&
            (st = coord_image(c, cell->parent, BLOB_MODEL, (void **)&io.model, &io.model_len, err)))
            return st;
        if (cell->key_cell >= 0 &&
            (st = coord_image(c, cell->key_cell, BLOB_KEY, (void **)&io.key, &io.key_len, err)))
            return st;
        ds_result_row row;
        if ((st = ds_cell_run(c->spec, c->plan, i, &sd->train, &sd->test, &io, &row, err))) return st;
        row.rank = 0;
        if ((st = coord_accept(c, i, &row, io.out_model, io.out_model_len, io.out_key,
                               io.out_key_len, err)) ||
            (st = coord_flush(c, err)))
            return st;
    }
}

static ds_status coord_receive(coord *c, const MPI_Status *probe, ds_err *err)
{
    const int w = probe->MPI_SOURCE;
    if (probe->MPI_TAG == TAG_READY) {
        MPI_TRY(MPI_Recv(NULL, 0, MPI_BYTE, w, TAG_READY, MPI_COMM_WORLD, MPI_STATUS_IGNORE),
                "MPI_Recv (ready)");
        return DS_OK;
    }
    if (probe->MPI_TAG != TAG_RESULT)
        return ds_err_set(err, DS_EINVAL, "sweep: unexpected message tag %d from rank %d",
                          probe->MPI_TAG, w);
    result_msg r;
    MPI_TRY(MPI_Recv(&r, sizeof r, MPI_BYTE, w, TAG_RESULT, MPI_COMM_WORLD, MPI_STATUS_IGNORE),
            "MPI_Recv (result)");
    void *mp = NULL, *kp = NULL;
    size_t mn = 0, kn = 0;
    ds_status st = DS_OK;
    if ((r.blobs & BLOB_MODEL) && (st = recv_blob(w, &mp, &mn, err))) return st;
    if ((r.blobs & BLOB_KEY) && (st = recv_blob(w, &kp, &kn, err))) {
        free(mp);
        return st;
    }
    if (r.cell < 0 || r.cell >= c->plan->n || c->busy[w] != r.cell) {
        free(mp);
        free(kp);
        return ds_err_set(err, DS_EINVAL, "sweep: rank %d reported cell %d it was not given", w, r.cell);
    }
    c->busy[w] = -1;
    c->in_flight--;
    /* the worker keeps what it made in its cache, as the mirror does */
    if (r.blobs & BLOB_MODEL) cache_put(&c->mirror[w], r.cell, BLOB_MODEL, NULL, 0);
    if (r.blobs & BLOB_KEY) cache_put(&c->mirror[w], r.cell, BLOB_KEY, NULL, 0);
    r.row.rank = w;
    return coord_accept(c, r.cell, &r.row, mp, mn, kp, kn, err);
}

static ds_status coord_run_mpi(coord *c, ds_err *err)
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
            if ((st = coord_next(c, &i, err))) return st;
            if (i < 0) break;
            if ((st = coord_send_task(c, w, i, err))) return st;
        }
        /* then write what arrived, while the workers compute */
        if ((st = coord_flush(c, err))) return st;
        if (c->in_flight == 0) return DS_OK; /* nothing runs and nothing can be started */
        if (stopping && ds_now() > stop_at) {
            c->sum->lost = c->in_flight;
            return DS_OK;
        }
        MPI_Status probe;
        int got;
        if ((st = wait_message(MPI_ANY_SOURCE, MPI_ANY_TAG, stopping ? NULL : c->o->stop, 1.0,
                               &probe, &got, err)))
            return st;
        if (got && (st = coord_receive(c, &probe, err))) return st;
        if (!got) coord_progress(c); /* a line every few seconds even while cells run long */
    }
}

/* ---- a worker ---- */

static ds_status worker_run(const ds_spec *spec, const ds_plan *plan, const shared_data *sd,
                            ds_err *err)
{
    cache held;
    cache_init(&held);
    ds_status st = DS_OK;
    MPI_Send(NULL, 0, MPI_BYTE, 0, TAG_READY, MPI_COMM_WORLD);
    for (;;) {
        MPI_Status probe;
        int got;
        if ((st = wait_message(0, MPI_ANY_TAG, NULL, -1.0, &probe, &got, err))) break;
        if (probe.MPI_TAG == TAG_STOP) {
            MPI_Recv(NULL, 0, MPI_BYTE, 0, TAG_STOP, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            break;
        }
        task_msg t;
        int rc = MPI_Recv(&t, sizeof t, MPI_BYTE, 0, TAG_TASK, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS) { st = mpi_fail(err, rc, "MPI_Recv (task)"); break; }
        if (t.cell < 0 || t.cell >= plan->n) {
            st = ds_err_set(err, DS_EINVAL, "sweep: task for cell %d outside the plan", t.cell);
            break;
        }
        ds_cell_io io = {0};
        cache_slot *s;
        for (int kind = BLOB_MODEL; kind <= BLOB_KEY && !st; kind <<= 1) {
            int src = kind == BLOB_MODEL ? t.model_cell : t.key_cell;
            if (src < 0) continue;
            if (t.blobs & kind) {
                void *p;
                size_t n;
                if ((st = recv_blob(0, &p, &n, err))) break;
                s = cache_put(&held, src, kind, p, n);
            } else if (!(s = cache_get(&held, src, kind))) {
                st = ds_err_set(err, DS_EINVAL, "sweep: cell %d's input is not in this worker's cache", t.cell);
                break;
            }
            if (kind == BLOB_MODEL) { io.model = s->data; io.model_len = s->len; }
            else { io.key = s->data; io.key_len = s->len; }
        }
        if (st) break;
        result_msg r;
        memset(&r, 0, sizeof r);
        r.cell = t.cell;
        if ((st = ds_cell_run(spec, plan, t.cell, &sd->train, &sd->test, &io, &r.row, err))) break;
        r.blobs = (io.out_model ? BLOB_MODEL : 0) | (io.out_key ? BLOB_KEY : 0);
        rc = MPI_Send(&r, sizeof r, MPI_BYTE, 0, TAG_RESULT, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) st = mpi_fail(err, rc, "MPI_Send (result)");
        if (!st && io.out_model) st = send_bytes(io.out_model, io.out_model_len, 0, err);
        if (!st && io.out_key) st = send_bytes(io.out_key, io.out_key_len, 0, err);
        /* keep what the cell made: its children may come here (the mirror agrees) */
        if (io.out_model) cache_put(&held, t.cell, BLOB_MODEL, io.out_model, io.out_model_len);
        if (io.out_key) cache_put(&held, t.cell, BLOB_KEY, io.out_key, io.out_key_len);
        if (st) break;
    }
    cache_free(&held);
    return st;
}

/* ---- the whole sweep ---- */

/* The results file's path with its directory resolved (symbolic links and ".."
 * gone), into real[cap], so that every name of one file takes one lock. A
 * symbolic link as -o is refused: it would be replaced by a regular file. */
static ds_status resolve_out(const char *out, char *real, size_t cap, ds_err *err)
{
    struct stat sb;
    if (lstat(out, &sb) == 0 && S_ISLNK(sb.st_mode)) {
        char to[PATH_MAX];
        ssize_t n = readlink(out, to, sizeof to - 1);
        to[n > 0 ? n : 0] = '\0';
        return ds_err_set(err, DS_EINVAL, "-o %s: is a symbolic link (to %s); give the file's own path",
                          out, to);
    }
    char dir[PATH_MAX], rdir[PATH_MAX];
    const char *slash = strrchr(out, '/'), *base = slash ? slash + 1 : out;
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == out) snprintf(dir, sizeof dir, "/");
    else snprintf(dir, sizeof dir, "%.*s", (int)(slash - out), out);
    if (!realpath(dir, rdir))
        return ds_err_set(err, DS_EINVAL, "-o %s: directory %s: %s", out, dir, strerror(errno));
    int k = snprintf(real, cap, "%s/%s", strcmp(rdir, "/") ? rdir : "", base);
    if (k < 0 || (size_t)k >= cap) return ds_err_set(err, DS_ERANGE, "-o %s: path too long", out);
    return DS_OK;
}

/* One writer per results file, even across jobs: an exclusive lock on
 * "<resolved path>.lock", held until the coordinator ends (the kernel drops it
 * when the process dies, so a killed sweep never leaves it locked). The holder
 * unlinks the lock file before it lets go, so a process that locked a file which
 * is no longer at that name tries again on the new one. */
static ds_status lock_results(const char *real, int *fd, ds_err *err)
{
    char path[PATH_MAX + 8];
    snprintf(path, sizeof path, "%s.lock", real);
    for (int tries = 0; tries < 16; tries++) {
        *fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (*fd < 0)
            return ds_err_set(err, DS_EIO, "%s: cannot create the lock file: %s", path, strerror(errno));
        if (flock(*fd, LOCK_EX | LOCK_NB) != 0) {
            int e = errno;
            close(*fd);
            *fd = -1;
            return ds_err_set(err, DS_EIO, "%s: %s", real,
                              e == EWOULDBLOCK ? "another sweep is writing this file (it holds "
                                                 "the .lock); wait for it to end"
                                               : strerror(e));
        }
        struct stat held, now;
        if (fstat(*fd, &held) == 0 && stat(path, &now) == 0 && held.st_dev == now.st_dev &&
            held.st_ino == now.st_ino)
            return DS_OK;
        close(*fd); /* the lock file was unlinked (its holder ended) between open and flock */
        *fd = -1;
    }
    return ds_err_set(err, DS_EIO, "%s.lock: the lock file keeps changing; another sweep is starting "
                      "and ending on this file", real);
}

/* Unlink while still holding the lock (see lock_results), then release it. */
static void unlock_results(const char *real, int fd)
{
    if (fd < 0) return;
    char path[PATH_MAX + 8];
    snprintf(path, sizeof path, "%s.lock", real);
    unlink(path);
    close(fd);
}

/* A results file holds key files (/keys): say so when group or others can read or
 * write it. The next commit writes it 0600 again (ds_results_commit). */
static void warn_if_exposed(const char *path)
{
    struct stat sb;
    if (stat(path, &sb) == 0 && (sb.st_mode & 077))
        fprintf(stderr, "sweep: warning: %s may hold secret key material (/keys) but its mode is %03o "
                "(readable or writable by group or others); it is written 0600 from now on\n",
                path, (unsigned)(sb.st_mode & 0777));
}

/* ---- the cells a file was planned to hold: every run's plan, and its rows ---- */

/* The identities of plan's cells in a malloc'd array. */
static ds_status plan_ids(const ds_plan *plan, char (**ids)[DS_CELL_ID_HEX], ds_err *err)
{
    *ids = calloc(plan->n ? (size_t)plan->n : 1, DS_CELL_ID_HEX);
    if (!*ids) return ds_err_set(err, DS_ENOMEM, "out of memory for %d cell identities", plan->n);
    for (int i = 0; i < plan->n; i++) memcpy((*ids)[i], plan->cells[i].id, DS_CELL_ID_HEX);
    return DS_OK;
}

/* A file made before format 3 has no /runs: record its first run from the root
 * attributes, its cells from its spec text planned again (or, when that text no
 * longer plans, the rows it holds). */
static ds_status record_first_run(coord *c, ds_err *err)
{
    const char *text = ds_results_attr(c->res, "spec_text");
    const char *path = ds_results_attr(c->res, "spec_path");
    ds_spec *old = calloc(1, sizeof *old);
    ds_plan plan = {0};
    id_set s = {0};
    ds_err e2 = {0};
    ds_status st = old ? DS_OK : ds_err_set(err, DS_ENOMEM, "out of memory for the spec");
    if (!st && text && !ds_spec_parse(text, strlen(text), path ? path : c->o->out, old, &e2) &&
        !ds_plan_make(old, &plan, &e2)) {
        for (int i = 0; !st && i < plan.n; i++) st = ids_add(&s, plan.cells[i].id, err);
    } else {
        for (size_t r = 0; !st && r < ds_results_count(c->res); r++)
            st = ids_add(&s, ds_results_row(c->res, r)->id, err);
    }
    ids_unique(&s);
    ds_results_run run = {.mode = "new (recorded when first resumed)", .spec_text = text,
                          .spec_path = path, .spec_hash = ds_results_attr(c->res, "spec_hash"),
                          .data_sha256 = "", .cells = (const char (*)[DS_CELL_ID_HEX])s.ids,
                          .ncells = s.n};
    if (!st) st = ds_results_add_run(c->res, &run, err);
    free(s.ids);
    ds_plan_free(&plan);
    if (old) ds_spec_free(old);
    free(old);
    return st;
}

/* Every cell any run planned into c->planned (sorted, unique), and the file's
 * total_cells from it. */
static ds_status gather_planned(coord *c, ds_err *err)
{
    size_t runs = 0;
    ds_status st = ds_results_run_count(c->res, &runs, err);
    for (size_t i = 0; !st && i < runs; i++) {
        char (*ids)[DS_CELL_ID_HEX] = NULL;
        size_t n = 0;
        st = ds_results_run_cells(c->res, i, &ids, &n, err);
        for (size_t k = 0; !st && k < n; k++) st = ids_add(&c->planned, ids[k], err);
        free(ids);
    }
    for (size_t r = 0; !st && r < ds_results_count(c->res); r++)
        st = ids_add(&c->planned, ds_results_row(c->res, r)->id, err);
    if (st) return st;
    ids_unique(&c->planned);
    return ds_results_set_attr_int(c->res, "total_cells", (long long)c->planned.n, err);
}

/* Complete: a row for every cell any run planned. */
static int file_complete(const coord *c)
{
    for (size_t i = 0; i < c->planned.n; i++)
        if (ds_results_find(c->res, c->planned.ids[i]) < 0) return 0;
    return 1;
}

/* What the analysis needs to state the claim rules: the class count and the
 * white-box claim level; and the data's fingerprint. */
static ds_status describe_data(coord *c, const char *data_sha, ds_err *err)
{
    ds_status st = ds_results_set_attr(c->res, "data_sha256", data_sha, err);
    if (!st) st = ds_results_set_attr(c->res, "data_dir", c->spec->data_dir, err);
    if (!st) st = ds_results_set_attr_int(c->res, "classes", c->classes, err);
    if (!st) st = ds_results_set_attr_double(c->res, "wb_alpha", DS_WB_ALPHA, err);
    return st;
}

static ds_status open_results(coord *c, const ds_spec *spec, const ds_plan *plan, int ranks,
                              ds_err *err)
{
    const ds_sweep_opts *o = c->o;
    char data_sha[DS_DATA_SHA256_HEX];
    ds_status st = ds_data_fingerprint_dir(spec->data_dir, spec->data_format, data_sha, err);
    if (st) return ds_err_prefix(err, "%s: data fingerprint: ", spec->path);
    char (*ids)[DS_CELL_ID_HEX] = NULL;
    if ((st = plan_ids(plan, &ids, err))) return st;
    ds_results_run run = {.mode = "new", .spec_text = spec->text, .spec_path = o->spec_path,
                          .spec_hash = plan->hash, .data_sha256 = data_sha, .ranks = ranks,
                          .threads = o->threads > 0 ? o->threads : 1,
                          .cells = (const char (*)[DS_CELL_ID_HEX])ids, .ncells = (size_t)plan->n};
    if (o->resume && access(o->out, F_OK) == 0) {
        /* after MPI_Init: read in this process (ds_results_open_direct) */
        if (!(c->res = ds_results_open_direct(o->out, err))) {
            free(ids);
            return err->code;
        }
        warn_if_exposed(o->out);
        const char *h = ds_results_attr(c->res, "spec_hash");
        const char *d = ds_results_attr(c->res, "data_sha256");
        const int other_spec = !h || strcmp(h, plan->hash), other_data = d && strcmp(d, data_sha);
        if (!o->force && other_spec)
            st = ds_err_set(err, DS_EINVAL,
                            "%s was made from another spec or version (plan hash %.12s, this "
                            "spec %.12s); use another -o, or --force to add to it anyway",
                            o->out, h ? h : "(none)", plan->hash);
        else if (!o->force && other_data)
            st = ds_err_set(err, DS_EINVAL,
                            "%s was made from other data: the files in %s changed (SHA-256 %.12s "
                            "recorded, %.12s now); use another -o, or --force to add to it anyway",
                            o->out, spec->data_dir, d, data_sha);
        if (!st && !d)
            fprintf(stderr, "sweep: warning: %s records no data fingerprint (made by an older "
                    "version); the data cannot be checked, and this data's is recorded now\n", o->out);
        if (!st && (other_spec || other_data))
            fprintf(stderr, "sweep: --force: adding the cells of %s to %s, which holds cells of "
                    "another %s; its history (/runs) keeps both\n", o->spec_path, o->out,
                    other_spec ? "spec" : "data set");
        run.mode = other_spec || other_data ? "resume --force" : "resume";
        size_t runs = 0;
        if (!st) st = ds_results_run_count(c->res, &runs, err);
        if (!st && runs == 0) st = record_first_run(c, err);
        for (size_t r = 0; !st && r < ds_results_count(c->res); r++) {
            const ds_result_row *row = ds_results_row(c->res, r);
            int i = ds_plan_find(plan, row->id);
            if (i < 0 || c->state[i] != CELL_PENDING) continue;
            c->state[i] = strcmp(row->status, "done") ? CELL_FAILED : CELL_DONE;
            c->sum->skipped++;
        }
        c->committed = ds_results_count(c->res);
        if (!st) st = ds_results_set_attr_int(c->res, "ranks", ranks, err);
        /* the root describes the latest run; /runs keeps every one */
        if (!st) st = ds_results_set_attr(c->res, "spec_text", spec->text, err);
        if (!st) st = ds_results_set_attr(c->res, "spec_path", o->spec_path, err);
        if (!st) st = ds_results_set_attr(c->res, "spec_hash", plan->hash, err);
    } else if (access(o->out, F_OK) == 0) {
        st = ds_err_set(err, DS_EINVAL, "%s exists: use --resume to continue it, or another -o", o->out);
    } else {
        ds_results_info info = {.name = spec->name, .spec_text = spec->text, .spec_path = o->spec_path,
                                .spec_hash = plan->hash, .seed = spec->seed, .ranks = ranks,
                                .threads = o->threads > 0 ? o->threads : 1,
                                .total_cells = (size_t)plan->n};
        if (!(c->res = ds_results_create(o->out, &info, err))) st = err->code;
    }
    if (!st) st = ds_results_add_run(c->res, &run, err);
    free(ids);
    if (!st) st = describe_data(c, data_sha, err);
    if (!st) st = gather_planned(c, err);
    if (!st) st = ds_results_set_attr(c->res, "status", "running", err);
    return st ? st : ds_results_commit(c->res, err);
}

static ds_status coordinate(const ds_sweep_opts *o, const ds_spec *spec, const ds_plan *plan,
                            const shared_data *sd, int ranks, ds_sweep_summary *sum, ds_err *err)
{
    coord c;
    int lock_fd = -1;
    memset(&c, 0, sizeof c);
    c.spec = spec; c.plan = plan; c.o = o; c.sum = sum; c.ranks = ranks;
    c.classes = sd->train.num_classes;
    char real[PATH_MAX];
    const size_t n = (size_t)plan->n;
    c.state = calloc(n, sizeof *c.state);
    c.model = calloc(n, sizeof *c.model);
    c.key = calloc(n, sizeof *c.key);
    c.model_len = calloc(n, sizeof *c.model_len);
    c.key_len = calloc(n, sizeof *c.key_len);
    c.mirror = calloc((size_t)ranks, sizeof *c.mirror);
    c.busy = calloc((size_t)ranks, sizeof *c.busy);
    c.pending = calloc((size_t)ranks + 1, sizeof *c.pending);
    c.pending_cell = calloc((size_t)ranks + 1, sizeof *c.pending_cell);
    ds_status st = DS_OK;
    if (!c.state || !c.model || !c.key || !c.model_len || !c.key_len || !c.mirror || !c.busy ||
        !c.pending || !c.pending_cell) {
        st = ds_err_set(err, DS_ENOMEM, "out of memory for %zu cells", n);
        goto done;
    }
    for (int w = 0; w < ranks; w++) {
        cache_init(&c.mirror[w]);
        c.busy[w] = -1;
    }
    sum->total = plan->n;
    if ((st = ds_outpath_check("-o", o->out, 1, err)) || (st = resolve_out(o->out, real, sizeof real, err)) ||
        (st = lock_results(real, &lock_fd, err)))
        goto done;
    if ((st = open_results(&c, spec, plan, ranks, err))) goto done;
    if (o->progress)
        fprintf(stderr, "sweep: %d cells, %d ranks; coordinator pid %ld (SIGTERM or SIGINT to it, "
                "or SIGUSR1 to mpirun, stops the sweep cleanly)\n", plan->n, ranks, (long)getpid());
    c.to_run = plan->n - sum->skipped;
    if (sum->skipped)
        fprintf(stderr, "sweep: resuming %s: %d of %d cells already there\n", o->out, sum->skipped,
                plan->n);
    ds_progress_start(&c.prog, "sweep", (size_t)c.to_run, o->progress);
    const double t0 = ds_now(), cpu0 = cpu_seconds();
    st = ranks == 1 ? coord_run_local(&c, sd, err) : coord_run_mpi(&c, err);
    if (c.npending) { /* rows accepted before an error: keep them if the file takes them */
        ds_err e2 = {0};
        ds_status s2 = coord_flush(&c, st ? &e2 : err);
        if (!st) st = s2;
    }
    sum->seconds = ds_now() - t0;
    sum->coord_cpu = cpu_seconds() - cpu0;
    if (c.in_flight > 0) sum->abort_needed = 1;
    {
        char extra[96];
        snprintf(extra, sizeof extra, "%d done, %d failed", sum->done, sum->failed);
        if (o->progress) ds_progress_finish(&c.prog, extra);
    }
    if (c.res) {
        ds_err e2 = {0};
        const int complete = !sum->interrupted && sum->done + sum->failed + sum->skipped == plan->n &&
                             file_complete(&c);
        ds_status s2 = ds_results_set_attr(c.res, "status", complete ? "complete" : "incomplete", &e2);
        if (!s2) s2 = ds_results_commit(c.res, &e2);
        if (s2 && !st) {
            st = s2;
            *err = e2;
        }
    }
done:
    /* workers that are idle get STOP (busy ones, after an interruption, are left
     * to the caller, which aborts) */
    for (int w = 1; w < ranks && c.busy; w++)
        if (c.busy[w] == -1) MPI_Send(NULL, 0, MPI_BYTE, w, TAG_STOP, MPI_COMM_WORLD);
    for (size_t i = 0; i < n && c.model; i++) {
        free(c.model[i]);
        free(c.key[i]);
    }
    ds_results_close(c.res);
    unlock_results(real, lock_fd);
    free(c.planned.ids);
    free(c.state); free(c.model); free(c.key); free(c.model_len); free(c.key_len);
    free(c.mirror); free(c.busy); free(c.pending); free(c.pending_cell);
    return st;
}

/* Rank 0 reads the spec file and sends its text; every rank parses it. */
static ds_status share_spec(const char *path, int rank, ds_spec *spec, ds_err *err)
{
    unsigned long long len = 0;
    char msg[DS_ERR_MSG_MAX] = "";
    int bad = 0;
    if (rank == 0) {
        if (ds_spec_load(path, spec, err)) {
            bad = 1;
            snprintf(msg, sizeof msg, "%s", err->msg);
        } else {
            len = strlen(spec->text);
        }
    }
    MPI_TRY(MPI_Bcast(&bad, 1, MPI_INT, 0, MPI_COMM_WORLD), "MPI_Bcast (spec)");
    if (bad) {
        MPI_TRY(MPI_Bcast(msg, sizeof msg, MPI_CHAR, 0, MPI_COMM_WORLD), "MPI_Bcast (spec error)");
        return rank == 0 ? err->code : ds_err_set(err, DS_EINVAL, "%s", msg);
    }
    MPI_TRY(MPI_Bcast(&len, 1, MPI_UNSIGNED_LONG_LONG, 0, MPI_COMM_WORLD), "MPI_Bcast (spec)");
    if (rank == 0) {
        MPI_TRY(MPI_Bcast(spec->text, (int)len, MPI_CHAR, 0, MPI_COMM_WORLD), "MPI_Bcast (spec)");
        return DS_OK;
    }
    char *text = malloc(len + 1);
    if (!text) return ds_err_set(err, DS_ENOMEM, "out of memory for the spec");
    MPI_TRY(MPI_Bcast(text, (int)len, MPI_CHAR, 0, MPI_COMM_WORLD), "MPI_Bcast (spec)");
    text[len] = '\0';
    ds_status st = ds_spec_parse(text, len, path, spec, err);
    free(text);
    return st;
}

ds_status ds_sweep_run(const ds_sweep_opts *opts, ds_sweep_summary *sum, ds_err *err)
{
    memset(sum, 0, sizeof *sum);
    ds_sweep_opts oo = *opts, *o = &oo;
    char out[600];
    int rank, ranks;
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_TRY(MPI_Comm_rank(MPI_COMM_WORLD, &rank), "MPI_Comm_rank");
    MPI_TRY(MPI_Comm_size(MPI_COMM_WORLD, &ranks), "MPI_Comm_size");
    ds_spec *spec = calloc(1, sizeof *spec);
    if (!spec) return ds_err_set(err, DS_ENOMEM, "out of memory for the spec");
    ds_plan plan = {0};
    shared_data sd;
    memset(&sd, 0, sizeof sd);
    sd.win = MPI_WIN_NULL;
    MPI_Comm node = MPI_COMM_NULL;
    ds_status st = share_spec(o->spec_path, rank, spec, err);
    if (st) goto done;
    if ((st = ds_plan_make(spec, &plan, err))) goto done;
    if (!o->out) {
        snprintf(out, sizeof out, "results/%s.h5", spec->name);
        o->out = out;
    }
    int rc = MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &node);
    if (rc != MPI_SUCCESS) {
        st = mpi_fail(err, rc, "MPI_Comm_split_type");
        goto done;
    }
    if ((st = data_share(spec, node, &sd, err))) goto done;
    if ((st = ds_plan_check_data(spec, &sd.train, err))) goto done;
    if (rank == 0)
        st = coordinate(o, spec, &plan, &sd, ranks, sum, err);
    else if ((st = worker_run(spec, &plan, &sd, err)))
        sum->abort_needed = 1; /* the coordinator waits for this worker's answer */
done:
    if (sd.win != MPI_WIN_NULL && !sum->abort_needed) MPI_Win_free(&sd.win);
    if (node != MPI_COMM_NULL && !sum->abort_needed) MPI_Comm_free(&node);
    ds_plan_free(&plan);
    ds_spec_free(spec);
    free(spec);
    return st;
}
