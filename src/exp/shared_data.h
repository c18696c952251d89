/* shared_data.h - private: what every rank of a sweep reads from rank 0 or
 * from its node's first rank: the spec, and the data sets.
 *
 * The spec file is read by rank 0 and its text broadcast; every rank parses it.
 * The training and test sets are loaded once per node (by rank 0 of the node
 * communicator, which the sweep orders so that it is a worker, not the
 * coordinator, wherever a worker shares the node) into an MPI-3 shared-memory
 * window that the node's other ranks map: the data sets point into the window
 * and own nothing; a rank that never reads them (the coordinator) holds none of
 * their pages.
 */
#ifndef DEEPSIGNS_EXP_SHARED_DATA_H
#define DEEPSIGNS_EXP_SHARED_DATA_H

#include <mpi.h>

#include "deepsigns/data.h"
#include "deepsigns/spec.h"
#include "deepsigns/status.h"

typedef struct ds_shared_data {
    MPI_Win win;                /* MPI_WIN_NULL until loaded */
    ds_dataset train, test;     /* views into the window (owns = 0) */
} ds_shared_data;

/* Collective over MPI_COMM_WORLD: rank 0 loads path into *spec and sends its
 * text; the others parse the same text (under the same path). A spec error is
 * rank 0's message on every rank. */
ds_status ds_shared_spec_load(const char *path, const char *const *sets, int nsets, int rank, ds_spec *spec,
                              ds_err *err);

/* Collective over node (the ranks sharing memory): sd->win empty (MPI_WIN_NULL)
 * on entry; rank 0 of node loads spec's data (cut to its train/test limits), and
 * every rank gets the same train and test views. A load error is
 * "<spec path>: data.dir: <reason>" on every rank. */
ds_status ds_shared_data_load(const ds_spec *spec, MPI_Comm node, ds_shared_data *sd, ds_err *err);

/* Collective over the window's ranks: free the window (nothing when it is
 * MPI_WIN_NULL); sd may be NULL. */
ds_status ds_shared_data_free(ds_shared_data *sd, ds_err *err);

#endif
