/* shared_data.c - the spec and the data sets shared over MPI (see shared_data.h). */
#include "exp/shared_data.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exp/proto.h"

ds_status ds_shared_spec_load(const char *path, const char *const *sets, int nsets, int rank, ds_spec *spec,
                              ds_err *err)
{
    unsigned long long len = 0;
    char msg[DS_ERR_MSG_MAX] = "";
    int bad = 0;
    if (rank == 0) {
        if (ds_spec_load_set(path, sets, nsets, spec, err)) {
            bad = 1;
            snprintf(msg, sizeof msg, "%s", err->msg);
        } else {
            len = strlen(spec->text);
        }
    }
    DS_MPI_TRY(MPI_Bcast(&bad, 1, MPI_INT, 0, MPI_COMM_WORLD), "MPI_Bcast (spec)");
    if (bad) {
        DS_MPI_TRY(MPI_Bcast(msg, sizeof msg, MPI_CHAR, 0, MPI_COMM_WORLD), "MPI_Bcast (spec error)");
        return rank == 0 ? err->code : ds_err_set(err, DS_EINVAL, "%s", msg);
    }
    DS_MPI_TRY(MPI_Bcast(&len, 1, MPI_UNSIGNED_LONG_LONG, 0, MPI_COMM_WORLD), "MPI_Bcast (spec)");
    if (rank == 0) {
        DS_MPI_TRY(MPI_Bcast(spec->text, (int)len, MPI_CHAR, 0, MPI_COMM_WORLD), "MPI_Bcast (spec)");
        return DS_OK;
    }
    char *text = malloc(len + 1);
    if (!text) return ds_err_set(err, DS_ENOMEM, "out of memory for the spec");
    int rc = MPI_Bcast(text, (int)len, MPI_CHAR, 0, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS) {
        free(text);
        return ds_proto_fail(err, rc, "MPI_Bcast (spec)");
    }
    text[len] = '\0';
    ds_status st = ds_spec_parse(text, len, path, spec, err);
    free(text);
    return st;
}

static void limit(ds_dataset *d, size_t n)
{
    if (n && n < d->n) d->n = n;
}

/* Rank 0 of the node: load the data into tr and te, its shape into the header
 * h[8] (status, train n c h w classes, test n), or h[0] = 1 and the reason in msg. */
static void load_on_first(const ds_spec *spec, ds_dataset *tr, ds_dataset *te,
                          unsigned long long h[8], char msg[DS_ERR_MSG_MAX])
{
    ds_err e = {0};
    if (ds_data_load_dir(spec->data_dir, spec->data_format, tr, te, &e)) {
        h[0] = 1;
        snprintf(msg, DS_ERR_MSG_MAX, "%s", e.msg);
        return;
    }
    limit(tr, spec->train_limit);
    limit(te, spec->test_limit);
    h[1] = tr->n; h[2] = (unsigned)tr->c; h[3] = (unsigned)tr->h; h[4] = (unsigned)tr->w;
    h[5] = (unsigned)tr->num_classes; h[6] = te->n;
}

/* The views into the window at base, from the header h (see load_on_first). */
static void share_views(const unsigned long long h[8], unsigned char *base, ds_shared_data *sd)
{
    const size_t sample = (size_t)(h[2] * h[3] * h[4]);
    ds_dataset t = {.n = h[1], .c = (int)h[2], .h = (int)h[3], .w = (int)h[4],
                    .num_classes = (int)h[5], .owns = 0};
    t.x = base;
    t.y = base + t.n * sample;
    sd->train = t;
    t.n = h[6];
    t.x = base + h[1] * (sample + 1);
    t.y = t.x + t.n * sample;
    sd->test = t;
}

ds_status ds_shared_data_load(const ds_spec *spec, MPI_Comm node, ds_shared_data *sd, ds_err *err)
{
    int nr;
    DS_MPI_TRY(MPI_Comm_rank(node, &nr), "MPI_Comm_rank");
    unsigned long long h[8] = {0};
    char msg[DS_ERR_MSG_MAX] = "";
    ds_dataset tr = {0}, te = {0};
    if (nr == 0) load_on_first(spec, &tr, &te, h, msg);
    ds_status st = DS_OK;
    int rc = MPI_Bcast(h, 8, MPI_UNSIGNED_LONG_LONG, 0, node);
    if (rc != MPI_SUCCESS) {
        st = ds_proto_fail(err, rc, "MPI_Bcast (data header)");
    } else if (h[0]) {
        rc = MPI_Bcast(msg, sizeof msg, MPI_CHAR, 0, node);
        st = rc != MPI_SUCCESS ? ds_proto_fail(err, rc, "MPI_Bcast (data error)")
                               : ds_err_set(err, DS_EIO, "%s: data.dir: %s", spec->path, msg);
    }
    const size_t sample = (size_t)(h[2] * h[3] * h[4]);
    const size_t bytes = (size_t)h[1] * (sample + 1) + (size_t)h[6] * (sample + 1);
    unsigned char *base = NULL;
    if (!st && (rc = MPI_Win_allocate_shared(nr == 0 ? (MPI_Aint)bytes : 0, 1, MPI_INFO_NULL, node,
                                             &base, &sd->win)) != MPI_SUCCESS)
        st = ds_proto_fail(err, rc, "MPI_Win_allocate_shared (data)");
    if (!st && nr != 0) {
        MPI_Aint size;
        int disp;
        if ((rc = MPI_Win_shared_query(sd->win, 0, &size, &disp, &base)) != MPI_SUCCESS)
            st = ds_proto_fail(err, rc, "MPI_Win_shared_query");
    } else if (!st) {
        memcpy(base, tr.x, tr.n * sample);
        memcpy(base + tr.n * sample, tr.y, tr.n);
        memcpy(base + tr.n * (sample + 1), te.x, te.n * sample);
        memcpy(base + tr.n * (sample + 1) + te.n * sample, te.y, te.n);
    }
    ds_dataset_free(&tr);
    ds_dataset_free(&te);
    if (st) return st;
    DS_MPI_TRY(MPI_Barrier(node), "MPI_Barrier (data)");
    share_views(h, base, sd);
    return DS_OK;
}

ds_status ds_shared_data_free(ds_shared_data *sd, ds_err *err)
{
    if (!sd || sd->win == MPI_WIN_NULL) return DS_OK;
    DS_MPI_TRY(MPI_Win_free(&sd->win), "MPI_Win_free (data)");
    return DS_OK;
}
