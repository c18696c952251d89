/* key_file.c - the deepsigns key file (HDF5; layout in docs/key-file.md).
 *
 * A key file holds a watermark's secrets, so it is created with mode 0600: the
 * file is built in memory by HDF5 (no object timestamps), then written by
 * ds_io_write_atomic to "<path>.tmp.<pid>", made exclusively with exactly that
 * mode, synced and renamed over path, so an existing key is either kept whole or
 * replaced whole. Loading trusts nothing: magic, version and scheme first, then
 * every size attribute is range-checked, then every dataset's type and shape is
 * compared with them, and only then is anything allocated; contents (distinct
 * targets in range, bits, finite A, labels) are checked last.
 * The same tables and checks serve saving, which refuses a key it could not load.
 */
#include "deepsigns/wm.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "deepsigns/model_file.h"  /* DS_MODEL_MAGIC, to name a model file passed as a key */
#include "io/h5util.h"
#include "io/untrusted.h"

/* Limits a key file must respect; checked before anything is allocated. */
#define KEY_MAX_CLASSES 100000.0
#define KEY_MAX_IMAGES 1000000.0
#define KEY_MAX_BITS 65536.0                  /* N */
#define KEY_MAX_WIDTH 1048576.0               /* M, 2^20 */
#define KEY_MAX_A ((size_t)1 << 28)           /* N * M */
#define KEY_MAX_PIXEL_BYTES ((size_t)1 << 30) /* n * c * h * w, and P * c * h * w */
#define KEY_MAX_PROBES 65536.0                /* P */
#define KEY_MAX_PROFILES ((size_t)1 << 28)    /* U * P */

/* Which schemes a field belongs to: a mask with bit 1 << scheme set for each. */
enum { WB = 1 << DS_WM_WHITEBOX, BB = 1 << DS_WM_BLACKBOX, BOTH = WB | BB };

/* ------------------------------------------------------------ attribute tables */

typedef enum num_kind { K_I32, K_U64, K_SIZE, K_F32, K_F64 } num_kind;
typedef enum range_kind { R_NONE, R_CLOSED, R_OPEN } range_kind;

/* A numeric member of ds_wm_key stored as a scalar root attribute. */
typedef struct num_field {
    const char *name;
    num_kind kind;
    size_t off;
    unsigned schemes;
    range_kind range;
    double lo, hi;
    int since;                /* the first ds_key_format that stores it (0: every one) */
} num_field;

#define NUM(name, kind, member, schemes, range, lo, hi) \
    {name, kind, offsetof(ds_wm_key, member), schemes, range, lo, hi, 0}
#define NUM_SINCE(since, name, kind, member, schemes, range, lo, hi) \
    {name, kind, offsetof(ds_wm_key, member), schemes, range, lo, hi, since}

static const num_field num_fields[] = {
    NUM("classes", K_I32, classes, BOTH, R_CLOSED, 2, KEY_MAX_CLASSES),
    NUM("seed", K_U64, seed, BOTH, R_NONE, 0, 0),
    NUM("c", K_I32, c, BOTH, R_CLOSED, 1, 4),
    NUM("h", K_I32, h, BOTH, R_CLOSED, 1, 1024),
    NUM("w", K_I32, w, BOTH, R_CLOSED, 1, 1024),
    NUM("n", K_SIZE, n, BOTH, R_CLOSED, 1, KEY_MAX_IMAGES),
    NUM("M", K_I32, wb.M, WB, R_CLOSED, 1, KEY_MAX_WIDTH),
    NUM("s", K_I32, wb.s, WB, R_CLOSED, 1, KEY_MAX_CLASSES),
    NUM("N", K_I32, wb.N, WB, R_CLOSED, 1, KEY_MAX_BITS),
    NUM("lambda1", K_F32, wb.lambda1, WB, R_CLOSED, 0, 1e6),
    NUM("lambda2", K_F32, wb.lambda2, WB, R_CLOSED, 0, 1e6),
    NUM("K", K_I32, bb.K, BB, R_CLOSED, 1, KEY_MAX_IMAGES),
    NUM("alpha", K_F64, bb.alpha, BB, R_OPEN, 0, 1),
    NUM_SINCE(DS_KEY_FORMAT_V2, "alpha", K_F64, wb.alpha, WB, R_OPEN, 0, 1),
    NUM_SINCE(DS_KEY_FORMAT_V3, "probes", K_I32, wb.probes, WB, R_CLOSED, 0, KEY_MAX_PROBES),
    NUM_SINCE(DS_KEY_FORMAT_V3, "units", K_I32, wb.units, WB, R_CLOSED, 0, KEY_MAX_WIDTH),
};

