/* npy.c - the NumPy .npy reader (include/deepsigns/npy.h).
 *
 * Layout: the magic "\x93NUMPY", major and minor version bytes, the header
 * length (uint16 little-endian in version 1, uint32 in 2 and 3), then the
 * header: an ASCII (version 3: UTF-8) Python dict literal
 * {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), } padded with
 * spaces to a newline, then the payload. The dict is parsed for exactly those
 * three keys, in any order; anything else (an object dtype, a structured one,
 * big-endian data, Fortran order, a payload of another size) is refused with
 * a message naming the file.
 */
#include "deepsigns/npy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define NPY_MAGIC "\x93NUMPY"
enum { NPY_MAGIC_LEN = 6, NPY_HEADER_MAX = 65536 };

typedef struct dtype_name {
    const char *descr;
    ds_npy_dtype dtype;
    size_t size;
} dtype_name;

static const dtype_name dtypes[] = {
    {"|b1", DS_NPY_BOOL, 1}, {"|u1", DS_NPY_U8, 1}, {"|i1", DS_NPY_I8, 1},
    {"<i4", DS_NPY_I32, 4},  {"<i8", DS_NPY_I64, 8}, {"<f4", DS_NPY_F32, 4},
    {"<f8", DS_NPY_F64, 8},
};

static size_t dtype_size(ds_npy_dtype t)
{
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (dtypes[i].dtype == t) return dtypes[i].size;
    return 0;
}

void ds_npy_free(ds_npy *a)
{
    if (!a) return;
    free(a->data);
    memset(a, 0, sizeof *a);
}

/* A cursor over the header text. */
typedef struct hdr {
    const char *p, *end;
    const char *name;
} hdr;

static void skip_space(hdr *h)
{
    while (h->p < h->end && (*h->p == ' ' || *h->p == '\t' || *h->p == '\n' || *h->p == '\r')) h->p++;
}

static int take(hdr *h, char c)
{
    skip_space(h);
    if (h->p < h->end && *h->p == c) {
        h->p++;
        return 1;
    }
    return 0;
}

/* A quoted string ('...' or "...") of at most cap - 1 bytes into s. */
static ds_status read_string(hdr *h, char *s, size_t cap, ds_err *err)
{
    skip_space(h);
    if (h->p >= h->end || (*h->p != '\'' && *h->p != '"'))
        return ds_err_set(err, DS_EFORMAT, "%s: .npy header: expected a quoted string", h->name);
    const char q = *h->p++;
    size_t n = 0;
    while (h->p < h->end && *h->p != q) {
        if (n + 1 >= cap)
            return ds_err_set(err, DS_EFORMAT, "%s: .npy header: a string is too long", h->name);
        s[n++] = *h->p++;
    }
    if (h->p >= h->end) return ds_err_set(err, DS_EFORMAT, "%s: .npy header: unterminated string", h->name);
    h->p++;
    s[n] = '\0';
    return DS_OK;
}

static ds_status read_descr(hdr *h, ds_npy *out, ds_err *err)
{
    char d[32];
    ds_status st = read_string(h, d, sizeof d, err);
    if (st) return st;
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++) {
        /* a byte-sized type may also be written with '<' or '=' */
        const char *want = dtypes[i].descr;
        if (!strcmp(d, want) || (want[0] == '|' && (d[0] == '<' || d[0] == '=') && !strcmp(d + 1, want + 1))) {
            out->dtype = dtypes[i].dtype;
            return DS_OK;
        }
    }
    return ds_err_set(err, DS_EFORMAT, "%s: .npy dtype '%s' is not read (expected one of bool, uint8, "
                      "int8, little-endian int32, int64, float32, float64)", h->name, d);
}

static ds_status read_bool(hdr *h, int *v, ds_err *err)
{
    skip_space(h);
    if (h->end - h->p >= 4 && !memcmp(h->p, "True", 4)) { h->p += 4; *v = 1; return DS_OK; }
    if (h->end - h->p >= 5 && !memcmp(h->p, "False", 5)) { h->p += 5; *v = 0; return DS_OK; }
    return ds_err_set(err, DS_EFORMAT, "%s: .npy header: 'fortran_order' is not True or False", h->name);
}

