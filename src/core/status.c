/* status.c - error status and message formatting. */
#include "deepsigns/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

ds_status ds_err_set(ds_err *err, ds_status code, const char *fmt, ...)
{
    if (!err) return code;
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return code;
}

ds_status ds_err_prefix(ds_err *err, const char *fmt, ...)
{
    if (!err) return DS_ELIB;
    char head[DS_ERR_MSG_MAX / 2], old[DS_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(head, sizeof head, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    size_t hl = strlen(head);
    memcpy(err->msg, head, hl);
    snprintf(err->msg + hl, sizeof err->msg - hl, "%s", old);
    return err->code;
}

const char *ds_status_name(ds_status code)
{
    switch (code) {
    case DS_OK: return "ok";
    case DS_EINVAL: return "invalid argument";
    case DS_EIO: return "i/o error";
    case DS_EFORMAT: return "bad file format";
    case DS_ENOMEM: return "out of memory";
    case DS_ERANGE: return "value out of range";
    case DS_ENUM: return "numerical failure";
    case DS_ELIB: return "library error";
    case DS_EKEY: return "key error";
    }
    return "unknown error";
}

void ds_err_clear(ds_err *err)
{
    if (!err) return;
    err->code = DS_OK;
    err->msg[0] = '\0';
}
