/* outlock.c - the results file's lock (see outlock.h).
 *
 * The lock is flock(LOCK_EX) on "<resolved path>.lock". The kernel drops it when
 * the process dies, so a killed sweep never leaves it locked. The holder unlinks
 * the lock file before it lets go, so a process that locked a file which is no
 * longer at that name (it lost the race with the unlink) tries again on the new one.
 */
#include "exp/outlock.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

ds_status ds_outlock_resolve(const char *out, char *real, size_t cap, ds_err *err)
{
    struct stat sb;
    if (lstat(out, &sb) == 0 && S_ISLNK(sb.st_mode)) {
        char to[PATH_MAX];
        ssize_t n = readlink(out, to, sizeof to - 1);
        to[n > 0 ? n : 0] = '\0';
        return ds_err_set(err, DS_EINVAL, "-o %s: is a symbolic link (to %s); give the file's own path",
                          out, to);
    }
    char dir[PATH_MAX], rdir[PATH_MAX];
    const char *slash = strrchr(out, '/'), *base = slash ? slash + 1 : out;
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == out) snprintf(dir, sizeof dir, "/");
    else snprintf(dir, sizeof dir, "%.*s", (int)(slash - out), out);
    if (!realpath(dir, rdir))
        return ds_err_set(err, DS_EINVAL, "-o %s: directory %s: %s", out, dir, strerror(errno));
    int k = snprintf(real, cap, "%s/%s", strcmp(rdir, "/") ? rdir : "", base);
    if (k < 0 || (size_t)k >= cap) return ds_err_set(err, DS_ERANGE, "-o %s: path too long", out);
    return DS_OK;
}

ds_status ds_outlock_acquire(const char *real, int *fd, ds_err *err)
{
    char path[PATH_MAX + 8];
    snprintf(path, sizeof path, "%s.lock", real);
    for (int tries = 0; tries < 16; tries++) {
        *fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (*fd < 0)
            return ds_err_set(err, DS_EIO, "%s: cannot create the lock file: %s", path, strerror(errno));
        if (flock(*fd, LOCK_EX | LOCK_NB) != 0) {
            int e = errno;
            close(*fd);
            *fd = -1;
            return ds_err_set(err, DS_EIO, "%s: %s", real,
                              e == EWOULDBLOCK ? "another sweep is writing this file (it holds "
                                                 "the .lock); wait for it to end"
                                               : strerror(e));
        }
        struct stat held, now;
        if (fstat(*fd, &held) == 0 && stat(path, &now) == 0 && held.st_dev == now.st_dev &&
            held.st_ino == now.st_ino)
            return DS_OK;
        close(*fd); /* the lock file was unlinked (its holder ended) between open and flock */
        *fd = -1;
    }
    return ds_err_set(err, DS_EIO, "%s.lock: the lock file keeps changing; another sweep is starting "
                      "and ending on this file", real);
}

void ds_outlock_release(const char *real, int fd)
{
    if (fd < 0) return;
    char path[PATH_MAX + 8];
    snprintf(path, sizeof path, "%s.lock", real);
    unlink(path); /* while still holding the lock (see the top of this file) */
    close(fd);
}