/* A NUL-terminated string member stored as a string root attribute. */
typedef struct str_field {
    const char *name;
    size_t off, cap;
    unsigned schemes;
    int nonempty;
} str_field;

static const str_field str_fields[] = {
    {"arch", offsetof(ds_wm_key, arch), sizeof(((ds_wm_key *)0)->arch), BOTH, 0},
    {"layer", offsetof(ds_wm_key, wb.layer), sizeof(((ds_wm_key *)0)->wb.layer), WB, 1},
};

#define NELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* k->scheme is known (checked or parsed first). */
static int applies(unsigned schemes, const ds_wm_key *k) { return (schemes >> k->scheme) & 1u; }

/* The format k is saved as (0 in memory: the current one). */
static int key_format(const ds_wm_key *k) { return k->format ? k->format : DS_KEY_FORMAT_CURRENT; }

/* Whether numeric field f is stored in k's file. */
static int num_applies(const num_field *f, const ds_wm_key *k)
{
    return applies(f->schemes, k) && key_format(k) >= f->since;
}

/* The in-memory value of a numeric field, for range checks. */
static double num_get(const ds_wm_key *k, const num_field *f)
{
    const char *p = (const char *)k + f->off;
    switch (f->kind) {
    case K_I32: return *(const int *)p;
    case K_U64: return (double)*(const uint64_t *)p;
    case K_SIZE: return (double)*(const size_t *)p;
    case K_F32: return *(const float *)p;
    default: return *(const double *)p;
    }
}

static ds_status num_check(const num_field *f, double v, const char *who, ds_err *err)
{
    if (f->range == R_NONE) return DS_OK;
    if (!isfinite(v))
        return ds_err_set(err, DS_EFORMAT, "%s: attribute '%s' is not finite", who, f->name);
    int ok = f->range == R_OPEN ? v > f->lo && v < f->hi : v >= f->lo && v <= f->hi;
    int prec = f->kind == K_F32 || f->kind == K_F64 ? 9 : 17;  /* integers in full */
    if (!ok)
        return ds_err_set(err, DS_ERANGE, "%s: attribute '%s' = %.*g is out of range %c%.*g, %.*g%c",
                          who, f->name, prec, v, f->range == R_OPEN ? '(' : '[', prec, f->lo, prec,
                          f->hi, f->range == R_OPEN ? ')' : ']');
    return DS_OK;
}

static ds_status num_write(hid_t obj, const num_field *f, const ds_wm_key *k, const char *file,
                           ds_err *err)
{
    const char *p = (const char *)k + f->off;
    uint64_t wide;
    switch (f->kind) {
    case K_I32: return ds_h5_attr_write(obj, f->name, H5T_STD_I32LE, H5T_NATIVE_INT, p, 0, file, err);
    case K_U64: return ds_h5_attr_write(obj, f->name, H5T_STD_U64LE, H5T_NATIVE_UINT64, p, 0, file, err);
    case K_SIZE:
        wide = *(const size_t *)p;
        return ds_h5_attr_write(obj, f->name, H5T_STD_U64LE, H5T_NATIVE_UINT64, &wide, 0, file, err);
    case K_F32: return ds_h5_attr_write(obj, f->name, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, p, 0, file, err);
    default: return ds_h5_attr_write(obj, f->name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, p, 0, file, err);
    }
}

