/* h5util.c - private HDF5 helpers for the model- and key-file code: quiet errors
 * with HDF5's reason appended, one closer for every kind of id, in-memory files
 * written out atomically, magic and version checks, attributes (numeric and
 * string, fixed or variable length), link listing, and typed datasets written
 * without timestamps (float ones read with class, shape and finiteness checks).
 */
#include "io/h5util.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum {
    H5U_MAX_LINKS = 1 << 16,          /* most links (or strings in an attribute) accepted */
    H5U_MAX_STRING_BYTES = 1 << 26,   /* most bytes a string attribute may hold */
};

/* ------------------------------------------------------------ errors and ids */

void ds_h5_quiet_begin(ds_h5_quiet *q)
{
    if (H5Eget_auto2(H5E_DEFAULT, &q->func, &q->data) < 0) {
        q->func = NULL;
        q->data = NULL;
    }
    (void)H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

void ds_h5_quiet_end(const ds_h5_quiet *q)
{
    (void)H5Eset_auto2(H5E_DEFAULT, q->func, q->data);
}

typedef struct detail_buf {
    char *buf;
    size_t len;
} detail_buf;

/* Walking upward starts at the most specific error: keep the first description. */
static herr_t detail_cb(unsigned n, const H5E_error2_t *e, void *data)
{
    detail_buf *d = data;
    if (d->buf[0] == '\0' && e->desc && e->desc[0]) snprintf(d->buf, d->len, "%s", e->desc);
    return 0;
}

void ds_h5_reason(char *buf, size_t len)
{
    if (len == 0) return;
    buf[0] = '\0';
    detail_buf d = {buf, len};
    (void)H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, detail_cb, &d);
}

ds_status ds_h5_fail(ds_err *err, ds_status code, const char *fmt, ...)
{
    char detail[200] = "";
    detail_buf d = {detail, sizeof detail};
    (void)H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, detail_cb, &d);
    char msg[DS_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (detail[0]) return ds_err_set(err, code, "%s (HDF5: %s)", msg, detail);
    return ds_err_set(err, code, "%s", msg);
}

static herr_t close_any(hid_t id)
{
    switch (H5Iget_type(id)) {
    case H5I_FILE: return H5Fclose(id);
    case H5I_GROUP: return H5Gclose(id);
    case H5I_DATASET: return H5Dclose(id);
    case H5I_ATTR: return H5Aclose(id);
    case H5I_DATASPACE: return H5Sclose(id);
    case H5I_DATATYPE: return H5Tclose(id);
    case H5I_GENPROP_LST: return H5Pclose(id);
    default: return -1;
    }
}

ds_status ds_h5_close(hid_t *id, const char *file, ds_status st, ds_err *err)
{
    if (*id < 0) return st;
    herr_t r = close_any(*id);
    *id = -1;
    if (r < 0 && st == DS_OK) return ds_h5_fail(err, DS_ELIB, "%s: closing an HDF5 object failed", file);
    return st;
}

/* ------------------------------------------------------------ in-memory files */

ds_status ds_h5_mem_fapl(const char *file, hid_t *fapl, ds_err *err)
{
    enum { CORE_INCREMENT = 1 << 20 };
    *fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (*fapl < 0 || H5Pset_fapl_core(*fapl, CORE_INCREMENT, 0) < 0 ||
        H5Pset_fclose_degree(*fapl, H5F_CLOSE_SEMI) < 0) {
        ds_status st = ds_h5_fail(err, DS_ELIB, "%s: cannot set up an in-memory HDF5 file", file);
        (void)ds_h5_close(fapl, file, st, err);
        return st;
    }
    return DS_OK;
}

/* A name for an in-memory file that no file on disk can have: HDF5's core
 * driver refuses to open an image under the name of an existing file, and
 * treats two open files of one name as the same file. */
static void mem_unique_name(char *buf, size_t len)
{
    static unsigned long counter;
    snprintf(buf, len, "/dev/null/deepsigns-image-%ld-%lu", (long)getpid(), ++counter);
}

ds_status ds_h5_mem_create(const char *file, hid_t *f, ds_err *err)
{
    char name[96];
    mem_unique_name(name, sizeof name);
    hid_t fapl = -1, fcpl = H5Pcreate(H5P_FILE_CREATE);
    *f = -1;
    ds_status st = ds_h5_mem_fapl(file, &fapl, err);
    if (!st && (fcpl < 0 || H5Pset_obj_track_times(fcpl, 0) < 0 ||
                (*f = H5Fcreate(name, H5F_ACC_TRUNC, fcpl, fapl)) < 0))
        st = ds_h5_fail(err, DS_ELIB, "%s: cannot create an in-memory HDF5 file", file);
    st = ds_h5_close(&fcpl, file, st, err);
    return ds_h5_close(&fapl, file, st, err);
}

