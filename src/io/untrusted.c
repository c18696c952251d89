/* untrusted.c - files read whole, then parsed in a child process first
 * (untrusted.h says why).
 *
 * The child runs the trial parse and leaves with _exit(TRIAL_RETURNED): no
 * atexit handler, no stdio flush, nothing written. Any other end (a signal, a
 * sanitizer's exit status, the kill after the time limit) means the parse did
 * not return, and the parent refuses the file without parsing it. The child
 * makes no core dump.
 */
#include "io/untrusted.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { TRIAL_RETURNED = 0 };

ds_status ds_io_check_regular(const char *path, ds_err *err)
{
    struct stat sb;
    if (stat(path, &sb) != 0 || S_ISREG(sb.st_mode)) return DS_OK;
    const char *what = S_ISDIR(sb.st_mode)    ? "a directory"
                       : S_ISFIFO(sb.st_mode) ? "a FIFO"
                       : S_ISSOCK(sb.st_mode) ? "a socket"
                       : S_ISCHR(sb.st_mode) || S_ISBLK(sb.st_mode) ? "a device" : "special";
    return ds_err_set(err, DS_EIO, "%s: not a regular file (%s)", path, what);
}

ds_status ds_io_read_whole(const char *path, void **buf, size_t *n, ds_err *err)
{
    *buf = NULL;
    *n = 0;
    ds_status reg = ds_io_check_regular(path, err);
    if (reg) return reg;
    int fd = open(path, O_RDONLY | O_NONBLOCK); /* a FIFO swapped in since the check: no blocking */
    if (fd < 0) return ds_err_set(err, DS_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    ds_status st = DS_OK;
    unsigned char *b = NULL;
    if (fstat(fd, &sb) != 0)
        st = ds_err_set(err, DS_EIO, "%s: cannot stat: %s", path, strerror(errno));
    else if (!S_ISREG(sb.st_mode))
        st = ds_err_set(err, DS_EIO, "%s: not a regular file", path);
    else if (!(b = malloc(sb.st_size > 0 ? (size_t)sb.st_size : 1)))
        st = ds_err_set(err, DS_ENOMEM, "%s: out of memory for %lld bytes", path,
                        (long long)sb.st_size);
    size_t want = st ? 0 : (size_t)sb.st_size, got = 0;
    while (!st && got < want) {
        ssize_t k = read(fd, b + got, want - got);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0)
            st = ds_err_set(err, DS_EIO, "%s: cannot read: %s", path, strerror(errno));
        else if (k == 0)
            st = ds_err_set(err, DS_EIO, "%s: cannot read: the file shrank while being read", path);
        else
            got += (size_t)k;
    }
    (void)close(fd);
    if (st) {
        free(b);
        return st;
    }
    *buf = b;
    *n = got;
    return DS_OK;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Wait for pid until the deadline; *status as waitpid gives it. 1 when it ended. */
static int wait_until(pid_t pid, double deadline, int *status)
{
    const struct timespec nap = {0, 2000000}; /* 2 ms */
    for (;;) {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid) return 1;
        if (r < 0 && errno != EINTR) return -1;
        if (now_seconds() > deadline) return 0;
        nanosleep(&nap, NULL);
    }
}

ds_status ds_io_trial_parse(const char *path, const char *kind, ds_io_trial_fn fn, void *ctx,
                            double seconds, ds_err *err)
{
    ds_status reg = ds_io_check_regular(path, err);
    if (reg) return reg;
    pid_t pid = fork();
    if (pid < 0)
        return ds_err_set(err, DS_EIO, "%s: cannot start the trial reading of this %s file: fork: %s",
                          path, kind, strerror(errno));
    if (pid == 0) {
        const struct rlimit no_core = {0, 0}; /* a crash here leaves no core dump */
        (void)setrlimit(RLIMIT_CORE, &no_core);
        /* end with the parent (which may hold locks this child inherited), and
         * on its own after the time limit */
        (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() == 1) _exit(TRIAL_RETURNED + 1);
        (void)alarm((unsigned)seconds + 2);
        fn(ctx);
        _exit(TRIAL_RETURNED);
    }
    int status = 0;
    int ended = wait_until(pid, now_seconds() + seconds, &status);
    if (ended == 0) {
        (void)kill(pid, SIGKILL);
        (void)waitpid(pid, &status, 0);
        return ds_err_set(err, DS_EFORMAT,
                          "%s: reading this %s file did not finish in %g s (the HDF5 library is "
                          "looping on damaged or crafted content); refusing it",
                          path, kind, seconds);
    }
    if (ended < 0)
        return ds_err_set(err, DS_EIO, "%s: lost the trial reading of this %s file: waitpid: %s",
                          path, kind, strerror(errno));
    if (WIFEXITED(status) && WEXITSTATUS(status) == TRIAL_RETURNED) return DS_OK;
    if (WIFSIGNALED(status))
        return ds_err_set(err, DS_EFORMAT,
                          "%s: reading this %s file crashed the reader (signal %d, %s%s): the file "
                          "is damaged or crafted to attack its reader (HDF5 1.10 crashes on some "
                          "such files); refusing it",
                          path, kind, WTERMSIG(status), strsignal(WTERMSIG(status)),
                          WTERMSIG(status) == SIGKILL ? "; out of memory?" : "");
    return ds_err_set(err, DS_EFORMAT,
                      "%s: reading this %s file ended abnormally (the reading process exited with "
                      "status %d): the file is damaged or crafted to attack its reader; refusing it",
                      path, kind, WEXITSTATUS(status));
}
