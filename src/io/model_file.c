/* model_file.c - the deepsigns model file (HDF5; layout in docs/model-file.md).
 *
 * Saving builds the file in memory without object timestamps and writes it with
 * ds_io_write_atomic ("<path>.tmp.<pid>", synced, renamed over path, keeping the
 * permission bits of a file it replaces): the same model always gives the same
 * bytes, and a failed save leaves an existing file as it was. Loading checks the magic and version,
 * validates the architecture, lays it out and compares every dataset's shape with
 * it (and refuses datasets it does not have) before anything large is allocated,
 * then reads every tensor as a finite float dataset. Root
 * attributes and struct fields are tied together by one table per struct, so
 * save and load cannot drift apart.
 */
#include "deepsigns/model_file.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/h5util.h"
#include "io/untrusted.h"
#include "nn/graph.h" /* lay the architecture out before allocating its buffers */

/* ------------------------------------------------------------ attribute tables */

typedef enum field_kind { F_INT, F_FLOAT, F_DOUBLE, F_U64, F_STR } field_kind;

/* A struct member stored as a root attribute. n: number of values (0 = scalar)
 * for numbers, capacity in bytes (NUL included) for strings. optional: a file
 * without the attribute loads with the member zeroed (attributes added later). */
typedef struct field {
    const char *name;
    field_kind kind;
    size_t off;
    size_t n;
    int optional;
} field;

#define FIELD(T, member, kind, name) {name, kind, offsetof(T, member), 0, 0}
#define FIELD_ARR(T, member, kind, name) \
    {name, kind, offsetof(T, member), sizeof(((T *)0)->member) / sizeof(((T *)0)->member[0]), 0}
#define FIELD_STR(T, member, name) {name, F_STR, offsetof(T, member), sizeof(((T *)0)->member), 0}
#define FIELD_ARR_OPT(T, member, kind, name) \
    {name, kind, offsetof(T, member), sizeof(((T *)0)->member) / sizeof(((T *)0)->member[0]), 1}

static const field arch_fields[] = {
    FIELD_STR(ds_arch, name, "arch"),
    FIELD(ds_arch, in_c, F_INT, "in_c"),
    FIELD(ds_arch, in_h, F_INT, "in_h"),
    FIELD(ds_arch, in_w, F_INT, "in_w"),
    FIELD(ds_arch, classes, F_INT, "classes"),
    FIELD(ds_arch, hidden, F_INT, "hidden"),
    FIELD(ds_arch, dropout, F_FLOAT, "dropout"),
    FIELD(ds_arch, depth, F_INT, "depth"),
    FIELD(ds_arch, widen, F_INT, "widen"),
    FIELD_ARR_OPT(ds_arch, extra, F_INT, "extra_units"),
};

static const field meta_fields[] = {
    FIELD(ds_model_meta, preproc.scale, F_FLOAT, "preproc_scale"),
    FIELD(ds_model_meta, preproc.channels, F_INT, "preproc_channels"),
    FIELD_ARR(ds_model_meta, preproc.mean, F_FLOAT, "preproc_mean"),
    FIELD_ARR(ds_model_meta, preproc.std, F_FLOAT, "preproc_std"),
    FIELD_STR(ds_model_meta, source, "source"),
    FIELD_STR(ds_model_meta, dataset, "dataset"),
    FIELD_STR(ds_model_meta, optimizer, "optimizer"),
    FIELD(ds_model_meta, lr, F_FLOAT, "lr"),
    FIELD(ds_model_meta, epochs, F_INT, "epochs"),
    FIELD(ds_model_meta, batch, F_INT, "batch"),
    FIELD(ds_model_meta, seed, F_U64, "seed"),
    FIELD(ds_model_meta, test_accuracy, F_DOUBLE, "test_accuracy"),
};

#define NFIELDS(a) (sizeof(a) / sizeof((a)[0]))

enum { FIELD_MAX_VALUES = 8, FIELD_MAX_STR = 512 };

/* Attributes that define the file: never set through ds_model_file_set_attr_string. */
static const char *const protected_attrs[] = {"magic", "format_version", "arch", "layout"};

/* The root attribute holding a "graph" architecture's layout (model.h); absent
 * for the named architectures, whose files are as they always were. */
#define LAYOUT_ATTR "layout"

