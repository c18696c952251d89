/* idx.c - MNIST / Fashion-MNIST IDX reader, raw or gzipped (zlib's gzread
 * reads both transparently).
 *
 * An IDX file is a big-endian header - magic 0x000008DD (unsigned bytes, DD
 * dimensions) then one 32-bit size per dimension - followed by the data.
 * Images: magic 0x00000803, [n, rows, cols]; labels: magic 0x00000801, [n].
 * The data must be exactly as long as the header announces.
 */
#include "deepsigns/data.h"
#include "io/untrusted.h" /* ds_io_check_regular */

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define IDX_MAGIC_IMAGES 0x00000803u
#define IDX_MAGIC_LABELS 0x00000801u
enum {
    IDX_MAX_SIDE = 4096,   /* largest accepted rows or cols */
    IDX_CHUNK = 1 << 30,   /* largest single gzread (its length is an unsigned int) */
    IDX_FIRST_ALLOC = 1 << 26, /* 64 MiB; data buffers grow past this only as data arrives */
};

/* An open IDX file and what its header announces. */
typedef struct idx_file {
    const char *path;
    const char *kind;      /* "image" or "label", for messages */
    gzFile gz;
    size_t header_bytes;
    uint32_t n;            /* number of items */
    uint32_t rows, cols;   /* 1 x 1 for label files */
} idx_file;

static uint32_t be32(const uint8_t b[4])
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | (uint32_t)b[3];
}

static ds_status gz_fail(const idx_file *f, ds_err *err)
{
    int zerr = Z_OK;
    const char *zmsg = gzerror(f->gz, &zerr);
    return ds_err_set(err, DS_EIO, "%s: read failed: %s", f->path,
                      zerr == Z_ERRNO ? strerror(errno) : zmsg);
}

/* Read up to n bytes into buf, stopping early only at the end of the file. */
static ds_status gz_read_upto(const idx_file *f, uint8_t *buf, size_t n, size_t *got, ds_err *err)
{
    *got = 0;
    while (*got < n) {
        size_t want = n - *got < (size_t)IDX_CHUNK ? n - *got : (size_t)IDX_CHUNK;
        int r = gzread(f->gz, buf + *got, (unsigned)want);
        if (r < 0) return gz_fail(f, err);
        if (r == 0) break;
        *got += (size_t)r;
    }
    return DS_OK;
}

/* Once the header is read (f->n set), the message says where the expected size comes from. */
static ds_status truncated(const idx_file *f, size_t n, size_t got, const char *what, ds_err *err)
{
    char why[96] = "";
    if (f->n && !strcmp(f->kind, "image"))
        snprintf(why, sizeof why, " (its header announces %u images of %ux%u)", f->n, f->rows, f->cols);
    else if (f->n)
        snprintf(why, sizeof why, " (its header announces %u labels)", f->n);
    return ds_err_set(err, DS_EFORMAT, "%s: truncated: expected %zu bytes of %s, got %zu%s",
                      f->path, n, what, got, why);
}

/* Read exactly n bytes of `what` into buf. */
static ds_status gz_read_exact(const idx_file *f, uint8_t *buf, size_t n, const char *what,
                               ds_err *err)
{
    size_t got = 0;
    ds_status st = gz_read_upto(f, buf, n, &got, err);
    return st ? st : got < n ? truncated(f, n, got, what, err) : DS_OK;
}

/* Read exactly n bytes of `what` into a new heap buffer *out (freed by the caller, also on
 * failure). The buffer grows as data arrives, so a header announcing more than the file
 * holds fails as truncated rather than as one huge allocation. */
static ds_status gz_read_alloc(const idx_file *f, size_t n, const char *what, uint8_t **out,
                               ds_err *err)
{
    size_t cap = n < (size_t)IDX_FIRST_ALLOC ? n : (size_t)IDX_FIRST_ALLOC, got = 0;
    *out = malloc(cap);
    for (;;) {
        if (!*out) break;
        size_t more = 0;
        ds_status st = gz_read_upto(f, *out + got, cap - got, &more, err);
        if (st) return st;
        got += more;
        if (got < cap) return truncated(f, n, got, what, err);
        if (cap == n) return DS_OK;
        size_t next = cap > n / 2 ? n : 2 * cap;
        uint8_t *grown = realloc(*out, next);
        if (!grown) break;
        *out = grown;
        cap = next;
    }
    return ds_err_set(err, DS_ENOMEM, "%s: out of memory reading %zu bytes of %s", f->path, n, what);
}

/* After `data_bytes` of data the file must end. */
static ds_status gz_expect_end(const idx_file *f, size_t data_bytes, ds_err *err)
{
    uint8_t buf[4096];
    size_t extra = 0;
    int r;
    while ((r = gzread(f->gz, buf, sizeof buf)) > 0) extra += (size_t)r;
    if (r < 0) return gz_fail(f, err);
    if (extra)
        return ds_err_set(err, DS_EFORMAT,
                          "%s: trailing bytes: %zu after the %zu bytes its header announces "
                          "(%u %ss)", f->path, extra, f->header_bytes + data_bytes, f->n,
                          f->kind);
    return DS_OK;
}

