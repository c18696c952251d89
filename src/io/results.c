/* results.c - the results file of an experiment (HDF5; layout in
 * docs/results-file.md, contract in include/deepsigns/results.h).
 *
 * The whole file lives in memory as an HDF5 file on the core driver without a
 * backing store: HDF5 never writes to disk itself. A commit flushes it, takes
 * its image (H5Fget_file_image) and writes the image with ds_io_write_atomic, so
 * the file on disk is always a complete one; the in-memory file stays open. A
 * commit costs one write of the whole file, which is the accepted price of that
 * guarantee (a results file holds a few thousand rows and the models and keys of
 * the cells that need them). Opening reads the whole file and opens its image
 * writable in memory, after checking the magic, the version and the /cells table
 * (every column present with the class this build reads).
 *
 * /cells is a chunked, extendible 1-D dataset of a compound type whose members
 * are the fields of ds_result_row, in the same order and with the same names:
 * little-endian and packed in the file, the struct's layout in memory. Rows are
 * also kept in memory for ds_results_row and ds_results_find. Root string
 * attributes are cached so that ds_results_attr returns a stable pointer.
 */
#include "deepsigns/results.h"

#include <cblas.h>
#include <gsl/gsl_version.h>
#include <hdf5.h>
#include <errno.h>
#include <math.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "deepsigns/blobstore.h"
#include "deepsigns/attack.h"      /* the attack vocabulary the file is written with */
#include "deepsigns/model_file.h"  /* DS_MODEL_MAGIC, to name a model file opened as results */
#include "deepsigns/version.h"
#include "deepsigns/wm.h"          /* DS_KEY_MAGIC */
#include "io/h5util.h"
#include "io/untrusted.h"

#define NELEMS(a) (sizeof(a) / sizeof((a)[0]))

enum {
    CHUNK_ROWS = 64,          /* rows per chunk of /cells */
    CELLS_DEFLATE = 4,        /* its gzip level */
    RESULTS_MODE = 0600,      /* permission bits of a committed file, whatever the umask: it
                                 holds key files (/keys), so only its owner reads it */
    MAX_ROOT_ATTRS = 4096,    /* most root attributes cached on open */
    MAX_BLOB_ID = 255,        /* longest blob id (bytes) */
    MAX_ATTR_STRING = 60000,  /* longest string attribute: HDF5 keeps attributes in the
                                 object header, whose messages are under 64 KiB */
};

/* ------------------------------------------------------------ the /cells columns */

typedef enum col_kind { COL_STR, COL_I8, COL_I32, COL_I64, COL_U64, COL_F64 } col_kind;

typedef struct col {
    const char *name;
    col_kind kind;
    size_t off, size;
    const char *units;
    int since;         /* the first format that has the column */
} col;

