/* coord_file.c - the coordinator's results file: created, or resumed after the
 * checks that it is this sweep's, with its history of runs (/runs) and the set
 * of cells every run planned (see coord.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include "deepsigns/data.h"
#include "exp/coord.h"
#include "exp/proto.h"

/* ---- sets of cell identities ---- */

static ds_status id_set_add(ds_id_set *s, const char *id, ds_err *err)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 256;
        char (*p)[DS_CELL_ID_HEX] = realloc(s->ids, cap * sizeof *p);
        if (!p) return ds_err_set(err, DS_ENOMEM, "out of memory for %zu cell identities", cap);
        s->ids = p;
        s->cap = cap;
    }
    snprintf(s->ids[s->n++], DS_CELL_ID_HEX, "%s", id);
    return DS_OK;
}

static int id_cmp(const void *a, const void *b) { return strcmp(a, b); }

/* Sort and drop repeats. */
static void id_set_unique(ds_id_set *s)
{
    if (!s->n) return;
    qsort(s->ids, s->n, sizeof *s->ids, id_cmp);
    size_t k = 1;
    for (size_t i = 1; i < s->n; i++)
        if (strcmp(s->ids[i], s->ids[k - 1])) memmove(s->ids[k++], s->ids[i], DS_CELL_ID_HEX);
    s->n = k;
}

/* The identities of plan's cells in a malloc'd array. */
static ds_status plan_ids(const ds_plan *plan, char (**ids)[DS_CELL_ID_HEX], ds_err *err)
{
    *ids = calloc(plan->n ? (size_t)plan->n : 1, DS_CELL_ID_HEX);
    if (!*ids) return ds_err_set(err, DS_ENOMEM, "out of memory for %d cell identities", plan->n);
    for (int i = 0; i < plan->n; i++) memcpy((*ids)[i], plan->cells[i].id, DS_CELL_ID_HEX);
    return DS_OK;
}

/* ---- the cells a file was planned to hold: every run's plan, and its rows ---- */

/* A file made before format 3 has no /runs: record its first run from the root
 * attributes, its cells from its spec text planned again (or, when that text no
 * longer plans, the rows it holds). */
static ds_status record_first_run(ds_coord *c, ds_err *err)
{
    const char *text = ds_results_attr(c->res, "spec_text");
    const char *path = ds_results_attr(c->res, "spec_path");
    ds_spec *old = calloc(1, sizeof *old);
    ds_plan plan = {0};
    ds_id_set s = {0};
    ds_err e2 = {0};
    ds_status st = old ? DS_OK : ds_err_set(err, DS_ENOMEM, "out of memory for the spec");
    if (!st && text && !ds_spec_parse(text, strlen(text), path ? path : c->o->out, old, &e2) &&
        !ds_plan_make(old, &plan, &e2)) {
        for (int i = 0; !st && i < plan.n; i++) st = id_set_add(&s, plan.cells[i].id, err);
    } else {
        for (size_t r = 0; !st && r < ds_results_count(c->res); r++)
            st = id_set_add(&s, ds_results_row(c->res, r)->id, err);
    }
    id_set_unique(&s);
    ds_results_run run = {.mode = "new (recorded when first resumed)", .spec_text = text,
                          .spec_path = path, .spec_hash = ds_results_attr(c->res, "spec_hash"),
                          .data_sha256 = "", .cells = (const char (*)[DS_CELL_ID_HEX])s.ids,
                          .ncells = s.n};
    if (!st) st = ds_results_add_run(c->res, &run, err);
    free(s.ids);
    ds_plan_free(&plan);
    if (old) ds_spec_free(old);
    free(old);
    return st;
}

/* Every cell any run planned into c->planned (sorted, unique), and the file's
 * total_cells from it. */
static ds_status gather_planned(ds_coord *c, ds_err *err)
{
    size_t runs = 0;
    ds_status st = ds_results_run_count(c->res, &runs, err);
    for (size_t i = 0; !st && i < runs; i++) {
        char (*ids)[DS_CELL_ID_HEX] = NULL;
        size_t n = 0;
        st = ds_results_run_cells(c->res, i, &ids, &n, err);
        for (size_t k = 0; !st && k < n; k++) st = id_set_add(&c->planned, ids[k], err);
        free(ids);
    }
    for (size_t r = 0; !st && r < ds_results_count(c->res); r++)
        st = id_set_add(&c->planned, ds_results_row(c->res, r)->id, err);
    if (st) return st;
    id_set_unique(&c->planned);
    return ds_results_set_attr_int(c->res, "total_cells", (long long)c->planned.n, err);
}

