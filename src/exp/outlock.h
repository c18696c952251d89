/* outlock.h - private: one writer per results file.
 *
 * The coordinator resolves the path it writes (ds_outlock_resolve) and holds an
 * exclusive lock on "<resolved path>.lock" from before it opens the file until it
 * has closed it, even across jobs and mpirun invocations.
 */
#ifndef DEEPSIGNS_EXP_OUTLOCK_H
#define DEEPSIGNS_EXP_OUTLOCK_H

#include <stddef.h>

#include "deepsigns/status.h"

/* The results file's path with its directory resolved (symbolic links and ".."
 * gone), into real[cap], so that every name of one file takes one lock. A
 * symbolic link as -o is refused: it would be replaced by a regular file. */
ds_status ds_outlock_resolve(const char *out, char *real, size_t cap, ds_err *err);

/* Lock "<real>.lock" (real from ds_outlock_resolve) without waiting: *fd is the
 * held descriptor, or -1 with the reason ("another sweep is writing this file
 * ..." when another process holds it). */
ds_status ds_outlock_acquire(const char *real, int *fd, ds_err *err);

/* Unlink the lock file, then release the lock; fd < 0: nothing. */
void ds_outlock_release(const char *real, int fd);

#endif