/* Read, range-check and only then store into k. */
static ds_status num_read(hid_t obj, const num_field *f, ds_wm_key *k, const char *file, ds_err *err)
{
    char *p = (char *)k + f->off;
    long long i = 0;
    uint64_t u = 0;
    float x = 0;
    double d = 0;
    ds_status st;
    switch (f->kind) {
    case K_I32:
        st = ds_h5_attr_read(obj, f->name, H5T_INTEGER, H5T_NATIVE_LLONG, &i, 0, file, err);
        if (!st) st = num_check(f, (double)i, file, err);
        if (!st) *(int *)p = (int)i;  /* every int field has a range within int */
        return st;
    case K_U64:
    case K_SIZE:
        st = ds_h5_attr_read(obj, f->name, H5T_INTEGER, H5T_NATIVE_UINT64, &u, 0, file, err);
        if (!st) st = num_check(f, (double)u, file, err);
        if (!st && f->kind == K_U64) *(uint64_t *)p = u;
        if (!st && f->kind == K_SIZE) *(size_t *)p = (size_t)u;
        return st;
    case K_F32:
        st = ds_h5_attr_read(obj, f->name, H5T_FLOAT, H5T_NATIVE_FLOAT, &x, 0, file, err);
        if (!st) st = num_check(f, x, file, err);
        if (!st) *(float *)p = x;
        return st;
    default:
        st = ds_h5_attr_read(obj, f->name, H5T_FLOAT, H5T_NATIVE_DOUBLE, &d, 0, file, err);
        if (!st) st = num_check(f, d, file, err);
        if (!st) *(double *)p = d;
        return st;
    }
}

static ds_status str_check(const str_field *f, const ds_wm_key *k, const char *who, ds_err *err)
{
    const char *p = (const char *)k + f->off;
    size_t len = strnlen(p, f->cap);
    if (len == f->cap)
        return ds_err_set(err, DS_ERANGE, "%s: attribute '%s' does not fit in %zu bytes", who, f->name,
                          f->cap - 1);
    if (f->nonempty && len == 0)
        return ds_err_set(err, DS_EFORMAT, "%s: attribute '%s' is empty", who, f->name);
    return DS_OK;
}

/* The reference's sizes: none (probes 0, units 0), or units dividing M. */
static ds_status check_reference_dims(const ds_wm_key *k, const char *who, ds_err *err)
{
    const ds_wb_key *w = &k->wb;
    if (w->probes == 0)
        return w->units == 0 ? DS_OK
                             : ds_err_set(err, DS_EFORMAT,
                                          "%s: attribute 'units' = %d but attribute 'probes' = 0 "
                                          "(no reference)", who, w->units);
    if (w->units < 1 || w->M % w->units != 0)
        return ds_err_set(err, DS_EFORMAT,
                          "%s: attribute 'units' = %d does not divide attribute 'M' = %d", who,
                          w->units, w->M);
    if ((size_t)w->units * (size_t)w->probes > KEY_MAX_PROFILES)
        return ds_err_set(err, DS_ERANGE, "%s: attributes units x probes = %d x %d exceed %zu entries",
                          who, w->units, w->probes, KEY_MAX_PROFILES);
    if ((size_t)w->probes * (size_t)k->c * (size_t)k->h * (size_t)k->w > KEY_MAX_PIXEL_BYTES)
        return ds_err_set(err, DS_ERANGE, "%s: attributes probes x c x h x w exceed %zu bytes", who,
                          KEY_MAX_PIXEL_BYTES);
    return DS_OK;
}

/* Sizes that only make sense together; the single fields are already in range. */
static ds_status check_dims(const ds_wm_key *k, const char *who, ds_err *err)
{
    if (k->scheme == DS_WM_WHITEBOX && k->wb.s > k->classes)
        return ds_err_set(err, DS_ERANGE, "%s: attribute 's' = %d exceeds attribute 'classes' = %d", who,
                          k->wb.s, k->classes);
    if (k->scheme == DS_WM_WHITEBOX && (size_t)k->wb.N * (size_t)k->wb.M > KEY_MAX_A)
        return ds_err_set(err, DS_ERANGE, "%s: attributes N x M = %d x %d exceed %zu entries", who,
                          k->wb.N, k->wb.M, KEY_MAX_A);
    if (k->scheme == DS_WM_BLACKBOX && (size_t)k->bb.K != k->n)
        return ds_err_set(err, DS_EFORMAT,
                          "%s: attribute 'K' = %d but attribute 'n' = %zu (one image per black-box key)",
                          who, k->bb.K, k->n);
    if (k->scheme == DS_WM_WHITEBOX) {
        ds_status st = check_reference_dims(k, who, err);
        if (st) return st;
    }
    if (k->n * (size_t)k->c * (size_t)k->h * (size_t)k->w > KEY_MAX_PIXEL_BYTES)
        return ds_err_set(err, DS_ERANGE,
                          "%s: attributes n x c x h x w = %zu x %d x %d x %d exceed %zu bytes", who,
                          k->n, k->c, k->h, k->w, KEY_MAX_PIXEL_BYTES);
    return DS_OK;
}

