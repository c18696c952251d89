/* cli.h - shared pieces of the deepsigns subcommands: option parsing with
 * range checks, data loading with the standard split, error reporting. Only
 * the CLI prints errors and chooses exit codes. */
#ifndef DEEPSIGNS_CLI_H
#define DEEPSIGNS_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "deepsigns/data.h"
#include "deepsigns/status.h"

/* Exit codes: 0 success (or "owned" for verify), 1 a negative verdict, 2 an error. */
enum { CLI_EXIT_OK = 0, CLI_EXIT_NO = 1, CLI_EXIT_ERROR = 2 };

/* Print "deepsigns CMD: <message>" to stderr and return CLI_EXIT_ERROR. */
int cli_fail(const char *cmd, const ds_err *err);
int cli_failf(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Parse a whole-string number within [lo, hi]; the option name goes in the message. */
ds_status cli_parse_int(const char *opt, const char *s, long lo, long hi, long *out, ds_err *err);
ds_status cli_parse_u64(const char *opt, const char *s, uint64_t *out, ds_err *err);
ds_status cli_parse_float(const char *opt, const char *s, double lo, double hi, double *out, ds_err *err);

/* Set the BLAS thread count (0: leave OpenBLAS's own choice). */
void cli_set_threads(int threads);

/* Load train and test sets from dir (NULL: the default Fashion-MNIST). */
ds_status cli_load_data(const char *dir, ds_data_format fmt, ds_dataset *train, ds_dataset *test,
                        ds_err *err);

/* Print a JSON string literal (quoted, escaped) to f. */
void cli_json_string(FILE *f, const char *s);

#endif
