/* proto.h - private: the messages between the sweep's coordinator (rank 0) and
 * its workers (ranks 1..P-1), all on MPI_COMM_WORLD, and the MPI plumbing
 * under them.
 *
 * The conversation, per worker:
 *
 *   worker                         coordinator
 *   READY (empty)          ->      received and discarded: every worker counts
 *                                  as idle from the start, READY only drains
 *                          <-      STORE: the blob store's directory (absolute),
 *                                  once, before the first TASK
 *                          <-      TASK (ds_proto_task): the cell, and the
 *                                  references of the model and key it needs
 *   RESULT (ds_proto_result) ->    its row, and the references of the model and
 *                                  key it made, which the worker has written to
 *                                  the store (synced) before it answers; or the
 *                                  error that stopped it (the sweep then ends);
 *                                  the worker is idle again and gets the next TASK
 *                          <-      STOP (empty), sent only to an idle worker,
 *                                  when no cell is left or the sweep ends early
 *
 * No model or key travels over MPI: a worker reads what it lacks from the store
 * (deepsigns/blobstore.h), so the store must be reachable at one path from
 * every rank (a shared file system on a cluster).
 *
 * A worker busy when the sweep ends (an interruption or an error) gets no STOP:
 * the caller aborts the job (ds_sweep_summary.abort_needed).
 *
 * Every function checks each MPI return: a failure becomes DS_ELIB with the
 * message "MPI: <call> failed: <MPI's error string>".
 */
#ifndef DEEPSIGNS_EXP_PROTO_H
#define DEEPSIGNS_EXP_PROTO_H

#include <mpi.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "deepsigns/blobstore.h"
#include "deepsigns/results.h"
#include "deepsigns/status.h"

typedef enum ds_proto_tag {
    DS_PROTO_READY = 1, /* worker -> coordinator, once: the worker has started */
    DS_PROTO_STORE,     /* coordinator -> worker, once: the blob store's path */
    DS_PROTO_TASK,      /* coordinator -> worker: a ds_proto_task */
    DS_PROTO_RESULT,    /* worker -> coordinator: a ds_proto_result */
    DS_PROTO_STOP,      /* coordinator -> idle worker: no more cells */
} ds_proto_tag;

/* The two kinds of image a cell needs or makes (the cache's kinds). */
typedef enum ds_proto_image { DS_IMAGE_MODEL = 1, DS_IMAGE_KEY = 2 } ds_proto_image;

typedef struct ds_proto_task {
    int32_t cell;
    int32_t model_cell, key_cell; /* whose images the cell needs (-1: none) */
    ds_blob_ref model, key;       /* their blobs in the store */
} ds_proto_task;

typedef struct ds_proto_result {
    int32_t cell;
    int32_t error;                /* a ds_status: the worker could not run the cell (msg says why) */
    double store_s;               /* seconds the worker spent writing the blobs */
    ds_blob_ref model, key;       /* what the cell made, in the store (hex "": none) */
    char msg[DS_ERR_MSG_MAX];
    ds_result_row row;
} ds_proto_result;

/* "MPI: <what> failed: <MPI's reason for rc>" as DS_ELIB. */
ds_status ds_proto_fail(ds_err *err, int rc, const char *what);

/* Return ds_proto_fail(err, ...) from the enclosing function when call fails. */
#define DS_MPI_TRY(call, what)                                                \
    do {                                                                      \
        int ds_mpi_rc_ = (call);                                              \
        if (ds_mpi_rc_ != MPI_SUCCESS) return ds_proto_fail(err, ds_mpi_rc_, what); \
    } while (0)

/* Wait for a message from source (or MPI_ANY_SOURCE) with tag (or MPI_ANY_TAG)
 * without spinning a core: probe, then sleep with a growing pause (50 us ..
 * 5 ms). Returns with *got = 1 and *status filled when one is there; *got = 0
 * when *stop is set (stop may be NULL) or after `patience` seconds (< 0: never). */
ds_status ds_proto_wait(int source, int tag, volatile sig_atomic_t *stop, double patience,
                        MPI_Status *status, int *got, ds_err *err);

/* An empty message (READY or STOP) to dest, or received from source. */
ds_status ds_proto_send_empty(int dest, ds_proto_tag tag, ds_err *err);
ds_status ds_proto_recv_empty(int source, ds_proto_tag tag, ds_err *err);

/* STORE: the NUL-terminated path to dest; received into buf[cap] (cap >= 2). */
ds_status ds_proto_send_store(const char *path, int dest, ds_err *err);
ds_status ds_proto_recv_store(char *buf, size_t cap, ds_err *err); /* from rank 0 */

ds_status ds_proto_send_task(const ds_proto_task *t, int dest, ds_err *err);
ds_status ds_proto_recv_task(ds_proto_task *t, ds_err *err); /* from rank 0 */
ds_status ds_proto_send_result(const ds_proto_result *r, ds_err *err); /* to rank 0 */
ds_status ds_proto_recv_result(int source, ds_proto_result *r, ds_err *err);

/* The MPI this was compiled against ("4.1.4" for Open MPI, else "not Open MPI
 * (MPI 3.1)") into compiled[clen], and MPI_Get_library_version's text, trailing
 * newlines and blanks dropped, into runtime[rlen] ("" when MPI is not
 * initialized or cannot tell). For the results file's root attributes. */
void ds_proto_versions(char *compiled, size_t clen, char *runtime, size_t rlen);

#endif