int ds_coord_file_complete(const ds_coord *c)
{
    for (size_t i = 0; i < c->planned.n; i++)
        if (ds_results_find(c->res, c->planned.ids[i]) < 0) return 0;
    return 1;
}

/* ---- opening ---- */

/* A results file holds key files (/keys): say so when group or others can read or
 * write it. The next commit writes it 0600 again (ds_results_commit). */
static void warn_if_exposed(const char *path, const ds_results *res)
{
    struct stat sb;
    if (stat(path, &sb) == 0 && (sb.st_mode & 077))
        fprintf(stderr, "sweep: warning: %s may hold secret key material (/keys) but its mode is %03o "
                "(readable or writable by group or others); it is written 0600 from now on\n",
                path, (unsigned)(sb.st_mode & 0777));
    /* its blob store holds the key files themselves */
    char store[PATH_MAX];
    ds_err serr = {0};
    if (ds_results_store_dir(res, store, sizeof store, &serr)) return;
    DIR *d = opendir(store);
    if (!d) return;
    int loose = stat(store, &sb) == 0 && (sb.st_mode & 077);
    struct dirent *e;
    char f[PATH_MAX + 80];
    while ((e = readdir(d)))
        if (e->d_name[0] != '.' && (size_t)snprintf(f, sizeof f, "%s/%s", store, e->d_name) < sizeof f &&
            stat(f, &sb) == 0 && (sb.st_mode & 077))
            loose++;
    closedir(d);
    if (loose)
        fprintf(stderr, "sweep: warning: the blob store %s holds secret key material but it or some of "
                "its files may be read or written by group or others; chmod -R go= it\n", store);
}

/* What the analysis needs to state the claim rules: the class count and the
 * white-box claim level; and the data's fingerprint. */
static ds_status describe_data(ds_coord *c, const char *data_sha, ds_err *err)
{
    ds_status st = ds_results_set_attr(c->res, "data_sha256", data_sha, err);
    if (!st) st = ds_results_set_attr(c->res, "data_dir", c->spec->data_dir, err);
    if (!st) st = ds_results_set_attr_int(c->res, "classes", c->classes, err);
    if (!st) st = ds_results_set_attr_double(c->res, "wb_alpha", DS_WB_ALPHA, err);
    return st;
}

/* The file exists and --resume: open it, refuse another spec or data unless
 * --force, note the cells it holds, and say which kind of run this is in run->mode. */
static ds_status open_resume(ds_coord *c, const char *data_sha, ds_results_run *run, ds_err *err)
{
    const ds_sweep_opts *o = c->o;
    const ds_plan *plan = c->plan;
    /* after MPI_Init: read in this process (ds_results_open_direct) */
    if (!(c->res = ds_results_open_direct(o->out, err))) return err->code;
    warn_if_exposed(o->out, c->res);
    const char *h = ds_results_attr(c->res, "spec_hash");
    const char *d = ds_results_attr(c->res, "data_sha256");
    const int other_spec = !h || strcmp(h, plan->hash), other_data = d && strcmp(d, data_sha);
    ds_status st = DS_OK;
    if (!o->force && other_spec)
        st = ds_err_set(err, DS_EINVAL,
                        "%s was made from another spec or version (plan hash %.12s, this "
                        "spec %.12s%s%s%s); use another -o, or --force to add to it anyway",
                        o->out, h ? h : "(none)", plan->hash,
                        c->spec->model_file[0] ? ", which includes the content of model.file " : "",
                        c->spec->model_file, c->spec->model_file[0] ? ": it may have changed" : "");
    else if (!o->force && other_data)
        st = ds_err_set(err, DS_EINVAL,
                        "%s was made from other data: the files in %s changed (SHA-256 %.12s "
                        "recorded, %.12s now); use another -o, or --force to add to it anyway",
                        o->out, c->spec->data_dir, d, data_sha);
    if (!st && !d)
        fprintf(stderr, "sweep: warning: %s records no data fingerprint (made by an older "
                "version); the data cannot be checked, and this data's is recorded now\n", o->out);
    if (!st && (other_spec || other_data))
        fprintf(stderr, "sweep: --force: adding the cells of %s to %s, which holds cells of "
                "another %s; its history (/runs) keeps both\n", o->spec_path, o->out,
                other_spec ? "spec" : "data set");
    size_t named = 0; /* every blob the file names must be there before any cell runs */
    if (!st && ds_results_check_store(c->res, &named, err))
        st = ds_err_prefix(err, "cannot resume: ");
    run->mode = other_spec || other_data ? "resume --force" : "resume";
    size_t runs = 0;
    if (!st) st = ds_results_run_count(c->res, &runs, err);
    if (!st && runs == 0) st = record_first_run(c, err);
    for (size_t r = 0; !st && r < ds_results_count(c->res); r++) {
        const ds_result_row *row = ds_results_row(c->res, r);
        int i = ds_plan_find(plan, row->id);
        if (i < 0 || c->state[i] != DS_CELL_PENDING) continue;
        c->state[i] = strcmp(row->status, "done") ? DS_CELL_FAILED : DS_CELL_DONE;
        c->sum->skipped++;
    }
    c->committed = ds_results_count(c->res);
    if (!st) st = ds_results_set_attr_int(c->res, "ranks", run->ranks, err);
    if (!st) st = ds_results_set_attr_int(c->res, "threads", run->threads, err);
    /* the root describes the latest run; /runs keeps every one */
    if (!st) st = ds_results_set_attr(c->res, "spec_text", c->spec->text, err);
    if (!st) st = ds_results_set_attr(c->res, "spec_path", o->spec_path, err);
    if (!st) st = ds_results_set_attr(c->res, "spec_hash", plan->hash, err);
    return st;
}

