/* model_file.c - the deepsigns model file (HDF5; layout in docs/model-file.md).
 *
 * Saving writes "<path>.tmp.<pid>" without object timestamps, syncs it and
 * renames it over path: the same model always gives the same bytes, and a failed
 * save leaves an existing file as it was. Loading checks the magic and version,
 * validates the architecture before anything large is allocated, then requires
 * every tensor as a finite float dataset of exactly the right shape. Root
 * attributes and struct fields are tied together by one table per struct, so
 * save and load cannot drift apart.
 */
#include "deepsigns/model_file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/h5util.h"

/* ------------------------------------------------------------ attribute tables */

typedef enum field_kind { F_INT, F_FLOAT, F_DOUBLE, F_U64, F_STR } field_kind;

/* A struct member stored as a root attribute. n: number of values (0 = scalar)
 * for numbers, capacity in bytes (NUL included) for strings. */
typedef struct field {
    const char *name;
    field_kind kind;
    size_t off;
    size_t n;
} field;

#define FIELD(T, member, kind, name) {name, kind, offsetof(T, member), 0}
#define FIELD_ARR(T, member, kind, name) \
    {name, kind, offsetof(T, member), sizeof(((T *)0)->member) / sizeof(((T *)0)->member[0])}
#define FIELD_STR(T, member, name) {name, F_STR, offsetof(T, member), sizeof(((T *)0)->member)}

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

enum { FIELD_MAX_VALUES = 3, FIELD_MAX_STR = 512 };

/* Attributes that define the file: never set through ds_model_file_set_attr_string. */
static const char *const protected_attrs[] = {"magic", "format_version", "arch"};

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

/* ------------------------------------------------------------ atomic writes */

static ds_status write_all(int fd, const unsigned char *buf, size_t n, const char *tmp,
                           const char *path, ds_err *err)
{
    while (n > 0) {
        ssize_t w = write(fd, buf, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0)
            return ds_err_set(err, DS_EIO, "%s: cannot write %s: %s", path, tmp,
                              w < 0 ? strerror(errno) : "no progress");
        buf += w;
        n -= (size_t)w;
    }
    return DS_OK;
}

/* Write, sync and close fd (tmp); fd is closed on every path. */
static ds_status fill_tmp(int fd, const unsigned char *buf, size_t n, const char *tmp,
                          const char *path, ds_err *err)
{
    ds_status st = write_all(fd, buf, n, tmp, path, err);
    if (!st && fsync(fd) != 0)
        st = ds_err_set(err, DS_EIO, "%s: cannot sync %s: %s", path, tmp, strerror(errno));
    if (close(fd) != 0 && !st)
        st = ds_err_set(err, DS_EIO, "%s: cannot close %s: %s", path, tmp, strerror(errno));
    return st;
}

/* Replace path by buf[0..n): write "<path>.tmp.<pid>" (created exclusively, with
 * the permission bits of an existing path), sync it and rename it over path.
 * On failure the temporary file is removed and path is untouched. */
static ds_status write_atomically(const char *path, const unsigned char *buf, size_t n, ds_err *err)
{
    size_t len = strlen(path) + 32;
    char *tmp = malloc(len);
    if (!tmp) return ds_err_set(err, DS_ENOMEM, "%s: out of memory", path);
    snprintf(tmp, len, "%s.tmp.%ld", path, (long)getpid());
    struct stat sb;
    int existed = stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
    mode_t mode = existed ? sb.st_mode & 0777 : 0666;
    ds_status st = DS_OK;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, mode), created = fd >= 0;
    if (fd < 0) {
        st = ds_err_set(err, DS_EIO, "%s: cannot create the temporary file %s: %s%s", path, tmp,
                        strerror(errno), errno == EEXIST ? " (left over from a crash? remove it)" : "");
    } else if (existed && fchmod(fd, mode) != 0) { /* exactly the old bits, whatever the umask */
        st = ds_err_set(err, DS_EIO, "%s: cannot set the mode of %s: %s", path, tmp, strerror(errno));
        (void)close(fd);
    } else {
        st = fill_tmp(fd, buf, n, tmp, path, err);
    }
    if (!st && rename(tmp, path) != 0)
        st = ds_err_set(err, DS_EIO, "%s: cannot rename %s over it: %s", path, tmp, strerror(errno));
    if (st && created) (void)unlink(tmp);
    free(tmp);
    return st;
}