ds_status ds_h5_mem_image(hid_t f, const char *file, void **img, size_t *n, ds_err *err)
{
    *img = NULL;
    *n = 0;
    ssize_t len = H5Fflush(f, H5F_SCOPE_GLOBAL) < 0 ? -1 : H5Fget_file_image(f, NULL, 0);
    if (len <= 0) return ds_h5_fail(err, DS_ELIB, "%s: cannot get the HDF5 file image", file);
    unsigned char *buf = malloc((size_t)len);
    if (!buf)
        return ds_err_set(err, DS_ENOMEM, "%s: out of memory for a %zd-byte file image", file, len);
    if (H5Fget_file_image(f, buf, (size_t)len) != len) {
        free(buf);
        return ds_h5_fail(err, DS_ELIB, "%s: cannot get the HDF5 file image", file);
    }
    *img = buf;
    *n = (size_t)len;
    return DS_OK;
}

/* ds_h5_mem_image, then close *f, on every path; on failure *img is NULL. */
static ds_status mem_image(hid_t *f, const char *file, void **img, size_t *n, ds_err *err)
{
    ds_status st = ds_h5_mem_image(*f, file, img, n, err);
    st = ds_h5_close(f, file, st, err);
    if (st) {
        free(*img);
        *img = NULL;
        *n = 0;
    }
    return st;
}

ds_status ds_h5_mem_commit(hid_t *f, const char *file, int mode, ds_err *err)
{
    void *img;
    size_t n;
    ds_status st = mem_image(f, file, &img, &n, err);
    if (!st) st = ds_io_write_atomic(file, img, n, mode, err);
    free(img);
    return st;
}

ds_status ds_h5_mem_build(const char *file, ds_h5_writer *write, const void *obj, void **img,
                          size_t *n, ds_err *err)
{
    *img = NULL;
    *n = 0;
    ds_h5_quiet q;
    ds_h5_quiet_begin(&q);
    hid_t f = -1;
    ds_status st = ds_h5_mem_create(file, &f, err);
    if (!st) st = write(f, obj, file, err);
    if (!st) st = mem_image(&f, file, img, n, err);
    st = ds_h5_close(&f, file, st, err);
    ds_h5_quiet_end(&q);
    return st;
}

ds_status ds_h5_mem_save(const char *file, int mode, ds_h5_writer *write, const void *obj,
                         ds_err *err)
{
    void *img;
    size_t n;
    ds_status st = ds_h5_mem_build(file, write, obj, &img, &n, err);
    if (!st) st = ds_io_write_atomic(file, img, n, mode, err);
    free(img);
    return st;
}

ds_status ds_h5_mem_open(const void *img, size_t n, const char *file, const char *kind,
                         int writable, hid_t *f, ds_err *err)
{
    *f = -1;
    if (!img || n == 0)
        return ds_err_set(err, DS_EFORMAT,
                          "%s: not a readable %s file (truncated or damaged?): it is empty", file,
                          kind);
    char name[96], reason[200];
    mem_unique_name(name, sizeof name);
    hid_t fapl = -1;
    ds_status st = ds_h5_mem_fapl(file, &fapl, err);
    if (st) return st;
    if (H5Pset_file_image(fapl, (void *)img, n) < 0) {
        st = ds_h5_fail(err, DS_ELIB, "%s: cannot hand a %zu-byte file image to HDF5", file, n);
    } else if ((*f = H5Fopen(name, writable ? H5F_ACC_RDWR : H5F_ACC_RDONLY, fapl)) < 0) {
        ds_h5_reason(reason, sizeof reason);
        st = ds_err_set(err, DS_EFORMAT, "%s: not a readable %s file (truncated or damaged?): %s",
                        file, kind, reason[0] ? reason : "HDF5 cannot open it");
    }
    return ds_h5_close(&fapl, file, st, err);
}

/* ------------------------------------------------------------ file headers */

ds_status ds_h5_write_header(hid_t f, const char *file, const char *magic, int version,
                             ds_err *err)
{
    ds_status st = ds_h5_attr_write_string(f, "magic", magic, file, err);
    if (!st)
        st = ds_h5_attr_write(f, "format_version", H5T_STD_I32LE, H5T_NATIVE_INT, &version, 0, file,
                              err);
    return st;
}

static ds_status check_magic(hid_t f, const char *file, const char *kind, const char *want,
                             ds_h5_magic_hint *hint, ds_err *err)
{
    char magic[64];
    int e = ds_h5_attr_exists(f, "magic");
    if (e < 0) return ds_h5_fail(err, DS_EFORMAT, "%s: cannot read the root attributes", file);
    if (e == 0)
        return ds_err_set(err, DS_EFORMAT, "%s: not a deepsigns %s file (no 'magic' attribute)%s", file,
                          kind, hint ? hint(f, NULL) : "");
    if (ds_h5_attr_read_string(f, "magic", magic, sizeof magic, file, err) != DS_OK)
        return ds_err_set(err, DS_EFORMAT,
                          "%s: not a deepsigns %s file (attribute 'magic' is not a short string)",
                          file, kind);
    if (strcmp(magic, want) != 0)
        return ds_err_set(err, DS_EFORMAT,
                          "%s: not a deepsigns %s file (attribute 'magic' is '%s', expected '%s')%s",
                          file, kind, magic, want, hint ? hint(f, magic) : "");
    return DS_OK;
}

