/* blobstore.c - the content-addressed store of models and keys beside a results
 * file (see include/deepsigns/blobstore.h). */
#include "deepsigns/blobstore.h"

#include <errno.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/h5util.h"      /* ds_io_write_atomic */
#include "io/untrusted.h"   /* ds_io_read_whole */

int ds_blob_hex_valid(const char *hex)
{
    if (!hex) return 0;
    for (int i = 0; i < DS_BLOB_HEX - 1; i++)
        if (!hex[i] || !strchr("0123456789abcdef", hex[i])) return 0;
    return hex[DS_BLOB_HEX - 1] == '\0';
}

static ds_status sha256_hex(const void *data, size_t n, char hex[DS_BLOB_HEX], ds_err *err)
{
    unsigned char d[crypto_hash_sha256_BYTES];
    if (sodium_init() < 0 || crypto_hash_sha256(d, data, (unsigned long long)n) != 0)
        return ds_err_set(err, DS_ELIB, "SHA-256 of a %zu-byte blob failed", n);
    sodium_bin2hex(hex, DS_BLOB_HEX, d, sizeof d);
    return DS_OK;
}

ds_status ds_blob_ref_of_file(const char *path, ds_blob_ref *ref, ds_err *err)
{
    void *data = NULL;
    size_t n = 0;
    memset(ref, 0, sizeof *ref);
    ds_status st = ds_io_read_whole(path, &data, &n, err);
    if (!st) st = sha256_hex(data, n, ref->hex, err);
    ref->bytes = n;
    free(data);
    return st;
}

/* dir/hex into buf[PATH_MAX]. */
static ds_status blob_path(const char *dir, const char *hex, char buf[PATH_MAX], ds_err *err)
{
    if (!ds_blob_hex_valid(hex))
        return ds_err_set(err, DS_EFORMAT, "%s: '%.70s' does not name a blob (not 64 hex digits)", dir, hex);
    int k = snprintf(buf, PATH_MAX, "%s/%s", dir, hex);
    if (k < 0 || k >= PATH_MAX) return ds_err_set(err, DS_ERANGE, "%s: blob path too long", dir);
    return DS_OK;
}

ds_status ds_blobstore_ensure(const char *dir, ds_err *err)
{
    struct stat sb;
    if (mkdir(dir, DS_BLOBSTORE_DIR_MODE) != 0 && errno != EEXIST)
        return ds_err_set(err, DS_EIO, "cannot create the blob store %s: %s", dir, strerror(errno));
    if (lstat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return ds_err_set(err, DS_EIO, "the blob store %s is not a directory", dir);
    return DS_OK;
}

/* path holds exactly the bytes named hex, n long. */
static int blob_is(const char *path, const char *hex, size_t n)
{
    struct stat sb;
    if (lstat(path, &sb) != 0 || !S_ISREG(sb.st_mode) || (size_t)sb.st_size != n) return 0;
    void *old = NULL;
    size_t on = 0;
    char got[DS_BLOB_HEX];
    ds_err e = {0};
    int same = !ds_io_read_whole(path, &old, &on, &e) && on == n && !sha256_hex(old, on, got, &e) &&
               !strcmp(got, hex);
    free(old);
    return same;
}

ds_status ds_blobstore_put(const char *dir, const void *data, size_t n, ds_blob_ref *ref, ds_err *err)
{
    char path[PATH_MAX];
    if (!dir || !ref || (!data && n > 0)) return ds_err_set(err, DS_EINVAL, "ds_blobstore_put: no store or no data");
    ref->hex[0] = '\0';
    ref->bytes = 0;
    char hex[DS_BLOB_HEX];
    ds_status st = sha256_hex(n ? data : "", n, hex, err);
    if (!st) st = blob_path(dir, hex, path, err);
    if (!st) st = ds_blobstore_ensure(dir, err);
    if (st) return st;
    /* the same content already there (a rerun, or a model two cells keep) is
     * kept when it hashes right, and made private; anything else is written again */
    if (!(blob_is(path, hex, n) && chmod(path, DS_BLOBSTORE_FILE_MODE) == 0) &&
        (st = ds_io_write_atomic(path, n ? data : "", n, DS_BLOBSTORE_FILE_MODE, err)))
        return st;
    memcpy(ref->hex, hex, DS_BLOB_HEX);
    ref->bytes = n;
    return DS_OK;
}

ds_status ds_blobstore_get(const char *dir, const ds_blob_ref *ref, void **data, size_t *n, ds_err *err)
{
    char path[PATH_MAX], got[DS_BLOB_HEX];
    *data = NULL;
    *n = 0;
    ds_status st = blob_path(dir, ref->hex, path, err);
    if (!st) st = ds_io_read_whole(path, data, n, err);
    if (st) return st;
    if (*n != ref->bytes || sha256_hex(*data, *n, got, err) || strcmp(got, ref->hex)) {
        st = ds_err_set(err, DS_EFORMAT, "the blob %s is damaged (%zu bytes, %llu expected, or another content)",
                        path, *n, (unsigned long long)ref->bytes);
        free(*data);
        *data = NULL;
        *n = 0;
    }
    return st;
}

ds_status ds_blobstore_check(const char *dir, const ds_blob_ref *ref, ds_err *err)
{
    char path[PATH_MAX];
    struct stat sb;
    ds_status st = blob_path(dir, ref->hex, path, err);
    if (st) return st;
    if (lstat(path, &sb) != 0)
        return ds_err_set(err, DS_EIO, "the blob %s is not there: %s", path, strerror(errno));
    if (!S_ISREG(sb.st_mode) || (uint64_t)sb.st_size != ref->bytes)
        return ds_err_set(err, DS_EFORMAT, "the blob %s is damaged (%lld bytes, %llu expected)", path,
                          (long long)sb.st_size, (unsigned long long)ref->bytes);
    return DS_OK;
}