static ds_status write_layout(hid_t f, const ds_arch *a, const char *path, ds_err *err)
{
    return a->layout[0] ? ds_h5_attr_write_string(f, LAYOUT_ATTR, a->layout, path, err) : DS_OK;
}

static ds_status read_layout(hid_t f, ds_arch *a, const char *path, ds_err *err)
{
    int e = ds_h5_attr_exists(f, LAYOUT_ATTR);
    if (e < 0) return ds_h5_fail(err, DS_EFORMAT, "%s: cannot look up attribute '%s'", path, LAYOUT_ATTR);
    return e ? ds_h5_attr_read_string(f, LAYOUT_ATTR, a->layout, sizeof a->layout, path, err) : DS_OK;
}

static hid_t field_file_type(field_kind k)
{
    switch (k) {
    case F_INT: return H5T_STD_I32LE;
    case F_FLOAT: return H5T_IEEE_F32LE;
    case F_DOUBLE: return H5T_IEEE_F64LE;
    default: return H5T_STD_U64LE;
    }
}

static hid_t field_mem_type(field_kind k)
{
    switch (k) {
    case F_INT: return H5T_NATIVE_INT;
    case F_FLOAT: return H5T_NATIVE_FLOAT;
    case F_DOUBLE: return H5T_NATIVE_DOUBLE;
    default: return H5T_NATIVE_UINT64;
    }
}

static ds_status write_field(hid_t obj, const field *f, const void *base, const char *file,
                             ds_err *err)
{
    const char *p = (const char *)base + f->off;
    if (f->kind != F_STR)
        return ds_h5_attr_write(obj, f->name, field_file_type(f->kind), field_mem_type(f->kind), p,
                                (int)f->n, file, err);
    char s[FIELD_MAX_STR];
    snprintf(s, sizeof s, "%.*s", (int)strnlen(p, f->n), p);
    return ds_h5_attr_write_string(obj, f->name, s, file, err);
}

/* Integers are read wide and range-checked; floats must be finite. */
static ds_status read_number_field(hid_t obj, const field *f, void *dst, const char *file,
                                   ds_err *err)
{
    size_t count = f->n ? f->n : 1;
    if (count > FIELD_MAX_VALUES)
        return ds_err_set(err, DS_EINVAL, "%s: attribute '%s': too many values for its field", file,
                          f->name);
    if (f->kind == F_U64)
        return ds_h5_attr_read(obj, f->name, H5T_INTEGER, H5T_NATIVE_UINT64, dst, (int)f->n, file, err);
    if (f->kind != F_INT) {
        ds_status st = ds_h5_attr_read(obj, f->name, H5T_FLOAT, field_mem_type(f->kind), dst,
                                       (int)f->n, file, err);
        for (size_t i = 0; st == DS_OK && i < count; i++) {
            double v = f->kind == F_FLOAT ? ((float *)dst)[i] : ((double *)dst)[i];
            if (!isfinite(v))
                st = ds_err_set(err, DS_EFORMAT, "%s: attribute '%s' is not finite", file, f->name);
        }
        return st;
    }
    long long v[FIELD_MAX_VALUES];
    ds_status st = ds_h5_attr_read(obj, f->name, H5T_INTEGER, H5T_NATIVE_LLONG, v, (int)f->n, file, err);
    for (size_t i = 0; st == DS_OK && i < count; i++) {
        if (v[i] < INT_MIN || v[i] > INT_MAX)
            return ds_err_set(err, DS_ERANGE, "%s: attribute '%s' = %lld does not fit an int", file,
                              f->name, v[i]);
        ((int *)dst)[i] = (int)v[i];
    }
    return st;
}

static ds_status read_field(hid_t obj, const field *f, void *base, const char *file, ds_err *err)
{
    char *p = (char *)base + f->off;
    if (f->optional) {
        int e = ds_h5_attr_exists(obj, f->name);
        if (e < 0) return ds_h5_fail(err, DS_EFORMAT, "%s: cannot look up attribute '%s'", file, f->name);
        if (e == 0) return DS_OK; /* absent: the member stays zeroed */
    }
    if (f->kind == F_STR) return ds_h5_attr_read_string(obj, f->name, p, f->n, file, err);
    return read_number_field(obj, f, p, file, err);
}