/* Every attribute of an in-memory key, as the loader would check it. */
static ds_status check_fields(const ds_wm_key *k, const char *who, ds_err *err)
{
    if (k->scheme != DS_WM_WHITEBOX && k->scheme != DS_WM_BLACKBOX)
        return ds_err_set(err, DS_EINVAL, "%s: unknown watermark scheme %d", who, (int)k->scheme);
    ds_status st = DS_OK;
    for (size_t i = 0; !st && i < NELEMS(str_fields); i++)
        if (applies(str_fields[i].schemes, k)) st = str_check(&str_fields[i], k, who, err);
    if (k->format < 0 || k->format > DS_KEY_FORMAT_CURRENT)
        return ds_err_set(err, DS_EINVAL, "%s: unknown key format %d", who, k->format);
    for (size_t i = 0; !st && i < NELEMS(num_fields); i++) {
        const num_field *f = &num_fields[i];
        if (num_applies(f, k)) st = num_check(f, num_get(k, f), who, err);
    }
    return st ? st : check_dims(k, who, err);
}

/* ------------------------------------------------------------ datasets */

typedef enum dset_id {
    D_TARGETS, D_BITS, D_A, D_PROBES, D_PROFILES, D_X, D_Y, D_SOURCE, D_COUNT
} dset_id;

/* One dataset: where it lives, its exact type and the shape the attributes give. */
typedef struct key_dset {
    dset_id id;
    const char *name;         /* path from the root */
    hid_t file_type, mem_type;
    H5T_class_t cls;
    size_t size;              /* bytes per value, in the file and in memory */
    H5T_sign_t sign;          /* integers only */
    int ndim;
    hsize_t dims[4];
    size_t count;             /* product of dims */
    void *data;
} key_dset;

static key_dset dset_make(dset_id id, const char *name, hid_t file_type, hid_t mem_type,
                          H5T_class_t cls, size_t size, H5T_sign_t sign, int ndim, const size_t *dims,
                          void *data)
{
    key_dset d = {id, name, file_type, mem_type, cls, size, sign, ndim, {0}, 1, data};
    for (int i = 0; i < ndim; i++) {
        d.dims[i] = dims[i];
        d.count *= dims[i];
    }
    return d;
}

/* The datasets of k (in file order) into d; returns how many. Sizes come from
 * attributes already checked, so the products cannot overflow. */