/* (d0, d1, ...) with a trailing comma allowed; each dimension below 2^40. */
static ds_status read_shape(hdr *h, ds_npy *out, ds_err *err)
{
    if (!take(h, '(')) return ds_err_set(err, DS_EFORMAT, "%s: .npy header: 'shape' is not a tuple", h->name);
    out->ndim = 0;
    for (;;) {
        if (take(h, ')')) return DS_OK;
        skip_space(h);
        size_t v = 0;
        int digits = 0;
        while (h->p < h->end && *h->p >= '0' && *h->p <= '9') {
            v = v * 10 + (size_t)(*h->p++ - '0');
            if (++digits > 12)
                return ds_err_set(err, DS_ERANGE, "%s: .npy shape: a dimension is absurdly large", h->name);
        }
        if (!digits) return ds_err_set(err, DS_EFORMAT, "%s: .npy header: 'shape' holds a non-integer", h->name);
        if (out->ndim == DS_NPY_MAX_DIMS)
            return ds_err_set(err, DS_ERANGE, "%s: .npy shape has more than %d dimensions", h->name,
                              DS_NPY_MAX_DIMS);
        out->dims[out->ndim++] = v;
        if (!take(h, ',') && !(skip_space(h), h->p < h->end && *h->p == ')'))
            return ds_err_set(err, DS_EFORMAT, "%s: .npy header: malformed 'shape'", h->name);
    }
}

/* The dict: each of the three keys exactly once. */
static ds_status read_dict(hdr *h, ds_npy *out, ds_err *err)
{
    int seen_descr = 0, seen_order = 0, seen_shape = 0, fortran = 0;
    if (!take(h, '{')) return ds_err_set(err, DS_EFORMAT, "%s: .npy header is not a dict", h->name);
    ds_status st = DS_OK;
    while (!st && !take(h, '}')) {
        char key[32];
        if ((st = read_string(h, key, sizeof key, err))) break;
        if (!take(h, ':')) return ds_err_set(err, DS_EFORMAT, "%s: .npy header: ':' expected after '%s'", h->name, key);
        int *seen = !strcmp(key, "descr") ? &seen_descr : !strcmp(key, "fortran_order") ? &seen_order
                    : !strcmp(key, "shape") ? &seen_shape : NULL;
        if (!seen) return ds_err_set(err, DS_EFORMAT, "%s: .npy header: unexpected key '%s'", h->name, key);
        if ((*seen)++) return ds_err_set(err, DS_EFORMAT, "%s: .npy header: key '%s' twice", h->name, key);
        st = seen == &seen_descr ? read_descr(h, out, err)
             : seen == &seen_order ? read_bool(h, &fortran, err) : read_shape(h, out, err);
        if (!st && !take(h, ',') && !(skip_space(h), h->p < h->end && *h->p == '}'))
            st = ds_err_set(err, DS_EFORMAT, "%s: .npy header: ',' or '}' expected", h->name);
    }
    if (st) return st;
    if (!seen_descr || !seen_order || !seen_shape)
        return ds_err_set(err, DS_EFORMAT, "%s: .npy header lacks %s", h->name,
                          !seen_descr ? "'descr'" : !seen_order ? "'fortran_order'" : "'shape'");
    if (fortran)
        return ds_err_set(err, DS_EFORMAT, "%s: .npy array is in Fortran order (save it with "
                          "np.ascontiguousarray first)", h->name);
    return DS_OK;
}

