/* cifar.c - CIFAR-10 binary batch reader.
 *
 * Each record is 1 label byte then 3072 pixel bytes: 1024 red, 1024 green,
 * 1024 blue, each 32x32 row-major - already [c=3, h=32, w=32]. A file must be
 * a non-zero whole number of records; labels must be 0..9.
 */
#include "deepsigns/data.h"
#include "io/untrusted.h" /* ds_io_check_regular */

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum {
    CIFAR_SIDE = 32,
    CIFAR_CHANNELS = 3,
    CIFAR_PIXELS = CIFAR_CHANNELS * CIFAR_SIDE * CIFAR_SIDE, /* 3072 */
    CIFAR_RECORD = 1 + CIFAR_PIXELS,                         /* 3073 */
    CIFAR_CLASSES = 10,
};

/* Read exactly n bytes of `what` into buf; a short read means a truncated file. */
static ds_status file_read_exact(FILE *f, const char *path, void *buf, size_t n,
                                 const char *what, ds_err *err)
{
    size_t got = fread(buf, 1, n, f);
    if (got == n) return DS_OK;
    if (ferror(f)) return ds_err_set(err, DS_EIO, "%s: read failed: %s", path, strerror(errno));
    return ds_err_set(err, DS_EFORMAT, "%s: truncated: expected %zu bytes of %s, got %zu",
                      path, n, what, got);
}

/* Number of records in the open file, from its size. */
static ds_status cifar_count(FILE *f, const char *path, size_t *records, ds_err *err)
{
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0)
        return ds_err_set(err, DS_EIO, "%s: cannot stat: %s", path, strerror(errno));
    if (!S_ISREG(sb.st_mode))
        return ds_err_set(err, DS_EIO, "%s: not a regular file", path);
    if (sb.st_size <= 0)
        return ds_err_set(err, DS_EFORMAT,
                          "%s: wrong size: the file is empty (a CIFAR-10 batch holds records of "
                          "%d bytes: 1 label byte + %d pixel bytes)", path, CIFAR_RECORD, CIFAR_PIXELS);
    if (sb.st_size % CIFAR_RECORD != 0)
        return ds_err_set(err, DS_EFORMAT,
                          "%s: wrong size: %lld bytes is not a multiple of %d (1 label byte + %d "
                          "pixel bytes per CIFAR-10 record): %lld records and %lld bytes more; "
                          "truncated, or not a CIFAR-10 binary batch",
                          path, (long long)sb.st_size, CIFAR_RECORD, CIFAR_PIXELS,
                          (long long)(sb.st_size / CIFAR_RECORD), (long long)(sb.st_size % CIFAR_RECORD));
    *records = (size_t)(sb.st_size / CIFAR_RECORD);
    return DS_OK;
}

/* Grow d by `more` samples (x and y stay owned by d, also on failure). */
static ds_status cifar_grow(ds_dataset *d, size_t more, const char *path, ds_err *err)
{
    size_t n = d->n + more;
    if (n < more || n > SIZE_MAX / CIFAR_PIXELS)
        return ds_err_set(err, DS_ENOMEM, "%s: %zu records overflow the address space", path, n);
    uint8_t *x = realloc(d->x, n * CIFAR_PIXELS);
    if (x) d->x = x;
    uint8_t *y = x ? realloc(d->y, n) : NULL;
    if (y) d->y = y;
    if (!x || !y)
        return ds_err_set(err, DS_ENOMEM, "%s: out of memory for %zu CIFAR-10 images (%zu bytes)",
                          path, n, n * CIFAR_PIXELS);
    return DS_OK;
}

/* Read `records` records from f into samples d->n.. and check their labels. */
static ds_status cifar_read_records(FILE *f, const char *path, size_t records, ds_dataset *d,
                                    ds_err *err)
{
    for (size_t r = 0; r < records; r++) {
        size_t i = d->n + r;
        ds_status st = file_read_exact(f, path, &d->y[i], 1, "label", err);
        if (!st) st = file_read_exact(f, path, d->x + i * CIFAR_PIXELS, CIFAR_PIXELS, "pixel data", err);
        if (st) return st;
        if (d->y[i] >= CIFAR_CLASSES)
            return ds_err_set(err, DS_EFORMAT, "%s: label out of range at record %zu: %u (expected 0..%d)",
                              path, r, d->y[i], CIFAR_CLASSES - 1);
    }
    if (fgetc(f) != EOF) /* the file grew after we measured it */
        return ds_err_set(err, DS_EFORMAT, "%s: trailing bytes after %zu records", path, records);
    return DS_OK;
}

/* Append every record of one batch file to d. */
static ds_status cifar_append(const char *path, ds_dataset *d, ds_err *err)
{
    ds_status reg = ds_io_check_regular(path, err);
    if (reg) return reg;
    FILE *f = fopen(path, "rb");
    if (!f) return ds_err_set(err, DS_EIO, "%s: cannot open: %s", path, strerror(errno));
    size_t records = 0;
    ds_status st = cifar_count(f, path, &records, err);
    if (!st) st = cifar_grow(d, records, path, err);
    if (!st) st = cifar_read_records(f, path, records, d, err);
    if (!st) d->n += records;
    fclose(f); /* read-only: nothing to lose on a failed close */
    return st;
}

ds_status ds_cifar10_load(const char *const *paths, int npaths, ds_dataset *out, ds_err *err)
{
    if (!out) return ds_err_set(err, DS_EINVAL, "ds_cifar10_load: out is NULL");
    memset(out, 0, sizeof *out);
    if (!paths || npaths < 1)
        return ds_err_set(err, DS_EINVAL, "ds_cifar10_load: no batch files given");
    ds_dataset d = {.c = CIFAR_CHANNELS, .h = CIFAR_SIDE, .w = CIFAR_SIDE,
                    .num_classes = CIFAR_CLASSES, .owns = 1};
    for (int i = 0; i < npaths; i++) {
        ds_status st = paths[i] ? cifar_append(paths[i], &d, err)
                                : ds_err_set(err, DS_EINVAL, "ds_cifar10_load: paths[%d] is NULL", i);
        if (st) {
            ds_dataset_free(&d);
            return st;
        }
    }
    *out = d;
    return DS_OK;
}
