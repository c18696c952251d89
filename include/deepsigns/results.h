/* results.h - the results file of an experiment (HDF5, one per experiment).
 *
 * Root attributes describe the run (magic, format_version, the spec text and its
 * hash, program version and git revision, library versions, ranks, threads,
 * host, dates, seed); /cells is a table with one row per cell (a 1-D compound
 * dataset, fields below; strings are fixed-length ASCII); /models/<id> and
 * /keys/<id> hold model and key files, byte for byte, as uint8 datasets (h5py:
 * h5py.File(io.BytesIO(f['models'][id][()].tobytes()))); /runs/NNNN records
 * every run of a sweep on the file (spec, data fingerprint, planned cells). An
 * older format is upgraded when first written to. The layout is in
 * docs/results-file.md.
 *
 * Only one process writes. The file is kept in memory and every change is
 * committed by writing the whole image to "<path>.tmp.<pid>", fsync and rename:
 * on disk there is always a complete file, the previous one or the new one, and
 * a full disk or a kill loses at most the change being written.
 */
#ifndef DEEPSIGNS_RESULTS_H
#define DEEPSIGNS_RESULTS_H

#include <stddef.h>
#include <stdint.h>

#include "deepsigns/blobstore.h"
#include "deepsigns/status.h"

#define DS_RESULTS_MAGIC "DEEPSIGNS-RESULTS"
typedef enum ds_results_format {
    DS_RESULTS_FORMAT_V1 = 1,     /* seed column int64 (the seed's bits); still read and resumed */
    DS_RESULTS_FORMAT_V2 = 2,     /* seed column uint64; files created 0600 */
    DS_RESULTS_FORMAT_V3 = 3,     /* columns config and commitment; /runs; data_sha256, classes,
                                     wb_alpha; an older file is upgraded when written to */
    DS_RESULTS_FORMAT_V4 = 4,     /* models and keys in the blob store beside the file
                                     ("<file>.blobs/<sha256>"), /models/<id> names one */
    DS_RESULTS_FORMAT_V5 = 5,     /* columns ber_unaligned, aligned, align_corr (white-box
                                     realignment) */
    DS_RESULTS_FORMAT_CURRENT = DS_RESULTS_FORMAT_V5,
} ds_results_format;

enum { DS_CELL_ID_HEX = 17 }; /* 16 hex digits (64 bits of SHA-256) + NUL */

/* One row of /cells. Unused numbers are NaN (doubles) or -1 (integers). */
typedef struct ds_result_row {
    char id[DS_CELL_ID_HEX];      /* the cell's identity */
    char parent[DS_CELL_ID_HEX];  /* the cell whose model it starts from ("" for train) */
    char key_id[DS_CELL_ID_HEX];  /* the embed cell whose key is checked ("" if none) */
    char kind[8];                 /* train | embed | attack | null */
    char benchmark[16];           /* architecture, e.g. mnist-mlp */
    char scheme[12];              /* whitebox | blackbox | "" */
    char attack[12];              /* prune | finetune | overwrite | quantize | noise |
                                     permute | dummy | "" */
    char variant[12];             /* prune: layer|global; finetune: ftll..; dummy: clique|split */
    double strength;              /* rate, epochs, K', N', bits, sigma, neurons; N or K for embed */
    uint64_t seed;                /* replicate seed (null models: the null's own seed); always set,
                                     so it has no unused value (0 after ds_result_row_init) */
    char status[8];               /* done | failed */
    char reason[160];             /* why it failed ("" when done) */
    double acc_before, acc_after; /* test accuracy of the parent model and of this one */
    double ber, ber_p;            /* white-box: bit-error rate, P(Bin(sN,1/2) <= errors) */
    int32_t bit_errors, bits;
    int32_t mismatches, keys, theta; /* black-box: m, K, threshold */
    double bb_p;                  /* black-box: P(Bin(K, 1-1/C) <= m) */
    int8_t owned;                 /* verdict: 1 owned, 0 not, -1 no check */
    double realised;              /* attack: achieved strength (sparsity, ...) */
    double delta_l2;              /* attack: ||theta - theta_parent||_2 */
    double seconds;               /* wall time of the cell */
    int32_t rank;                 /* MPI rank that ran it */
    char config[DS_CELL_ID_HEX];  /* the cell's setting: one per model and option set, the same
                                     for its replicates and strengths ("" before format 3) */
    char commitment[65];          /* embed: the key's commitment (64 hex digits); else "" */
    double ber_unaligned;         /* white-box: BER read without realignment (NaN: the layer's
                                     width differs from the key's, or before format 5) */
    int8_t aligned;               /* white-box: 1 the figures are realigned, 0 read without
                                     (no reference, or an alignment not trusted), -1 no check */
    double align_corr;            /* the realignment's mean pair correlation (NaN: none tried) */
} ds_result_row;

/* A row with every number unset (NaN / -1) and every string empty. */
void ds_result_row_init(ds_result_row *r);

/* What goes into the root attributes when a file is created. */
typedef struct ds_results_info {
    const char *name;             /* experiment name */
    const char *spec_text;        /* the spec file's bytes */
    const char *spec_path;
    const char *spec_hash;        /* hex hash of the canonical plan (refuses resume from another) */
    uint64_t seed;
    int ranks, threads;
    size_t total_cells;
    const char *mpi_version;         /* root openmpi_version: the MPI compiled against (NULL: "") */
    const char *mpi_library_version; /* MPI_Get_library_version's text (NULL: "") */
} ds_results_info;