ds_status ds_h5_check_header_range(hid_t f, const char *file, const char *kind, const char *magic,
                                   int lo, int hi, ds_h5_magic_hint *hint, int *version, ds_err *err)
{
    ds_status st = check_magic(f, file, kind, magic, hint, err);
    if (st) return st;
    long long v = 0;
    st = ds_h5_attr_read(f, "format_version", H5T_INTEGER, H5T_NATIVE_LLONG, &v, 0, file, err);
    if (st) return st;
    if (v < lo || v > hi) {
        if (lo == hi)
            return ds_err_set(err, DS_EFORMAT,
                              "%s: %s file format version %lld is not supported (this build reads "
                              "version %d; was it written by a newer deepsigns?)",
                              file, kind, v, hi);
        return ds_err_set(err, DS_EFORMAT,
                          "%s: %s file format version %lld is not supported (this build reads "
                          "versions %d to %d; was it written by a newer deepsigns?)",
                          file, kind, v, lo, hi);
    }
    if (version) *version = (int)v;
    return DS_OK;
}

ds_status ds_h5_check_header(hid_t f, const char *file, const char *kind, const char *magic,
                             int version, ds_h5_magic_hint *hint, ds_err *err)
{
    return ds_h5_check_header_range(f, file, kind, magic, version, version, hint, NULL, err);
}

/* ------------------------------------------------------------ paths and links */

void ds_h5_path(hid_t loc, const char *name, char *buf, size_t len)
{
    char base[DS_H5_PATH_MAX] = "";
    if (H5Iget_name(loc, base, sizeof base) <= 0) base[0] = '\0';
    size_t bl = strlen(base);
    const char *sep = (bl > 0 && base[bl - 1] == '/') || name[0] == '\0' ? "" : "/";
    int n = snprintf(buf, len, "%s%s%s", base, sep, name);
    if ((n < 0 || (size_t)n >= len) && len > 4) memcpy(buf + len - 4, "...", 4);
}

/* Is loc/name (one component) a hard link? 1, 0, or -1 on error. */
static int hard_link_exists(hid_t loc, const char *name)
{
    htri_t e = H5Lexists(loc, name, H5P_DEFAULT);
    if (e <= 0) return e < 0 ? -1 : 0;
    H5L_info_t li;
    if (H5Lget_info(loc, name, &li, H5P_DEFAULT) < 0) return -1;
    return li.type == H5L_TYPE_HARD;
}

int ds_h5_exists(hid_t loc, const char *path)
{
    char buf[DS_H5_PATH_MAX];
    if (strlen(path) >= sizeof buf) return 0;
    strcpy(buf, path);
    for (char *p = buf;; p++) {
        if (*p != '/' && *p != '\0') continue;
        char c = *p;
        *p = '\0';
        int e = (p == buf || p[-1] == '/') ? 1 : hard_link_exists(loc, buf);
        if (e <= 0 || c == '\0') return e;
        *p = '/';
    }
}

int ds_h5_obj_is(hid_t loc, const char *name, H5I_type_t type)
{
    int e = hard_link_exists(loc, name);
    if (e <= 0) return e;
    hid_t obj = H5Oopen(loc, name, H5P_DEFAULT);
    if (obj < 0) return -1;
    int is = H5Iget_type(obj) == type;
    return H5Oclose(obj) < 0 ? -1 : is;
}

void ds_h5_strings_free(ds_h5_strings *l)
{
    if (!l) return;
    free(l->s);
    l->s = NULL;
    l->n = 0;
}

/* Room for n strings of `chars` bytes in total (NULs included); s[0] points at the chars. */
static ds_status strings_alloc(ds_h5_strings *l, size_t n, size_t chars, const char *file,
                               ds_err *err)
{
    l->n = n;
    l->s = NULL;
    if (n == 0) return DS_OK;
    l->s = malloc(n * sizeof *l->s + chars);
    if (!l->s) return ds_err_set(err, DS_ENOMEM, "%s: out of memory for %zu names", file, n);
    l->s[0] = (char *)(l->s + n);
    return DS_OK;
}

/* Append src[0..len) as string i (i > 0 follows string i-1). */
static void strings_put(ds_h5_strings *l, size_t i, const char *src, size_t len)
{
    if (i > 0) l->s[i] = l->s[i - 1] + strlen(l->s[i - 1]) + 1;
    memcpy(l->s[i], src, len);
    l->s[i][len] = '\0';
}

/* Names gathered by H5Literate (one pass, whatever the group's storage). */
typedef struct name_acc {
    char *buf;
    size_t len, cap, n;
    int too_many, no_memory;
} name_acc;

static herr_t collect_name(hid_t grp, const char *name, const H5L_info_t *info, void *data)
{
    name_acc *a = data;
    size_t l = strlen(name) + 1;
    if (a->n >= H5U_MAX_LINKS || l > H5U_MAX_STRING_BYTES - a->len) {
        a->too_many = 1;
        return 1;  /* stop */
    }
    if (a->len + l > a->cap) {
        size_t cap = a->cap ? 2 * a->cap : 4096;
        while (cap < a->len + l) cap *= 2;
        char *nb = realloc(a->buf, cap);
        if (!nb) {
            a->no_memory = 1;
            return 1;
        }
        a->buf = nb;
        a->cap = cap;
    }
    memcpy(a->buf + a->len, name, l);
    a->len += l;
    a->n++;
    return 0;
}