static int key_dsets(const ds_wm_key *k, key_dset d[D_COUNT])
{
    int nd = 0;
    if (k->scheme == DS_WM_WHITEBOX) {
        const ds_wb_key *w = &k->wb;
        size_t s[1] = {(size_t)w->s}, sn[2] = {(size_t)w->s, (size_t)w->N},
               nm[2] = {(size_t)w->N, (size_t)w->M};
        d[nd++] = dset_make(D_TARGETS, "whitebox/targets", H5T_STD_I32LE, H5T_NATIVE_INT, H5T_INTEGER,
                            sizeof *w->targets, H5T_SGN_2, 1, s, w->targets);
        d[nd++] = dset_make(D_BITS, "whitebox/bits", H5T_STD_U8LE, H5T_NATIVE_UINT8, H5T_INTEGER,
                            sizeof *w->bits, H5T_SGN_NONE, 2, sn, w->bits);
        d[nd++] = dset_make(D_A, "whitebox/A", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, H5T_FLOAT,
                            sizeof *w->A, H5T_SGN_ERROR, 2, nm, w->A);
        if (key_format(k) >= DS_KEY_FORMAT_V3 && w->probes > 0) {
            size_t px[4] = {(size_t)w->probes, (size_t)k->c, (size_t)k->h, (size_t)k->w},
                   up[2] = {(size_t)w->units, (size_t)w->probes};
            d[nd++] = dset_make(D_PROBES, "whitebox/probe_x", H5T_STD_U8LE, H5T_NATIVE_UINT8,
                                H5T_INTEGER, sizeof *w->probe_x, H5T_SGN_NONE, 4, px, w->probe_x);
            d[nd++] = dset_make(D_PROFILES, "whitebox/profiles", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT,
                                H5T_FLOAT, sizeof *w->profiles, H5T_SGN_ERROR, 2, up, w->profiles);
        }
    }
    size_t n[1] = {k->n}, x[4] = {k->n, (size_t)k->c, (size_t)k->h, (size_t)k->w};
    d[nd++] = dset_make(D_X, "images/x", H5T_STD_U8LE, H5T_NATIVE_UINT8, H5T_INTEGER, sizeof *k->x,
                        H5T_SGN_NONE, 4, x, k->x);
    d[nd++] = dset_make(D_Y, "images/y", H5T_STD_U8LE, H5T_NATIVE_UINT8, H5T_INTEGER, sizeof *k->y,
                        H5T_SGN_NONE, 1, n, k->y);
    d[nd++] = dset_make(D_SOURCE, "images/source_index", H5T_STD_I64LE, H5T_NATIVE_INT64, H5T_INTEGER,
                        sizeof *k->source_index, H5T_SGN_2, 1, n, k->source_index);
    return nd;
}

/* Hand buf to the key member that dataset id fills. */
static void dset_adopt(ds_wm_key *k, dset_id id, void *buf)
{
    switch (id) {
    case D_TARGETS: k->wb.targets = buf; break;
    case D_BITS: k->wb.bits = buf; break;
    case D_A: k->wb.A = buf; break;
    case D_PROBES: k->wb.probe_x = buf; break;
    case D_PROFILES: k->wb.profiles = buf; break;
    case D_X: k->x = buf; break;
    case D_Y: k->y = buf; break;
    default: k->source_index = buf; break;
    }
}

/* "a 4-byte signed integer", "a 4-byte float", ... */
static void type_str(H5T_class_t cls, size_t size, H5T_sign_t sign, char *buf, size_t len)
{
    const char *what = cls == H5T_FLOAT ? "float" : cls != H5T_INTEGER ? "non-numeric value"
                       : sign == H5T_SGN_NONE ? "unsigned integer" : "signed integer";
    snprintf(buf, len, "%zu-byte %s", size, what);
}

/* The stored value type must be exactly d's (any byte order): no silent narrowing. */
static ds_status dset_check_type(hid_t dset, const key_dset *d, const char *where, const char *file,
                                 ds_err *err)
{
    hid_t type = H5Dget_type(dset);
    H5T_class_t cls = type < 0 ? H5T_NO_CLASS : H5Tget_class(type);
    size_t size = type < 0 ? 0 : H5Tget_size(type);
    H5T_sign_t sign = cls == H5T_INTEGER ? H5Tget_sign(type) : H5T_SGN_ERROR;
    ds_status st = DS_OK;
    if (cls == H5T_NO_CLASS || size == 0 || (cls == H5T_INTEGER && sign == H5T_SGN_ERROR)) {
        st = ds_h5_fail(err, DS_EFORMAT, "%s: cannot inspect the type of %s", file, where);
    } else if (cls != d->cls || size != d->size || sign != d->sign) {
        char got[64], want[64];
        type_str(cls, size, sign, got, sizeof got);
        type_str(d->cls, d->size, d->sign, want, sizeof want);
        st = ds_err_set(err, DS_EFORMAT, "%s: %s holds %ss, expected %ss", file, where, got, want);
    }
    return ds_h5_close(&type, file, st, err);
}