typedef struct ds_results ds_results;

/* Create path anew (replacing any file there only when it is committed). */
ds_results *ds_results_create(const char *path, const ds_results_info *info, ds_err *err);
/* Open an existing results file for appending (resume). Checks magic, version and
 * the table; a damaged or foreign file is refused with the reason. The file is
 * read once and parsed first in a child process (src/io/untrusted.h). */
ds_results *ds_results_open(const char *path, ds_err *err);
/* The same without the child process, for a process that has called MPI_Init
 * (fork is not safe with every MPI transport): the sweep's own file. */
ds_results *ds_results_open_direct(const char *path, ds_err *err);
/* Write the image to disk (atomic). Called by append/put; safe to call again. */
ds_status ds_results_commit(ds_results *r, ds_err *err);
void ds_results_close(ds_results *r); /* no commit; accepts NULL */

/* Root string attribute (e.g. spec_hash, spec_text, updated); NULL if absent. */
const char *ds_results_attr(const ds_results *r, const char *name);
ds_status ds_results_set_attr(ds_results *r, const char *name, const char *value, ds_err *err);
/* An int64 attribute; one that exists as an unsigned integer (total_cells)
 * stays uint64 when value >= 0. */
ds_status ds_results_set_attr_int(ds_results *r, const char *name, long long value, ds_err *err);
ds_status ds_results_set_attr_double(ds_results *r, const char *name, double value, ds_err *err);

size_t ds_results_count(const ds_results *r);
const ds_result_row *ds_results_row(const ds_results *r, size_t i);
/* Index of the row with id, or -1. */
long ds_results_find(const ds_results *r, const char *id);

/* Append one row and commit. */
ds_status ds_results_append(ds_results *r, const ds_result_row *row, ds_err *err);
/* Store bytes as /<group>/<id> (group "models" or "keys"): written at once to
 * the blob store "<path>.blobs/<SHA-256 hex>" (atomic, 0600; kept when that
 * content is there already), and named by /<group>/<id>, a scalar string (the
 * hash) with the attribute bytes; the file itself changes in memory only (the
 * row that follows commits). A commit so costs what the table holds, not the
 * models. Replaces an existing one. */
ds_status ds_results_put_blob(ds_results *r, const char *group, const char *id, const void *data,
                              size_t n, ds_err *err);
/* Name as /<group>/<id> the blob ref names, which a writer (a sweep worker) has
 * already put in this file's store (ds_blobstore_put on ds_results_store_dir):
 * it must be there, a regular file of ref->bytes bytes (it is not read again),
 * or DS_EIO / DS_EFORMAT names it. Changes the file in memory only. */
ds_status ds_results_put_blob_ref(ds_results *r, const char *group, const char *id, const ds_blob_ref *ref,
                                  ds_err *err);
/* The reference /<group>/<id> holds (ref->hex "" when absent), without reading
 * the blob. A blob inline in a file before format 4 is copied into the store
 * first (the file itself is not changed), so every blob can be named. */
ds_status ds_results_get_blob_ref(const ds_results *r, const char *group, const char *id, ds_blob_ref *ref,
                                  ds_err *err);
/* Check that every blob the file names (format 4) is in its store, a regular
 * file of the recorded size (not read); *n counts them. The first one missing
 * or of another size is named (the store must move with the file). */
ds_status ds_results_check_store(const ds_results *r, size_t *n, ds_err *err);
/* Read /<group>/<id> into a malloc'd buffer (from the store, checked against its
 * hash; or inline, in a file before format 4); *data NULL (DS_OK) when absent. */
ds_status ds_results_get_blob(const ds_results *r, const char *group, const char *id,
                              void **data, size_t *n, ds_err *err);

/* One run of a sweep on this file (/runs/NNNN, a history that is only appended
 * to): the spec it ran, the data it read, the cells its plan held. */
typedef struct ds_results_run {
    const char *mode;            /* "new", "resume" or "resume --force" */
    const char *spec_text, *spec_path, *spec_hash;
    const char *data_sha256;     /* ds_data_fingerprint_dir of the data it read */
    int ranks, threads;
    const char (*cells)[DS_CELL_ID_HEX]; /* the identities of the cells of its plan */
    size_t ncells;
} ds_results_run;

/* The blob store's directory (beside the file, as blob_store names it) into buf[cap]. */
ds_status ds_results_store_dir(const ds_results *r, char *buf, size_t cap, ds_err *err);

/* Record a run (no commit); it gets the date. */
ds_status ds_results_add_run(ds_results *r, const ds_results_run *run, ds_err *err);
/* How many runs are recorded (0 in a file made before format 3). */
ds_status ds_results_run_count(const ds_results *r, size_t *n, ds_err *err);
/* The cell identities of run i (0-based) in a malloc'd array *ids of *n. */
ds_status ds_results_run_cells(const ds_results *r, size_t i, char (**ids)[DS_CELL_ID_HEX], size_t *n,
                               ds_err *err);

#endif