ds_status ds_h5_list_links(hid_t grp, const char *file, ds_h5_strings *out, ds_err *err)
{
    char where[DS_H5_PATH_MAX];
    ds_h5_path(grp, "", where, sizeof where);
    out->n = 0;
    out->s = NULL;
    name_acc a = {NULL, 0, 0, 0, 0, 0};
    hsize_t idx = 0;
    ds_status st = DS_OK;
    if (H5Literate(grp, H5_INDEX_NAME, H5_ITER_INC, &idx, collect_name, &a) < 0)
        st = ds_h5_fail(err, DS_EFORMAT, "%s: cannot list group %s", file, where);
    else if (a.no_memory)
        st = ds_err_set(err, DS_ENOMEM, "%s: out of memory listing group %s", file, where);
    else if (a.too_many)
        st = ds_err_set(err, DS_ERANGE, "%s: group %s has too many links (at most %d accepted)", file,
                        where, H5U_MAX_LINKS);
    else
        st = strings_alloc(out, a.n, a.len, file, err);
    for (size_t i = 0, off = 0; st == DS_OK && i < a.n; i++) {
        size_t l = strlen(a.buf + off);
        strings_put(out, i, a.buf + off, l);
        off += l + 1;
    }
    free(a.buf);
    return st;
}

/* ------------------------------------------------------------ attributes */

/* "attribute 'x'" on the root, "attribute 'x' of /grp" elsewhere. */
static void attr_label(hid_t obj, const char *name, char *buf, size_t len)
{
    char where[DS_H5_PATH_MAX];
    ds_h5_path(obj, "", where, sizeof where);
    if (!strcmp(where, "/") || where[0] == '\0')
        snprintf(buf, len, "attribute '%s'", name);
    else
        snprintf(buf, len, "attribute '%s' of %s", name, where);
}

static const char *class_name(H5T_class_t c)
{
    switch (c) {
    case H5T_INTEGER: return "an integer";
    case H5T_FLOAT: return "a float";
    case H5T_STRING: return "a string";
    default: return "of another type";
    }
}

int ds_h5_attr_exists(hid_t obj, const char *name)
{
    htri_t e = H5Aexists(obj, name);
    return e < 0 ? -1 : e > 0;
}

/* Open attribute name into *attr; a missing one is a format error. */
static ds_status attr_open(hid_t obj, const char *name, const char *label, const char *file,
                           hid_t *attr, ds_err *err)
{
    int e = ds_h5_attr_exists(obj, name);
    if (e == 0) return ds_err_set(err, DS_EFORMAT, "%s: %s is missing", file, label);
    *attr = e < 0 ? -1 : H5Aopen(obj, name, H5P_DEFAULT);
    if (*attr < 0) return ds_h5_fail(err, DS_EFORMAT, "%s: cannot open %s", file, label);
    return DS_OK;
}

ds_status ds_h5_attr_write(hid_t obj, const char *name, hid_t file_type, hid_t mem_type,
                           const void *val, int n, const char *file, ds_err *err)
{
    char label[DS_H5_PATH_MAX + 64];
    attr_label(obj, name, label, sizeof label);
    ds_status st = DS_OK;
    hid_t space = -1, attr = -1;
    hsize_t dim = (hsize_t)n;
    int e = ds_h5_attr_exists(obj, name);
    if (e < 0 || (e > 0 && H5Adelete(obj, name) < 0)) {
        st = ds_h5_fail(err, DS_ELIB, "%s: cannot replace %s", file, label);
        goto done;
    }
    space = n > 0 ? H5Screate_simple(1, &dim, NULL) : H5Screate(H5S_SCALAR);
    if (space >= 0) attr = H5Acreate2(obj, name, file_type, space, H5P_DEFAULT, H5P_DEFAULT);
    if (attr < 0 || H5Awrite(attr, mem_type, val) < 0)
        st = ds_h5_fail(err, DS_ELIB, "%s: cannot write %s", file, label);
done:
    st = ds_h5_close(&attr, file, st, err);
    return ds_h5_close(&space, file, st, err);
}

ds_status ds_h5_attr_write_string(hid_t obj, const char *name, const char *s, const char *file,
                                  ds_err *err)
{
    hid_t type = H5Tcopy(H5T_C_S1);
    ds_status st = DS_OK;
    if (type < 0 || H5Tset_size(type, strlen(s) + 1) < 0 || H5Tset_strpad(type, H5T_STR_NULLTERM) < 0 ||
        H5Tset_cset(type, H5T_CSET_UTF8) < 0)
        st = ds_h5_fail(err, DS_ELIB, "%s: cannot make a string type for attribute '%s'", file, name);
    else
        st = ds_h5_attr_write(obj, name, type, type, s, 0, file, err);
    return ds_h5_close(&type, file, st, err);
}

