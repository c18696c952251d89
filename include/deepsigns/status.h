/* status.h - error status with a message, returned by every library call.
 *
 * Library functions return ds_status (DS_OK == 0 on success) and, on failure,
 * fill a caller-provided ds_err with the code and a human-readable message that
 * names the file, field or value at fault. Library code never exits; only the
 * CLI turns a status into an exit code. Passing err == NULL is allowed.
 */
#ifndef DEEPSIGNS_STATUS_H
#define DEEPSIGNS_STATUS_H

#include <stddef.h>

typedef enum ds_status {
    DS_OK = 0,
    DS_EINVAL,   /* bad argument or option value */
    DS_EIO,      /* open/read/write failed */
    DS_EFORMAT,  /* file content is malformed, truncated or inconsistent */
    DS_ENOMEM,   /* allocation failed */
    DS_ERANGE,   /* value out of the accepted range */
    DS_ENUM,     /* numerical failure (NaN, divergence) */
    DS_ELIB,     /* a library (HDF5, GSL, MPI, BLAS) reported an error */
    DS_EKEY,     /* wrong or unauthenticated key */
} ds_status;

enum { DS_ERR_MSG_MAX = 512 };

typedef struct ds_err {
    ds_status code;
    char msg[DS_ERR_MSG_MAX];
} ds_err;

/* Record code and a printf-style message into err (if non-NULL); returns code. */
ds_status ds_err_set(ds_err *err, ds_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefix the message already in err with more context ("while loading X: ").
 * Returns err->code, or DS_ELIB when err is NULL, so `return ds_err_prefix(...)`
 * after a failure never returns DS_OK. */
ds_status ds_err_prefix(ds_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Short name of a status code ("invalid argument", ...). */
const char *ds_status_name(ds_status code);

/* Reset err to DS_OK with an empty message. */
void ds_err_clear(ds_err *err);

#endif