/* Before anything is allocated: d exists with exactly the type and shape the attributes give. */
static ds_status dset_inspect(hid_t f, const key_dset *d, const char *file, ds_err *err)
{
    char where[DS_H5_PATH_MAX], got[96], want[96];
    ds_h5_path(f, d->name, where, sizeof where);
    ds_h5_shape s;
    ds_status st = ds_h5_dataset_shape(f, d->name, file, &s, err);
    if (st) return st;
    int same = s.ndim == d->ndim;
    for (int i = 0; same && i < d->ndim; i++) same = s.dims[i] == d->dims[i];
    if (!same) {
        ds_h5_shape_str(s.ndim, s.dims, got, sizeof got);
        ds_h5_shape_str(d->ndim, d->dims, want, sizeof want);
        return ds_err_set(err, DS_EFORMAT, "%s: %s has shape %s, expected %s", file, where, got, want);
    }
    hid_t dset = H5Dopen2(f, d->name, H5P_DEFAULT);
    st = dset < 0 ? ds_h5_fail(err, DS_EFORMAT, "%s: cannot open %s", file, where)
                  : dset_check_type(dset, d, where, file, err);
    return ds_h5_close(&dset, file, st, err);
}

/* ------------------------------------------------------------ contents */

static ds_status check_targets(const ds_wm_key *k, const char *who, ds_err *err)
{
    unsigned char *seen = calloc((size_t)k->classes, 1);
    if (!seen) return ds_err_set(err, DS_ENOMEM, "%s: out of memory checking the targets", who);
    ds_status st = DS_OK;
    for (int i = 0; !st && i < k->wb.s; i++) {
        int t = k->wb.targets[i];
        if (t < 0 || t >= k->classes)
            st = ds_err_set(err, DS_EFORMAT, "%s: /whitebox/targets[%d] = %d is out of range [0, %d)",
                            who, i, t, k->classes);
        else if (seen[t]++)
            st = ds_err_set(err, DS_EFORMAT, "%s: /whitebox/targets holds class %d twice", who, t);
    }
    free(seen);
    return st;
}

static ds_status check_whitebox(const ds_wm_key *k, const char *who, ds_err *err)
{
    const ds_wb_key *w = &k->wb;
    ds_status st = check_targets(k, who, err);
    for (size_t i = 0, nb = (size_t)w->s * (size_t)w->N; !st && i < nb; i++)
        if (w->bits[i] > 1)
            st = ds_err_set(err, DS_EFORMAT, "%s: /whitebox/bits[%zu] = %u is not a bit (0 or 1)", who,
                            i, (unsigned)w->bits[i]);
    size_t na = (size_t)w->N * (size_t)w->M, bad;
    if (!st && (bad = ds_io_first_nonfinite(w->A, na)) < na)
        st = ds_err_set(err, DS_EFORMAT, "%s: /whitebox/A holds a non-finite value (%g at index %zu)",
                        who, (double)w->A[bad], bad);
    size_t np = w->probe_x ? (size_t)w->units * (size_t)w->probes : 0;
    if (!st && np && (bad = ds_io_first_nonfinite(w->profiles, np)) < np)
        st = ds_err_set(err, DS_EFORMAT,
                        "%s: /whitebox/profiles holds a non-finite value (%g at index %zu)", who,
                        (double)w->profiles[bad], bad);
    return st;
}

/* Arrays of a key whose attributes passed check_fields. */
static ds_status check_contents(const ds_wm_key *k, const char *who, ds_err *err)
{
    ds_status st = k->scheme == DS_WM_WHITEBOX ? check_whitebox(k, who, err) : DS_OK;
    for (size_t i = 0; !st && i < k->n; i++) {
        if (k->y[i] >= k->classes)
            st = ds_err_set(err, DS_EFORMAT, "%s: /images/y[%zu] = %u is out of range [0, %d)", who, i,
                            (unsigned)k->y[i], k->classes);
        else if (k->source_index[i] < -1)
            st = ds_err_set(err, DS_EFORMAT,
                            "%s: /images/source_index[%zu] = %lld is negative (-1 means none)", who, i,
                            (long long)k->source_index[i]);
    }
    return st;
}

/* ------------------------------------------------------------ save */

/* An in-memory key must have every array its sizes call for. */
static ds_status check_arrays(const ds_wm_key *k, const char *who, ds_err *err)
{
    key_dset d[D_COUNT];
    int nd = key_dsets(k, d);
    for (int i = 0; i < nd; i++)
        if (!d[i].data)
            return ds_err_set(err, DS_EINVAL, "%s: the key has no array for /%s", who, d[i].name);
    return DS_OK;
}