static ds_status write_fields(hid_t obj, const field *fs, size_t n, const void *base,
                              const char *file, ds_err *err)
{
    ds_status st = DS_OK;
    for (size_t i = 0; st == DS_OK && i < n; i++) st = write_field(obj, &fs[i], base, file, err);
    return st;
}

static ds_status read_fields(hid_t obj, const field *fs, size_t n, void *base, const char *file,
                             ds_err *err)
{
    ds_status st = DS_OK;
    for (size_t i = 0; st == DS_OK && i < n; i++) st = read_field(obj, &fs[i], base, file, err);
    return st;
}

/* ------------------------------------------------------------ save */

static ds_status check_finite(const ds_model *m, const char *path, ds_err *err)
{
    for (int t = 0; t < m->ntensors; t++) {
        const ds_tensor *ts = &m->tensors[t];
        const float *x = ds_model_tensor_data(m, t);
        size_t bad = ds_io_first_nonfinite(x, ts->size);
        if (bad < ts->size)
            return ds_err_set(err, DS_ENUM,
                              "%s: not saved: tensor %s holds a non-finite value (%g at index %zu)",
                              path, ts->name, (double)x[bad], bad);
    }
    return DS_OK;
}

/* Group /group with one float32 dataset per tensor whose trainable flag matches. */
static ds_status write_tensors(hid_t f, const char *group, const ds_model *m, int trainable,
                               const char *path, ds_err *err)
{
    hid_t g = -1;
    ds_status st = ds_h5_group_create(f, group, path, &g, err);
    for (int t = 0; st == DS_OK && t < m->ntensors; t++) {
        const ds_tensor *ts = &m->tensors[t];
        if (ts->trainable == trainable)
            st = ds_h5_write_f32(g, ts->name, ts->ndim, ts->dims, ds_model_tensor_data(m, t), path,
                                 err);
    }
    return ds_h5_close(&g, path, st, err);
}

/* A ds_h5_writer: obj is the ds_model. */
static ds_status write_model(hid_t f, const void *obj, const char *path, ds_err *err)
{
    const ds_model *m = obj;
    ds_status st = ds_h5_write_header(f, path, DS_MODEL_MAGIC, DS_MODEL_FORMAT_CURRENT, err);
    if (!st) st = write_fields(f, arch_fields, NFIELDS(arch_fields), &m->arch, path, err);
    if (!st) st = write_layout(f, &m->arch, path, err);
    if (!st) st = write_fields(f, meta_fields, NFIELDS(meta_fields), &m->meta, path, err);
    if (!st) st = write_tensors(f, "params", m, 1, path, err);
    if (!st) st = write_tensors(f, "stats", m, 0, path, err);
    return st;
}

/* The bytes of m's model file (messages name file); ds_model_save writes them. */
static ds_status model_image(const ds_model *m, const char *file, void **img, size_t *n,
                             ds_err *err)
{
    *img = NULL;
    *n = 0;
    ds_status st = check_finite(m, file, err);
    return st ? st : ds_h5_mem_build(file, write_model, m, img, n, err);
}

ds_status ds_model_save(const ds_model *m, const char *path, ds_err *err)
{
    void *img;
    size_t n;
    ds_status st = model_image(m, path, &img, &n, err);
    if (!st) st = ds_io_write_atomic(path, img, n, DS_IO_MODE_KEEP, err);
    free(img);
    return st;
}

/* ------------------------------------------------------------ open and check */

/* A Keras weights file given as a model file (no magic) gets a hint. */
#define KERAS_HINT "; it looks like a Keras weights file (read it with ds_model_load_any, or --keras)"

static const char *keras_hint(hid_t f, const char *got)
{
    if (got) return "";
    int keras = ds_h5_attr_exists(f, "layer_names") > 0 || ds_h5_exists(f, "model_weights") > 0;
    return keras ? KERAS_HINT : "";
}

/* Open path as a deepsigns model file of a known version: read-only from disk,
 * or (writable) as an in-memory copy for ds_h5_mem_commit. HDF5 errors must be quiet. */