static ds_status check_magic(const idx_file *f, uint32_t magic, uint32_t expected, ds_err *err)
{
    if (magic == expected) return DS_OK;
    char hint[96] = "";
    if ((magic & 0xFFFFFF00u) == 0x00000800u)
        snprintf(hint, sizeof hint, "; this is an IDX file with %u dimension(s), not %u",
                 magic & 0xFFu, expected & 0xFFu);
    return ds_err_set(err, DS_EFORMAT, "%s: bad magic 0x%08x (expected 0x%08x for an IDX %s file%s)",
                      f->path, magic, expected, f->kind, hint);
}

/* Open f->path and read and validate its header; magic selects images or labels. */
static ds_status idx_open(idx_file *f, const char *path, uint32_t magic, ds_err *err)
{
    unsigned ndims = magic & 0xFFu; /* 3 or 1 */
    uint8_t hdr[16];
    f->path = path;
    f->kind = ndims == 3 ? "image" : "label";
    f->rows = f->cols = 1;
    f->header_bytes = 4 + 4 * (size_t)ndims;
    ds_status reg = ds_io_check_regular(path, err);
    if (reg) return reg;
    errno = 0;
    f->gz = gzopen(path, "rb");
    if (!f->gz)
        return ds_err_set(err, DS_EIO, "%s: cannot open: %s", path,
                          errno ? strerror(errno) : "out of memory");
    ds_status st = gz_read_exact(f, hdr, 4, "header", err);
    if (!st) st = check_magic(f, be32(hdr), magic, err);
    if (!st) st = gz_read_exact(f, hdr + 4, f->header_bytes - 4, "header", err);
    if (st) return st;
    f->n = be32(hdr + 4);
    if (f->n == 0) return ds_err_set(err, DS_EFORMAT, "%s: header announces 0 %ss", path, f->kind);
    if (ndims == 3) {
        f->rows = be32(hdr + 8);
        f->cols = be32(hdr + 12);
        if (f->rows == 0 || f->cols == 0 || f->rows > IDX_MAX_SIDE || f->cols > IDX_MAX_SIDE)
            return ds_err_set(err, DS_EFORMAT, "%s: bad image size %ux%u (rows and cols must be 1..%d)",
                              path, f->rows, f->cols, IDX_MAX_SIDE);
    }
    return DS_OK;
}

static void idx_close(idx_file *f)
{
    if (f->gz) (void)gzclose(f->gz); /* read-only: nothing to lose on a failed close */
    f->gz = NULL;
}

/* The shape of d from the header of im. */
static ds_status idx_shape(ds_dataset *d, const idx_file *im, int num_classes, ds_err *err)
{
    size_t per = (size_t)im->rows * im->cols; /* <= 4096^2, cannot overflow */
    if (im->n > SIZE_MAX / per)
        return ds_err_set(err, DS_EFORMAT, "%s: %u images of %ux%u overflow the address space",
                          im->path, im->n, im->rows, im->cols);
    d->n = im->n;
    d->c = 1;
    d->h = (int)im->rows;
    d->w = (int)im->cols;
    d->num_classes = num_classes;
    return DS_OK;
}

/* Read the whole data section of f (bytes long) into *buf and check that the file ends there. */
static ds_status idx_read_data(const idx_file *f, size_t bytes, const char *what, uint8_t **buf,
                               ds_err *err)
{
    ds_status st = gz_read_alloc(f, bytes, what, buf, err);
    return st ? st : gz_expect_end(f, bytes, err);
}

static ds_status idx_check_labels(const ds_dataset *d, const char *path, ds_err *err)
{
    for (size_t i = 0; i < d->n; i++)
        if (d->y[i] >= d->num_classes)
            return ds_err_set(err, DS_EFORMAT, "%s: label out of range at index %zu: %u (expected 0..%d)",
                              path, i, d->y[i], d->num_classes - 1);
    return DS_OK;
}

ds_status ds_idx_load(const char *images_path, const char *labels_path, int num_classes,
                      ds_dataset *out, ds_err *err)
{
    if (!out) return ds_err_set(err, DS_EINVAL, "ds_idx_load: out is NULL");
    memset(out, 0, sizeof *out);
    if (!images_path || !labels_path)
        return ds_err_set(err, DS_EINVAL, "ds_idx_load: image or label path is NULL");
    if (num_classes < 1 || num_classes > 256)
        return ds_err_set(err, DS_EINVAL, "ds_idx_load: num_classes %d is not in 1..256", num_classes);

    idx_file im = {0}, lb = {0};
    ds_dataset d = {.owns = 1};
    ds_status st = idx_open(&im, images_path, IDX_MAGIC_IMAGES, err);
    if (!st) st = idx_open(&lb, labels_path, IDX_MAGIC_LABELS, err);
    if (!st && im.n != lb.n)
        st = ds_err_set(err, DS_EFORMAT, "count mismatch: %s has %u images but %s has %u labels",
                        images_path, im.n, labels_path, lb.n);
    if (!st) st = idx_shape(&d, &im, num_classes, err);
    if (!st) st = idx_read_data(&im, d.n * (size_t)d.h * (size_t)d.w, "pixel data", &d.x, err);
    if (!st) st = idx_read_data(&lb, d.n, "label data", &d.y, err);
    if (!st) st = idx_check_labels(&d, labels_path, err);
    idx_close(&im);
    idx_close(&lb);
    if (st) {
        ds_dataset_free(&d);
        return st;
    }
    *out = d;
    return DS_OK;
}
