/* roles.h - private: the two roles a rank plays in ds_sweep_run (sweep.c), on
 * the protocol of exp/proto.h.
 *
 * Both are called after the spec, the plan and the data are shared. P = ranks
 * in MPI_COMM_WORLD; with P = 1 the coordinator runs every cell itself.
 */
#ifndef DEEPSIGNS_EXP_ROLES_H
#define DEEPSIGNS_EXP_ROLES_H

#include "deepsigns/sweep.h"
#include "exp/cache.h"
#include "exp/proto.h"
#include "exp/shared_data.h"

/* Rank 0: lock and open (or create, or resume) o->out, hand the plan's cells to
 * the workers as their inputs are done, write each result as it arrives, and
 * send STOP to every idle worker at the end. Fills *sum; sets
 * sum->abort_needed when a worker is left busy (or without its STOP). */
ds_status ds_coord_run(const ds_sweep_opts *o, const ds_spec *spec, const ds_plan *plan,
                       const ds_shared_data *sd, int ranks, ds_sweep_summary *sum, ds_err *err);

/* Ranks 1..P-1: announce READY, take the STORE path, then run each TASK until
 * STOP. An MPI error here leaves the coordinator waiting for this worker: the caller must abort. */
ds_status ds_worker_run(const ds_spec *spec, const ds_plan *plan, const ds_shared_data *sd,
                        size_t cache_bytes, ds_err *err);

/* Run the cell of task t as a worker does: its inputs from held or, when held
 * lacks them, read from the blob store directory store by the task's references
 * (checked against their hashes) into held; the model and key it makes written
 * to the store (atomic, synced, 0600; r->model and r->key name them) and kept
 * in held. r->row is its row (a failed cell is a row, not an error). An error
 * (an input that cannot be read, a store that cannot be written) leaves nothing
 * named in r. The workers use it, and the coordinator when it runs alone. */
ds_status ds_worker_cell_run(const ds_spec *spec, const ds_plan *plan, const ds_shared_data *sd,
                             const char *store, ds_cache *held, const ds_proto_task *t,
                             ds_proto_result *r, ds_err *err);

/* The byte budget of each worker's image cache (o->cache_mb, or the default). */
size_t ds_sweep_cache_bytes(const ds_sweep_opts *o);

#endif
