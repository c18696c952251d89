/* sweep.h - running an experiment's cells: one cell on one process
 * (ds_cell_run), and the MPI sweep over all of them (ds_sweep_run).
 *
 * ds_sweep_run: rank 0 coordinates a dynamic queue (cells whose parents are
 * done go to the next idle worker), writes every result to the results file as
 * it arrives, and sleeps while it waits; ranks 1..P-1 run cells. With P = 1
 * rank 0 runs the cells itself. The training data is loaded once per node and
 * shared by the node's ranks through an MPI-3 shared-memory window. Models and
 * keys do not travel: the rank that makes one writes it to the results file's
 * blob store, and a rank that needs one it does not hold reads it from there
 * (each worker caches images by identity).
 */
#ifndef DEEPSIGNS_SWEEP_H
#define DEEPSIGNS_SWEEP_H

#include <signal.h>
#include <stddef.h>

#include "deepsigns/data.h"
#include "deepsigns/plan.h"
#include "deepsigns/results.h"
#include "deepsigns/spec.h"

/* What one cell gets (the images of its parent's model and of its key) and makes. */
typedef struct ds_cell_io {
    const void *model; size_t model_len;  /* parent model image (NULL for train) */
    const void *key; size_t key_len;      /* key image of key_cell (NULL if none) */
    void *out_model; size_t out_model_len; /* train/embed: the model made (malloc'd) */
    void *out_key; size_t out_key_len;     /* embed: the key made (malloc'd) */
} ds_cell_io;

/* A row describing cell i (identity, parents, kind, scheme, attack, variant,
 * strength, seed) with every metric unset; ds_cell_run starts from it, and the
 * coordinator uses it for a cell that cannot run. */
void ds_cell_row_describe(const ds_spec *spec, const ds_plan *plan, int i, ds_result_row *row);

/* Run cell i of plan on train/test. A cell that fails (divergence, a refused
 * input, ...) is not an error here: row->status is "failed" and row->reason says
 * why. The return value is an error only when the cell could not be described
 * at all. */
ds_status ds_cell_run(const ds_spec *spec, const ds_plan *plan, int i, const ds_dataset *train,
                      const ds_dataset *test, ds_cell_io *io, ds_result_row *row, ds_err *err);

enum { DS_SWEEP_CACHE_MB_DEFAULT = 1024, DS_SWEEP_RSS_RANKS = 64, DS_SWEEP_COMMIT_WINDOW = 50 };

typedef struct ds_sweep_opts {
    const char *spec_path;
    const char *const *sets;  /* --set KEY.PATH=VALUE overrides of the spec (ds_spec_load_set) */
    int nsets;
    const char *out;          /* results file (NULL: results/<name>.h5) */
    int resume;               /* continue an existing results file */
    int force;                /* resume even if the file was made from another plan */
    int threads;              /* BLAS threads per worker (default 1) */
    int cache_mb;             /* each worker's image cache, MiB (0: DS_SWEEP_CACHE_MB_DEFAULT) */
    double grace;             /* seconds to wait for cells in flight after a signal */
    int progress;             /* progress on stderr */
    volatile sig_atomic_t *stop; /* set by a signal handler: stop dispatching */
} ds_sweep_opts;

typedef struct ds_sweep_summary {
    int total, done, failed, skipped, lost; /* lost: in flight when interrupted */
    int interrupted;
    int abort_needed;         /* some rank cannot reach MPI_Finalize: the caller must MPI_Abort */
    double seconds;
    double coord_cpu;         /* rank 0's CPU time during the sweep (with P = 1: running cells too) */
    double write_cpu;         /* of which writing the results file */
    double blob_write_s;      /* wall time the ranks that ran cells spent writing the blobs
                                 of their models and keys to the store (in parallel) */
    int blobs_written;        /* how many blobs they wrote (or found there already) */
    int rss_ranks;            /* ranks whose peak resident memory is in rss_kb (0: not gathered) */
    long rss_kb[DS_SWEEP_RSS_RANKS]; /* peak resident memory (getrusage) of ranks 0.. */
    long rss_max_kb;          /* the largest over all ranks */
    int commits;              /* results-file commits this run (one per row, with its images) */
    double commit_total_s;    /* their wall time */
    int commits_stored;       /* of which wrote a model or key */
    double commit_median_first_s, commit_median_last_s; /* of the first and last
                                 commit_window commits (those that stored a model or key when
                                 there are enough): a commit costs what it adds */
    int commit_window, commit_medians_stored;
} ds_sweep_summary;

/* Run the sweep on MPI_COMM_WORLD (MPI initialised by the caller). Every rank
 * calls it; the summary is filled on rank 0. */
ds_status ds_sweep_run(const ds_sweep_opts *o, ds_sweep_summary *sum, ds_err *err);

#endif