static ds_status model_file_open(const char *path, int writable, hid_t *f, ds_err *err)
{
    *f = -1;
    FILE *fp = fopen(path, "rb");
    if (!fp) return ds_err_set(err, DS_EIO, "%s: cannot open: %s", path, strerror(errno));
    (void)fclose(fp);
    hid_t fapl = H5P_DEFAULT;
    ds_status st = writable ? ds_h5_mem_fapl(path, &fapl, err) : DS_OK;
    if (st) return st;
    *f = H5Fopen(path, writable ? H5F_ACC_RDWR : H5F_ACC_RDONLY, fapl);
    if (*f < 0) st = ds_h5_fail(err, DS_EFORMAT, "%s: not a readable HDF5 file", path);
    if (writable) st = ds_h5_close(&fapl, path, st, err);
    if (!st)
        st = ds_h5_check_header(*f, path, "model", DS_MODEL_MAGIC, DS_MODEL_FORMAT_CURRENT, keras_hint,
                                err);
    if (st) (void)ds_h5_close(f, path, st, err);
    return st;
}

/* ------------------------------------------------------------ load */

/* The root attributes that shape the layers, as "arch mnist-mlp, in_c 1, in_h 28,
 * in_w 28, classes 10, hidden 512" (integers that are 0 are left out), for messages
 * about tensors that do not match them. */
static void shape_attrs_text(const ds_arch *arch, char *buf, size_t len)
{
    int k = snprintf(buf, len, "arch %s", arch->name);
    for (size_t i = 0; i < NFIELDS(arch_fields) && k > 0 && (size_t)k < len; i++) {
        const field *f = &arch_fields[i];
        if (f->kind != F_INT) continue;
        const int *v = (const int *)((const char *)arch + f->off);
        size_t count = f->n ? f->n : 1, nz = 0;
        for (size_t j = 0; j < count; j++) nz += v[j] != 0;
        if (!nz) continue;
        k += snprintf(buf + k, len - (size_t)k, ", %s ", f->name);
        for (size_t j = 0; j < count && k > 0 && (size_t)k < len; j++)
            k += snprintf(buf + k, len - (size_t)k, "%s%d", j ? "," : "", v[j]);
    }
}

/* Every tensor of g with the given trainable flag must be a dataset of exactly
 * its shape in /group, and /group must hold nothing else: checked from the file's
 * metadata alone, before the model's buffers are allocated. */
static ds_status check_shapes(hid_t f, const char *group, const ds_graph *g, const ds_arch *arch,
                              int trainable, const char *path, ds_err *err)
{
    int want = 0;
    for (int t = 0; t < g->nt; t++) want += g->tensors[t].trainable == trainable;
    int e = ds_h5_exists(f, group);
    if (e < 0) return ds_h5_fail(err, DS_EFORMAT, "%s: cannot look up group /%s", path, group);
    if (!want && e == 0) return DS_OK;
    hid_t grp = -1;
    ds_status st = ds_h5_group_open(f, group, path, &grp, err);
    char attrs[256];
    shape_attrs_text(arch, attrs, sizeof attrs);
    for (int t = 0; st == DS_OK && t < g->nt; t++) {
        const ds_tensor *ts = &g->tensors[t];
        if (ts->trainable != trainable) continue;
        char where[DS_H5_PATH_MAX], need[96], got[96];
        enum { MAX_DIMS = (int)(sizeof ts->dims / sizeof ts->dims[0]) };
        _Static_assert((int)MAX_DIMS <= (int)DS_H5_MAX_RANK, "a tensor's rank must fit an HDF5 shape");
        hsize_t hd[DS_H5_MAX_RANK];
        for (int d = 0; d < ts->ndim && d < MAX_DIMS; d++) hd[d] = (hsize_t)ts->dims[d];
        ds_h5_path(grp, ts->name, where, sizeof where);
        ds_h5_shape_str(ts->ndim, hd, need, sizeof need);
        int have = ds_h5_exists(grp, ts->name);
        if (have < 0) {
            st = ds_h5_fail(err, DS_EFORMAT, "%s: cannot look up %s", path, where);
            break;
        }
        if (have == 0) {
            st = ds_err_set(err, DS_EFORMAT, "%s: %s is missing (expected a float dataset of shape %s "
                            "for the architecture its attributes describe: %s)", path, where, need, attrs);
            break;
        }
        ds_h5_shape sh;
        if ((st = ds_h5_dataset_shape(grp, ts->name, path, &sh, err))) break;
        int same = sh.ndim == ts->ndim;
        for (int d = 0; same && d < ts->ndim; d++) same = sh.dims[d] == hd[d];
        if (!same) {
            ds_h5_shape_str(sh.ndim, sh.dims, got, sizeof got);
            st = ds_err_set(err, DS_EFORMAT, "%s: %s has shape %s, expected %s for the architecture "
                            "its attributes describe (%s)", path, where, got, need, attrs);
        }
    }
    ds_h5_strings names = {0};
    if (!st) st = ds_h5_list_links(grp, path, &names, err);
    for (size_t i = 0; st == DS_OK && i < names.n; i++) {
        int known = 0;
        for (int t = 0; !known && t < g->nt; t++)
            known = g->tensors[t].trainable == trainable && !strcmp(g->tensors[t].name, names.s[i]);
        if (known) continue;
        char where[DS_H5_PATH_MAX];
        ds_h5_path(grp, names.s[i], where, sizeof where);
        st = ds_err_set(err, DS_EFORMAT,
                        "%s: %s is not a %s tensor of the architecture its attributes describe "
                        "(%s): a file for another architecture or options?",
                        path, where, trainable ? "trainable" : "statistics", attrs);
    }
    ds_h5_strings_free(&names);
    return ds_h5_close(&grp, path, st, err);
}