ds_status ds_h5_attr_read(hid_t obj, const char *name, H5T_class_t cls, hid_t mem_type, void *val,
                          int n, const char *file, ds_err *err)
{
    char label[DS_H5_PATH_MAX + 64];
    attr_label(obj, name, label, sizeof label);
    hid_t attr = -1;
    ds_status st = attr_open(obj, name, label, file, &attr, err);
    if (st) return st;
    hid_t type = H5Aget_type(attr), space = H5Aget_space(attr);
    hssize_t npoints = space < 0 ? -1 : H5Sget_simple_extent_npoints(space);
    H5T_class_t got = type < 0 ? H5T_NO_CLASS : H5Tget_class(type);
    long long want = n > 0 ? n : 1;
    if (npoints < 0 || got == H5T_NO_CLASS)
        st = ds_h5_fail(err, DS_EFORMAT, "%s: cannot inspect %s", file, label);
    else if (got != cls)
        st = ds_err_set(err, DS_EFORMAT, "%s: %s is %s, expected %s", file, label, class_name(got),
                        class_name(cls));
    else if (npoints != want)
        st = ds_err_set(err, DS_EFORMAT, "%s: %s has %lld values, expected %lld", file, label,
                        (long long)npoints, want);
    else if (H5Aread(attr, mem_type, val) < 0)
        st = ds_h5_fail(err, DS_EFORMAT, "%s: cannot read %s", file, label);
    st = ds_h5_close(&type, file, st, err);
    st = ds_h5_close(&space, file, st, err);
    return ds_h5_close(&attr, file, st, err);
}

/* Fixed-length strings: n strings of `size` bytes each in raw. */
static ds_status strings_from_fixed(const char *raw, size_t n, size_t size, H5T_str_t pad,
                                    const char *file, ds_h5_strings *out, ds_err *err)
{
    ds_status st = strings_alloc(out, n, n * (size + 1), file, err);
    for (size_t i = 0; st == DS_OK && i < n; i++) {
        const char *s = raw + i * size;
        size_t len = strnlen(s, size);
        while (pad == H5T_STR_SPACEPAD && len > 0 && s[len - 1] == ' ') len--;
        strings_put(out, i, s, len);
    }
    return st;
}

static ds_status strings_from_vlen(char *const *v, size_t n, const char *file, ds_h5_strings *out,
                                   ds_err *err)
{
    size_t chars = 0;
    for (size_t i = 0; i < n; i++) chars += (v[i] ? strlen(v[i]) : 0) + 1;
    ds_status st = strings_alloc(out, n, chars, file, err);
    for (size_t i = 0; st == DS_OK && i < n; i++)
        strings_put(out, i, v[i] ? v[i] : "", v[i] ? strlen(v[i]) : 0);
    return st;
}

/* Read n variable-length strings of attr (file type type) into out; HDF5
 * allocates them and they are reclaimed here. The memory type is a copy of the
 * file type: HDF5 does not convert between ASCII and UTF-8. */
static ds_status read_vlen_strings(hid_t attr, hid_t type, hid_t space, size_t n, const char *label,
                                   const char *file, ds_h5_strings *out, ds_err *err)
{
    ds_status st = DS_OK;
    char **v = calloc(n, sizeof *v);
    hid_t mtype = H5Tcopy(type);
    if (!v) {
        st = ds_err_set(err, DS_ENOMEM, "%s: out of memory for %s", file, label);
    } else if (mtype < 0 || H5Aread(attr, mtype, v) < 0) {
        st = ds_h5_fail(err, DS_EFORMAT, "%s: cannot read %s", file, label);
    } else {
        st = strings_from_vlen(v, n, file, out, err);
        if (H5Dvlen_reclaim(mtype, space, H5P_DEFAULT, v) < 0 && st == DS_OK)
            st = ds_h5_fail(err, DS_ELIB, "%s: cannot release %s", file, label);
    }
    free(v);
    return ds_h5_close(&mtype, file, st, err);
}

static ds_status read_fixed_strings(hid_t attr, hid_t type, size_t n, const char *label,
                                    const char *file, ds_h5_strings *out, ds_err *err)
{
    size_t size = H5Tget_size(type);
    H5T_str_t pad = H5Tget_strpad(type);
    if (size == 0 || pad == H5T_STR_ERROR)
        return ds_h5_fail(err, DS_EFORMAT, "%s: cannot inspect %s", file, label);
    if (size > H5U_MAX_STRING_BYTES / n)
        return ds_err_set(err, DS_ERANGE, "%s: %s is too large (%zu strings of %zu bytes)", file,
                          label, n, size);
    char *raw = malloc(n * size);
    if (!raw) return ds_err_set(err, DS_ENOMEM, "%s: out of memory for %s", file, label);
    ds_status st;
    if (H5Aread(attr, type, raw) < 0)
        st = ds_h5_fail(err, DS_EFORMAT, "%s: cannot read %s", file, label);
    else
        st = strings_from_fixed(raw, n, size, pad, file, out, err);
    free(raw);
    return st;
}