/* A new file at o->out, its root describing this run and this MPI. */
static ds_status open_create(ds_coord *c, int ranks, ds_err *err)
{
    const ds_sweep_opts *o = c->o;
    char mpi[64], mpilib[MPI_MAX_LIBRARY_VERSION_STRING];
    ds_proto_versions(mpi, sizeof mpi, mpilib, sizeof mpilib);
    ds_results_info info = {.name = c->spec->name, .spec_text = c->spec->text,
                            .spec_path = o->spec_path, .spec_hash = c->plan->hash,
                            .seed = c->spec->seed, .ranks = ranks,
                            .threads = o->threads > 0 ? o->threads : 1,
                            .total_cells = (size_t)c->plan->n, .mpi_version = mpi,
                            .mpi_library_version = mpilib};
    if (!(c->res = ds_results_create(o->out, &info, err))) return err->code;
    return DS_OK;
}

/* The file's blob store, made when absent, as an absolute path every rank can
 * use (c->store). */
static ds_status store_resolve(ds_coord *c, ds_err *err)
{
    char dir[PATH_MAX];
    ds_status st = ds_results_store_dir(c->res, dir, sizeof dir, err);
    if (!st) st = ds_blobstore_ensure(dir, err);
    if (!st && !realpath(dir, c->store))
        st = ds_err_set(err, DS_EIO, "%s: cannot resolve its blob store %s: %s", c->o->out, dir, strerror(errno));
    return st;
}

ds_status ds_coord_open_results(ds_coord *c, int ranks, ds_err *err)
{
    const ds_sweep_opts *o = c->o;
    const ds_spec *spec = c->spec;
    const ds_plan *plan = c->plan;
    char data_sha[DS_DATA_SHA256_HEX];
    ds_status st = ds_data_fingerprint_dir(spec->data_dir, spec->data_format, data_sha, err);
    if (st) return ds_err_prefix(err, "%s: data fingerprint: ", spec->path);
    char (*ids)[DS_CELL_ID_HEX] = NULL;
    if ((st = plan_ids(plan, &ids, err))) return st;
    ds_results_run run = {.mode = "new", .spec_text = spec->text, .spec_path = o->spec_path,
                          .spec_hash = plan->hash, .data_sha256 = data_sha, .ranks = ranks,
                          .threads = o->threads > 0 ? o->threads : 1,
                          .cells = (const char (*)[DS_CELL_ID_HEX])ids, .ncells = (size_t)plan->n};
    if (o->resume && access(o->out, F_OK) == 0)
        st = open_resume(c, data_sha, &run, err);
    else if (access(o->out, F_OK) == 0)
        st = ds_err_set(err, DS_EINVAL, "%s exists: use --resume to continue it, or another -o", o->out);
    else
        st = open_create(c, ranks, err);
    if (!st) st = ds_results_add_run(c->res, &run, err);
    free(ids);
    if (!st) st = describe_data(c, data_sha, err);
    if (!st) st = gather_planned(c, err);
    if (!st) st = ds_results_set_attr(c->res, "status", "running", err);
    if (!st) st = store_resolve(c, err);
    return st ? st : ds_results_commit(c->res, err);
}