ds_status ds_npy_parse(const void *vbuf, size_t n, const char *name, size_t max_bytes, ds_npy *out,
                       ds_err *err)
{
    memset(out, 0, sizeof *out);
    const unsigned char *buf = vbuf;
    if (n < NPY_MAGIC_LEN + 4 || memcmp(buf, NPY_MAGIC, NPY_MAGIC_LEN))
        return ds_err_set(err, DS_EFORMAT, "%s: not a .npy file (no \\x93NUMPY magic)", name);
    const int major = buf[6];
    size_t hlen, off;
    if (major == 1) {
        hlen = (size_t)buf[8] | (size_t)buf[9] << 8;
        off = 10;
    } else if (major == 2 || major == 3) {
        if (n < 12) return ds_err_set(err, DS_EFORMAT, "%s: truncated .npy header", name);
        hlen = (size_t)buf[8] | (size_t)buf[9] << 8 | (size_t)buf[10] << 16 | (size_t)buf[11] << 24;
        off = 12;
    } else {
        return ds_err_set(err, DS_EFORMAT, "%s: .npy format version %d.%d is not read (1 to 3)", name,
                          major, buf[7]);
    }
    if (hlen > NPY_HEADER_MAX || hlen > n - off)
        return ds_err_set(err, DS_EFORMAT, "%s: .npy header of %zu bytes does not fit the file", name, hlen);
    hdr h = {(const char *)buf + off, (const char *)buf + off + hlen, name};
    ds_status st = read_dict(&h, out, err);
    if (st) return st;
    out->count = 1;
    for (int i = 0; i < out->ndim; i++) {
        if (out->dims[i] && out->count > SIZE_MAX / out->dims[i])
            return ds_err_set(err, DS_ERANGE, "%s: .npy shape overflows", name);
        out->count *= out->dims[i];
    }
    const size_t size = dtype_size(out->dtype), payload = n - off - hlen;
    if (out->count > max_bytes / size)
        return ds_err_set(err, DS_ERANGE, "%s: .npy array of %zu elements exceeds the %zu bytes allowed",
                          name, out->count, max_bytes);
    if (payload != out->count * size)
        return ds_err_set(err, DS_EFORMAT, "%s: .npy payload is %zu bytes, the shape and dtype call for %zu "
                          "(truncated or padded file)", name, payload, out->count * size);
    if (!(out->data = malloc(payload ? payload : 1)))
        return ds_err_set(err, DS_ENOMEM, "%s: out of memory for %zu bytes", name, payload);
    memcpy(out->data, buf + off + hlen, payload);
    return DS_OK;
}

ds_status ds_npy_load(const char *path, size_t max_bytes, ds_npy *out, ds_err *err)
{
    memset(out, 0, sizeof *out);
    struct stat sb;
    if (stat(path, &sb) != 0) return ds_err_set(err, DS_EIO, "%s: cannot open: %s", path, strerror(errno));
    if (!S_ISREG(sb.st_mode)) return ds_err_set(err, DS_EIO, "%s: not a regular file", path);
    if ((uint64_t)sb.st_size > (uint64_t)max_bytes + NPY_HEADER_MAX + 16)
        return ds_err_set(err, DS_ERANGE, "%s: %lld bytes is larger than the %zu bytes allowed", path,
                          (long long)sb.st_size, max_bytes);
    FILE *f = fopen(path, "rb");
    if (!f) return ds_err_set(err, DS_EIO, "%s: cannot open: %s", path, strerror(errno));
    size_t n = (size_t)sb.st_size;
    unsigned char *buf = malloc(n ? n : 1);
    ds_status st = DS_OK;
    if (!buf) st = ds_err_set(err, DS_ENOMEM, "%s: out of memory for %zu bytes", path, n);
    else if (fread(buf, 1, n, f) != n) st = ds_err_set(err, DS_EIO, "%s: read failed", path);
    fclose(f);
    if (!st) st = ds_npy_parse(buf, n, path, max_bytes, out, err);
    free(buf);
    return st;
}

/* Little-endian bytes to host values, one element. */
static uint64_t le(const unsigned char *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

double ds_npy_get(const ds_npy *a, size_t i)
{
    const unsigned char *p = (const unsigned char *)a->data + i * dtype_size(a->dtype);
    switch (a->dtype) {
    case DS_NPY_BOOL: return p[0] != 0;
    case DS_NPY_U8: return p[0];
    case DS_NPY_I8: return (int8_t)p[0];
    case DS_NPY_I32: return (int32_t)(uint32_t)le(p, 4);
    case DS_NPY_I64: return (double)(int64_t)le(p, 8);
    case DS_NPY_F32: {
        uint32_t u = (uint32_t)le(p, 4);
        float f;
        memcpy(&f, &u, sizeof f);
        return f;
    }
    default: {
        uint64_t u = le(p, 8);
        double d;
        memcpy(&d, &u, sizeof d);
        return d;
    }
    }
}
