/* npy.h - NumPy .npy arrays (format versions 1, 2 and 3), read for keys made
 * elsewhere (`deepsigns key import`). Only little-endian or byte-sized numeric
 * dtypes in C order are read; the header is validated and the payload's size
 * checked against the file's before anything is allocated.
 */
#ifndef DEEPSIGNS_NPY_H
#define DEEPSIGNS_NPY_H

#include <stddef.h>
#include <stdint.h>

#include "deepsigns/status.h"

enum { DS_NPY_MAX_DIMS = 8 };

/* The element types read (the 'descr' of the header). */
typedef enum ds_npy_dtype {
    DS_NPY_BOOL = 1, /* |b1 */
    DS_NPY_U8,       /* |u1 */
    DS_NPY_I8,       /* |i1 */
    DS_NPY_I32,      /* <i4 */
    DS_NPY_I64,      /* <i8 */
    DS_NPY_F32,      /* <f4 */
    DS_NPY_F64,      /* <f8 */
} ds_npy_dtype;

typedef struct ds_npy {
    ds_npy_dtype dtype;
    int ndim;
    size_t dims[DS_NPY_MAX_DIMS];
    size_t count;             /* product of dims (1 for a 0-d array) */
    void *data;               /* count elements of dtype, as stored (little-endian) */
} ds_npy;

/* Parse a whole .npy file held in buf[n] (name used in messages); at most
 * max_bytes of payload. out->data is malloc'd (ds_npy_free). */
ds_status ds_npy_parse(const void *buf, size_t n, const char *name, size_t max_bytes, ds_npy *out,
                       ds_err *err);
/* Read path (a regular file of at most max_bytes + 64 KiB) and parse it. */
ds_status ds_npy_load(const char *path, size_t max_bytes, ds_npy *out, ds_err *err);
void ds_npy_free(ds_npy *a);  /* accepts NULL */

/* Element i as a double (exact for every dtype but I64 beyond 2^53). */
double ds_npy_get(const ds_npy *a, size_t i);

#endif
