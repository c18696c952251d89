/* untrusted.h - private: reading a file that may have been made to attack its
 * reader (a suspect's model, a key or results file from elsewhere).
 *
 * HDF5 1.10.8 can crash on a crafted file (docs/fuzzing.md), and no check of
 * ours can run before its decoder. So the file is parsed first in a child
 * process: only when the child's parse returns (success or a clean refusal)
 * does the caller parse it itself (results files: the same bytes, read once). A child killed by a signal, or still busy after the time limit,
 * becomes a DS_EFORMAT error naming the file; the caller never crashes.
 */
#ifndef DEEPSIGNS_IO_UNTRUSTED_H
#define DEEPSIGNS_IO_UNTRUSTED_H

#include <stddef.h>

#include "deepsigns/status.h"

enum { DS_IO_TRIAL_SECONDS = 300 }; /* longest a trial parse may take */

/* DS_OK when path is a regular file or does not exist (the open that follows
 * reports that); otherwise "<path>: not a regular file (a FIFO)" (or a
 * directory, socket, device), decided by stat alone, so a FIFO never blocks.
 * Every reader calls it before opening its file. */
ds_status ds_io_check_regular(const char *path, ds_err *err);

/* The whole regular file at path into a malloc'd *buf of *n bytes. */
ds_status ds_io_read_whole(const char *path, void **buf, size_t *n, ds_err *err);

/* A parse whose result is thrown away (it frees what it made). */
typedef void (*ds_io_trial_fn)(void *ctx);

/* Run fn(ctx) in a child process. DS_OK when it returned; otherwise a message
 * "<path>: reading this <kind> file crashed the reader ..." (or ended
 * abnormally, or did not finish in `seconds`, normally DS_IO_TRIAL_SECONDS).
 * The child dies with the caller and ends itself after the limit. Not for a
 * process that has called MPI_Init (fork is not safe with every transport). */
ds_status ds_io_trial_parse(const char *path, const char *kind, ds_io_trial_fn fn, void *ctx,
                            double seconds, ds_err *err);

#endif
