/* h5util.h - private: the HDF5 helpers shared by the file code (model_file.c,
 * keras_import.c, key_file.c, results.c).
 *
 * Every helper checks each H5* return and turns a failure into a ds_err whose
 * message names the file (`file`, the path the user gave) and the object, with
 * HDF5's own innermost reason appended. Callers silence HDF5's automatic error
 * printing for the duration of a public call with ds_h5_quiet_begin/_end.
 * Objects are written without timestamps so that equal content gives equal bytes.
 */
#ifndef DEEPSIGNS_IO_H5UTIL_H
#define DEEPSIGNS_IO_H5UTIL_H

#include <hdf5.h>
#include <stddef.h>

#include "deepsigns/data.h"
#include "deepsigns/status.h"

enum {
    DS_H5_MAX_RANK = 8,       /* deepest dataset rank the readers accept */
    DS_H5_PATH_MAX = 512,     /* longest object path the readers build */
};

/* ---- errors and ids ---- */

/* The automatic error printer, saved while it is switched off. */
typedef struct ds_h5_quiet {
    H5E_auto2_t func;
    void *data;
} ds_h5_quiet;

void ds_h5_quiet_begin(ds_h5_quiet *q);
void ds_h5_quiet_end(const ds_h5_quiet *q);

/* Like ds_err_set, appending " (HDF5: <innermost reason>)" when the error stack has one. */
ds_status ds_h5_fail(ds_err *err, ds_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* HDF5's innermost reason for the last failure into buf[len] ("" if none). */
void ds_h5_reason(char *buf, size_t len);

/* Close *id (file, group, dataset, attribute, dataspace, datatype or property
 * list) if it is >= 0 and set it to -1. If closing fails and st is DS_OK, records
 * an error naming file; returns the resulting status, so cleanup reads
 * `st = ds_h5_close(&id, file, st, err);`. */
ds_status ds_h5_close(hid_t *id, const char *file, ds_status st, ds_err *err);

/* ---- in-memory files ----
 *
 * Model and key files are built in memory (HDF5's core driver, no backing store)
 * and written out whole by ds_io_write_atomic: HDF5 itself never writes to disk,
 * so a full disk is a clean write() error and never a half-closed HDF5 file. */

/* A file-access property list for an in-memory file into *fapl (-1 on failure):
 * core driver without backing store; closing the file fails while any of its
 * objects is still open. */
ds_status ds_h5_mem_fapl(const char *file, hid_t *fapl, ds_err *err);

/* An empty in-memory file into *f (-1 on failure), no timestamp on its root group,
 * in HDF5's default (earliest) format. Nothing on disk is touched; file only
 * names it in messages. (Not the 1.8 format: HDF5 1.10's H5Fget_file_image
 * clears the superblock's status flags of such a file without updating its
 * checksum, and the image cannot be opened.) */
ds_status ds_h5_mem_create(const char *file, hid_t *f, ds_err *err);

/* Fills the in-memory file f from obj; messages name file. */
typedef ds_status ds_h5_writer(hid_t f, const void *obj, const char *file, ds_err *err);

/* Save obj as file: an empty in-memory file (no timestamp on its root group) is
 * filled by write and then replaces file on disk as by ds_h5_mem_commit. HDF5's
 * error printing is quiet for the duration. */
ds_status ds_h5_mem_save(const char *file, int mode, ds_h5_writer *write, const void *obj,
                         ds_err *err);
/* Flush f and copy its image into a malloc'd *img of *n bytes (*img NULL on
 * failure); f stays open and usable. */
ds_status ds_h5_mem_image(hid_t f, const char *file, void **img, size_t *n, ds_err *err);
/* The bytes ds_h5_mem_save would write, in a malloc'd *img of *n bytes (*img NULL
 * on failure); HDF5's error printing is quiet for the duration. ds_h5_mem_save is
 * this and ds_io_write_atomic. */
ds_status ds_h5_mem_build(const char *file, ds_h5_writer *write, const void *obj, void **img,
                          size_t *n, ds_err *err);
/* Open the file image img[0..n) as an in-memory file into *f (-1 on failure):
 * core driver without backing store, the bytes copied, read-only or (writable)
 * open for changes in memory (write it out with ds_h5_mem_image). Nothing on disk
 * is touched, whatever file is; it only names the file in messages. An image
 * HDF5 cannot open (empty, truncated, damaged) is DS_EFORMAT "<file>: not a
 * readable <kind> file (truncated or damaged?): <HDF5's reason>". HDF5 errors
 * must be quiet. */
ds_status ds_h5_mem_open(const void *img, size_t n, const char *file, const char *kind,
                         int writable, hid_t *f, ds_err *err);

/* Replace file on disk by the image of the in-memory file *f (flushed first):
 * ds_io_write_atomic(file, image, mode). *f is closed on every path. */
ds_status ds_h5_mem_commit(hid_t *f, const char *file, int mode, ds_err *err);

/* ---- file headers ---- */

/* Write the root attributes that make f a deepsigns file of one kind: 'magic'
 * (the string magic) and 'format_version' (the int32 version). */
ds_status ds_h5_write_header(hid_t f, const char *file, const char *magic, int version,
                             ds_err *err);

/* Text to append to the refusal of a file whose 'magic' attribute is missing
 * (got == NULL) or is the string got; "" for none. */
typedef const char *ds_h5_magic_hint(hid_t f, const char *got);

/* Check that f is a deepsigns file of one kind, the root attribute 'magic' first,
 * then 'format_version'. kind ("model", "key") names it in the refusals, which are
 * DS_EFORMAT: "<file>: not a deepsigns <kind> file (...)<hint>" and "<file>: <kind>
 * file format version <v> is not supported (...)". magic: the expected string;
 * version: the one version this build reads; hint may be NULL. */
ds_status ds_h5_check_header(hid_t f, const char *file, const char *kind, const char *magic,
                             int version, ds_h5_magic_hint *hint, ds_err *err);
/* The same for a build that reads versions lo..hi; *version (if non-NULL) gets
 * the file's. */
ds_status ds_h5_check_header_range(hid_t f, const char *file, const char *kind, const char *magic,
                                   int lo, int hi, ds_h5_magic_hint *hint, int *version, ds_err *err);

/* ---- paths and links ---- */

/* "<path of loc>/<name>" (just "/<name>" under the root) into buf. */
void ds_h5_path(hid_t loc, const char *name, char *buf, size_t len);
/* 1 if every component of the relative path exists as a hard link, 0 if not, -1 on error. */
int ds_h5_exists(hid_t loc, const char *path);
/* 1 if loc/name is a hard link to an object of type (H5I_GROUP, H5I_DATASET, ...),
 * 0 if it is missing, not a hard link or another kind of object, -1 on error. */
int ds_h5_obj_is(hid_t loc, const char *name, H5I_type_t type);

/* A list of strings in one allocation: s[0..n) point into the same block. */
typedef struct ds_h5_strings {
    size_t n;
    char **s;
} ds_h5_strings;

void ds_h5_strings_free(ds_h5_strings *l);
/* Names of the links in group grp, in HDF5's name order. */
ds_status ds_h5_list_links(hid_t grp, const char *file, ds_h5_strings *out, ds_err *err);

/* ---- attributes ---- */

/* 1 if obj has attribute name, 0 if not, -1 on error. */
int ds_h5_attr_exists(hid_t obj, const char *name);
/* Write n values (n == 0: a scalar) of mem_type stored as file_type; replaces an existing one. */
ds_status ds_h5_attr_write(hid_t obj, const char *name, hid_t file_type, hid_t mem_type,
                           const void *val, int n, const char *file, ds_err *err);
/* Write a fixed-length, NUL-terminated UTF-8 string; replaces an existing one. */
ds_status ds_h5_attr_write_string(hid_t obj, const char *name, const char *s, const char *file,
                                  ds_err *err);
/* Read a numeric attribute of class cls (H5T_INTEGER or H5T_FLOAT) holding exactly
 * n values (n == 0: a scalar or one value) as mem_type into val. */
ds_status ds_h5_attr_read(hid_t obj, const char *name, H5T_class_t cls, hid_t mem_type, void *val,
                          int n, const char *file, ds_err *err);
/* Read a string attribute (fixed or variable length, scalar or 1-D) as a list.
 * An attribute with no elements gives an empty list whatever its type. */
ds_status ds_h5_attr_read_strings(hid_t obj, const char *name, const char *file,
                                  ds_h5_strings *out, ds_err *err);
/* Read a single string into buf[len]; an error if it does not fit. */
ds_status ds_h5_attr_read_string(hid_t obj, const char *name, char *buf, size_t len,
                                 const char *file, ds_err *err);

/* ---- groups and datasets ---- */

/* Create group name in loc (no timestamps) into *grp (-1 on failure). */
ds_status ds_h5_group_create(hid_t loc, const char *name, const char *file, hid_t *grp,
                             ds_err *err);
/* Open group name in loc into *grp (-1 on failure; a missing group is DS_EFORMAT). */
ds_status ds_h5_group_open(hid_t loc, const char *name, const char *file, hid_t *grp, ds_err *err);

/* Create dataset name of file_type and shape dims[ndim] (1 <= ndim <=
 * DS_H5_MAX_RANK; no timestamps) and write data, values of mem_type, into it. */
ds_status ds_h5_dataset_write(hid_t loc, const char *name, hid_t file_type, hid_t mem_type,
                              int ndim, const hsize_t *dims, const void *data, const char *file,
                              ds_err *err);
/* Read all of dataset loc/name as mem_type into out, unchecked: the caller has
 * already checked its type and shape (ds_h5_dataset_shape) and sized out. */
ds_status ds_h5_dataset_read(hid_t loc, const char *name, hid_t mem_type, void *out,
                             const char *file, ds_err *err);

/* ds_h5_dataset_write of float32 [dims] from native floats. */
ds_status ds_h5_write_f32(hid_t loc, const char *name, int ndim, const int *dims,
                          const float *data, const char *file, ds_err *err);

/* Class and shape of dataset loc/name. */
typedef struct ds_h5_shape {
    H5T_class_t cls;
    int ndim;
    hsize_t dims[DS_H5_MAX_RANK];
} ds_h5_shape;

ds_status ds_h5_dataset_shape(hid_t loc, const char *name, const char *file, ds_h5_shape *out,
                              ds_err *err);
/* "784x512" (or "scalar") into buf. */
void ds_h5_shape_str(int ndim, const hsize_t *dims, char *buf, size_t len);

/* Read dataset loc/name, which must exist, be of a float class, have exactly the
 * shape dims[ndim] and hold only finite values, as native floats into out. */
ds_status ds_h5_read_f32(hid_t loc, const char *name, int ndim, const int *dims, float *out,
                         const char *file, ds_err *err);

/* ---- not HDF5, but shared by the file code ---- */

enum { DS_IO_MODE_KEEP = -1 };  /* ds_io_write_atomic: the mode of the file replaced */

/* Replace path by buf[0..n): write "<path>.tmp.<pid>" (created exclusively: one
 * left over is an error and is neither clobbered nor removed), sync it, rename
 * it over path and sync the directory (best effort). mode >= 0: the new file has exactly these permission bits,
 * whatever the umask. DS_IO_MODE_KEEP: exactly those of the regular file path
 * replaces, or 0666 less the umask for a new file. On failure the temporary file
 * is removed and path is untouched; messages start with path. */
ds_status ds_io_write_atomic(const char *path, const void *buf, size_t n, int mode, ds_err *err);

/* Index of the first non-finite value in x[0..n), or n if all are finite. */
size_t ds_io_first_nonfinite(const float *x, size_t n);
/* Check a preprocessing record is usable: channels 1..3, finite scale and means,
 * finite positive scale and standard deviations. `what` prefixes the message. */
ds_status ds_io_check_preproc(const ds_preproc *pp, const char *what, ds_err *err);

#endif
