/* blobstore.h - the blob store of a results file: a 0700 directory of 0600
 * files, one per distinct content, each named by the SHA-256 (64 lowercase hex
 * digits) of its bytes (docs/results-file.md).
 *
 * A file is written atomically (a temporary file, synced, renamed, the
 * directory synced): a store never holds a partial blob under a blob's name.
 * The results file names a blob by a ds_blob_ref; the sweep's workers write the
 * blobs of the models and keys they make and read those they need through these
 * calls, so the coordinator handles only the references.
 */
#ifndef DEEPSIGNS_BLOBSTORE_H
#define DEEPSIGNS_BLOBSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "deepsigns/status.h"

enum {
    DS_BLOB_HEX = 65,            /* 64 hex digits and the NUL */
    DS_BLOBSTORE_DIR_MODE = 0700,
    DS_BLOBSTORE_FILE_MODE = 0600, /* blobs hold key files: an owner's secret */
};

/* What names one blob: its SHA-256 in hex and its size. hex[0] == '\0': none. */
typedef struct ds_blob_ref {
    char hex[DS_BLOB_HEX];
    uint64_t bytes;
} ds_blob_ref;

/* 1 when hex is exactly 64 lowercase hex digits. */
int ds_blob_hex_valid(const char *hex);

/* *ref names the content of the regular file at path (its SHA-256 and size),
 * as a blob of those bytes would be named: how a spec pins a model file. */
ds_status ds_blob_ref_of_file(const char *path, ds_blob_ref *ref, ds_err *err);

/* The store dir exists (made 0700 when absent) and is a directory, not a link. */
ds_status ds_blobstore_ensure(const char *dir, ds_err *err);

/* data[0..n) into dir/<its SHA-256> and *ref naming it. An existing file of that
 * name is kept when it holds exactly these bytes (and made 0600); anything else
 * there is replaced. The store is made when absent. */
ds_status ds_blobstore_put(const char *dir, const void *data, size_t n, ds_blob_ref *ref, ds_err *err);

/* The blob ref names, into a malloc'd *data of *n bytes (at least 1 allocated),
 * checked against its size and hash: DS_EFORMAT "the blob P is damaged ..."
 * when it differs, the reader's DS_EIO when it cannot be read. *data is NULL on
 * failure. */
ds_status ds_blobstore_get(const char *dir, const ds_blob_ref *ref, void **data, size_t *n,
                           ds_err *err);

/* ref names a regular file of ref->bytes bytes in dir (stat only: its content is
 * the writer's word; its mode is not changed: a loose one is for the caller to
 * report). */
ds_status ds_blobstore_check(const char *dir, const ds_blob_ref *ref, ds_err *err);

#endif