ds_status ds_h5_attr_read_strings(hid_t obj, const char *name, const char *file,
                                  ds_h5_strings *out, ds_err *err)
{
    char label[DS_H5_PATH_MAX + 64];
    attr_label(obj, name, label, sizeof label);
    out->n = 0;
    out->s = NULL;
    hid_t attr = -1;
    ds_status st = attr_open(obj, name, label, file, &attr, err);
    if (st) return st;
    hid_t type = H5Aget_type(attr), space = H5Aget_space(attr);
    hssize_t npoints = space < 0 ? -1 : H5Sget_simple_extent_npoints(space);
    H5T_class_t cls = type < 0 ? H5T_NO_CLASS : H5Tget_class(type);
    htri_t vlen = cls == H5T_STRING ? H5Tis_variable_str(type) : 0;
    if (npoints < 0 || cls == H5T_NO_CLASS || vlen < 0)
        st = ds_h5_fail(err, DS_EFORMAT, "%s: cannot inspect %s", file, label);
    else if (npoints == 0)
        st = DS_OK;  /* an empty list, whatever its type */
    else if (cls != H5T_STRING)
        st = ds_err_set(err, DS_EFORMAT, "%s: %s is %s, expected a string", file, label,
                        class_name(cls));
    else if (npoints > H5U_MAX_LINKS)
        st = ds_err_set(err, DS_ERANGE, "%s: %s holds %lld strings (at most %d accepted)", file,
                        label, (long long)npoints, H5U_MAX_LINKS);
    else if (vlen)
        st = read_vlen_strings(attr, type, space, (size_t)npoints, label, file, out, err);
    else
        st = read_fixed_strings(attr, type, (size_t)npoints, label, file, out, err);
    st = ds_h5_close(&type, file, st, err);
    st = ds_h5_close(&space, file, st, err);
    st = ds_h5_close(&attr, file, st, err);
    if (st) ds_h5_strings_free(out);
    return st;
}

ds_status ds_h5_attr_read_string(hid_t obj, const char *name, char *buf, size_t len,
                                 const char *file, ds_err *err)
{
    ds_h5_strings l;
    ds_status st = ds_h5_attr_read_strings(obj, name, file, &l, err);
    if (st) return st;
    char label[DS_H5_PATH_MAX + 64];
    attr_label(obj, name, label, sizeof label);
    if (l.n != 1)
        st = ds_err_set(err, DS_EFORMAT, "%s: %s holds %zu strings, expected one", file, label, l.n);
    else if (strlen(l.s[0]) >= len)
        st = ds_err_set(err, DS_ERANGE, "%s: %s is %zu bytes long; at most %zu fit", file, label,
                        strlen(l.s[0]), len - 1);
    else
        memcpy(buf, l.s[0], strlen(l.s[0]) + 1);
    ds_h5_strings_free(&l);
    return st;
}

/* ------------------------------------------------------------ groups and datasets */

ds_status ds_h5_group_create(hid_t loc, const char *name, const char *file, hid_t *grp,
                             ds_err *err)
{
    char where[DS_H5_PATH_MAX];
    ds_h5_path(loc, name, where, sizeof where);
    hid_t gcpl = H5Pcreate(H5P_GROUP_CREATE);
    *grp = -1;
    if (gcpl >= 0 && H5Pset_obj_track_times(gcpl, 0) >= 0)
        *grp = H5Gcreate2(loc, name, H5P_DEFAULT, gcpl, H5P_DEFAULT);
    ds_status st = *grp < 0 ? ds_h5_fail(err, DS_EIO, "%s: cannot create group %s", file, where) : DS_OK;
    st = ds_h5_close(&gcpl, file, st, err);
    if (st) (void)ds_h5_close(grp, file, st, err);
    return st;
}

ds_status ds_h5_group_open(hid_t loc, const char *name, const char *file, hid_t *grp, ds_err *err)
{
    char where[DS_H5_PATH_MAX];
    ds_h5_path(loc, name, where, sizeof where);
    int is = ds_h5_obj_is(loc, name, H5I_GROUP);
    *grp = is > 0 ? H5Gopen2(loc, name, H5P_DEFAULT) : -1;
    if (is == 0 && ds_h5_exists(loc, name) == 0)
        return ds_err_set(err, DS_EFORMAT, "%s: group %s is missing", file, where);
    if (is == 0) return ds_err_set(err, DS_EFORMAT, "%s: %s is not a group", file, where);
    if (*grp < 0) return ds_h5_fail(err, DS_EFORMAT, "%s: cannot open group %s", file, where);
    return DS_OK;
}

