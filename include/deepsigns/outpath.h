/* outpath.h - checking an output path before any work is done.
 *
 * Every command that writes a file (-o of train, attack, embed and sweep)
 * checks the path first, so that a mistyped -o is refused at once and never
 * after the training, and so that it never destroys an owner's key file or a
 * sweep's results file.
 */
#ifndef DEEPSIGNS_OUTPATH_H
#define DEEPSIGNS_OUTPATH_H

#include "deepsigns/status.h"

/* What an existing file is, recognised by content (the HDF5 root attribute
 * `magic`), not by its name. */
typedef enum ds_outpath_kind {
    DS_OUTPATH_NONE = 0,   /* no file at the path */
    DS_OUTPATH_OTHER,      /* a regular file that is neither of the two below */
    DS_OUTPATH_KEY,        /* a deepsigns key file (DS_KEY_MAGIC) */
    DS_OUTPATH_RESULTS,    /* a deepsigns results file (DS_RESULTS_MAGIC) */
} ds_outpath_kind;

/* Check that path may be written as output of option opt (e.g. "-o"): not
 * empty; its directory exists, is a directory and is writable; the path is not
 * a directory; if it exists it is a regular file (a FIFO, socket or device is
 * refused, without opening it); and unless force, it is not a key file or a
 * results file. Messages read "-o PATH: <why>". The file is only read (its
 * HDF5 header in a child process first: untrusted.h), never changed. */
ds_status ds_outpath_check(const char *opt, const char *path, int force, ds_err *err);

/* The kind of the existing regular file at path into *kind (DS_OUTPATH_NONE if
 * there is none). A file HDF5 cannot parse is DS_OUTPATH_OTHER; one that
 * crashes the parse (in the child) is an error. */
ds_status ds_outpath_kind_get(const char *path, ds_outpath_kind *kind, ds_err *err);

#endif