/* Read every tensor of m with the given trainable flag from /group (shapes
 * already checked by check_shapes; types and values are checked here). */
static ds_status read_tensors(hid_t f, const char *group, ds_model *m, int trainable,
                              const char *path, ds_err *err)
{
    int want = 0;
    for (int t = 0; t < m->ntensors; t++) want += m->tensors[t].trainable == trainable;
    if (!want) return DS_OK;
    hid_t g = -1;
    ds_status st = ds_h5_group_open(f, group, path, &g, err);
    for (int t = 0; st == DS_OK && t < m->ntensors; t++) {
        const ds_tensor *ts = &m->tensors[t];
        if (ts->trainable == trainable)
            st = ds_h5_read_f32(g, ts->name, ts->ndim, ts->dims, ds_model_tensor_data(m, t), path, err);
    }
    return ds_h5_close(&g, path, st, err);
}

/* Options and metadata first, checked; then the layout, and every dataset's shape
 * against it; only then are the model's buffers allocated and filled. */
static ds_status read_model(hid_t f, const char *path, ds_model **out, ds_err *err)
{
    ds_arch arch;
    ds_model_meta meta;
    ds_graph g;
    memset(&arch, 0, sizeof arch);
    memset(&meta, 0, sizeof meta);
    memset(&g, 0, sizeof g);
    ds_status st = read_fields(f, arch_fields, NFIELDS(arch_fields), &arch, path, err);
    if (!st) st = read_layout(f, &arch, path, err);
    if (!st && (st = ds_arch_validate(&arch, err)) != DS_OK) (void)ds_err_prefix(err, "%s: ", path);
    if (!st) st = read_fields(f, meta_fields, NFIELDS(meta_fields), &meta, path, err);
    if (!st) st = ds_io_check_preproc(&meta.preproc, path, err);
    if (!st && (st = ds_arch_layout(&arch, &g, err)) != DS_OK) (void)ds_err_prefix(err, "%s: ", path);
    if (!st) st = check_shapes(f, "params", &g, &arch, 1, path, err);
    if (!st) st = check_shapes(f, "stats", &g, &arch, 0, path, err);
    if (st) {
        ds_graph_release(&g);
        return st;
    }
    if ((*out = ds_model_from_graph(&g, &arch, err)) == NULL) /* g is emptied either way */
        return ds_err_prefix(err, "%s: ", path);
    (*out)->meta = meta;
    st = read_tensors(f, "params", *out, 1, path, err);
    if (!st) st = read_tensors(f, "stats", *out, 0, path, err);
    return st;
}

static ds_model *load_direct(const char *path, ds_err *err)
{
    ds_h5_quiet q;
    ds_h5_quiet_begin(&q);
    hid_t f = -1;
    ds_model *m = NULL;
    ds_status st = model_file_open(path, 0, &f, err);
    if (!st) st = read_model(f, path, &m, err);
    st = ds_h5_close(&f, path, st, err);
    ds_h5_quiet_end(&q);
    if (st) {
        ds_model_free(m);
        return NULL;
    }
    return m;
}