ds_status ds_h5_dataset_write(hid_t loc, const char *name, hid_t file_type, hid_t mem_type,
                              int ndim, const hsize_t *dims, const void *data, const char *file,
                              ds_err *err)
{
    char where[DS_H5_PATH_MAX];
    ds_h5_path(loc, name, where, sizeof where);
    if (ndim < 1 || ndim > DS_H5_MAX_RANK)
        return ds_err_set(err, DS_EINVAL, "%s: %s: rank %d out of range", file, where, ndim);
    ds_status st = DS_OK;
    hid_t dset = -1, space = H5Screate_simple(ndim, dims, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (space >= 0 && dcpl >= 0 && H5Pset_obj_track_times(dcpl, 0) >= 0)
        dset = H5Dcreate2(loc, name, file_type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (dset < 0)
        st = ds_h5_fail(err, DS_EIO, "%s: cannot create dataset %s", file, where);
    else if (H5Dwrite(dset, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
        st = ds_h5_fail(err, DS_EIO, "%s: cannot write dataset %s", file, where);
    st = ds_h5_close(&dset, file, st, err);
    st = ds_h5_close(&dcpl, file, st, err);
    return ds_h5_close(&space, file, st, err);
}

ds_status ds_h5_dataset_read(hid_t loc, const char *name, hid_t mem_type, void *out,
                             const char *file, ds_err *err)
{
    char where[DS_H5_PATH_MAX];
    ds_h5_path(loc, name, where, sizeof where);
    hid_t dset = H5Dopen2(loc, name, H5P_DEFAULT);
    ds_status st = DS_OK;
    if (dset < 0 || H5Dread(dset, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) < 0)
        st = ds_h5_fail(err, DS_EFORMAT, "%s: cannot read %s", file, where);
    return ds_h5_close(&dset, file, st, err);
}

ds_status ds_h5_write_f32(hid_t loc, const char *name, int ndim, const int *dims,
                          const float *data, const char *file, ds_err *err)
{
    hsize_t hd[DS_H5_MAX_RANK] = {0};
    for (int i = 0; i < ndim && i < DS_H5_MAX_RANK; i++) hd[i] = (hsize_t)dims[i];
    return ds_h5_dataset_write(loc, name, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, ndim, hd, data, file,
                               err);
}

void ds_h5_shape_str(int ndim, const hsize_t *dims, char *buf, size_t len)
{
    if (ndim == 0) {
        snprintf(buf, len, "scalar");
        return;
    }
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < ndim && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%llu", i ? "x" : "",
                                 (unsigned long long)dims[i]);
}

/* Open dataset loc/name (where: its path) into *dset and fill *shape. */
static ds_status dataset_open(hid_t loc, const char *name, const char *where, const char *file,
                              hid_t *dset, ds_h5_shape *shape, ds_err *err)
{
    int e = ds_h5_exists(loc, name);
    if (e == 0) return ds_err_set(err, DS_EFORMAT, "%s: %s is missing", file, where);
    *dset = e < 0 ? -1 : H5Dopen2(loc, name, H5P_DEFAULT);
    if (*dset < 0) return ds_h5_fail(err, DS_EFORMAT, "%s: %s is not a readable dataset", file, where);
    hid_t type = H5Dget_type(*dset), space = H5Dget_space(*dset);
    shape->cls = type < 0 ? H5T_NO_CLASS : H5Tget_class(type);
    shape->ndim = space < 0 ? -1 : H5Sget_simple_extent_ndims(space);
    ds_status st = DS_OK;
    if (shape->cls == H5T_NO_CLASS || shape->ndim < 0)
        st = ds_h5_fail(err, DS_EFORMAT, "%s: cannot inspect dataset %s", file, where);
    else if (shape->ndim > DS_H5_MAX_RANK)
        st = ds_err_set(err, DS_EFORMAT, "%s: %s has rank %d (at most %d accepted)", file, where,
                        shape->ndim, DS_H5_MAX_RANK);
    else if (H5Sget_simple_extent_dims(space, shape->dims, NULL) < 0)
        st = ds_h5_fail(err, DS_EFORMAT, "%s: cannot read the shape of %s", file, where);
    st = ds_h5_close(&type, file, st, err);
    st = ds_h5_close(&space, file, st, err);
    if (st) (void)ds_h5_close(dset, file, st, err);
    return st;
}

ds_status ds_h5_dataset_shape(hid_t loc, const char *name, const char *file, ds_h5_shape *out,
                              ds_err *err)
{
    char where[DS_H5_PATH_MAX];
    ds_h5_path(loc, name, where, sizeof where);
    hid_t dset = -1;
    ds_status st = dataset_open(loc, name, where, file, &dset, out, err);
    return ds_h5_close(&dset, file, st, err);
}

/* Does shape equal dims[ndim]? */
static int shape_equals(const ds_h5_shape *s, int ndim, const int *dims)
{
    if (s->ndim != ndim) return 0;
    for (int i = 0; i < ndim; i++)
        if (s->dims[i] != (hsize_t)dims[i]) return 0;
    return 1;
}

ds_status ds_h5_read_f32(hid_t loc, const char *name, int ndim, const int *dims, float *out,
                         const char *file, ds_err *err)
{
    char where[DS_H5_PATH_MAX], want[96], got[96];
    ds_h5_path(loc, name, where, sizeof where);
    hsize_t hd[DS_H5_MAX_RANK];
    for (int i = 0; i < ndim && i < DS_H5_MAX_RANK; i++) hd[i] = (hsize_t)dims[i];
    ds_h5_shape_str(ndim, hd, want, sizeof want);
    if (ds_h5_exists(loc, name) == 0)
        return ds_err_set(err, DS_EFORMAT, "%s: %s is missing (expected a float dataset of shape %s)",
                          file, where, want);
    ds_h5_shape s;
    hid_t dset = -1;
    ds_status st = dataset_open(loc, name, where, file, &dset, &s, err);
    if (st) return st;
    ds_h5_shape_str(s.ndim, s.dims, got, sizeof got);
    size_t n = 1, bad;
    for (int i = 0; i < ndim; i++) n *= (size_t)dims[i];
    if (s.cls != H5T_FLOAT)
        st = ds_err_set(err, DS_EFORMAT, "%s: %s is %s dataset, expected float", file, where,
                        class_name(s.cls));
    else if (!shape_equals(&s, ndim, dims))
        st = ds_err_set(err, DS_EFORMAT, "%s: %s has shape %s, expected %s", file, where, got, want);
    else if (H5Dread(dset, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) < 0)
        st = ds_h5_fail(err, DS_EFORMAT, "%s: cannot read %s", file, where);
    else if ((bad = ds_io_first_nonfinite(out, n)) < n)
        st = ds_err_set(err, DS_EFORMAT, "%s: %s holds a non-finite value (%g at index %zu)", file,
                        where, (double)out[bad], bad);
    return ds_h5_close(&dset, file, st, err);
}

/* ------------------------------------------------------------ not HDF5 */

/* Write buf[0..n) to fd (tmp), sync it and close it; fd is closed on every path. */
static ds_status fill_tmp(int fd, const unsigned char *buf, size_t n, const char *tmp,
                          const char *path, ds_err *err)
{
    ds_status st = DS_OK;
    while (!st && n > 0) {
        ssize_t w = write(fd, buf, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            st = ds_err_set(err, DS_EIO, "%s: cannot write %s: %s", path, tmp,
                            w < 0 ? strerror(errno) : "no progress");
        } else {
            buf += w;
            n -= (size_t)w;
        }
    }
    if (!st && fsync(fd) != 0)
        st = ds_err_set(err, DS_EIO, "%s: cannot sync %s: %s", path, tmp, strerror(errno));
    if (close(fd) != 0 && !st)
        st = ds_err_set(err, DS_EIO, "%s: cannot close %s: %s", path, tmp, strerror(errno));
    return st;
}

/* Make a rename in path's directory durable (a power loss after it keeps the
 * new file). Best effort: the rename is done and cannot be undone, so a
 * directory that cannot be opened or synced (EINVAL on some file systems) is
 * left as it is. */
static void sync_parent_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char dir[4096];
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == path) snprintf(dir, sizeof dir, "/");
    else if ((size_t)(slash - path) < sizeof dir) snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    else return;
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) return;
    (void)fsync(fd);
    (void)close(fd);
}