#define COLV(member, kind, units, since) \
    {#member, kind, offsetof(ds_result_row, member), sizeof(((ds_result_row *)0)->member), units, since}
#define COL(member, kind, units) COLV(member, kind, units, DS_RESULTS_FORMAT_V1)

/* In the order of ds_result_row. */
static const col cols[] = {
    COL(id, COL_STR, "16 hex digits"),
    COL(parent, COL_STR, "16 hex digits, or empty"),
    COL(key_id, COL_STR, "16 hex digits, or empty"),
    COL(kind, COL_STR, "text: train, embed, attack or null"),
    COL(benchmark, COL_STR, "text"),
    COL(scheme, COL_STR, "text: whitebox, blackbox or empty"),
    COL(attack, COL_STR, "text"),
    COL(variant, COL_STR, "text"),
    COL(strength, COL_F64,
        "per attack: rate (fraction 0..1), epochs, keys, bits, sigma or neurons; embed: N or K"),
    COL(seed, COL_U64, "integer 0..2^64-1"),
    COL(status, COL_STR, "text: done or failed"),
    COL(reason, COL_STR, "text"),
    COL(acc_before, COL_F64, "fraction 0..1"),
    COL(acc_after, COL_F64, "fraction 0..1"),
    COL(ber, COL_F64, "fraction 0..1"),
    COL(ber_p, COL_F64, "probability 0..1"),
    COL(bit_errors, COL_I32, "bits"),
    COL(bits, COL_I32, "bits"),
    COL(mismatches, COL_I32, "keys"),
    COL(keys, COL_I32, "keys"),
    COL(theta, COL_I32, "keys"),
    COL(bb_p, COL_F64, "probability 0..1"),
    COL(owned, COL_I8, "1 owned, 0 not owned, -1 not checked"),
    COL(realised, COL_F64, "as strength"),
    COL(delta_l2, COL_F64, "L2 norm, units of the parameters"),
    COL(seconds, COL_F64, "s"),
    COL(rank, COL_I32, "MPI rank"),
    COLV(config, COL_STR, "16 hex digits: the cell's setting (same for its replicates)", DS_RESULTS_FORMAT_V3),
    COLV(commitment, COL_STR, "64 hex digits: embed: the key's commitment; or empty", DS_RESULTS_FORMAT_V3),
    COLV(ber_unaligned, COL_F64, "fraction 0..1: white-box BER without realignment; NaN when the "
         "layer's width differs from the key's", DS_RESULTS_FORMAT_V5),
    COLV(aligned, COL_I8, "1 white-box figures realigned, 0 read without, -1 not checked",
         DS_RESULTS_FORMAT_V5),
    COLV(align_corr, COL_F64, "correlation -1..1: mean over the realignment's unit pairs; NaN when "
         "none was tried", DS_RESULTS_FORMAT_V5),
};

static H5T_class_t col_class(col_kind k)
{
    switch (k) {
    case COL_STR: return H5T_STRING;
    case COL_F64: return H5T_FLOAT;
    default: return H5T_INTEGER;
    }
}

/* The atomic type of a numeric column: little-endian in the file, native in memory. */
static hid_t col_atom(col_kind k, int in_file)
{
    switch (k) {
    case COL_I8: return in_file ? H5T_STD_I8LE : H5T_NATIVE_INT8;
    case COL_I32: return in_file ? H5T_STD_I32LE : H5T_NATIVE_INT32;
    case COL_I64: return in_file ? H5T_STD_I64LE : H5T_NATIVE_INT64;
    case COL_U64: return in_file ? H5T_STD_U64LE : H5T_NATIVE_UINT64;
    default: return in_file ? H5T_IEEE_F64LE : H5T_NATIVE_DOUBLE;
    }
}

/* A fixed-length, NUL-padded ASCII string type of size bytes into *type. */
static ds_status string_type(size_t size, const char *file, hid_t *type, ds_err *err)
{
    *type = H5Tcopy(H5T_C_S1);
    if (*type < 0 || H5Tset_size(*type, size) < 0 || H5Tset_strpad(*type, H5T_STR_NULLPAD) < 0 ||
        H5Tset_cset(*type, H5T_CSET_ASCII) < 0) {
        ds_status st = ds_h5_fail(err, DS_ELIB, "%s: cannot make a %zu-byte string type", file, size);
        return ds_h5_close(type, file, st, err);
    }
    return DS_OK;
}

/* The bytes of a row in a file of format version (the smallest is format 1's). */
static size_t packed_row_size(int version)
{
    size_t n = 0;
    for (size_t i = 0; i < NELEMS(cols); i++)
        if (cols[i].since <= version) n += cols[i].size;
    return n;
}

/* The compound type of a row of a format `version` file into *type: packed and
 * little-endian (in_file) or with the layout of ds_result_row; only the columns
 * that format has. Format 1 (memory only): its seed column is a signed int64
 * that holds the seed's bits (the writer cast the uint64 seed); reading and
 * writing it as native int64 keeps those bits exactly. */
static ds_status row_type(int in_file, int version, const char *file, hid_t *type, ds_err *err)
{
    const int v1_seed = version == DS_RESULTS_FORMAT_V1;
    *type = H5Tcreate(H5T_COMPOUND, in_file ? packed_row_size(version) : sizeof(ds_result_row));
    ds_status st = *type < 0 ? ds_h5_fail(err, DS_ELIB, "%s: cannot make the row type", file) : DS_OK;
    size_t off = 0;
    for (size_t i = 0; !st && i < NELEMS(cols); i++) {
        const col *c = &cols[i];
        if (c->since > version) continue;
        hid_t str = -1;
        if (c->kind == COL_STR) st = string_type(c->size, file, &str, err);
        if (!st && H5Tinsert(*type, c->name, in_file ? off : c->off,
                             c->kind == COL_STR ? str
                             : v1_seed && c->kind == COL_U64 ? H5T_NATIVE_INT64
                             : col_atom(c->kind, in_file)) < 0)
            st = ds_h5_fail(err, DS_ELIB, "%s: cannot add column %s to the row type", file, c->name);
        st = ds_h5_close(&str, file, st, err);
        off += c->size;
    }
    if (!st && in_file && H5Tpack(*type) < 0)
        st = ds_h5_fail(err, DS_ELIB, "%s: cannot pack the row type", file);
    if (st) (void)ds_h5_close(type, file, st, err);
    return st;
}

/* Check that the string columns of *row are NUL-terminated within their arrays
 * and zero the bytes after the NUL (files and h5py see exactly the string). */
static ds_status row_tidy(ds_result_row *row, const char *who, ds_status code, ds_err *err)
{
    for (size_t i = 0; i < NELEMS(cols); i++) {
        const col *c = &cols[i];
        if (c->kind != COL_STR) continue;
        char *s = (char *)row + c->off, *z = memchr(s, '\0', c->size);
        if (!z)
            return ds_err_set(err, code, "%s: column %s is not a string of at most %zu bytes", who,
                              c->name, c->size - 1);
        memset(z, 0, (size_t)(s + c->size - z));
    }
    return DS_OK;
}

void ds_result_row_init(ds_result_row *r)
{
    memset(r, 0, sizeof *r);
    for (size_t i = 0; i < NELEMS(cols); i++) {
        void *p = (char *)r + cols[i].off;
        switch (cols[i].kind) {
        case COL_STR: break;
        case COL_I8: *(int8_t *)p = -1; break;
        case COL_I32: *(int32_t *)p = -1; break;
        case COL_I64: *(int64_t *)p = -1; break;
        case COL_U64: *(uint64_t *)p = 0; break; /* the seed: every row has one */
        case COL_F64: *(double *)p = NAN; break;
        }
    }
}

/* ------------------------------------------------------------ the handle */

typedef struct attr_entry {
    char *name, *value;
} attr_entry;

struct ds_results {
    char *path;
    hid_t file, cells, mtype;    /* the in-memory file, /cells, the row type in memory */
    int version;                 /* the format of the file's /cells and layout */
    ds_result_row *rows;
    size_t nrows, cap;
    attr_entry *attrs;           /* root string attributes */
    size_t nattrs, attr_cap;
};

static ds_results *results_new(const char *path, ds_err *err)
{
    ds_results *r = calloc(1, sizeof *r);
    if (r) r->path = strdup(path);
    if (!r || !r->path) {
        free(r);
        ds_err_set(err, DS_ENOMEM, "%s: out of memory", path);
        return NULL;
    }
    r->file = r->cells = r->mtype = -1;
    return r;
}

void ds_results_close(ds_results *r)
{
    if (!r) return;
    ds_h5_quiet q;
    ds_h5_quiet_begin(&q);
    ds_status st = ds_h5_close(&r->cells, r->path, DS_OK, NULL);
    st = ds_h5_close(&r->mtype, r->path, st, NULL);
    (void)ds_h5_close(&r->file, r->path, st, NULL);
    ds_h5_quiet_end(&q);
    for (size_t i = 0; i < r->nattrs; i++) {
        free(r->attrs[i].name);
        free(r->attrs[i].value);
    }
    free(r->attrs);
    free(r->rows);
    free(r->path);
    free(r);
}

/* ------------------------------------------------------------ root attributes */

static attr_entry *cache_find(const ds_results *r, const char *name)
{
    for (size_t i = 0; i < r->nattrs; i++)
        if (!strcmp(r->attrs[i].name, name)) return &r->attrs[i];
    return NULL;
}

/* Remember value as the string attribute name (the old value is freed). */
static ds_status cache_put(ds_results *r, const char *name, const char *value, ds_err *err)
{
    char *v = strdup(value);
    if (!v) return ds_err_set(err, DS_ENOMEM, "%s: out of memory for attribute '%s'", r->path, name);
    attr_entry *e = cache_find(r, name);
    if (e) {
        free(e->value);
        e->value = v;
        return DS_OK;
    }
    if (r->nattrs == r->attr_cap) {
        size_t cap = r->attr_cap ? 2 * r->attr_cap : 32;
        attr_entry *na = realloc(r->attrs, cap * sizeof *na);
        if (!na) {
            free(v);
            return ds_err_set(err, DS_ENOMEM, "%s: out of memory for attribute '%s'", r->path, name);
        }
        r->attrs = na;
        r->attr_cap = cap;
    }
    char *n = strdup(name);
    if (!n) {
        free(v);
        return ds_err_set(err, DS_ENOMEM, "%s: out of memory for attribute '%s'", r->path, name);
    }
    r->attrs[r->nattrs++] = (attr_entry){n, v};
    return DS_OK;
}

static void cache_drop(ds_results *r, const char *name)
{
    attr_entry *e = cache_find(r, name);
    if (!e) return;
    free(e->name);
    free(e->value);
    *e = r->attrs[--r->nattrs];
}

/* Write root string attribute name and cache it. */
static ds_status put_string(ds_results *r, const char *name, const char *value, ds_err *err)
{
    if (strlen(value) > MAX_ATTR_STRING)
        return ds_err_set(err, DS_ERANGE, "%s: attribute '%s' is %zu bytes long (at most %d fit)",
                          r->path, name, strlen(value), MAX_ATTR_STRING);
    ds_status st = ds_h5_attr_write_string(r->file, name, value, r->path, err);
    return st ? st : cache_put(r, name, value, err);
}

/* A scalar root attribute of file type ftype from the native mem_type value. */
/* Rows read or written through a small type-conversion buffer: HDF5's default
 * is two of 1 MiB for every transfer that converts (our rows are packed in the
 * file, aligned in memory), and its free lists keep them afterwards; a few
 * hundred rows at a time cost the same time. */
enum { ROW_XFER_BUFFER = 64 << 10 };

static herr_t rows_io(hid_t dset, hid_t mtype, hid_t mspace, hid_t fspace, void *buf, int write)
{
    hid_t x = H5Pcreate(H5P_DATASET_XFER);
    herr_t rc = x < 0 || H5Pset_buffer(x, ROW_XFER_BUFFER, NULL, NULL) < 0 ? -1
                : write ? H5Dwrite(dset, mtype, mspace, fspace, x, buf)
                        : H5Dread(dset, mtype, mspace, fspace, x, buf);
    if (x >= 0 && H5Pclose(x) < 0) rc = -1;
    return rc;
}

static ds_status put_number(ds_results *r, const char *name, hid_t ftype, hid_t mtype,
                            const void *v, ds_err *err)
{
    ds_status st = ds_h5_attr_write(r->file, name, ftype, mtype, v, 0, r->path, err);
    if (!st) cache_drop(r, name);
    return st;
}

static void iso_now(char *buf, size_t len)
{
    time_t t = time(NULL);
    struct tm tm;
    if (t == (time_t)-1 || !gmtime_r(&t, &tm) || !strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf(buf, len, "unknown");
}

/* The vocabulary of the attack, variant and scheme columns this build writes:
 * vocab_attacks "prune,finetune,...", vocab_variants "prune:layer,global;...",
 * vocab_schemes "whitebox,blackbox" (the analysis reads them from the file). */
static ds_status write_vocabulary(ds_results *r, ds_err *err)
{
    char attacks[512] = "", variants[1024] = "";
    size_t na = 0, nv = 0;
    for (int i = 0; i < ds_attack_kind_count(); i++) {
        const ds_attack_info *a = ds_attack_info_at(i);
        na += (size_t)snprintf(attacks + na, sizeof attacks - na, "%s%s", i ? "," : "", a->name);
        if (a->nvariants && nv < sizeof variants)
            nv += (size_t)snprintf(variants + nv, sizeof variants - nv, "%s%s:", nv ? ";" : "", a->name);
        for (int v = 0; v < a->nvariants && nv < sizeof variants; v++)
            nv += (size_t)snprintf(variants + nv, sizeof variants - nv, "%s%s", v ? "," : "", a->variants[v]);
        if (na >= sizeof attacks || nv >= sizeof variants)
            return ds_err_set(err, DS_ERANGE, "%s: the attack vocabulary is too long", r->path);
    }
    char schemes[64];
    snprintf(schemes, sizeof schemes, "%s,%s", ds_wm_scheme_name(DS_WM_WHITEBOX), ds_wm_scheme_name(DS_WM_BLACKBOX));
    ds_status st = put_string(r, "vocab_attacks", attacks, err);
    if (!st) st = put_string(r, "vocab_variants", variants, err);
    return st ? st : put_string(r, "vocab_schemes", schemes, err);
}

/* blob_store: where the models and keys are, relative to the results file's directory. */
static ds_status write_blob_store(ds_results *r, ds_err *err)
{
    const char *base = strrchr(r->path, '/');
    base = base ? base + 1 : r->path;
    char name[512];
    int k = snprintf(name, sizeof name, "%s.blobs", base);
    if (k < 0 || (size_t)k >= sizeof name) return ds_err_set(err, DS_ERANGE, "%s: name too long", r->path);
    return put_string(r, "blob_store", name, err);
}

/* The environment of the run: program, libraries (MPI's as the caller gives
 * them), host. */
static ds_status write_environment(ds_results *r, const ds_results_info *info, ds_err *err)
{
    char hdf5[64], gsl[64], host[256];
    unsigned maj = 0, min = 0, rel = 0;
    if (H5get_libversion(&maj, &min, &rel) < 0)
        snprintf(hdf5, sizeof hdf5, "unknown");
    else
        snprintf(hdf5, sizeof hdf5, "%u.%u.%u", maj, min, rel);
    snprintf(gsl, sizeof gsl, "%s", gsl_version);
    if (gethostname(host, sizeof host) != 0) snprintf(host, sizeof host, "unknown");
    host[sizeof host - 1] = '\0';
    const char *blas = openblas_get_config();
    const char *pairs[][2] = {
        {"program_version", DS_VERSION},
        {"git_revision", DS_GIT_REV},
        {"hdf5_version", hdf5},
        {"gsl_version", gsl},
        {"openblas_version", blas ? blas : "unknown"},
        {"openmpi_version", info->mpi_version ? info->mpi_version : ""},
        {"mpi_library_version", info->mpi_library_version ? info->mpi_library_version : ""},
        {"host", host},
    };
    ds_status st = DS_OK;
    for (size_t i = 0; !st && i < NELEMS(pairs); i++) st = put_string(r, pairs[i][0], pairs[i][1], err);
    return st;
}

static ds_status write_root(ds_results *r, const ds_results_info *info, ds_err *err)
{
    ds_status st = ds_h5_write_header(r->file, r->path, DS_RESULTS_MAGIC, DS_RESULTS_FORMAT_CURRENT,
                                      err);
    if (!st) st = cache_put(r, "magic", DS_RESULTS_MAGIC, err);
    const char *strs[][2] = {
        {"name", info->name},
        {"spec_text", info->spec_text},
        {"spec_path", info->spec_path},
        {"spec_hash", info->spec_hash},
    };
    for (size_t i = 0; !st && i < NELEMS(strs); i++)
        st = put_string(r, strs[i][0], strs[i][1] ? strs[i][1] : "", err);
    uint64_t seed = info->seed, total = info->total_cells;
    int32_t ranks = info->ranks, threads = info->threads;
    if (!st) st = put_number(r, "seed", H5T_STD_U64LE, H5T_NATIVE_UINT64, &seed, err);
    if (!st) st = put_number(r, "ranks", H5T_STD_I32LE, H5T_NATIVE_INT32, &ranks, err);
    if (!st) st = put_number(r, "threads", H5T_STD_I32LE, H5T_NATIVE_INT32, &threads, err);
    if (!st) st = put_number(r, "total_cells", H5T_STD_U64LE, H5T_NATIVE_UINT64, &total, err);
    if (!st) st = write_environment(r, info, err);
    if (!st) st = write_vocabulary(r, err);
    if (!st) st = write_blob_store(r, err);
    char now[32];
    iso_now(now, sizeof now);
    if (!st) st = put_string(r, "created", now, err);
    if (!st) st = put_string(r, "updated", now, err);
    return st;
}

/* 1-D attribute 'units' of /cells: one string per column, in column order. */
static ds_status write_units(ds_results *r, hid_t cells, ds_err *err)
{
    size_t width = 1;
    for (size_t i = 0; i < NELEMS(cols); i++)
        if (strlen(cols[i].units) + 1 > width) width = strlen(cols[i].units) + 1;
    char *buf = calloc(NELEMS(cols), width);
    if (!buf) return ds_err_set(err, DS_ENOMEM, "%s: out of memory", r->path);
    for (size_t i = 0; i < NELEMS(cols); i++) memcpy(buf + i * width, cols[i].units, strlen(cols[i].units));
    hid_t type = -1;
    ds_status st = string_type(width, r->path, &type, err);
    if (!st) st = ds_h5_attr_write(cells, "units", type, type, buf, (int)NELEMS(cols), r->path, err);
    free(buf);
    return ds_h5_close(&type, r->path, st, err);
}

/* The empty, extendible /cells. */
/* An empty /cells of the current format as name, open in *cells. */
static ds_status create_cells(ds_results *r, const char *name, hid_t *cells, ds_err *err)
{
    hsize_t dim = 0, maxdim = H5S_UNLIMITED, chunk = CHUNK_ROWS;
    hid_t space = H5Screate_simple(1, &dim, &maxdim), dcpl = H5Pcreate(H5P_DATASET_CREATE), ftype = -1;
    ds_status st = row_type(1, DS_RESULTS_FORMAT_CURRENT, r->path, &ftype, err);
    /* deflated (when this HDF5 has zlib; h5py, h5dump and pandas read it as is):
     * the table is mostly padding and repeats, and every commit writes it whole */
    const int deflate = H5Zfilter_avail(H5Z_FILTER_DEFLATE) > 0;
    if (!st && (space < 0 || dcpl < 0 || H5Pset_chunk(dcpl, 1, &chunk) < 0 ||
                (deflate && H5Pset_deflate(dcpl, CELLS_DEFLATE) < 0) || H5Pset_obj_track_times(dcpl, 0) < 0 ||
                (*cells = H5Dcreate2(r->file, name, ftype, space, H5P_DEFAULT, dcpl,
                                     H5P_DEFAULT)) < 0))
        st = ds_h5_fail(err, DS_ELIB, "%s: cannot create /%s", r->path, name);
    if (!st) st = write_units(r, *cells, err);
    st = ds_h5_close(&ftype, r->path, st, err);
    st = ds_h5_close(&dcpl, r->path, st, err);
    return ds_h5_close(&space, r->path, st, err);
}

ds_results *ds_results_create(const char *path, const ds_results_info *info, ds_err *err)
{
    if (!path || !path[0] || !info) {
        ds_err_set(err, DS_EINVAL, "ds_results_create: no path or no run information");
        return NULL;
    }
    ds_results *r = results_new(path, err);
    if (!r) return NULL;
    ds_h5_quiet q;
    ds_h5_quiet_begin(&q);
    ds_status st = ds_h5_mem_create(path, &r->file, err);
    r->version = DS_RESULTS_FORMAT_CURRENT;
    if (!st) st = row_type(0, r->version, path, &r->mtype, err);
    if (!st) st = write_root(r, info, err);
    if (!st) st = create_cells(r, "cells", &r->cells, err);
    ds_h5_quiet_end(&q);
    if (st) {
        ds_results_close(r);
        return NULL;
    }
    return r;
}

/* ------------------------------------------------------------ commit */

static ds_status commit(ds_results *r, ds_err *err)
{
    char now[32];
    iso_now(now, sizeof now);
    ds_status st = put_string(r, "updated", now, err);
    void *img = NULL;
    size_t n = 0;
    if (!st) st = ds_h5_mem_image(r->file, r->path, &img, &n, err);
    if (!st) st = ds_io_write_atomic(r->path, img, n, RESULTS_MODE, err);
    free(img);
    return st;
}

ds_status ds_results_commit(ds_results *r, ds_err *err)
{
    if (!r) return ds_err_set(err, DS_EINVAL, "ds_results_commit: no results file");
    ds_h5_quiet q;
    ds_h5_quiet_begin(&q);
    ds_status st = commit(r, err);
    ds_h5_quiet_end(&q);
    return st;
}

/* ------------------------------------------------------------ open */

/* A model or key file opened as results gets a hint. */
static const char *results_hint(hid_t f, const char *got)
{
    if (got && !strcmp(got, DS_MODEL_MAGIC)) return "; it is a model file";
    if (got && !strcmp(got, DS_KEY_MAGIC)) return "; it is a key file";
    return "";
}

static ds_status damaged(ds_results *r, ds_err *err, const char *what)
{
    char reason[200];
    ds_h5_reason(reason, sizeof reason);
    return ds_err_set(err, DS_EFORMAT, "%s: not a readable results file (truncated or damaged?): %s%s%s%s",
                      r->path, what, reason[0] ? " (HDF5: " : "", reason, reason[0] ? ")" : "");
}

/* Every column of the file's format present in ftype with the class this build
 * reads, and no wider. */
static ds_status check_columns(ds_results *r, hid_t ftype, ds_err *err)
{
    ds_status st = DS_OK;
    for (size_t i = 0; !st && i < NELEMS(cols); i++) {
        const col *c = &cols[i];
        if (c->since > r->version) continue;
        int idx = H5Tget_member_index(ftype, c->name);
        if (idx < 0) {
            st = ds_err_set(err, DS_EFORMAT, "%s: /cells has no column '%s'", r->path, c->name);
            break;
        }
        hid_t mt = H5Tget_member_type(ftype, (unsigned)idx);
        H5T_class_t cls = mt < 0 ? H5T_NO_CLASS : H5Tget_class(mt);
        size_t size = mt < 0 ? 0 : H5Tget_size(mt);
        htri_t vlen = cls == H5T_STRING ? H5Tis_variable_str(mt) : 0;
        if (cls == H5T_NO_CLASS || size == 0 || vlen < 0)
            st = damaged(r, err, "cannot inspect the columns of /cells");
        else if (cls != col_class(c->kind) || vlen)
            st = ds_err_set(err, DS_EFORMAT, "%s: column '%s' of /cells is not a %s", r->path, c->name,
                            c->kind == COL_STR ? "fixed-length string"
                            : c->kind == COL_F64 ? "float" : "integer");
        else if (size > c->size)
            st = ds_err_set(err, DS_EFORMAT, "%s: column '%s' of /cells is %zu bytes wide (at most %zu)",
                            r->path, c->name, size, c->size);
        st = ds_h5_close(&mt, r->path, st, err);
    }
    return st;
}

/* Open /cells, check its type and shape and read its rows; image_bytes bounds
 * the row count a sound file can have. */
static ds_status load_cells(ds_results *r, size_t image_bytes, ds_err *err)
{
    int is = ds_h5_obj_is(r->file, "cells", H5I_DATASET);
    if (is < 0) return damaged(r, err, "cannot look up /cells");
    if (is == 0) return ds_err_set(err, DS_EFORMAT, "%s: /cells is missing or not a dataset", r->path);
    if ((r->cells = H5Dopen2(r->file, "cells", H5P_DEFAULT)) < 0)
        return damaged(r, err, "cannot open /cells");
    hid_t ftype = H5Dget_type(r->cells), space = H5Dget_space(r->cells);
    int ndim = space < 0 ? -1 : H5Sget_simple_extent_ndims(space);
    hsize_t dim = 0, maxdim = 0;
    ds_status st = DS_OK;
    if (ftype < 0 || ndim < 0)
        st = damaged(r, err, "cannot inspect /cells");
    else if (H5Tget_class(ftype) != H5T_COMPOUND)
        st = ds_err_set(err, DS_EFORMAT, "%s: /cells is not a table (compound dataset)", r->path);
    else if (ndim != 1)
        st = ds_err_set(err, DS_EFORMAT, "%s: /cells has rank %d, expected 1", r->path, ndim);
    else if (H5Sget_simple_extent_dims(space, &dim, &maxdim) < 0)
        st = damaged(r, err, "cannot read the shape of /cells");
    else if (maxdim != H5S_UNLIMITED)
        st = ds_err_set(err, DS_EFORMAT, "%s: /cells cannot be extended", r->path);
    else if (dim > image_bytes / packed_row_size(DS_RESULTS_FORMAT_V1))
        st = ds_err_set(err, DS_EFORMAT,
                        "%s: not a readable results file (truncated or damaged?): /cells claims %llu "
                        "rows, more than a %zu-byte file holds",
                        r->path, (unsigned long long)dim, image_bytes);
    if (!st) st = check_columns(r, ftype, err);
    st = ds_h5_close(&ftype, r->path, st, err);
    st = ds_h5_close(&space, r->path, st, err);
    if (st) return st;
    r->cap = dim > CHUNK_ROWS ? (size_t)dim : CHUNK_ROWS;
    /* zeroed: the columns an older format lacks read as empty */
    if (!(r->rows = calloc(r->cap, sizeof *r->rows)))
        return ds_err_set(err, DS_ENOMEM, "%s: out of memory for %llu rows", r->path,
                          (unsigned long long)dim);
    if (dim > 0 && rows_io(r->cells, r->mtype, H5S_ALL, H5S_ALL, r->rows, 0) < 0)
        return damaged(r, err, "cannot read /cells");
    for (size_t i = 0; i < dim; i++) {
        char who[DS_H5_PATH_MAX + 64];
        snprintf(who, sizeof who, "%s: /cells row %zu", r->path, i);
        if ((st = row_tidy(&r->rows[i], who, DS_EFORMAT, err)) != DS_OK) return st;
    }
    r->nrows = (size_t)dim;
    return DS_OK;
}

/* Names of the root attributes, gathered by H5Aiterate2. */
typedef struct attr_names {
    char **names;
    size_t n;
    int failed;
} attr_names;

static herr_t collect_attr(hid_t loc, const char *name, const H5A_info_t *info, void *data)
{
    attr_names *a = data;
    char *s = a->n < MAX_ROOT_ATTRS ? strdup(name) : NULL;
    if (!s) {
        a->failed = 1;
        return 1;
    }
    a->names[a->n++] = s;
    return 0;
}

/* Cache every root attribute that holds one string. */
static ds_status load_attrs(ds_results *r, ds_err *err)
{
    attr_names a = {calloc(MAX_ROOT_ATTRS, sizeof(char *)), 0, 0};
    if (!a.names) return ds_err_set(err, DS_ENOMEM, "%s: out of memory", r->path);
    hsize_t idx = 0;
    ds_status st = DS_OK;
    if (H5Aiterate2(r->file, H5_INDEX_NAME, H5_ITER_INC, &idx, collect_attr, &a) < 0)
        st = damaged(r, err, "cannot list the root attributes");
    else if (a.failed)
        st = ds_err_set(err, DS_EFORMAT, "%s: too many root attributes (at most %d) or out of memory",
                        r->path, MAX_ROOT_ATTRS);
    for (size_t i = 0; !st && i < a.n; i++) {
        hid_t attr = H5Aopen(r->file, a.names[i], H5P_DEFAULT);
        hid_t type = attr < 0 ? -1 : H5Aget_type(attr);
        H5T_class_t cls = type < 0 ? H5T_NO_CLASS : H5Tget_class(type);
        if (cls == H5T_NO_CLASS) st = damaged(r, err, "cannot read the root attributes");
        st = ds_h5_close(&type, r->path, st, err);
        st = ds_h5_close(&attr, r->path, st, err);
        if (st || cls != H5T_STRING) continue;
        ds_h5_strings l;
        st = ds_h5_attr_read_strings(r->file, a.names[i], r->path, &l, err);
        if (!st && l.n == 1) st = cache_put(r, a.names[i], l.s[0], err);
        ds_h5_strings_free(&l);
    }
    for (size_t i = 0; i < a.n; i++) free(a.names[i]);
    free(a.names);
    return st;
}

/* The results file in img[0..n) (named path), parsed. */
static ds_results *open_image(const void *img, size_t n, const char *path, ds_err *err)
{
    ds_results *r = results_new(path, err);
    if (!r) return NULL;
    ds_h5_quiet q;
    ds_h5_quiet_begin(&q);
    ds_status st = ds_h5_mem_open(img, n, path, "results", 1, &r->file, err);
    /* this build reads formats 1 (signed seed column), 2 (no config and commitment
     * columns, no /runs) and the current one */
    if (!st)
        st = ds_h5_check_header_range(r->file, path, "results", DS_RESULTS_MAGIC, DS_RESULTS_FORMAT_V1,
                                      DS_RESULTS_FORMAT_CURRENT, results_hint, &r->version, err);
    if (!st) st = row_type(0, r->version, path, &r->mtype, err);
    if (!st) st = load_cells(r, n, err);
    if (!st) st = load_attrs(r, err);
    ds_h5_quiet_end(&q);
    if (st) {
        ds_results_close(r);
        return NULL;
    }
    return r;
}

typedef struct {
    const void *img;
    size_t n;
    const char *path;
} image_ref;

static void trial_open(void *ctx)
{
    const image_ref *r = ctx;
    ds_err e = {0};
    ds_results_close(open_image(r->img, r->n, r->path, &e));
}

static ds_results *open_path(const char *path, int trial, ds_err *err)
{
    if (!path || !path[0]) {
        ds_err_set(err, DS_EINVAL, "ds_results_open: no path");
        return NULL;
    }
    void *img = NULL;
    size_t n = 0;
    if (ds_io_read_whole(path, &img, &n, err)) return NULL;
    ds_results *r = NULL;
    image_ref ref = {img, n, path};
    if (!trial || !ds_io_trial_parse(path, "results", trial_open, &ref, DS_IO_TRIAL_SECONDS, err))
        r = open_image(img, n, path, err);
    free(img);  /* HDF5 has its own copy */
    return r;
}

ds_results *ds_results_open(const char *path, ds_err *err) { return open_path(path, 1, err); }

ds_results *ds_results_open_direct(const char *path, ds_err *err) { return open_path(path, 0, err); }

/* ------------------------------------------------------------ attributes */

const char *ds_results_attr(const ds_results *r, const char *name)
{
    if (!r || !name) return NULL;
    const attr_entry *e = cache_find(r, name);
    return e ? e->value : NULL;
}

/* The attributes that make the file what it is cannot be set. */
static ds_status check_settable(const ds_results *r, const char *name, ds_err *err)
{
    if (!name || !name[0] || strlen(name) > 255)
        return ds_err_set(err, DS_EINVAL, "%s: an attribute name must be 1 to 255 bytes long", r->path);
    if (!strcmp(name, "magic") || !strcmp(name, "format_version") || !strcmp(name, "blob_store") ||
        !strncmp(name, "vocab_", 6))
        return ds_err_set(err, DS_EINVAL, "%s: attribute '%s' defines the file and cannot be set",
                          r->path, name);
    return DS_OK;
}

ds_status ds_results_set_attr(ds_results *r, const char *name, const char *value, ds_err *err)
{
    if (!r || !value) return ds_err_set(err, DS_EINVAL, "ds_results_set_attr: no file or no value");
    ds_status st = check_settable(r, name, err);
    if (st) return st;
    ds_h5_quiet q;
    ds_h5_quiet_begin(&q);
    st = put_string(r, name, value, err);
    ds_h5_quiet_end(&q);
    return st;
}

ds_status ds_results_set_attr_double(ds_results *r, const char *name, double value, ds_err *err)
{
    if (!r) return ds_err_set(err, DS_EINVAL, "ds_results_set_attr_double: no file");
    ds_status st = check_settable(r, name, err);
    if (st) return st;
    ds_h5_quiet q;
    ds_h5_quiet_begin(&q);
    st = put_number(r, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &value, err);
    ds_h5_quiet_end(&q);
    return st;
}

/* 1 when the root attribute name exists as an unsigned integer. */
static int attr_is_unsigned(hid_t f, const char *name)
{
    if (H5Aexists(f, name) <= 0) return 0;
    hid_t a = H5Aopen(f, name, H5P_DEFAULT), t = a < 0 ? -1 : H5Aget_type(a);
    const int u = t >= 0 && H5Tget_class(t) == H5T_INTEGER && H5Tget_sign(t) == H5T_SGN_NONE;
    if (t >= 0) (void)H5Tclose(t);
    if (a >= 0) (void)H5Aclose(a);
    return u;
}

ds_status ds_results_set_attr_int(ds_results *r, const char *name, long long value, ds_err *err)
{
    if (!r) return ds_err_set(err, DS_EINVAL, "ds_results_set_attr_int: no file");
    ds_status st = check_settable(r, name, err);
    if (st) return st;
    int64_t v = value;
    uint64_t u = (uint64_t)value;
    ds_h5_quiet q;
    ds_h5_quiet_begin(&q);
    /* an unsigned one (total_cells, seed) keeps its type */
    st = value >= 0 && attr_is_unsigned(r->file, name)
             ? put_number(r, name, H5T_STD_U64LE, H5T_NATIVE_UINT64, &u, err)
             : put_number(r, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &v, err);
    ds_h5_quiet_end(&q);
    return st;
}

/* ------------------------------------------------------------ rows */

size_t ds_results_count(const ds_results *r) { return r ? r->nrows : 0; }

const ds_result_row *ds_results_row(const ds_results *r, size_t i)
{
    return r && i < r->nrows ? &r->rows[i] : NULL;
}

long ds_results_find(const ds_results *r, const char *id)
{
    if (!r || !id) return -1;
    for (size_t i = r->nrows; i-- > 0;)  /* the latest row of an id */
        if (!strncmp(r->rows[i].id, id, sizeof r->rows[i].id)) return (long)i;
    return -1;
}

/* Write row as row number at of /cells, which is extended to at + 1 rows. */
static ds_status write_row(ds_results *r, hsize_t at, const ds_result_row *row, ds_err *err)
{
    hsize_t size = at + 1, one = 1;
    hid_t fspace = -1, mspace = -1;
    ds_status st = DS_OK;
    if (H5Dset_extent(r->cells, &size) < 0 || (fspace = H5Dget_space(r->cells)) < 0 ||
        H5Sselect_hyperslab(fspace, H5S_SELECT_SET, &at, NULL, &one, NULL) < 0 ||
        (mspace = H5Screate_simple(1, &one, NULL)) < 0 ||
        rows_io(r->cells, r->mtype, mspace, fspace, (void *)row, 1) < 0)
        st = ds_h5_fail(err, DS_ELIB, "%s: cannot write row %llu of /cells", r->path,
                        (unsigned long long)at);
    st = ds_h5_close(&mspace, r->path, st, err);
    return ds_h5_close(&fspace, r->path, st, err);
}

/* A file of an older format gets the current /cells (every row rewritten, the
 * new columns empty) and format_version before anything is added to it. */
static ds_status upgrade(ds_results *r, ds_err *err)
{
    if (r->version == DS_RESULTS_FORMAT_CURRENT) return DS_OK;
    /* built beside the old table, which stays until the new one is complete:
     * a failure leaves the file in memory as it was, so a later commit is safe */
    hid_t mtype = -1, cells = -1;
    ds_status st = row_type(0, DS_RESULTS_FORMAT_CURRENT, r->path, &mtype, err);
    if (!st) st = create_cells(r, "cells.upgrade", &cells, err);
    hsize_t n = r->nrows;
    if (!st && n > 0 &&
        (H5Dset_extent(cells, &n) < 0 || rows_io(cells, mtype, H5S_ALL, H5S_ALL, r->rows, 1) < 0))
        st = ds_h5_fail(err, DS_ELIB, "%s: cannot rewrite /cells", r->path);
    if (!st) st = write_vocabulary(r, err);
    if (!st) st = write_blob_store(r, err);
    if (!st && (H5Ldelete(r->file, "cells", H5P_DEFAULT) < 0 ||
                H5Lmove(r->file, "cells.upgrade", r->file, "cells", H5P_DEFAULT, H5P_DEFAULT) < 0))
        st = ds_h5_fail(err, DS_ELIB, "%s: cannot replace /cells of format %d", r->path, r->version);
    int32_t v = DS_RESULTS_FORMAT_CURRENT;
    if (!st) st = ds_h5_attr_write(r->file, "format_version", H5T_STD_I32LE, H5T_NATIVE_INT32, &v, 0,
                                   r->path, err);
    if (st) {
        (void)ds_h5_close(&cells, r->path, DS_OK, NULL);
        if (H5Lexists(r->file, "cells.upgrade", H5P_DEFAULT) > 0) (void)H5Ldelete(r->file, "cells.upgrade", H5P_DEFAULT);
        return ds_h5_close(&mtype, r->path, st, err);
    }
    (void)ds_h5_close(&r->cells, r->path, DS_OK, NULL);
    (void)ds_h5_close(&r->mtype, r->path, DS_OK, NULL);
    r->cells = cells;
    r->mtype = mtype;
    r->version = DS_RESULTS_FORMAT_CURRENT;
    return DS_OK;
}

ds_status ds_results_append(ds_results *r, const ds_result_row *row, ds_err *err)
{
    if (!r || !row) return ds_err_set(err, DS_EINVAL, "ds_results_append: no file or no row");
    ds_result_row t = *row;
    char who[DS_H5_PATH_MAX + 64];
    snprintf(who, sizeof who, "%s: row not appended", r->path);
    ds_status st = row_tidy(&t, who, DS_EINVAL, err);
    if (st) return st;
    if (!t.id[0]) return ds_err_set(err, DS_EINVAL, "%s: the row has no id", who);
    if (r->nrows == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : CHUNK_ROWS;
        ds_result_row *nr = realloc(r->rows, cap * sizeof *nr);
        if (!nr) return ds_err_set(err, DS_ENOMEM, "%s: out of memory", who);
        r->rows = nr;
        r->cap = cap;
    }
    ds_h5_quiet q;
    ds_h5_quiet_begin(&q);
    hsize_t at = r->nrows;
    st = upgrade(r, err);
    if (st) {
        ds_h5_quiet_end(&q);
        return st;
    }
    st = write_row(r, at, &t, err);
    if (!st) st = commit(r, err);
    if (st) (void)H5Dset_extent(r->cells, &at);  /* not appended: the table as it was */
    ds_h5_quiet_end(&q);
    if (!st) r->rows[r->nrows++] = t;
    return st;
}

/* ------------------------------------------------------------ blobs */

static ds_status check_blob_name(const ds_results *r, const char *group, const char *id,
                                 ds_err *err)
{
    if (!group || (strcmp(group, "models") != 0 && strcmp(group, "keys") != 0))
        return ds_err_set(err, DS_EINVAL, "%s: blob group '%s' is neither 'models' nor 'keys'", r->path,
                          group ? group : "(null)");
    if (!id || !id[0] || strchr(id, '/') || !strcmp(id, ".") || strlen(id) > MAX_BLOB_ID)
        return ds_err_set(err, DS_EINVAL,
                          "%s: blob id '%s' must be 1 to %d bytes, without '/', and not '.'", r->path,
                          id ? id : "(null)", MAX_BLOB_ID);
    return DS_OK;
}

/* ---- the blob store: "<results file>.blobs/<SHA-256 hex>", one file per
 * distinct content, written atomically and 0600 (keys are secrets) before the
 * table that names it is committed (deepsigns/blobstore.h) ---- */

/* The store: the directory the root attribute blob_store names beside the file
 * (a plain name; a file renamed keeps its store), else "<path>.blobs". */
ds_status ds_results_store_dir(const ds_results *r, char *buf, size_t cap, ds_err *err)
{
    const char *name = ds_results_attr(r, "blob_store");
    int k;
    if (name) {
        if (!name[0] || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, ".."))
            return ds_err_set(err, DS_EFORMAT, "%s: blob_store '%.64s' is not a plain name", r->path, name);
        const char *slash = strrchr(r->path, '/');
        k = slash ? snprintf(buf, cap, "%.*s/%s", (int)(slash - r->path), r->path, name)
                  : snprintf(buf, cap, "%s", name);
    } else {
        k = snprintf(buf, cap, "%s.blobs", r->path);
    }
    if (k < 0 || (size_t)k >= cap) return ds_err_set(err, DS_ERANGE, "%s: path too long for its blob store", r->path);
    return DS_OK;
}

/* /group/id names the blob ref: a scalar string (its hash) with the attribute
 * bytes; an existing /group/id is replaced. */
static ds_status put_blob_ref(ds_results *r, const char *group, const char *id, const ds_blob_ref *ref,
                              ds_err *err)
{
    int e = ds_h5_exists(r->file, group);
    hid_t g = -1;
    ds_status st = e < 0    ? ds_h5_fail(err, DS_ELIB, "%s: cannot look up /%s", r->path, group)
                   : e == 0 ? ds_h5_group_create(r->file, group, r->path, &g, err)
                            : ds_h5_group_open(r->file, group, r->path, &g, err);
    if (st) return st;
    htri_t had = H5Lexists(g, id, H5P_DEFAULT);
    if (had < 0 || (had > 0 && H5Ldelete(g, id, H5P_DEFAULT) < 0))
        st = ds_h5_fail(err, DS_ELIB, "%s: cannot replace /%s/%s", r->path, group, id);
    hid_t type = -1, space = st ? -1 : H5Screate(H5S_SCALAR), d = -1;
    if (!st) st = string_type(DS_BLOB_HEX - 1, r->path, &type, err);
    if (!st && (space < 0 || (d = H5Dcreate2(g, id, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)) < 0 ||
                H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, ref->hex) < 0))
        st = ds_h5_fail(err, DS_ELIB, "%s: cannot write /%s/%s", r->path, group, id);
    uint64_t bytes = ref->bytes;
    if (!st) st = ds_h5_attr_write(d, "bytes", H5T_STD_U64LE, H5T_NATIVE_UINT64, &bytes, 0, r->path, err);
    st = ds_h5_close(&d, r->path, st, err);
    st = ds_h5_close(&space, r->path, st, err);
    st = ds_h5_close(&type, r->path, st, err);
    return ds_h5_close(&g, r->path, st, err);
}