/* A ds_h5_writer: obj is the ds_wm_key. */
static ds_status write_key(hid_t f, const void *obj, const char *path, ds_err *err)
{
    const ds_wm_key *k = obj;
    ds_status st = ds_h5_write_header(f, path, DS_KEY_MAGIC, key_format(k), err);
    if (!st) st = ds_h5_attr_write_string(f, "scheme", ds_wm_scheme_name(k->scheme), path, err);
    for (size_t i = 0; !st && i < NELEMS(str_fields); i++) {
        const str_field *sf = &str_fields[i];
        if (applies(sf->schemes, k))
            st = ds_h5_attr_write_string(f, sf->name, (const char *)k + sf->off, path, err);
    }
    for (size_t i = 0; !st && i < NELEMS(num_fields); i++)
        if (num_applies(&num_fields[i], k)) st = num_write(f, &num_fields[i], k, path, err);
    hid_t g = -1;
    if (!st && k->scheme == DS_WM_WHITEBOX) st = ds_h5_group_create(f, "whitebox", path, &g, err);
    st = ds_h5_close(&g, path, st, err);
    if (!st) st = ds_h5_group_create(f, "images", path, &g, err);
    st = ds_h5_close(&g, path, st, err);
    key_dset d[D_COUNT];
    int nd = key_dsets(k, d);
    for (int i = 0; !st && i < nd; i++)
        st = ds_h5_dataset_write(f, d[i].name, d[i].file_type, d[i].mem_type, d[i].ndim, d[i].dims,
                                 d[i].data, path, err);
    return st;
}

/* The bytes of k's key file (messages name file), checked as a load would check
 * them; ds_key_save writes them. */
static ds_status key_image(const ds_wm_key *k, const char *file, void **img, size_t *n,
                           ds_err *err)
{
    *img = NULL;
    *n = 0;
    char who[DS_ERR_MSG_MAX / 2];
    snprintf(who, sizeof who, "%s: not saved", file);
    ds_status st = check_fields(k, who, err);
    if (!st) st = check_arrays(k, who, err);
    if (!st) st = check_contents(k, who, err);
    return st ? st : ds_h5_mem_build(file, write_key, k, img, n, err);
}

ds_status ds_key_save(const ds_wm_key *k, const char *path, ds_err *err)
{
    if (!k || !path || !path[0]) return ds_err_set(err, DS_EINVAL, "ds_key_save: no key or no path");
    void *img;
    size_t n;
    ds_status st = key_image(k, path, &img, &n, err);
    if (!st) st = ds_io_write_atomic(path, img, n, 0600, err);  /* exactly 0600, whatever the umask */
    free(img);
    return st;
}

/* ------------------------------------------------------------ load */

/* A model file given as a key gets a hint. */
static const char *model_hint(hid_t f, const char *got)
{
    return got && !strcmp(got, DS_MODEL_MAGIC) ? "; it is a model file, not a key" : "";
}

static ds_status read_scheme(hid_t f, const char *path, ds_wm_key *k, ds_err *err)
{
    char name[32];
    ds_status st = ds_h5_attr_read_string(f, "scheme", name, sizeof name, path, err);
    if (!st && (st = ds_wm_scheme_parse(name, &k->scheme, err)) != DS_OK)
        (void)ds_err_prefix(err, "%s: attribute 'scheme': ", path);
    return st;
}