ds_status ds_io_write_atomic(const char *path, const void *buf, size_t n, int mode, ds_err *err)
{
    size_t len = strlen(path) + 32;
    char *tmp = malloc(len);
    if (!tmp) return ds_err_set(err, DS_ENOMEM, "%s: out of memory", path);
    snprintf(tmp, len, "%s.tmp.%ld", path, (long)getpid());
    struct stat sb;
    int keep = mode == DS_IO_MODE_KEEP && stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
    int exact = mode >= 0 || keep; /* set the bits whatever the umask */
    mode_t bits = mode >= 0 ? (mode_t)mode & 0777 : keep ? sb.st_mode & 0777 : 0666;
    ds_status st = DS_OK;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, bits), created = fd >= 0;
    if (fd < 0) {
        st = ds_err_set(err, DS_EIO, "%s: cannot create the temporary file %s: %s%s", path, tmp,
                        strerror(errno), errno == EEXIST ? " (left over from a crash? remove it)" : "");
    } else if (exact && fchmod(fd, bits) != 0) {
        st = ds_err_set(err, DS_EIO, "%s: cannot set the mode of %s: %s", path, tmp, strerror(errno));
        (void)close(fd);
    } else {
        st = fill_tmp(fd, buf, n, tmp, path, err);
    }
    if (!st && rename(tmp, path) != 0)
        st = ds_err_set(err, DS_EIO, "%s: cannot rename %s over it: %s", path, tmp, strerror(errno));
    if (st && created) (void)unlink(tmp);
    free(tmp);
    if (!st) sync_parent_dir(path);
    return st;
}

/* ------------------------------------------------------------ shared checks */

size_t ds_io_first_nonfinite(const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return i;
    return n;
}

ds_status ds_io_check_preproc(const ds_preproc *pp, const char *what, ds_err *err)
{
    if (pp->channels < 1 || pp->channels > 3)
        return ds_err_set(err, DS_ERANGE, "%s: preprocessing channels %d out of range [1, 3]", what,
                          pp->channels);
    if (!isfinite(pp->scale) || pp->scale <= 0.0f)
        return ds_err_set(err, DS_ERANGE, "%s: preprocessing scale %g must be finite and positive",
                          what, (double)pp->scale);
    for (int c = 0; c < pp->channels; c++)
        if (!isfinite(pp->mean[c]) || !isfinite(pp->std[c]) || pp->std[c] <= 0.0f)
            return ds_err_set(err, DS_ERANGE,
                              "%s: preprocessing channel %d has mean %g, std %g (need finite, std > 0)",
                              what, c, (double)pp->mean[c], (double)pp->std[c]);
    return DS_OK;
}