/* How a blob is given to put_blob: its bytes (stored here), or a reference to
 * one already in the store (checked to be there). */
typedef struct blob_src {
    const void *data;
    size_t n;
    const ds_blob_ref *ref;
} blob_src;

static ds_status put_blob(ds_results *r, const char *group, const char *id, const blob_src *src, ds_err *err)
{
    ds_status st = check_blob_name(r, group, id, err);
    if (st) return st;
    char dir[DS_H5_PATH_MAX + 64];
    ds_blob_ref made;
    const ds_blob_ref *ref = src->ref ? src->ref : &made;
    ds_h5_quiet q;
    ds_h5_quiet_begin(&q);
    st = upgrade(r, err);
    if (!st) st = ds_results_store_dir(r, dir, sizeof dir, err);
    if (!st) st = src->ref ? ds_blobstore_check(dir, src->ref, err)
                           : ds_blobstore_put(dir, src->n ? src->data : "", src->n, &made, err);
    if (!st) st = put_blob_ref(r, group, id, ref, err);
    ds_h5_quiet_end(&q);
    return st;
}

ds_status ds_results_put_blob(ds_results *r, const char *group, const char *id, const void *data,
                              size_t n, ds_err *err)
{
    if (!r || (!data && n > 0)) return ds_err_set(err, DS_EINVAL, "ds_results_put_blob: no file or no data");
    return put_blob(r, group, id, &(blob_src){.data = data, .n = n}, err);
}