static void trial_load(void *path)
{
    ds_err e = {0};
    ds_model_free(load_direct(path, &e));
}

ds_model *ds_model_load(const char *path, ds_err *err)
{
    if (ds_io_trial_parse(path, "model", trial_load, (void *)path, DS_IO_TRIAL_SECONDS, err)) return NULL;
    return load_direct(path, err);
}

/* ------------------------------------------------------------ extra string attributes */

static ds_status check_attr_name(const char *path, const char *name, ds_err *err)
{
    if (!name || !name[0] || strlen(name) > 255)
        return ds_err_set(err, DS_EINVAL, "%s: an attribute name must be 1 to 255 bytes long", path);
    return DS_OK;
}

static ds_status get_attr_direct(const char *path, const char *name, char *buf, size_t len,
                                 int *found, ds_err *err)
{
    *found = 0;
    ds_status st = check_attr_name(path, name, err);
    if (st) return st;
    if (len == 0) return ds_err_set(err, DS_EINVAL, "%s: no room for attribute '%s'", path, name);
    buf[0] = '\0';
    ds_h5_quiet q;
    ds_h5_quiet_begin(&q);
    hid_t f = -1;
    st = model_file_open(path, 0, &f, err);
    int e = st ? 0 : ds_h5_attr_exists(f, name);
    if (e < 0) st = ds_h5_fail(err, DS_EFORMAT, "%s: cannot look up attribute '%s'", path, name);
    if (e > 0 && (st = ds_h5_attr_read_string(f, name, buf, len, path, err)) == DS_OK) *found = 1;
    st = ds_h5_close(&f, path, st, err);
    ds_h5_quiet_end(&q);
    if (st) buf[0] = '\0';
    return st;
}

typedef struct {
    const char *path, *name;
    size_t len;
} attr_trial;

static void trial_get_attr(void *ctx)
{
    const attr_trial *t = ctx;
    char *buf = malloc(t->len);
    int found;
    ds_err e = {0};
    if (buf) (void)get_attr_direct(t->path, t->name, buf, t->len, &found, &e);
    free(buf);
}

ds_status ds_model_file_get_attr_string(const char *path, const char *name, char *buf, size_t len,
                                        int *found, ds_err *err)
{
    *found = 0;
    if (len == 0) return ds_err_set(err, DS_EINVAL, "%s: no room for attribute '%s'", path, name);
    buf[0] = '\0';
    attr_trial t = {path, name, len};
    ds_status st = ds_io_trial_parse(path, "model", trial_get_attr, &t, DS_IO_TRIAL_SECONDS, err);
    return st ? st : get_attr_direct(path, name, buf, len, found, err);
}

/* Refuse protected names and existing attributes that are not strings. */
static ds_status check_settable(hid_t f, const char *name, const char *path, ds_err *err)
{
    for (size_t i = 0; i < NFIELDS(protected_attrs); i++)
        if (!strcmp(name, protected_attrs[i]))
            return ds_err_set(err, DS_EINVAL, "%s: attribute '%s' defines the file and cannot be set",
                              path, name);
    int e = ds_h5_attr_exists(f, name);
    if (e < 0) return ds_h5_fail(err, DS_EFORMAT, "%s: cannot look up attribute '%s'", path, name);
    if (e == 0) return DS_OK;
    ds_h5_strings old;
    ds_status st = ds_h5_attr_read_strings(f, name, path, &old, err);
    ds_h5_strings_free(&old);
    if (st)
        return ds_err_set(err, DS_EINVAL, "%s: attribute '%s' exists and is not a string; not replaced",
                          path, name);
    return DS_OK;
}

/* Set string attribute name = value on the open model file f (named path). */
static ds_status set_attr_string(hid_t f, const char *path, const char *name, const char *value,
                                 ds_err *err)
{
    ds_status st = check_settable(f, name, path, err);
    return st ? st : ds_h5_attr_write_string(f, name, value, path, err);
}

static ds_status check_attr_value(const char *path, const char *name, const char *value, ds_err *err)
{
    ds_status st = check_attr_name(path, name, err);
    if (!st && strlen(value) > DS_MODEL_ATTR_MAX)
        st = ds_err_set(err, DS_ERANGE, "%s: value of attribute '%s' is %zu bytes (at most %d)",
                        path, name, strlen(value), DS_MODEL_ATTR_MAX);
    return st;
}