/* Attributes, then dataset types and shapes, then allocation, reads and contents. */
static ds_status read_key(hid_t f, const char *path, ds_wm_key *k, ds_err *err)
{
    ds_status st = ds_h5_check_header_range(f, path, "key", DS_KEY_MAGIC, DS_KEY_FORMAT_V1,
                                            DS_KEY_FORMAT_CURRENT, model_hint, &k->format, err);
    if (!st) st = read_scheme(f, path, k, err);
    for (size_t i = 0; !st && i < NELEMS(str_fields); i++) {
        const str_field *sf = &str_fields[i];
        if (!applies(sf->schemes, k)) continue;
        st = ds_h5_attr_read_string(f, sf->name, (char *)k + sf->off, sf->cap, path, err);
        if (!st) st = str_check(sf, k, path, err);
    }
    for (size_t i = 0; !st && i < NELEMS(num_fields); i++)
        if (num_applies(&num_fields[i], k)) st = num_read(f, &num_fields[i], k, path, err);
    if (!st && k->scheme == DS_WM_WHITEBOX && k->format == DS_KEY_FORMAT_V1)
        k->wb.alpha = DS_WB_ALPHA;  /* the level every format 1 claim was made at */
    if (!st) st = check_dims(k, path, err);
    if (st) return st;
    key_dset d[D_COUNT];
    int nd = key_dsets(k, d);
    for (int i = 0; !st && i < nd; i++) st = dset_inspect(f, &d[i], path, err);
    for (int i = 0; !st && i < nd; i++) {
        size_t bytes = d[i].count * d[i].size;
        if (!(d[i].data = malloc(bytes ? bytes : 1)))
            st = ds_err_set(err, DS_ENOMEM, "%s: out of memory for /%s (%zu bytes)", path, d[i].name,
                            bytes);
        else
            dset_adopt(k, d[i].id, d[i].data);
    }
    for (int i = 0; !st && i < nd; i++)
        st = ds_h5_dataset_read(f, d[i].name, d[i].mem_type, d[i].data, path, err);
    return st ? st : check_contents(k, path, err);
}

static ds_status load_direct(const char *path, ds_wm_key *out, int *loose_perms, ds_err *err)
{
    memset(out, 0, sizeof *out);
    if (loose_perms) *loose_perms = 0;
    struct stat sb;
    if (stat(path, &sb) != 0)
        return ds_err_set(err, DS_EIO, "%s: cannot open: %s", path, strerror(errno));
    if (!S_ISREG(sb.st_mode)) return ds_err_set(err, DS_EIO, "%s: not a regular file", path);
    ds_h5_quiet q;
    ds_h5_quiet_begin(&q);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    ds_status st = f < 0 ? ds_h5_fail(err, DS_EFORMAT, "%s: not a readable HDF5 file", path)
                         : read_key(f, path, out, err);
    st = ds_h5_close(&f, path, st, err);
    ds_h5_quiet_end(&q);
    if (st) {
        ds_wm_key_free(out);
        return st;
    }
    if (loose_perms) *loose_perms = (sb.st_mode & 077) != 0;
    return DS_OK;
}

static void trial_load(void *path)
{
    ds_wm_key k;
    ds_err e = {0};
    if (!load_direct(path, &k, NULL, &e)) ds_wm_key_free(&k);
}

ds_status ds_key_load(const char *path, ds_wm_key *out, int *loose_perms, ds_err *err)
{
    if (!out || !path) return ds_err_set(err, DS_EINVAL, "ds_key_load: no path or no key to fill");
    memset(out, 0, sizeof *out);
    ds_status st = ds_io_trial_parse(path, "key", trial_load, (void *)path, DS_IO_TRIAL_SECONDS, err);
    return st ? st : load_direct(path, out, loose_perms, err);
}

/* ------------------------------------------------------------ in memory */

ds_status ds_key_save_image(const ds_wm_key *k, void **image, size_t *n, ds_err *err)
{
    if (!image || !n) return ds_err_set(err, DS_EINVAL, "ds_key_save_image: nowhere to put the image");
    *image = NULL;
    *n = 0;
    if (!k) return ds_err_set(err, DS_EINVAL, "ds_key_save_image: no key");
    return key_image(k, "key image", image, n, err);
}

ds_status ds_key_load_image(const void *image, size_t n, const char *name, ds_wm_key *out,
                            ds_err *err)
{
    if (!out) return ds_err_set(err, DS_EINVAL, "ds_key_load_image: no key to fill");
    memset(out, 0, sizeof *out);
    if (!name) name = "key image";
    ds_h5_quiet q;
    ds_h5_quiet_begin(&q);
    hid_t f = -1;
    ds_status st = ds_h5_mem_open(image, n, name, "key", 0, &f, err);
    if (!st) st = read_key(f, name, out, err);
    st = ds_h5_close(&f, name, st, err);
    ds_h5_quiet_end(&q);
    if (st) ds_wm_key_free(out);
    return st;
}