ds_status ds_results_put_blob_ref(ds_results *r, const char *group, const char *id, const ds_blob_ref *ref,
                                  ds_err *err)
{
    if (!r || !ref) return ds_err_set(err, DS_EINVAL, "ds_results_put_blob_ref: no file or no reference");
    return put_blob(r, group, id, &(blob_src){.ref = ref}, err);
}

/* The reference a format 4 dataset (scalar string, attribute bytes) holds. */
static ds_status read_ref(const ds_results *r, hid_t dset, hid_t type, const char *where, ds_blob_ref *ref,
                          ds_err *err)
{
    hid_t mt = -1;
    ds_status st = H5Tis_variable_str(type) != 0 || H5Tget_size(type) != DS_BLOB_HEX - 1
                       ? ds_err_set(err, DS_EFORMAT, "%s: %s is not a blob reference", r->path, where)
                       : string_type(DS_BLOB_HEX, r->path, &mt, err);
    if (!st && H5Dread(dset, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, ref->hex) < 0)
        st = ds_h5_fail(err, DS_EFORMAT, "%s: cannot read %s", r->path, where);
    st = ds_h5_close(&mt, r->path, st, err);
    ref->hex[DS_BLOB_HEX - 1] = '\0';
    if (!st && !ds_blob_hex_valid(ref->hex))
        st = ds_err_set(err, DS_EFORMAT, "%s: %s does not name a blob (not 64 hex digits)", r->path, where);
    if (!st) st = ds_h5_attr_read(dset, "bytes", H5T_INTEGER, H5T_NATIVE_UINT64, &ref->bytes, 0, r->path, err);
    return st;
}

