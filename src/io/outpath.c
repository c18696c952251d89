/* outpath.c - checking an output path before any work (outpath.h).
 *
 * The content check reads only the first bytes with a plain read (O_NONBLOCK,
 * so a FIFO swapped in cannot block) and, when they are the HDF5 signature,
 * the root attribute `magic`, parsed in a child first (untrusted.h) since the
 * file at the output path may come from anywhere.
 */
#include "deepsigns/outpath.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "deepsigns/results.h" /* DS_RESULTS_MAGIC */
#include "deepsigns/wm.h"      /* DS_KEY_MAGIC */
#include "io/h5util.h"
#include "io/untrusted.h"

static const unsigned char hdf5_signature[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};

enum { MAGIC_MAX = 64 };

/* 1 when the regular file at path starts with the HDF5 signature, 0 if not,
 * -1 (with err) when it cannot be read or is not a regular file. */
static int starts_hdf5(const char *path, ds_err *err)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        ds_err_set(err, DS_EIO, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    struct stat sb;
    int r = 0;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        ds_err_set(err, DS_EIO, "%s: not a regular file", path);
        r = -1;
    } else {
        unsigned char b[sizeof hdf5_signature];
        size_t got = 0;
        while (got < sizeof b) {
            ssize_t k = read(fd, b + got, sizeof b - got);
            if (k < 0 && errno == EINTR) continue;
            if (k < 0) {
                ds_err_set(err, DS_EIO, "%s: cannot read: %s", path, strerror(errno));
                r = -1;
            }
            if (k <= 0) break;
            got += (size_t)k;
        }
        if (r == 0) r = got == sizeof b && !memcmp(b, hdf5_signature, sizeof b);
    }
    (void)close(fd);
    return r;
}

/* The root string attribute `magic` into buf[MAGIC_MAX] ("" if none or unreadable). */
static void read_magic(const char *path, char *buf)
{
    buf[0] = '\0';
    ds_h5_quiet q;
    ds_h5_quiet_begin(&q);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    ds_err e = {0};
    if (f >= 0 && ds_h5_attr_exists(f, "magic") > 0 &&
        ds_h5_attr_read_string(f, "magic", buf, MAGIC_MAX, path, &e))
        buf[0] = '\0';
    (void)ds_h5_close(&f, path, DS_OK, &e);
    ds_h5_quiet_end(&q);
}

static void trial_magic(void *path)
{
    char buf[MAGIC_MAX];
    read_magic(path, buf);
}

ds_status ds_outpath_kind_get(const char *path, ds_outpath_kind *kind, ds_err *err)
{
    *kind = DS_OUTPATH_NONE;
    struct stat sb;
    if (stat(path, &sb) != 0) {
        if (errno == ENOENT) return DS_OK;
        return ds_err_set(err, DS_EIO, "%s: cannot stat: %s", path, strerror(errno));
    }
    if (!S_ISREG(sb.st_mode)) return ds_err_set(err, DS_EIO, "%s: not a regular file", path);
    int h = starts_hdf5(path, err);
    if (h < 0) return err ? err->code : DS_EIO;
    *kind = DS_OUTPATH_OTHER;
    if (!h) return DS_OK;
    ds_status st = ds_io_trial_parse(path, "existing output", trial_magic, (void *)path,
                                     DS_IO_TRIAL_SECONDS, err);
    if (st) return st;
    char magic[MAGIC_MAX];
    read_magic(path, magic);
    if (!strcmp(magic, DS_KEY_MAGIC)) *kind = DS_OUTPATH_KEY;
    else if (!strcmp(magic, DS_RESULTS_MAGIC)) *kind = DS_OUTPATH_RESULTS;
    return DS_OK;
}

/* The directory part of path into buf[len] ("." when there is none). */
static ds_status dir_of(const char *opt, const char *path, char *buf, size_t len, ds_err *err)
{
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) : 0;
    if (slash && n == 0) n = 1; /* "/x": the root */
    if (n + 1 > len) return ds_err_set(err, DS_EINVAL, "%s %s: path too long", opt, path);
    if (slash) memcpy(buf, path, n);
    else buf[n++] = '.';
    buf[n] = '\0';
    return DS_OK;
}

ds_status ds_outpath_check(const char *opt, const char *path, int force, ds_err *err)
{
    if (!path || !path[0]) return ds_err_set(err, DS_EINVAL, "%s: empty path", opt);
    size_t len = strlen(path);
    if (path[len - 1] == '/')
        return ds_err_set(err, DS_EINVAL, "%s %s: names a directory, not a file", opt, path);
    char dir[PATH_MAX];
    ds_status st = dir_of(opt, path, dir, sizeof dir, err);
    if (st) return st;
    struct stat sd;
    if (stat(dir, &sd) != 0)
        return ds_err_set(err, DS_EINVAL, "%s %s: directory %s %s", opt, path, dir,
                          errno == ENOENT ? "does not exist" : strerror(errno));
    if (!S_ISDIR(sd.st_mode))
        return ds_err_set(err, DS_EINVAL, "%s %s: %s is not a directory", opt, path, dir);
    if (access(dir, W_OK | X_OK) != 0)
        return ds_err_set(err, DS_EINVAL, "%s %s: directory %s is not writable (%s)", opt, path, dir,
                          strerror(errno));
    struct stat sb;
    if (stat(path, &sb) != 0) {
        if (errno == ENOENT) return DS_OK;
        return ds_err_set(err, DS_EINVAL, "%s %s: %s", opt, path, strerror(errno));
    }
    if (S_ISDIR(sb.st_mode)) return ds_err_set(err, DS_EINVAL, "%s %s: is a directory", opt, path);
    if (!S_ISREG(sb.st_mode) && (st = ds_io_check_regular(path, err)))
        return ds_err_prefix(err, "%s ", opt);  /* "-o PATH: not a regular file (a FIFO)" */
    if (force) return DS_OK;
    ds_outpath_kind kind;
    if ((st = ds_outpath_kind_get(path, &kind, err)))
        return ds_err_prefix(err, "%s %s: cannot tell what the existing file is (use --force): ", opt, path);
    if (kind == DS_OUTPATH_KEY)
        return ds_err_set(err, DS_EINVAL, "%s %s: refusing to replace a key file (use --force)", opt, path);
    if (kind == DS_OUTPATH_RESULTS)
        return ds_err_set(err, DS_EINVAL, "%s %s: refusing to replace a results file (use --force)", opt,
                          path);
    return DS_OK;
}
