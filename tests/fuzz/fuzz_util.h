/* fuzz_util.h - helpers shared by the libFuzzer targets (tests/fuzz/fuzz_*.c).
 *
 * Readers that take a path get the fuzz input through a file in a private
 * directory made once per process (mkdtemp under $TMPDIR or /tmp) and removed
 * at exit:
 *   dsf_path(slot, name)      "<dir>/<name>" in a static buffer, one per slot
 *                             (0..DSF_SLOTS-1), valid until the next call with that
 *                             slot; the file is removed at exit
 *   dsf_write(path, buf, n)   create or truncate path and write buf[0..n)
 *   dsf_check_err(st, &err)   a failed call must have filled err: the same code and
 *                             a non-empty, NUL-terminated message (status.h)
 * A harness is a test tool, not library code: a failure of the harness itself
 * (no temporary directory, a failed write) aborts, which libFuzzer reports.
 */
#ifndef DEEPSIGNS_FUZZ_UTIL_H
#define DEEPSIGNS_FUZZ_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "deepsigns/status.h"

enum { DSF_SLOTS = 4, DSF_PATH_LEN = 512 };

static char dsf_dir[DSF_PATH_LEN];
static char dsf_paths[DSF_SLOTS][DSF_PATH_LEN];
static int dsf_used[DSF_SLOTS];

static inline void dsf_die(const char *what)
{
    fprintf(stderr, "fuzz harness: %s: %s\n", what, strerror(errno));
    abort();
}

static inline void dsf_cleanup(void)
{
    for (int i = 0; i < DSF_SLOTS; i++)
        if (dsf_used[i]) (void)unlink(dsf_paths[i]);
    if (dsf_dir[0]) (void)rmdir(dsf_dir);
}

/* The private directory, made on first use. */
static inline const char *dsf_tmpdir(void)
{
    if (dsf_dir[0]) return dsf_dir;
    const char *base = getenv("TMPDIR");
    if (!base || !base[0]) base = "/tmp";
    int n = snprintf(dsf_dir, sizeof dsf_dir, "%s/ds-fuzz-XXXXXX", base);
    if (n < 0 || (size_t)n >= sizeof dsf_dir) {
        errno = ENAMETOOLONG;
        dsf_die("temporary directory name");
    }
    if (!mkdtemp(dsf_dir)) {
        dsf_dir[0] = '\0';
        dsf_die("mkdtemp");
    }
    if (atexit(dsf_cleanup) != 0) dsf_die("atexit");
    return dsf_dir;
}

/* "<dir>/<name>" in slot `slot`. */
static inline const char *dsf_path(int slot, const char *name)
{
    if (slot < 0 || slot >= DSF_SLOTS) {
        errno = EINVAL;
        dsf_die("slot");
    }
    int n = snprintf(dsf_paths[slot], DSF_PATH_LEN, "%s/%s", dsf_tmpdir(), name);
    if (n < 0 || n >= DSF_PATH_LEN) {
        errno = ENAMETOOLONG;
        dsf_die("temporary file name");
    }
    dsf_used[slot] = 1;
    return dsf_paths[slot];
}

static inline void dsf_write(const char *path, const void *buf, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) dsf_die(path);
    const uint8_t *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) dsf_die(path);
        p += w;
        n -= (size_t)w;
    }
    if (close(fd) != 0) dsf_die(path);
}

static inline void dsf_check_err(ds_status st, const ds_err *err)
{
    if (st == DS_OK) return;
    if (err->code != st || !memchr(err->msg, '\0', sizeof err->msg) || err->msg[0] == '\0') {
        fprintf(stderr, "fuzz harness: status %d but err holds code %d, message '%.*s'\n", (int)st,
                (int)err->code, (int)sizeof err->msg, err->msg);
        abort();
    }
}

#endif