/* The blob ref names, from the store, checked against its hash. */
static ds_status read_stored(const ds_results *r, const char *where, const ds_blob_ref *ref, void **data,
                             size_t *n, ds_err *err)
{
    char dir[DS_H5_PATH_MAX + 64];
    ds_status st = ds_results_store_dir(r, dir, sizeof dir, err);
    if (!st) st = ds_blobstore_get(dir, ref, data, n, err);
    if (st == DS_EFORMAT) return ds_err_prefix(err, "%s: %s: ", r->path, where);
    if (st)
        return ds_err_prefix(err, "%s: %s: the blob store (%s.blobs or as blob_store names it) must stay beside "
                             "the file: ", r->path, where, r->path);
    return DS_OK;
}

/* /group/id, which exists: *stored and *ref when it names a blob of the store
 * (format 4); else its inline bytes (a 1-D uint8 dataset) in a malloc'd *data. */
static ds_status read_blob(const ds_results *r, const char *where, int *stored, ds_blob_ref *ref,
                           void **data, size_t *n, ds_err *err)
{
    hid_t dset = H5Dopen2(r->file, where, H5P_DEFAULT);
    hid_t type = dset < 0 ? -1 : H5Dget_type(dset), space = dset < 0 ? -1 : H5Dget_space(dset);
    int ndim = space < 0 ? -1 : H5Sget_simple_extent_ndims(space);
    hsize_t dim = 0;
    ds_status st = DS_OK;
    *stored = type >= 0 && H5Tget_class(type) == H5T_STRING && ndim == 0;
    if (*stored)
        st = read_ref(r, dset, type, where, ref, err);
    else if (type < 0 || ndim < 0)
        st = ds_h5_fail(err, DS_EFORMAT, "%s: cannot open %s", r->path, where);
    else if (H5Tget_class(type) != H5T_INTEGER || H5Tget_size(type) != 1 || ndim != 1)
        st = ds_err_set(err, DS_EFORMAT, "%s: %s is not a 1-D byte dataset", r->path, where);
    else if (H5Sget_simple_extent_dims(space, &dim, NULL) < 0)
        st = ds_h5_fail(err, DS_EFORMAT, "%s: cannot read the shape of %s", r->path, where);
    else if (!(*data = malloc(dim ? (size_t)dim : 1)))
        st = ds_err_set(err, DS_ENOMEM, "%s: out of memory for %s (%llu bytes)", r->path, where,
                        (unsigned long long)dim);
    else if (dim > 0 && H5Dread(dset, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, *data) < 0)
        st = ds_h5_fail(err, DS_EFORMAT, "%s: cannot read %s", r->path, where);
    if (!st && !*stored) *n = (size_t)dim;
    st = ds_h5_close(&type, r->path, st, err);
    st = ds_h5_close(&space, r->path, st, err);
    return ds_h5_close(&dset, r->path, st, err);
}

