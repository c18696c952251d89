/* worker.c - a sweep worker (ranks 1..P-1): READY once, then each TASK is run
 * and answered with its RESULT until STOP (see roles.h and proto.h).
 *
 * The worker keeps the images it received and made in its cache (cache.h); the
 * coordinator's mirror of that cache decides which images a TASK brings, so an
 * image it does not bring must be in the cache.
 */
#include <stdlib.h>
#include <string.h>

#include "exp/cache.h"
#include "exp/proto.h"
#include "exp/roles.h"

/* The inputs of task t into io: the images that follow the TASK (received into
 * the cache) or those already held. io points into the cache. */
static ds_status worker_inputs_take(const ds_proto_task *t, ds_cache *held, ds_cell_io *io,
                                    ds_err *err)
{
    for (int kind = DS_BLOB_MODEL; kind <= DS_BLOB_KEY; kind <<= 1) {
        const int src = kind == DS_BLOB_MODEL ? t->model_cell : t->key_cell;
        if (src < 0) continue;
        ds_cache_slot *s;
        if (t->blobs & kind) {
            void *p;
            size_t n;
            ds_status st = ds_proto_recv_blob(0, &p, &n, err);
            if (st) return st;
            s = ds_cache_put(held, src, kind, p, n);
        } else if (!(s = ds_cache_get(held, src, kind))) {
            return ds_err_set(err, DS_EINVAL, "sweep: cell %d's input is not in this worker's cache",
                              t->cell);
        }
        if (kind == DS_BLOB_MODEL) {
            io->model = s->data;
            io->model_len = s->len;
        } else {
            io->key = s->data;
            io->key_len = s->len;
        }
    }
    return DS_OK;
}

/* RESULT r and the images the cell made; then they go into the cache (taken):
 * the cell's children may come here, and the mirror agrees. */
static ds_status worker_result_send(ds_proto_result *r, ds_cell_io *io, ds_cache *held, ds_err *err)
{
    r->blobs = (io->out_model ? DS_BLOB_MODEL : 0) | (io->out_key ? DS_BLOB_KEY : 0);
    ds_status st = ds_proto_send_result(r, err);
    if (!st && io->out_model) st = ds_proto_send_blob(io->out_model, io->out_model_len, 0, err);
    if (!st && io->out_key) st = ds_proto_send_blob(io->out_key, io->out_key_len, 0, err);
    if (io->out_model) ds_cache_put(held, r->cell, DS_BLOB_MODEL, io->out_model, io->out_model_len);
    if (io->out_key) ds_cache_put(held, r->cell, DS_BLOB_KEY, io->out_key, io->out_key_len);
    return st;
}

/* Receive and run one TASK (its probe seen), and answer it. */
static ds_status worker_task_run(const ds_spec *spec, const ds_plan *plan, const ds_shared_data *sd,
                                 ds_cache *held, ds_err *err)
{
    ds_proto_task t;
    ds_status st = ds_proto_recv_task(&t, err);
    if (st) return st;
    if (t.cell < 0 || t.cell >= plan->n)
        return ds_err_set(err, DS_EINVAL, "sweep: task for cell %d outside the plan", t.cell);
    ds_cell_io io = {0};
    if ((st = worker_inputs_take(&t, held, &io, err))) return st;
    ds_proto_result r;
    memset(&r, 0, sizeof r);
    r.cell = t.cell;
    if ((st = ds_cell_run(spec, plan, t.cell, &sd->train, &sd->test, &io, &r.row, err))) return st;
    return worker_result_send(&r, &io, held, err);
}

ds_status ds_worker_run(const ds_spec *spec, const ds_plan *plan, const ds_shared_data *sd,
                        size_t cache_bytes, ds_err *err)
{
    ds_cache held;
    ds_cache_init(&held, cache_bytes);
    ds_status st = ds_proto_send_empty(0, DS_PROTO_READY, err);
    while (!st) {
        MPI_Status probe;
        int got;
        if ((st = ds_proto_wait(0, MPI_ANY_TAG, NULL, -1.0, &probe, &got, err))) break;
        if (probe.MPI_TAG == DS_PROTO_STOP) {
            st = ds_proto_recv_empty(0, DS_PROTO_STOP, err);
            break;
        }
        st = worker_task_run(spec, plan, sd, &held, err);
    }
    ds_cache_free(&held);
    return st;
}
