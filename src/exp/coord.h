/* coord.h - private: the sweep coordinator's state, shared by its dispatch
 * loop (coord.c) and its handling of the results file (coord_file.c).
 *
 * Shapes: n = plan->n cells, P = ranks. Cell i's state, images and rows are
 * indexed by its place in the plan; workers by their rank (0 unused).
 */
#ifndef DEEPSIGNS_EXP_COORD_H
#define DEEPSIGNS_EXP_COORD_H

#include <limits.h>

#include "deepsigns/progress.h"
#include "deepsigns/sweep.h"
#include "exp/cache.h"

typedef enum ds_coord_cell_state {
    DS_CELL_PENDING = 0, DS_CELL_RUNNING, DS_CELL_DONE, DS_CELL_FAILED
} ds_coord_cell_state;

/* A growing list of cell identities (coord_file.c sorts it and drops repeats). */
typedef struct ds_id_set {
    char (*ids)[DS_CELL_ID_HEX];
    size_t n, cap;
} ds_id_set;

typedef struct ds_coord {
    const ds_spec *spec;
    const ds_plan *plan;
    const ds_sweep_opts *o;
    ds_results *res;
    ds_coord_cell_state *state;   /* [n] */
    ds_blob_ref *model, *key;     /* [n] the blobs of done train/embed cells (read from the
                                     file when first needed; hex "": not known yet) */
    ds_cache local;               /* P = 1: the images rank 0 holds while it runs the cells */
    char store[PATH_MAX];         /* the blob store, absolute ("" before the file is open) */
    int *busy;                    /* [P]: the cell a worker runs, or -1 */
    int ranks, in_flight, next;   /* next: first cell that may still be pending */
    ds_sweep_summary *sum;
    ds_progress prog;
    int to_run;
    ds_result_row *pending;       /* [P + 1] accepted rows not yet written */
    int *pending_cell;            /* [P + 1] their cells */
    int npending;
    size_t committed;             /* rows in the results file on disk */
    double *commit_s;             /* wall time of each commit this run (row, model, key) */
    size_t ncommits, commit_cap;
    ds_id_set planned;            /* every cell any run on the file planned (total_cells) */
    int classes;                  /* of the data */
    char real[PATH_MAX];          /* o->out resolved (exp/outlock.h); "" before */
    int lock_fd;                  /* the held lock, or -1 */
} ds_coord;

/* Open o->out for the sweep (c->res): create it, or with --resume check that it
 * was made from this plan and data (unless --force), mark the cells it already
 * holds done or failed (c->state, c->sum->skipped), record this run in /runs,
 * and set the root attributes (data, total_cells, status "running"); commits.
 * Its blob store is made when absent and its absolute path put in c->store.
 * The lock is held. */
ds_status ds_coord_open_results(ds_coord *c, int ranks, ds_err *err);

/* 1 when the file has a row for every cell any run on it planned. */
int ds_coord_file_complete(const ds_coord *c);

#endif