/* /group/id as a reference (*stored) or inline bytes; *found 0 when absent. */
static ds_status get_blob(const ds_results *r, const char *group, const char *id, int *found, int *stored,
                          ds_blob_ref *ref, void **data, size_t *n, ds_err *err)
{
    *found = *stored = 0;
    ref->hex[0] = '\0';
    ref->bytes = 0;
    *data = NULL;
    *n = 0;
    if (!r) return ds_err_set(err, DS_EINVAL, "ds_results: no file");
    ds_status st = check_blob_name(r, group, id, err);
    if (st) return st;
    char where[DS_H5_PATH_MAX];
    snprintf(where, sizeof where, "%s/%s", group, id);
    ds_h5_quiet q;
    ds_h5_quiet_begin(&q);
    int e = ds_h5_exists(r->file, where);
    if (e < 0) st = ds_h5_fail(err, DS_EFORMAT, "%s: cannot look up /%s", r->path, where);
    *found = e > 0;
    if (e > 0) st = read_blob(r, where, stored, ref, data, n, err);
    if (!st && *stored) st = ref->bytes > SIZE_MAX ? ds_err_set(err, DS_ERANGE, "%s: %s is too large", r->path, where)
                                                   : DS_OK;
    ds_h5_quiet_end(&q);
    if (st) {
        free(*data);
        *data = NULL;
        *n = 0;
        *found = 0;
    }
    return st;
}

