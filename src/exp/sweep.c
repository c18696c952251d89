/* sweep.c - the MPI experiment engine (see sweep.h): every rank shares the spec
 * and the data, then rank 0 coordinates and the others work.
 *
 * The parts, after the master/worker split:
 *   proto.c        the messages between coordinator and workers, and MPI plumbing
 *   cache.c        the workers' image cache, mirrored on the coordinator
 *   shared_data.c  the spec broadcast and the node-shared data window
 *   coord.c        the coordinator: dispatch, accept, write (coord_file.c: the
 *                  results file's opening and history; outlock.c: its lock)
 *   worker.c       a worker
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <string.h>

#include "deepsigns/sweep.h"
#include "exp/proto.h"
#include "exp/roles.h"
#include "exp/shared_data.h"

/* Collective teardown of the shared window and the node communicator: skipped
 * when a rank must abort (the other ranks may never come to it). The first
 * failure becomes the error when st is DS_OK. */
static ds_status sweep_teardown(ds_shared_data *sd, MPI_Comm *node, const ds_sweep_summary *sum,
                                ds_status st, ds_err *err)
{
    if (sum->abort_needed) return st;
    ds_err e2 = {0};
    ds_status s2 = ds_shared_data_free(sd, st ? &e2 : err);
    if (!st) st = s2;
    if (*node != MPI_COMM_NULL) {
        int rc = MPI_Comm_free(node);
        if (rc != MPI_SUCCESS && !st) st = ds_proto_fail(err, rc, "MPI_Comm_free");
    }
    return st;
}

/* Every rank's peak resident memory to rank 0's summary (when no rank is left
 * busy: they all reach this point). */
static ds_status gather_rss(int rank, int ranks, ds_sweep_summary *sum, ds_err *err)
{
    struct rusage ru;
    long kb = getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : -1;
    long *all = rank == 0 ? calloc((size_t)ranks, sizeof *all) : NULL;
    if (rank == 0 && !all) return ds_err_set(err, DS_ENOMEM, "out of memory for %d ranks", ranks);
    int rc = MPI_Gather(&kb, 1, MPI_LONG, all, 1, MPI_LONG, 0, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS) {
        free(all);
        return ds_proto_fail(err, rc, "MPI_Gather (peak memory)");
    }
    for (int r = 0; all && r < ranks; r++) {
        if (r < DS_SWEEP_RSS_RANKS) sum->rss_kb[r] = all[r];
        if (all[r] > sum->rss_max_kb) sum->rss_max_kb = all[r];
    }
    if (all) sum->rss_ranks = ranks < DS_SWEEP_RSS_RANKS ? ranks : DS_SWEEP_RSS_RANKS;
    free(all);
    return DS_OK;
}

size_t ds_sweep_cache_bytes(const ds_sweep_opts *o)
{
    return (size_t)(o->cache_mb > 0 ? o->cache_mb : DS_SWEEP_CACHE_MB_DEFAULT) << 20;
}

ds_status ds_sweep_run(const ds_sweep_opts *opts, ds_sweep_summary *sum, ds_err *err)
{
    memset(sum, 0, sizeof *sum);
    ds_sweep_opts oo = *opts, *o = &oo;
    char out[600];
    int rank, ranks;
    DS_MPI_TRY(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
    DS_MPI_TRY(MPI_Comm_rank(MPI_COMM_WORLD, &rank), "MPI_Comm_rank");
    DS_MPI_TRY(MPI_Comm_size(MPI_COMM_WORLD, &ranks), "MPI_Comm_size");
    ds_spec *spec = calloc(1, sizeof *spec);
    if (!spec) return ds_err_set(err, DS_ENOMEM, "out of memory for the spec");
    ds_plan plan = {0};
    ds_shared_data sd;
    memset(&sd, 0, sizeof sd);
    sd.win = MPI_WIN_NULL;
    MPI_Comm node = MPI_COMM_NULL;
    ds_status st = ds_shared_spec_load(o->spec_path, o->sets, o->nsets, rank, spec, err);
    if (st) goto done;
    if ((st = ds_plan_make(spec, &plan, err))) goto done;
    if (!o->out) {
        snprintf(out, sizeof out, "results/%s.h5", spec->name);
        o->out = out;
    }
    /* the node's first rank loads the data into the window and so holds it: a
     * worker where there is one, not the coordinator, which never reads it */
    const int order = rank == 0 && ranks > 1 ? ranks : rank;
    int rc = MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, order, MPI_INFO_NULL, &node);
    if (rc != MPI_SUCCESS) {
        st = ds_proto_fail(err, rc, "MPI_Comm_split_type");
        goto done;
    }
    if ((st = ds_shared_data_load(spec, node, &sd, err))) goto done;
    if ((st = ds_plan_check_data(spec, &sd.train, err))) goto done;
    if (rank == 0)
        st = ds_coord_run(o, spec, &plan, &sd, ranks, sum, err);
    else if ((st = ds_worker_run(spec, &plan, &sd, ds_sweep_cache_bytes(o), err)))
        sum->abort_needed = 1; /* the coordinator waits for this worker's answer */
    if (!sum->abort_needed) {
        ds_err e2 = {0};
        ds_status s2 = gather_rss(rank, ranks, sum, st ? &e2 : err);
        if (!st) st = s2;
    }
done:
    st = sweep_teardown(&sd, &node, sum, st, err);
    ds_plan_free(&plan);
    ds_spec_free(spec);
    free(spec);
    return st;
}
