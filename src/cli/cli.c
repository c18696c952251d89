/* cli.c - option parsing, error printing and data loading shared by subcommands. */
#include "cli/cli.h"

#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

int cli_fail(const char *cmd, const ds_err *err)
{
    fprintf(stderr, "deepsigns %s: error: %s\n", cmd, err->msg[0] ? err->msg : ds_status_name(err->code));
    return CLI_EXIT_ERROR;
}

int cli_failf(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "deepsigns %s: error: ", cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return CLI_EXIT_ERROR;
}

ds_status cli_parse_int(const char *opt, const char *s, long lo, long hi, long *out, ds_err *err)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end)
        return ds_err_set(err, DS_EINVAL, "%s: '%s' is not an integer", opt, s);
    if (v < lo || v > hi)
        return ds_err_set(err, DS_ERANGE, "%s: %ld is out of range [%ld, %ld]", opt, v, lo, hi);
    *out = v;
    return DS_OK;
}

ds_status cli_parse_u64(const char *opt, const char *s, uint64_t *out, ds_err *err)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || end == s || *end || *s == '-')
        return ds_err_set(err, DS_EINVAL, "%s: '%s' is not a non-negative integer", opt, s);
    *out = v;
    return DS_OK;
}

ds_status cli_parse_float(const char *opt, const char *s, double lo, double hi, double *out, ds_err *err)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v))
        return ds_err_set(err, DS_EINVAL, "%s: '%s' is not a number", opt, s);
    if (v < lo || v > hi)
        return ds_err_set(err, DS_ERANGE, "%s: %g is out of range [%g, %g]", opt, v, lo, hi);
    *out = v;
    return DS_OK;
}

void cli_set_threads(int threads)
{
    if (threads > 0) openblas_set_num_threads(threads);
}

ds_status cli_load_data(const char *dir, ds_data_format fmt, ds_dataset *train, ds_dataset *test,
                        ds_err *err)
{
    return ds_data_load_dir(dir ? dir : DS_DEFAULT_DATA_DIR, fmt, train, test, err);
}

void cli_json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}