ds_status ds_results_get_blob(const ds_results *r, const char *group, const char *id,
                              void **data, size_t *n, ds_err *err)
{
    if (!data || !n) return ds_err_set(err, DS_EINVAL, "ds_results_get_blob: nowhere to put the bytes");
    int found, stored;
    ds_blob_ref ref;
    ds_status st = get_blob(r, group, id, &found, &stored, &ref, data, n, err);
    if (!st && stored) {
        char where[DS_H5_PATH_MAX];
        snprintf(where, sizeof where, "%s/%s", group, id);
        st = read_stored(r, where, &ref, data, n, err);
    }
    return st;
}

ds_status ds_results_get_blob_ref(const ds_results *r, const char *group, const char *id, ds_blob_ref *ref,
                                  ds_err *err)
{
    if (!ref) return ds_err_set(err, DS_EINVAL, "ds_results_get_blob_ref: nowhere to put the reference");
    int found, stored;
    void *data = NULL;
    size_t n = 0;
    ds_status st = get_blob(r, group, id, &found, &stored, ref, &data, &n, err);
    if (!st && found && !stored) { /* inline (before format 4): a copy into the store names it */
        char dir[DS_H5_PATH_MAX + 64];
        st = ds_results_store_dir(r, dir, sizeof dir, err);
        if (!st) st = ds_blobstore_put(dir, data, n, ref, err);
    }
    free(data);
    return st;
}

/* Every blob /group names (format 4) checked to be in the store (its size);
 * *n counts them. */
static ds_status check_group_store(const ds_results *r, const char *group, const char *dir, size_t *n,
                                   ds_err *err)
{
    int e = ds_h5_exists(r->file, group);
    if (e <= 0) return e < 0 ? ds_h5_fail(err, DS_EFORMAT, "%s: cannot look up /%s", r->path, group) : DS_OK;
    hid_t g = -1;
    ds_h5_strings names = {0};
    ds_status st = ds_h5_group_open(r->file, group, r->path, &g, err);
    if (!st) st = ds_h5_list_links(g, r->path, &names, err);
    for (size_t i = 0; !st && i < names.n; i++) {
        char where[DS_H5_PATH_MAX];
        snprintf(where, sizeof where, "%s/%s", group, names.s[i]);
        hid_t d = H5Dopen2(g, names.s[i], H5P_DEFAULT);
        hid_t type = d < 0 ? -1 : H5Dget_type(d), space = d < 0 ? -1 : H5Dget_space(d);
        ds_blob_ref ref;
        if (type < 0 || space < 0)
            st = ds_h5_fail(err, DS_EFORMAT, "%s: cannot open %s", r->path, where);
        else if (H5Tget_class(type) == H5T_STRING && H5Sget_simple_extent_ndims(space) == 0 &&
                 !(st = read_ref(r, d, type, where, &ref, err))) {
            if ((st = ds_blobstore_check(dir, &ref, err))) st = ds_err_prefix(err, "%s: %s: ", r->path, where);
            (*n)++;
        }
        st = ds_h5_close(&type, r->path, st, err);
        st = ds_h5_close(&space, r->path, st, err);
        st = ds_h5_close(&d, r->path, st, err);
    }
    ds_h5_strings_free(&names);
    return ds_h5_close(&g, r->path, st, err);
}