/* ------------------------------------------------------------ in-memory files */

/* Files are built in memory (HDF5's core driver, no backing store) and written
 * out whole by write_atomically: HDF5 itself never writes to disk, so a full disk
 * is a clean write() error and never a half-closed HDF5 file. */
static ds_status core_fapl(const char *path, hid_t *fapl, ds_err *err)
{
    enum { CORE_INCREMENT = 1 << 20 };
    *fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (*fapl < 0 || H5Pset_fapl_core(*fapl, CORE_INCREMENT, 0) < 0 ||
        H5Pset_fclose_degree(*fapl, H5F_CLOSE_SEMI) < 0) {
        ds_status st = ds_h5_fail(err, DS_ELIB, "%s: cannot set up an in-memory HDF5 file", path);
        (void)ds_h5_close(fapl, path, st, err);
        return st;
    }
    return DS_OK;
}

/* An empty in-memory file with no timestamps on its root group. */
static ds_status mem_create(const char *path, hid_t *f, ds_err *err)
{
    hid_t fapl = -1, fcpl = H5Pcreate(H5P_FILE_CREATE);
    *f = -1;
    ds_status st = core_fapl(path, &fapl, err);
    if (!st && (fcpl < 0 || H5Pset_obj_track_times(fcpl, 0) < 0 ||
                (*f = H5Fcreate(path, H5F_ACC_TRUNC, fcpl, fapl)) < 0))
        st = ds_h5_fail(err, DS_ELIB, "%s: cannot create an in-memory HDF5 file", path);
    st = ds_h5_close(&fcpl, path, st, err);
    return ds_h5_close(&fapl, path, st, err);
}

/* Flush f, copy its image into a new buffer *img of *n bytes and close f. */
static ds_status mem_finish(hid_t *f, const char *path, unsigned char **img, size_t *n, ds_err *err)
{
    *img = NULL;
    *n = 0;
    ssize_t len = H5Fflush(*f, H5F_SCOPE_GLOBAL) < 0 ? -1 : H5Fget_file_image(*f, NULL, 0);
    ds_status st = DS_OK;
    if (len <= 0)
        st = ds_h5_fail(err, DS_ELIB, "%s: cannot get the HDF5 file image", path);
    else if (!(*img = malloc((size_t)len)))
        st = ds_err_set(err, DS_ENOMEM, "%s: out of memory for a %zd-byte file image", path, len);
    else if (H5Fget_file_image(*f, *img, (size_t)len) != len)
        st = ds_h5_fail(err, DS_ELIB, "%s: cannot get the HDF5 file image", path);
    *n = (size_t)(len > 0 ? len : 0);
    st = ds_h5_close(f, path, st, err);
    if (st) {
        free(*img);
        *img = NULL;
    }
    return st;
}

