/* worker.c - a sweep worker (ranks 1..P-1): READY once, the blob store's path,
 * then each TASK is run and answered with its RESULT until STOP (see roles.h
 * and proto.h).
 *
 * A worker keeps the images it read and made in its cache (cache.h) and reads
 * an input it does not hold from the blob store, by the reference the TASK
 * gives; the model and key a cell makes it writes to the store itself (atomic,
 * synced, 0600) before it reports them, so no image travels over MPI and the
 * coordinator never holds one. With one rank the coordinator runs each cell
 * through ds_worker_cell_run as well.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deepsigns/progress.h"
#include "exp/cache.h"
#include "exp/proto.h"
#include "exp/roles.h"

/* Cell src's image of kind into *p, *n: from the cache, else read from the
 * store by ref (checked against its hash) into the cache. *p points into it. */
static ds_status worker_input_get(const char *store, ds_cache *held, int src, ds_proto_image kind,
                                  const ds_blob_ref *ref, const void **p, size_t *n, ds_err *err)
{
    if (src < 0) return DS_OK;
    ds_cache_slot *s = ds_cache_get(held, src, kind);
    if (!s) {
        void *d;
        size_t len;
        if (!ref->hex[0])
            return ds_err_set(err, DS_EINVAL, "sweep: the task names no blob for the %s of cell %d",
                              kind == DS_IMAGE_MODEL ? "model" : "key", src);
        ds_status st = ds_blobstore_get(store, ref, &d, &len, err);
        if (st) return st;
        s = ds_cache_put(held, src, kind, d, len);
    }
    *p = s->data;
    *n = s->len;
    return DS_OK;
}

/* The images cell made into the store (r->model, r->key name them), then into
 * the cache (taken: the cell's children may come here). */
static ds_status worker_outputs_store(const char *store, ds_cache *held, ds_cell_io *io, ds_proto_result *r,
                                      ds_err *err)
{
    const double t0 = ds_now();
    ds_status st = DS_OK;
    if (io->out_model) st = ds_blobstore_put(store, io->out_model, io->out_model_len, &r->model, err);
    if (!st && io->out_key) st = ds_blobstore_put(store, io->out_key, io->out_key_len, &r->key, err);
    r->store_s = ds_now() - t0;
    if (st) {
        free(io->out_model);
        free(io->out_key);
    } else {
        if (io->out_model) ds_cache_put(held, r->cell, DS_IMAGE_MODEL, io->out_model, io->out_model_len);
        if (io->out_key) ds_cache_put(held, r->cell, DS_IMAGE_KEY, io->out_key, io->out_key_len);
    }
    io->out_model = io->out_key = NULL;
    return st;
}

ds_status ds_worker_cell_run(const ds_spec *spec, const ds_plan *plan, const ds_shared_data *sd,
                             const char *store, ds_cache *held, const ds_proto_task *t,
                             ds_proto_result *r, ds_err *err)
{
    memset(r, 0, sizeof *r);
    r->cell = t->cell;
    if (t->cell < 0 || t->cell >= plan->n)
        return ds_err_set(err, DS_EINVAL, "sweep: task for cell %d outside the plan", t->cell);
    ds_cell_io io = {0};
    ds_status st = worker_input_get(store, held, t->model_cell, DS_IMAGE_MODEL, &t->model,
                                    (const void **)&io.model, &io.model_len, err);
    if (!st)
        st = worker_input_get(store, held, t->key_cell, DS_IMAGE_KEY, &t->key, (const void **)&io.key,
                              &io.key_len, err);
    if (!st) st = ds_cell_run(spec, plan, t->cell, &sd->train, &sd->test, &io, &r->row, err);
    if (!st) st = worker_outputs_store(store, held, &io, r, err);
    return st;
}

/* Receive and run one TASK (its probe seen), and answer it; a cell the worker
 * could not run (an unreadable input, a full disk) is answered with the error. */
static ds_status worker_task_run(const ds_spec *spec, const ds_plan *plan, const ds_shared_data *sd,
                                 const char *store, ds_cache *held, ds_err *err)
{
    ds_proto_task t;
    ds_status st = ds_proto_recv_task(&t, err);
    if (st) return st;
    ds_proto_result r;
    memset(&r, 0, sizeof r);
    ds_err e = {0};
    if (!store[0]) ds_err_set(&e, DS_EINVAL, "sweep: a task came before the blob store's path");
    if (e.code || ds_worker_cell_run(spec, plan, sd, store, held, &t, &r, &e)) {
        r.cell = t.cell;
        r.error = e.code;
        snprintf(r.msg, sizeof r.msg, "%s", e.msg);
    }
    return ds_proto_send_result(&r, err);
}

ds_status ds_worker_run(const ds_spec *spec, const ds_plan *plan, const ds_shared_data *sd,
                        size_t cache_bytes, ds_err *err)
{
    ds_cache held;
    ds_cache_init(&held, cache_bytes);
    char store[PATH_MAX] = "";
    ds_status st = ds_proto_send_empty(0, DS_PROTO_READY, err);
    while (!st) {
        MPI_Status probe;
        int got;
        if ((st = ds_proto_wait(0, MPI_ANY_TAG, NULL, -1.0, &probe, &got, err))) break;
        if (probe.MPI_TAG == DS_PROTO_STOP) {
            st = ds_proto_recv_empty(0, DS_PROTO_STOP, err);
            break;
        }
        st = probe.MPI_TAG == DS_PROTO_STORE ? ds_proto_recv_store(store, sizeof store, err)
                                             : worker_task_run(spec, plan, sd, store, &held, err);
    }
    ds_cache_free(&held);
    return st;
}