ds_status ds_model_file_set_attr_string(const char *path, const char *name, const char *value,
                                        ds_err *err)
{
    ds_status st = check_attr_value(path, name, value, err);
    if (st) return st;
    ds_h5_quiet q;
    ds_h5_quiet_begin(&q);
    hid_t f = -1;
    st = model_file_open(path, 1, &f, err);
    if (!st) st = set_attr_string(f, path, name, value, err);
    if (!st) st = ds_h5_mem_commit(&f, path, DS_IO_MODE_KEEP, err);
    st = ds_h5_close(&f, path, st, err);
    ds_h5_quiet_end(&q);
    return st;
}

ds_status ds_model_image_set_attr_string(void **image, size_t *n, const char *name, const char *value,
                                         ds_err *err)
{
    const char *who = "model image";
    if (!image || !*image || !n) return ds_err_set(err, DS_EINVAL, "%s: no image", who);
    ds_status st = check_attr_value(who, name, value, err);
    if (st) return st;
    ds_h5_quiet q;
    ds_h5_quiet_begin(&q);
    hid_t f = -1;
    void *img = NULL;
    size_t len = 0;
    st = ds_h5_mem_open(*image, *n, who, "model", 1, &f, err);
    if (!st) st = ds_h5_check_header(f, who, "model", DS_MODEL_MAGIC, DS_MODEL_FORMAT_CURRENT, keras_hint, err);
    if (!st) st = set_attr_string(f, who, name, value, err);
    if (!st) st = ds_h5_mem_image(f, who, &img, &len, err);
    st = ds_h5_close(&f, who, st, err);
    ds_h5_quiet_end(&q);
    if (st) {
        free(img);
        return st;
    }
    free(*image);
    *image = img;
    *n = len;
    return DS_OK;
}

/* ------------------------------------------------------------ in memory */

ds_status ds_model_save_image(const ds_model *m, void **image, size_t *n, ds_err *err)
{
    if (!image || !n) return ds_err_set(err, DS_EINVAL, "ds_model_save_image: nowhere to put the image");
    *image = NULL;
    *n = 0;
    if (!m) return ds_err_set(err, DS_EINVAL, "ds_model_save_image: no model");
    return model_image(m, "model image", image, n, err);
}

ds_model *ds_model_load_image(const void *image, size_t n, const char *name, ds_err *err)
{
    if (!name) name = "model image";
    ds_h5_quiet q;
    ds_h5_quiet_begin(&q);
    hid_t f = -1;
    ds_model *m = NULL;
    ds_status st = ds_h5_mem_open(image, n, name, "model", 0, &f, err);
    if (!st)
        st = ds_h5_check_header(f, name, "model", DS_MODEL_MAGIC, DS_MODEL_FORMAT_CURRENT, keras_hint,
                                err);
    if (!st) st = read_model(f, name, &m, err);
    st = ds_h5_close(&f, name, st, err);
    ds_h5_quiet_end(&q);
    if (st) {
        ds_model_free(m);
        return NULL;
    }
    return m;
}

/* 1 if the file at path starts like an ONNX model (ds_model_file_is_onnx); 0
 * otherwise, also when it cannot be read (the HDF5 reader then says why). */
static int file_looks_onnx(const char *path)
{
    ds_err e = {0};
    if (ds_io_check_regular(path, &e)) return 0;
    FILE *fp = fopen(path, "rb");
    if (!fp) return 0;
    unsigned char head[8];
    size_t n = fread(head, 1, sizeof head, fp);
    (void)fclose(fp);
    return ds_model_file_is_onnx(head, n);
}

ds_model *ds_model_load_any(const char *path, int *keras, ds_err *err)
{
    int k = 0;
    ds_err e = {0};
    if (keras) *keras = 0;
    if (file_looks_onnx(path)) return ds_model_import_onnx(path, NULL, err);
    ds_model *m = ds_model_load(path, &e);
    if (!m && strstr(e.msg, KERAS_HINT)) { /* ds_model_load read the file and found Keras' layout */
        k = 1;
        m = ds_model_import_keras(path, NULL, err);
    } else if (!m && err) {
        *err = e;
    }
    if (keras) *keras = k;
    return m;
}