/* Write the finished in-memory file f to path atomically; f is closed. */
static ds_status mem_commit(hid_t *f, const char *path, ds_err *err)
{
    unsigned char *img;
    size_t n;
    ds_status st = mem_finish(f, path, &img, &n, err);
    if (!st) st = write_atomically(path, img, n, err);
    free(img);
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

static ds_status write_model(hid_t f, const ds_model *m, const char *path, ds_err *err)
{
    int version = DS_MODEL_FORMAT_CURRENT;
    ds_status st = ds_h5_attr_write_string(f, "magic", DS_MODEL_MAGIC, path, err);
    if (!st)
        st = ds_h5_attr_write(f, "format_version", H5T_STD_I32LE, H5T_NATIVE_INT, &version, 0, path,
                              err);
    if (!st) st = write_fields(f, arch_fields, NFIELDS(arch_fields), &m->arch, path, err);
    if (!st) st = write_fields(f, meta_fields, NFIELDS(meta_fields), &m->meta, path, err);
    if (!st) st = write_tensors(f, "params", m, 1, path, err);
    if (!st) st = write_tensors(f, "stats", m, 0, path, err);
    return st;
}

ds_status ds_model_save(const ds_model *m, const char *path, ds_err *err)
{
    ds_status st = check_finite(m, path, err);
    if (st) return st;
    ds_h5_quiet q;
    ds_h5_quiet_begin(&q);
    hid_t f = -1;
    st = mem_create(path, &f, err);
    if (!st) st = write_model(f, m, path, err);
    if (!st) st = mem_commit(&f, path, err);
    st = ds_h5_close(&f, path, st, err);
    ds_h5_quiet_end(&q);
    return st;
}

/* ------------------------------------------------------------ open and check */

static int looks_like_keras(hid_t f)
{
    return ds_h5_attr_exists(f, "layer_names") > 0 || ds_h5_exists(f, "model_weights") > 0;
}

static ds_status check_magic(hid_t f, const char *path, ds_err *err)
{
    char magic[64];
    int e = ds_h5_attr_exists(f, "magic");
    if (e < 0) return ds_h5_fail(err, DS_EFORMAT, "%s: cannot read the root attributes", path);
    if (e == 0)
        return ds_err_set(err, DS_EFORMAT, "%s: not a deepsigns model file (no 'magic' attribute)%s",
                          path, looks_like_keras(f) ? "; it looks like a Keras weights file: "
                                                      "import it with ds_model_import_keras" : "");
    if (ds_h5_attr_read_string(f, "magic", magic, sizeof magic, path, err) != DS_OK)
        return ds_err_set(err, DS_EFORMAT,
                          "%s: not a deepsigns model file (attribute 'magic' is not a short string)",
                          path);
    if (strcmp(magic, DS_MODEL_MAGIC) != 0)
        return ds_err_set(err, DS_EFORMAT,
                          "%s: not a deepsigns model file (attribute 'magic' is '%s', expected '%s')",
                          path, magic, DS_MODEL_MAGIC);
    return DS_OK;
}

static ds_status check_version(hid_t f, const char *path, ds_err *err)
{
    long long v = 0;
    ds_status st = ds_h5_attr_read(f, "format_version", H5T_INTEGER, H5T_NATIVE_LLONG, &v, 0, path, err);
    if (st) return st;
    if (v != DS_MODEL_FORMAT_V1)
        return ds_err_set(err, DS_EFORMAT,
                          "%s: model file format version %lld is not supported (this build reads "
                          "version %d; was it written by a newer deepsigns?)",
                          path, v, (int)DS_MODEL_FORMAT_CURRENT);
    return DS_OK;
}

/* Open path as a deepsigns model file of a known version: read-only from disk,
 * or (writable) as an in-memory copy for mem_commit. HDF5 errors must be quiet. */
static ds_status model_file_open(const char *path, int writable, hid_t *f, ds_err *err)
{
    *f = -1;
    FILE *fp = fopen(path, "rb");
    if (!fp) return ds_err_set(err, DS_EIO, "%s: cannot open: %s", path, strerror(errno));
    (void)fclose(fp);
    hid_t fapl = H5P_DEFAULT;
    ds_status st = writable ? core_fapl(path, &fapl, err) : DS_OK;
    if (st) return st;
    *f = H5Fopen(path, writable ? H5F_ACC_RDWR : H5F_ACC_RDONLY, fapl);
    if (*f < 0) st = ds_h5_fail(err, DS_EFORMAT, "%s: not a readable HDF5 file", path);
    if (writable) st = ds_h5_close(&fapl, path, st, err);
    if (!st) st = check_magic(*f, path, err);
    if (!st) st = check_version(*f, path, err);
    if (st) (void)ds_h5_close(f, path, st, err);
    return st;
}

/* ------------------------------------------------------------ load */

/* Every link in g must name a tensor of m with the given trainable flag. */
static ds_status check_no_extra(hid_t g, const ds_model *m, int trainable, const char *path,
                                ds_err *err)
{
    ds_h5_strings names;
    ds_status st = ds_h5_list_links(g, path, &names, err);
    for (size_t i = 0; st == DS_OK && i < names.n; i++) {
        int t = ds_model_find_tensor(m, names.s[i]);
        if (t >= 0 && m->tensors[t].trainable == trainable) continue;
        char where[DS_H5_PATH_MAX];
        ds_h5_path(g, names.s[i], where, sizeof where);
        st = ds_err_set(err, DS_EFORMAT,
                        "%s: %s is not a %s tensor of this %s model (a file for another "
                        "architecture or options?)",
                        path, where, trainable ? "trainable" : "statistics", m->arch.name);
    }
    ds_h5_strings_free(&names);
    return st;
}

static ds_status read_tensors(hid_t f, const char *group, ds_model *m, int trainable,
                              const char *path, ds_err *err)
{
    int want = 0;
    for (int t = 0; t < m->ntensors; t++) want += m->tensors[t].trainable == trainable;
    if (!want && ds_h5_exists(f, group) == 0) return DS_OK;
    hid_t g = -1;
    ds_status st = ds_h5_group_open(f, group, path, &g, err);
    for (int t = 0; st == DS_OK && t < m->ntensors; t++) {
        const ds_tensor *ts = &m->tensors[t];
        if (ts->trainable == trainable)
            st = ds_h5_read_f32(g, ts->name, ts->ndim, ts->dims, ds_model_tensor_data(m, t), path, err);
    }
    if (!st) st = check_no_extra(g, m, trainable, path, err);
    return ds_h5_close(&g, path, st, err);
}

/* Options and metadata first, checked; only then build and fill the model. */
static ds_status read_model(hid_t f, const char *path, ds_model **out, ds_err *err)
{
    ds_arch arch;
    ds_model_meta meta;
    memset(&arch, 0, sizeof arch);
    memset(&meta, 0, sizeof meta);
    ds_status st = read_fields(f, arch_fields, NFIELDS(arch_fields), &arch, path, err);
    if (!st && (st = ds_arch_validate(&arch, err)) != DS_OK) (void)ds_err_prefix(err, "%s: ", path);
    if (!st) st = read_fields(f, meta_fields, NFIELDS(meta_fields), &meta, path, err);
    if (!st) st = ds_io_check_preproc(&meta.preproc, path, err);
    if (!st && (*out = ds_model_build(&arch, err)) == NULL) {
        st = err ? err->code : DS_EINVAL;
        (void)ds_err_prefix(err, "%s: ", path);
    }
    if (!st) {
        (*out)->meta = meta;
        st = read_tensors(f, "params", *out, 1, path, err);
    }
    if (!st) st = read_tensors(f, "stats", *out, 0, path, err);
    return st;
}

ds_model *ds_model_load(const char *path, ds_err *err)
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

/* ------------------------------------------------------------ extra string attributes */

static ds_status check_attr_name(const char *path, const char *name, ds_err *err)
{
    if (!name || !name[0] || strlen(name) > 255)
        return ds_err_set(err, DS_EINVAL, "%s: an attribute name must be 1 to 255 bytes long", path);
    return DS_OK;
}

ds_status ds_model_file_get_attr_string(const char *path, const char *name, char *buf, size_t len,
                                        int *found, ds_err *err)
{
    *found = 0;
    if (len == 0) return ds_err_set(err, DS_EINVAL, "%s: no room for attribute '%s'", path, name);
    buf[0] = '\0';
    ds_status st = check_attr_name(path, name, err);
    if (st) return st;
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

ds_status ds_model_file_set_attr_string(const char *path, const char *name, const char *value,
                                        ds_err *err)
{
    ds_status st = check_attr_name(path, name, err);
    if (st) return st;
    if (strlen(value) > DS_MODEL_ATTR_MAX)
        return ds_err_set(err, DS_ERANGE, "%s: value of attribute '%s' is %zu bytes (at most %d)",
                          path, name, strlen(value), DS_MODEL_ATTR_MAX);
    ds_h5_quiet q;
    ds_h5_quiet_begin(&q);
    hid_t f = -1;
    st = model_file_open(path, 1, &f, err);
    if (!st) st = check_settable(f, name, path, err);
    if (!st) st = ds_h5_attr_write_string(f, name, value, path, err);
    if (!st) st = mem_commit(&f, path, err);
    st = ds_h5_close(&f, path, st, err);
    ds_h5_quiet_end(&q);
    return st;
}