ds_status ds_results_check_store(const ds_results *r, size_t *n, ds_err *err)
{
    if (!r || !n) return ds_err_set(err, DS_EINVAL, "ds_results_check_store: no file");
    *n = 0;
    char dir[DS_H5_PATH_MAX + 64];
    ds_status st = ds_results_store_dir(r, dir, sizeof dir, err);
    if (st) return st;
    ds_h5_quiet q;
    ds_h5_quiet_begin(&q);
    st = check_group_store(r, "models", dir, n, err);
    if (!st) st = check_group_store(r, "keys", dir, n, err);
    ds_h5_quiet_end(&q);
    return st;
}

/* ------------------------------------------------------------ runs */

enum { MAX_RUNS = 9999 };  /* /runs/0001 .. /runs/9999 */

/* The number of runs recorded (0 in a file of format 1 or 2, which has no /runs). */
static ds_status count_runs(const ds_results *r, size_t *n, ds_err *err)
{
    *n = 0;
    int e = ds_h5_exists(r->file, "runs");
    if (e < 0) return ds_h5_fail(err, DS_EFORMAT, "%s: cannot look up /runs", r->path);
    if (e == 0) return DS_OK;
    hid_t g = -1;
    ds_status st = ds_h5_group_open(r->file, "runs", r->path, &g, err);
    H5G_info_t info;
    if (!st && H5Gget_info(g, &info) < 0) st = ds_h5_fail(err, DS_EFORMAT, "%s: cannot list /runs", r->path);
    if (!st && info.nlinks > MAX_RUNS)
        st = ds_err_set(err, DS_EFORMAT, "%s: /runs holds %llu runs (at most %d)", r->path,
                        (unsigned long long)info.nlinks, MAX_RUNS);
    if (!st) *n = (size_t)info.nlinks;
    return ds_h5_close(&g, r->path, st, err);
}

ds_status ds_results_run_count(const ds_results *r, size_t *n, ds_err *err)
{
    if (!r || !n) return ds_err_set(err, DS_EINVAL, "ds_results_run_count: no file");
    ds_h5_quiet q;
    ds_h5_quiet_begin(&q);
    ds_status st = count_runs(r, n, err);
    ds_h5_quiet_end(&q);
    return st;
}

static ds_status add_run(ds_results *r, const ds_results_run *run, ds_err *err)
{
    size_t n = 0;
    ds_status st = upgrade(r, err);
    if (!st) st = count_runs(r, &n, err);
    if (!st && n >= MAX_RUNS)
        st = ds_err_set(err, DS_ERANGE, "%s: already %d runs recorded", r->path, MAX_RUNS);
    if (st) return st;
    int e = ds_h5_exists(r->file, "runs");
    hid_t runs = -1, g = -1, type = -1;
    st = e < 0    ? ds_h5_fail(err, DS_ELIB, "%s: cannot look up /runs", r->path)
         : e == 0 ? ds_h5_group_create(r->file, "runs", r->path, &runs, err)
                  : ds_h5_group_open(r->file, "runs", r->path, &runs, err);
    char name[16], now[32];
    snprintf(name, sizeof name, "%04zu", n + 1);
    iso_now(now, sizeof now);
    if (!st) st = ds_h5_group_create(runs, name, r->path, &g, err);
    const char *strs[][2] = {
        {"started", now}, {"mode", run->mode}, {"spec_text", run->spec_text},
        {"spec_path", run->spec_path}, {"spec_hash", run->spec_hash},
        {"data_sha256", run->data_sha256}, {"program_version", DS_VERSION},
        {"git_revision", DS_GIT_REV},
    };
    for (size_t i = 0; !st && i < NELEMS(strs); i++) {
        const char *v = strs[i][1] ? strs[i][1] : "";
        st = strlen(v) > MAX_ATTR_STRING
                 ? ds_err_set(err, DS_ERANGE, "%s: run attribute '%s' is too long", r->path, strs[i][0])
                 : ds_h5_attr_write_string(g, strs[i][0], v, r->path, err);
    }
    int32_t ranks = run->ranks, threads = run->threads;
    if (!st) st = ds_h5_attr_write(g, "ranks", H5T_STD_I32LE, H5T_NATIVE_INT32, &ranks, 0, r->path, err);
    if (!st) st = ds_h5_attr_write(g, "threads", H5T_STD_I32LE, H5T_NATIVE_INT32, &threads, 0, r->path, err);
    if (!st) st = string_type(DS_CELL_ID_HEX, r->path, &type, err);
    hsize_t dim = run->ncells;
    static const char none[DS_CELL_ID_HEX];
    if (!st) st = ds_h5_dataset_write(g, "cells", type, type, 1, &dim, run->ncells ? (const void *)run->cells : none,
                                      r->path, err);
    st = ds_h5_close(&type, r->path, st, err);
    st = ds_h5_close(&g, r->path, st, err);
    return ds_h5_close(&runs, r->path, st, err);
}

ds_status ds_results_add_run(ds_results *r, const ds_results_run *run, ds_err *err)
{
    if (!r || !run || (!run->cells && run->ncells))
        return ds_err_set(err, DS_EINVAL, "ds_results_add_run: no file or no run");
    ds_h5_quiet q;
    ds_h5_quiet_begin(&q);
    ds_status st = add_run(r, run, err);
    ds_h5_quiet_end(&q);
    return st;
}

static ds_status run_cells(const ds_results *r, size_t i, char (**ids)[DS_CELL_ID_HEX], size_t *n,
                           ds_err *err)
{
    char where[64];
    snprintf(where, sizeof where, "runs/%04zu/cells", i + 1);
    hid_t d = H5Dopen2(r->file, where, H5P_DEFAULT), type = -1, space = -1, ftype = -1;
    if (d < 0) return ds_h5_fail(err, DS_EFORMAT, "%s: cannot open /%s", r->path, where);
    ftype = H5Dget_type(d);
    space = H5Dget_space(d);
    hsize_t dim = 0;
    ds_status st = DS_OK;
    if (ftype < 0 || space < 0 || H5Sget_simple_extent_ndims(space) != 1 ||
        H5Sget_simple_extent_dims(space, &dim, NULL) < 0 || H5Tget_class(ftype) != H5T_STRING ||
        H5Tget_size(ftype) > DS_CELL_ID_HEX)
        st = ds_err_set(err, DS_EFORMAT, "%s: /%s is not a list of cell identities", r->path, where);
    else if (dim > (hsize_t)10000000)
        st = ds_err_set(err, DS_EFORMAT, "%s: /%s claims %llu cells", r->path, where,
                        (unsigned long long)dim);
    if (!st) st = string_type(DS_CELL_ID_HEX, r->path, &type, err);
    if (!st && !(*ids = calloc(dim ? (size_t)dim : 1, DS_CELL_ID_HEX)))
        st = ds_err_set(err, DS_ENOMEM, "%s: out of memory for /%s", r->path, where);
    if (!st && dim > 0 && H5Dread(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, *ids) < 0)
        st = ds_h5_fail(err, DS_EFORMAT, "%s: cannot read /%s", r->path, where);
    for (size_t k = 0; !st && k < dim; k++) (*ids)[k][DS_CELL_ID_HEX - 1] = '\0';
    if (!st) *n = (size_t)dim;
    st = ds_h5_close(&type, r->path, st, err);
    st = ds_h5_close(&ftype, r->path, st, err);
    st = ds_h5_close(&space, r->path, st, err);
    return ds_h5_close(&d, r->path, st, err);
}

ds_status ds_results_run_cells(const ds_results *r, size_t i, char (**ids)[DS_CELL_ID_HEX], size_t *n,
                               ds_err *err)
{
    if (!ids || !n) return ds_err_set(err, DS_EINVAL, "ds_results_run_cells: nowhere to put them");
    *ids = NULL;
    *n = 0;
    if (!r) return ds_err_set(err, DS_EINVAL, "ds_results_run_cells: no file");
    ds_h5_quiet q;
    ds_h5_quiet_begin(&q);
    ds_status st = run_cells(r, i, ids, n, err);
    ds_h5_quiet_end(&q);
    if (st) {
        free(*ids);
        *ids = NULL;
        *n = 0;
    }
    return st;
}
