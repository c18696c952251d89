/* test_results.c - results files and the in-memory images of model and key
 * files: model and key images equal the bytes of the saved files, load back and
 * refuse truncation; a results file round-trips its rows field by field, its
 * root attributes and its model and key blobs; a commit that cannot be written
 * (a path below a regular file, a disk that fills midway) fails with a clear
 * message, leaves the file on disk as it was and the handle usable; a truncated
 * file and a model file are refused by open with the reason; h5py (through
 * /usr/bin/python3) and h5dump read the file without this library. Fixtures
 * live in a mkdtemp directory under /tmp that is removed at the end.
 */
#include "deepsigns/results.h"

#include <dirent.h>
#include <hdf5.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "testutil.h"
#include "deepsigns/model_file.h"
#include "deepsigns/version.h"
#include "deepsigns/wm.h"

/* ---------------------------------------------------------------- fixtures */

static ds_model *make_model(uint64_t seed)
{
    ds_err err = {0};
    ds_arch a;
    CHECK_OK(ds_arch_defaults("mnist-mlp", 1, 28, 28, 10, &a, &err), &err);
    a.hidden = 32;
    ds_model *m = ds_model_build(&a, &err);
    CHECK(m != NULL, "build: %s", err.msg);
    if (!m) return NULL;
    ds_model_init_params(m, seed);
    m->meta.preproc = (ds_preproc){.scale = 1.0f / 255.0f, .channels = 1, .mean = {0.1f},
                                   .std = {0.3f}};
    snprintf(m->meta.source, sizeof m->meta.source, "deepsigns");
    m->meta.seed = seed;
    return m;
}

static int same_params(const ds_model *a, const ds_model *b)
{
    return a && b && a->nparams == b->nparams && a->nstats == b->nstats &&
           !memcmp(a->params, b->params, a->nparams * sizeof(float)) &&
           (a->nstats == 0 || !memcmp(a->stats, b->stats, a->nstats * sizeof(float)));
}

enum { WB_M = 16, WB_S = 2, WB_N = 8, IMG_N = 4 };

/* A white-box key: classes 10, layer relu_2 of width 16, targets {3, 7}, 8 bits. */
static int make_key(ds_wm_key *k)
{
    memset(k, 0, sizeof *k);
    k->scheme = DS_WM_WHITEBOX;
    snprintf(k->arch, sizeof k->arch, "mnist-mlp");
    k->classes = 10;
    k->seed = 42;
    ds_wb_key *w = &k->wb;
    snprintf(w->layer, sizeof w->layer, "relu_2");
    w->M = WB_M;
    w->s = WB_S;
    w->N = WB_N;
    w->lambda2 = 0.003f;
    w->alpha = 1e-4;
    w->targets = malloc(WB_S * sizeof *w->targets);
    w->bits = malloc(WB_S * WB_N);
    w->A = malloc(WB_N * WB_M * sizeof *w->A);
    k->n = IMG_N;
    k->c = 1;
    k->h = k->w = 4;
    k->x = malloc(IMG_N * 16);
    k->y = malloc(IMG_N);
    k->source_index = malloc(IMG_N * sizeof *k->source_index);
    if (!w->targets || !w->bits || !w->A || !k->x || !k->y || !k->source_index) {
        CHECK(0, "out of memory");
        return 0;
    }
    w->targets[0] = 3;
    w->targets[1] = 7;
    for (int i = 0; i < WB_S * WB_N; i++) w->bits[i] = (uint8_t)(i % 3 == 0);
    for (int i = 0; i < WB_N * WB_M; i++) w->A[i] = (float)sin(1.0 + i);
    for (int i = 0; i < IMG_N * 16; i++) k->x[i] = (uint8_t)(i * 37);
    for (int i = 0; i < IMG_N; i++) {
        k->y[i] = (uint8_t)w->targets[i % WB_S];
        k->source_index[i] = 100 + i;
    }
    return 1;
}

static int contains(const char *s, const char *part) { return s && strstr(s, part) != NULL; }

/* ---------------------------------------------------------------- model and key images */

static void test_model_image(void)
{
    ds_err err = {0};
    ds_model *m = make_model(7);
    if (!m) return;
    char p[TU_PATH_LEN];
    tu_path(p, "model.h5");
    CHECK_OK(ds_model_save(m, p, &err), &err);
    void *img = NULL;
    size_t n = 0;
    CHECK_OK(ds_model_save_image(m, &img, &n, &err), &err);
    tu_bytes b = tu_read_file(p);
    CHECK(img && n == b.n && !memcmp(img, b.b, n), "image (%zu bytes) differs from the file (%zu)", n,
          b.n);
    ds_model *back = ds_model_load_image(img, n, "sent model", &err);
    CHECK(back != NULL, "load_image: %s", err.msg);
    CHECK(same_params(m, back), "parameters differ after load_image");
    CHECK(back && !strcmp(back->arch.name, "mnist-mlp") && back->arch.hidden == 32, "arch");
    ds_model_free(back);

    ds_model *cut = ds_model_load_image(img, n / 2, "sent model", &err);
    CHECK(cut == NULL && err.code == DS_EFORMAT, "a truncated image was accepted");
    CHECK(contains(err.msg, "sent model: not a readable model file (truncated or damaged?): "),
          "message: %s", err.msg);
    ds_model_free(cut);
    cut = ds_model_load_image(img, 0, "sent model", &err);
    CHECK(cut == NULL && contains(err.msg, "sent model: not a readable model file"), "empty: %s",
          err.msg);
    ds_model_free(cut);
    free(img);
    free(b.b);
    ds_model_free(m);
}

static void test_key_image(void)
{
    ds_err err = {0};
    ds_wm_key k;
    if (!make_key(&k)) {
        ds_wm_key_free(&k);
        return;
    }
    char p[TU_PATH_LEN];
    tu_path(p, "key.h5");
    CHECK_OK(ds_key_save(&k, p, &err), &err);
    CHECK(tu_file_mode(p) == 0600, "mode %o", tu_file_mode(p));
    void *img = NULL;
    size_t n = 0;
    CHECK_OK(ds_key_save_image(&k, &img, &n, &err), &err);
    tu_bytes b = tu_read_file(p);
    CHECK(img && n == b.n && !memcmp(img, b.b, n), "image (%zu bytes) differs from the file (%zu)", n,
          b.n);
    ds_wm_key back;
    CHECK_OK(ds_key_load_image(img, n, "sent key", &back, &err), &err);
    CHECK(back.scheme == k.scheme && back.wb.N == WB_N && back.wb.M == WB_M && back.n == IMG_N,
          "key fields");
    CHECK(back.wb.A && !memcmp(back.wb.A, k.wb.A, WB_N * WB_M * sizeof(float)), "A differs");
    CHECK(back.x && !memcmp(back.x, k.x, IMG_N * 16), "images differ");
    char c1[DS_COMMIT_HEX], c2[DS_COMMIT_HEX];
    CHECK_OK(ds_key_commitment(&k, c1, &err), &err);
    CHECK_OK(ds_key_commitment(&back, c2, &err), &err);
    CHECK(!strcmp(c1, c2), "commitments differ");
    ds_wm_key_free(&back);

    ds_status st = ds_key_load_image(img, n / 2, "sent key", &back, &err);
    CHECK(st == DS_EFORMAT, "a truncated image was accepted");
    CHECK(contains(err.msg, "sent key: not a readable key file (truncated or damaged?): "), "message: %s",
          err.msg);
    CHECK(back.x == NULL && back.wb.A == NULL, "the key was not left empty");

    /* a model image given as a key */
    ds_model *m = make_model(3);
    void *mimg = NULL;
    size_t mn = 0;
    if (m) CHECK_OK(ds_model_save_image(m, &mimg, &mn, &err), &err);
    st = ds_key_load_image(mimg, mn, "sent key", &back, &err);
    CHECK(st == DS_EFORMAT && contains(err.msg, "it is a model file"), "model as key: %s", err.msg);
    free(mimg);
    ds_model_free(m);
    free(img);
    free(b.b);
    ds_wm_key_free(&k);
}

/* ---------------------------------------------------------------- results */

static ds_results_info sample_info(void)
{
    ds_results_info info = {
        .name = "unit-test",
        .spec_text = "name: unit-test\nseed: 1234\n",
        .spec_path = "/tmp/spec.yaml",
        .spec_hash = "00112233445566778899aabbccddeeff",
        .seed = 0xF00DCAFEDEADBEEFull,
        .ranks = 4,
        .threads = 2,
        .total_cells = 3,
        .mpi_version = "4.1.4",
        .mpi_library_version = "Open MPI v4.1.4, package: unit test",
    };
    return info;
}

static void sample_rows(ds_result_row r[3])
{
    for (int i = 0; i < 3; i++) ds_result_row_init(&r[i]);
    snprintf(r[0].id, sizeof r[0].id, "0123456789abcdef");
    snprintf(r[0].kind, sizeof r[0].kind, "train");
    snprintf(r[0].benchmark, sizeof r[0].benchmark, "mnist-mlp");
    snprintf(r[0].status, sizeof r[0].status, "done");
    r[0].seed = 1;
    r[0].acc_after = 0.9812;
    r[0].seconds = 12.5;
    r[0].rank = 0;

    snprintf(r[1].id, sizeof r[1].id, "fedcba9876543210");
    snprintf(r[1].parent, sizeof r[1].parent, "0123456789abcdef");
    snprintf(r[1].key_id, sizeof r[1].key_id, "fedcba9876543210");
    snprintf(r[1].kind, sizeof r[1].kind, "embed");
    snprintf(r[1].benchmark, sizeof r[1].benchmark, "cifar10-wrn");
    snprintf(r[1].scheme, sizeof r[1].scheme, "whitebox");
    snprintf(r[1].status, sizeof r[1].status, "done");
    r[1].strength = 32;
    r[1].seed = UINT64_MAX; /* 2^64-1: no sentinel, not negative */
    r[1].acc_before = 0.9812;
    r[1].acc_after = 0.9799;
    r[1].ber = 0.0;
    r[1].ber_p = 1.0 / 3.0;
    r[1].bit_errors = 0;
    r[1].bits = 64;
    r[1].owned = 1;
    r[1].seconds = 100.25;
    r[1].rank = 3;
    snprintf(r[1].config, sizeof r[1].config, "00ff00ff00ff00ff");
    memset(r[1].commitment, 'c', sizeof r[1].commitment - 1);

    snprintf(r[2].id, sizeof r[2].id, "aaaaaaaaaaaaaaaa");
    snprintf(r[2].parent, sizeof r[2].parent, "fedcba9876543210");
    snprintf(r[2].key_id, sizeof r[2].key_id, "fedcba9876543210");
    snprintf(r[2].kind, sizeof r[2].kind, "attack");
    snprintf(r[2].benchmark, sizeof r[2].benchmark, "mnist-mlp");
    snprintf(r[2].scheme, sizeof r[2].scheme, "blackbox");
    snprintf(r[2].attack, sizeof r[2].attack, "prune");
    snprintf(r[2].variant, sizeof r[2].variant, "global");
    snprintf(r[2].status, sizeof r[2].status, "failed");
    memset(r[2].reason, 'x', sizeof r[2].reason - 1);  /* the longest reason that fits */
    r[2].strength = 0.5;
    r[2].seed = (uint64_t)1 << 63;
    r[2].mismatches = 2;
    r[2].keys = 20;
    r[2].theta = 9;
    r[2].bb_p = 1e-300;
    r[2].owned = 0;
    r[2].realised = 0.4999;
    r[2].delta_l2 = -0.0;
    r[2].seconds = 3.0;
    r[2].rank = 2147483647;
}

#define SAME_STR(f) CHECK(!strcmp(a->f, b->f), "%s: " #f " '%s' vs '%s'", what, a->f, b->f)
#define SAME_NUM(f) CHECK(!memcmp(&a->f, &b->f, sizeof a->f), "%s: " #f " differs", what)

/* Field by field; numbers bit for bit (NaN, -0.0). */
static void check_same_row(const ds_result_row *a, const ds_result_row *b, const char *what)
{
    CHECK(a && b, "%s: missing row", what);
    if (!a || !b) return;
    SAME_STR(id);
    SAME_STR(parent);
    SAME_STR(key_id);
    SAME_STR(kind);
    SAME_STR(benchmark);
    SAME_STR(scheme);
    SAME_STR(attack);
    SAME_STR(variant);
    SAME_NUM(strength);
    SAME_NUM(seed);
    SAME_STR(status);
    SAME_STR(reason);
    SAME_NUM(acc_before);
    SAME_NUM(acc_after);
    SAME_NUM(ber);
    SAME_NUM(ber_p);
    SAME_NUM(bit_errors);
    SAME_NUM(bits);
    SAME_NUM(mismatches);
    SAME_NUM(keys);
    SAME_NUM(theta);
    SAME_NUM(bb_p);
    SAME_NUM(owned);
    SAME_NUM(realised);
    SAME_NUM(delta_l2);
    SAME_NUM(seconds);
    SAME_NUM(rank);
}

/* A results file at tu_root/name with the three sample rows, committed. */
static void make_results(const char *name, char *path)
{
    ds_err err = {0};
    tu_path(path, name);
    ds_results_info info = sample_info();
    ds_results *r = ds_results_create(path, &info, &err);
    CHECK(r != NULL, "create: %s", err.msg);
    if (!r) return;
    ds_result_row rows[3];
    sample_rows(rows);
    for (int i = 0; i < 3; i++) CHECK_OK(ds_results_append(r, &rows[i], &err), &err);
    ds_results_close(r);
}

static int is_iso_utc(const char *s)
{
    return s && strlen(s) == 20 && s[4] == '-' && s[7] == '-' && s[10] == 'T' && s[13] == ':' &&
           s[16] == ':' && s[19] == 'Z';
}

static void test_row_init(void)
{
    ds_result_row r;
    memset(&r, 0x55, sizeof r);
    ds_result_row_init(&r);
    CHECK(r.id[0] == '\0' && r.reason[0] == '\0' && r.attack[0] == '\0', "strings not empty");
    CHECK(isnan(r.strength) && isnan(r.acc_before) && isnan(r.ber_p) && isnan(r.bb_p) &&
          isnan(r.seconds) && isnan(r.delta_l2), "doubles not NaN");
    CHECK(r.seed == 0, "seed %llu, not 0", (unsigned long long)r.seed);
    CHECK(r.bit_errors == -1 && r.keys == -1 && r.owned == -1 && r.rank == -1,
          "integers not -1");
}

static void test_roundtrip(void)
{
    ds_err err = {0};
    char p[TU_PATH_LEN];
    tu_path(p, "rt.h5");
    ds_results_info info = sample_info();
    ds_results *r = ds_results_create(p, &info, &err);
    CHECK(r != NULL, "create: %s", err.msg);
    if (!r) return;
    CHECK(access(p, F_OK) != 0, "create wrote the file before a commit");
    ds_result_row rows[3];
    sample_rows(rows);
    for (int i = 0; i < 3; i++) CHECK_OK(ds_results_append(r, &rows[i], &err), &err);
    CHECK(ds_results_count(r) == 3, "count %zu", ds_results_count(r));
    CHECK(tu_file_mode(p) == 0600, "mode %o", tu_file_mode(p));
    char created[32] = "";
    const char *c0 = ds_results_attr(r, "created");
    CHECK(is_iso_utc(c0), "created '%s'", c0 ? c0 : "(null)");
    if (c0) snprintf(created, sizeof created, "%s", c0);
    ds_results_close(r);
    CHECK(tu_count_entries(tu_root) >= 1, "entries");

    r = ds_results_open(p, &err);
    CHECK(r != NULL, "open: %s", err.msg);
    if (!r) return;
    CHECK(ds_results_count(r) == 3, "count after open %zu", ds_results_count(r));
    for (int i = 0; i < 3; i++) check_same_row(&rows[i], ds_results_row(r, (size_t)i), "reopened");
    CHECK(ds_results_row(r, 3) == NULL, "row 3 exists");
    CHECK(ds_results_find(r, "fedcba9876543210") == 1, "find row 1");
    CHECK(ds_results_find(r, "aaaaaaaaaaaaaaaa") == 2, "find row 2");
    CHECK(ds_results_find(r, "0000000000000000") == -1, "found a missing id");
    CHECK(ds_results_find(r, "") == -1, "found an empty id");

    const char *strs[][2] = {
        {"magic", DS_RESULTS_MAGIC},     {"name", "unit-test"},
        {"spec_text", info.spec_text},   {"spec_path", info.spec_path},
        {"spec_hash", info.spec_hash},   {"program_version", DS_VERSION},
        {"git_revision", DS_GIT_REV},
    };
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
        const char *v = ds_results_attr(r, strs[i][0]);
        CHECK(v && !strcmp(v, strs[i][1]), "attr %s: '%s'", strs[i][0], v ? v : "(null)");
    }
    unsigned maj, min, rel;
    char hv[64];
    H5get_libversion(&maj, &min, &rel);
    snprintf(hv, sizeof hv, "%u.%u.%u", maj, min, rel);
    CHECK(ds_results_attr(r, "hdf5_version") && !strcmp(ds_results_attr(r, "hdf5_version"), hv),
          "hdf5_version");
    const char *present[] = {"gsl_version", "openblas_version", "openmpi_version", "host",
                             "mpi_library_version"};
    for (size_t i = 0; i < sizeof present / sizeof present[0]; i++)
        CHECK(ds_results_attr(r, present[i]) != NULL, "attr %s missing", present[i]);
    CHECK(contains(ds_results_attr(r, "openblas_version"), "OpenBLAS"), "openblas_version '%s'",
          ds_results_attr(r, "openblas_version"));
    CHECK(!strcmp(ds_results_attr(r, "openmpi_version"), info.mpi_version), "openmpi_version '%s'",
          ds_results_attr(r, "openmpi_version"));
    CHECK(!strcmp(ds_results_attr(r, "mpi_library_version"), info.mpi_library_version),
          "mpi_library_version '%s'", ds_results_attr(r, "mpi_library_version"));
    CHECK(ds_results_attr(r, "host")[0] != '\0', "host empty");
    CHECK(ds_results_attr(r, "created") && !strcmp(ds_results_attr(r, "created"), created),
          "created changed on reopen");
    CHECK(is_iso_utc(ds_results_attr(r, "updated")), "updated");
    CHECK(ds_results_attr(r, "seed") == NULL, "a numeric attribute returned as a string");
    CHECK(ds_results_attr(r, "no-such") == NULL, "a missing attribute");

    /* resume: append more and read back again */
    ds_result_row extra;
    ds_result_row_init(&extra);
    snprintf(extra.id, sizeof extra.id, "0123456789abcdef");  /* the same id again */
    snprintf(extra.status, sizeof extra.status, "done");
    CHECK_OK(ds_results_append(r, &extra, &err), &err);
    CHECK(ds_results_find(r, "0123456789abcdef") == 3, "find gives the latest row of an id");
    ds_results_close(r);
    r = ds_results_open(p, &err);
    CHECK(r && ds_results_count(r) == 4, "count after resume");
    if (r) check_same_row(&extra, ds_results_row(r, 3), "resumed");
    ds_results_close(r);
}

static void test_two_handles(void)
{
    ds_err err = {0};
    char p[TU_PATH_LEN];
    make_results("two.h5", p);
    ds_results *a = ds_results_open(p, &err), *b = ds_results_open(p, &err);
    CHECK(a && b, "open twice: %s", err.msg);
    ds_results_info info = sample_info();
    ds_results *c = ds_results_create(p, &info, &err);  /* a fresh one for the same path */
    CHECK(c != NULL, "create while open: %s", err.msg);
    CHECK(a && b && ds_results_count(a) == 3 && ds_results_count(b) == 3, "counts");
    CHECK(c && ds_results_count(c) == 0, "a new file has rows");
    ds_results_close(a);
    ds_results_close(b);
    ds_results_close(c);
    ds_results_close(NULL);
}

/* The MPI version attributes are what the caller gives ("" when it gives none):
 * the io layer does not ask MPI itself. */
static void test_mpi_versions_given(void)
{
    ds_err err = {0};
    char p[TU_PATH_LEN];
    tu_path(p, "nompi.h5");
    ds_results_info info = sample_info();
    info.mpi_version = NULL;
    info.mpi_library_version = NULL;
    ds_results *r = ds_results_create(p, &info, &err);
    CHECK(r != NULL, "create: %s", err.msg);
    if (!r) return;
    CHECK_OK(ds_results_commit(r, &err), &err);
    ds_results_close(r);
    r = ds_results_open(p, &err);
    CHECK(r != NULL, "open: %s", err.msg);
    if (!r) return;
    const char *v = ds_results_attr(r, "openmpi_version"), *l = ds_results_attr(r, "mpi_library_version");
    CHECK(v && v[0] == '\0', "openmpi_version '%s' (none given)", v ? v : "(null)");
    CHECK(l && l[0] == '\0', "mpi_library_version '%s' (none given)", l ? l : "(null)");
    ds_results_close(r);
}

static void test_attrs(void)
{
    ds_err err = {0};
    char p[TU_PATH_LEN];
    make_results("attrs.h5", p);
    ds_results *r = ds_results_open(p, &err);
    CHECK(r != NULL, "open: %s", err.msg);
    if (!r) return;
    CHECK_OK(ds_results_set_attr(r, "status", "running", &err), &err);
    CHECK_OK(ds_results_set_attr(r, "status", "finished", &err), &err);
    CHECK(!strcmp(ds_results_attr(r, "status"), "finished"), "status not replaced");
    CHECK_OK(ds_results_set_attr_int(r, "cells_done", 3, &err), &err);
    CHECK_OK(ds_results_set_attr_int(r, "status", -7, &err), &err);  /* a string becomes a number */
    CHECK(ds_results_attr(r, "status") == NULL, "a number replaced a string but is still cached");
    CHECK_OK(ds_results_set_attr(r, "note", "", &err), &err);
    CHECK(ds_results_set_attr(r, "magic", "X", &err) == DS_EINVAL && contains(err.msg, "'magic'"),
          "magic: %s", err.msg);
    CHECK(ds_results_set_attr_int(r, "format_version", 2, &err) == DS_EINVAL, "format_version");
    CHECK(ds_results_set_attr(r, "", "x", &err) == DS_EINVAL, "empty name");
    CHECK_OK(ds_results_commit(r, &err), &err);
    CHECK_OK(ds_results_commit(r, &err), &err);  /* safe to call again */
    ds_results_close(r);
    r = ds_results_open(p, &err);
    CHECK(r != NULL, "reopen: %s", err.msg);
    if (!r) return;
    CHECK(ds_results_attr(r, "note") && ds_results_attr(r, "note")[0] == '\0', "note");
    CHECK(ds_results_attr(r, "status") == NULL, "status should be numeric now");
    CHECK(!strcmp(ds_results_attr(r, "magic"), DS_RESULTS_MAGIC), "magic");
    CHECK_OK(ds_results_set_attr_int(r, "total_cells", 9, &err), &err); /* created uint64: stays so */
    CHECK_OK(ds_results_commit(r, &err), &err);
    ds_results_close(r);
    hid_t f = H5Fopen(p, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t a = f < 0 ? -1 : H5Aopen(f, "total_cells", H5P_DEFAULT), t = a < 0 ? -1 : H5Aget_type(a);
    uint64_t total = 0;
    CHECK(t >= 0 && H5Tget_sign(t) == H5T_SGN_NONE && H5Tget_size(t) == 8 &&
              H5Aread(a, H5T_NATIVE_UINT64, &total) >= 0 && total == 9,
          "total_cells rewritten as uint64 9: %llu", (unsigned long long)total);
    if (t >= 0) H5Tclose(t);
    if (a >= 0) H5Aclose(a);
    if (f >= 0) H5Fclose(f);
}

static void test_long_spec_text(void)
{
    ds_err err = {0};
    char p[TU_PATH_LEN];
    tu_path(p, "long-spec.h5");
    enum { LEN = 60000, TOO_LONG = 60001 };
    char *text = malloc(TOO_LONG + 1);
    if (!text) return;
    for (int i = 0; i < TOO_LONG; i++) text[i] = (char)('a' + i % 26);
    text[LEN] = '\0';
    ds_results_info info = sample_info();
    info.spec_text = text;
    ds_results *r = ds_results_create(p, &info, &err);
    CHECK(r != NULL, "create: %s", err.msg);
    if (r) CHECK_OK(ds_results_commit(r, &err), &err);
    ds_results_close(r);
    r = ds_results_open(p, &err);
    CHECK(r != NULL, "open: %s", err.msg);
    CHECK(r && ds_results_attr(r, "spec_text") && !strcmp(ds_results_attr(r, "spec_text"), text),
          "spec_text differs");
    ds_results_close(r);
    text[LEN] = 'x';
    text[TOO_LONG] = '\0';
    tu_path(p, "too-long-spec.h5");
    r = ds_results_create(p, &info, &err);
    CHECK(r == NULL && err.code == DS_ERANGE && contains(err.msg, "'spec_text' is 60001 bytes"),
          "a spec text that does not fit: %s", err.msg);
    ds_results_close(r);
    free(text);
}

static void test_bad_rows(void)
{
    ds_err err = {0};
    char p[TU_PATH_LEN];
    make_results("bad-rows.h5", p);
    ds_results *r = ds_results_open(p, &err);
    if (!r) {
        CHECK(0, "open: %s", err.msg);
        return;
    }
    ds_result_row row;
    ds_result_row_init(&row);
    CHECK(ds_results_append(r, &row, &err) == DS_EINVAL && contains(err.msg, "no id"), "no id: %s",
          err.msg);
    memset(row.id, 'a', sizeof row.id);  /* 17 characters, no NUL */
    CHECK(ds_results_append(r, &row, &err) == DS_EINVAL && contains(err.msg, "column id"),
          "unterminated: %s", err.msg);
    CHECK(ds_results_count(r) == 3, "count %zu", ds_results_count(r));
    /* bytes after the NUL are not stored */
    ds_result_row_init(&row);
    memset(row.reason, 'z', sizeof row.reason);
    snprintf(row.reason, sizeof row.reason, "short");
    snprintf(row.id, sizeof row.id, "beef");
    CHECK_OK(ds_results_append(r, &row, &err), &err);
    const ds_result_row *got = ds_results_row(r, 3);
    CHECK(got && got->reason[6] == '\0' && got->reason[sizeof got->reason - 1] == '\0',
          "bytes after the NUL kept");
    ds_results_close(r);
}

/* ---------------------------------------------------------------- blobs */

static void test_blobs(void)
{
    ds_err err = {0};
    char p[TU_PATH_LEN];
    make_results("blobs.h5", p);
    ds_results *r = ds_results_open(p, &err);
    if (!r) {
        CHECK(0, "open: %s", err.msg);
        return;
    }
    ds_model *m = make_model(11);
    ds_wm_key k;
    int have_key = make_key(&k);
    void *mimg = NULL, *kimg = NULL;
    size_t mn = 0, kn = 0;
    if (m) CHECK_OK(ds_model_save_image(m, &mimg, &mn, &err), &err);
    if (have_key) CHECK_OK(ds_key_save_image(&k, &kimg, &kn, &err), &err);
    CHECK_OK(ds_results_put_blob(r, "models", "fedcba9876543210", "old", 3, &err), &err);
    CHECK_OK(ds_results_put_blob(r, "models", "fedcba9876543210", mimg, mn, &err), &err);  /* replaced */
    CHECK_OK(ds_results_put_blob(r, "keys", "fedcba9876543210", kimg, kn, &err), &err);
    CHECK_OK(ds_results_put_blob(r, "keys", "empty", NULL, 0, &err), &err);
    CHECK(ds_results_put_blob(r, "params", "x", "a", 1, &err) == DS_EINVAL && contains(err.msg, "params"),
          "group: %s", err.msg);
    CHECK(ds_results_put_blob(r, "models", "a/b", "a", 1, &err) == DS_EINVAL, "id with a slash");
    CHECK(ds_results_put_blob(r, "models", "", "a", 1, &err) == DS_EINVAL, "empty id");
    ds_result_row row;
    ds_result_row_init(&row);
    snprintf(row.id, sizeof row.id, "1111111111111111");
    CHECK_OK(ds_results_append(r, &row, &err), &err);  /* commits the blobs */
    ds_results_close(r);

    r = ds_results_open(p, &err);
    CHECK(r != NULL, "reopen: %s", err.msg);
    void *got = NULL;
    size_t n = 0;
    if (r) CHECK_OK(ds_results_get_blob(r, "models", "fedcba9876543210", &got, &n, &err), &err);
    CHECK(got && n == mn && !memcmp(got, mimg, n), "model blob differs");
    ds_model *back = got ? ds_model_load_image(got, n, "models/fedcba9876543210", &err) : NULL;
    CHECK(same_params(m, back), "model from the blob: %s", err.msg);
    ds_model_free(back);
    free(got);
    got = NULL;
    if (r) CHECK_OK(ds_results_get_blob(r, "keys", "fedcba9876543210", &got, &n, &err), &err);
    CHECK(got && n == kn && !memcmp(got, kimg, n), "key blob differs");
    ds_wm_key kb;
    if (got) {
        CHECK_OK(ds_key_load_image(got, n, "keys/fedcba9876543210", &kb, &err), &err);
        ds_wm_key_free(&kb);
    }
    free(got);
    got = NULL;
    if (r) CHECK_OK(ds_results_get_blob(r, "keys", "empty", &got, &n, &err), &err);
    CHECK(got != NULL && n == 0, "empty blob");
    free(got);
    got = (void *)1;
    if (r) CHECK_OK(ds_results_get_blob(r, "models", "0000000000000000", &got, &n, &err), &err);
    CHECK(got == NULL && n == 0, "a missing blob");
    ds_results_close(r);

    /* a file with no /keys group at all */
    ds_results_info info = sample_info();
    char q[TU_PATH_LEN];
    tu_path(q, "no-blobs.h5");
    r = ds_results_create(q, &info, &err);
    if (r) CHECK_OK(ds_results_get_blob(r, "keys", "x", &got, &n, &err), &err);
    CHECK(got == NULL, "a blob in a file without /keys");
    ds_results_close(r);

    free(mimg);
    free(kimg);
    ds_model_free(m);
    ds_wm_key_free(&k);
}

/* ---------------------------------------------------------------- failed commits */

/* A commit costs what the table holds: the blobs live in the store, once per
 * content; a damaged or missing blob is named when read. */
static void test_blob_store(void)
{
    ds_err err = {0};
    char p[TU_PATH_LEN], store[TU_PATH_LEN + 16], blob[TU_PATH_LEN + 300];
    make_results("store.h5", p);
    ds_results *r = ds_results_open(p, &err);
    if (!r) {
        CHECK(0, "open: %s", err.msg);
        return;
    }
    enum { BIG = 4 << 20 };
    unsigned char *big = malloc(BIG);
    CHECK(big != NULL, "malloc");
    if (!big) {
        ds_results_close(r);
        return;
    }
    for (size_t i = 0; i < BIG; i++) big[i] = (unsigned char)(i * 2654435761u >> 13);
    struct stat before, after;
    CHECK(stat(p, &before) == 0, "stat");
    CHECK_OK(ds_results_put_blob(r, "models", "aaaaaaaaaaaaaaaa", big, BIG, &err), &err);
    CHECK_OK(ds_results_put_blob(r, "models", "bbbbbbbbbbbbbbbb", big, BIG, &err), &err); /* same content */
    CHECK_OK(ds_results_commit(r, &err), &err);
    CHECK(stat(p, &after) == 0 && after.st_size < before.st_size + 65536,
          "the results file grew by %lld bytes for 8 MiB of blobs", (long long)(after.st_size - before.st_size));
    snprintf(store, sizeof store, "%s.blobs", p);
    int files = 0;
    DIR *d = opendir(store);
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (e->d_name[0] != '.') {
            files++;
            snprintf(blob, sizeof blob, "%s/%s", store, e->d_name);
        }
    if (d) closedir(d);
    CHECK(files == 1, "one content, one blob file: %d", files);
    void *got = NULL;
    size_t n = 0;
    CHECK_OK(ds_results_get_blob(r, "models", "bbbbbbbbbbbbbbbb", &got, &n, &err), &err);
    CHECK(got && n == BIG && !memcmp(got, big, BIG), "blob read back");
    free(got);
    ds_results_close(r);
    /* a flipped byte: refused with the blob's name */
    FILE *f = fopen(blob, "r+b");
    CHECK(f && fseek(f, 1000, SEEK_SET) == 0 && fputc(big[1000] ^ 1, f) != EOF, "flip");
    if (f) fclose(f);
    r = ds_results_open(p, &err);
    got = NULL;
    CHECK(r && ds_results_get_blob(r, "models", "aaaaaaaaaaaaaaaa", &got, &n, &err) == DS_EFORMAT && !got &&
              strstr(err.msg, "is damaged"), "damaged blob: %s", err.msg);
    unlink(blob);
    CHECK(r && ds_results_get_blob(r, "models", "aaaaaaaaaaaaaaaa", &got, &n, &err) != DS_OK && !got &&
              strstr(err.msg, blob), "missing blob: %s", err.msg);
    ds_results_close(r);
    free(big);
}

/* The store on its own (what a sweep worker uses), and a file that names blobs
 * a writer stored: by reference, checked at open, read without the bytes. */
static void test_blob_refs(void)
{
    ds_err err = {0};
    char dir[TU_PATH_LEN], path[TU_PATH_LEN + 200];
    tu_path(dir, "refs.store");
    const char data[] = "a model's bytes";
    ds_blob_ref ref, again;
    CHECK_OK(ds_blobstore_put(dir, data, sizeof data, &ref, &err), &err);
    struct stat sb;
    CHECK(stat(dir, &sb) == 0 && (sb.st_mode & 0777) == 0700, "store mode %o", (unsigned)(sb.st_mode & 0777));
    snprintf(path, sizeof path, "%s/%s", dir, ref.hex);
    CHECK(ds_blob_hex_valid(ref.hex) && ref.bytes == sizeof data, "ref %s %llu", ref.hex,
          (unsigned long long)ref.bytes);
    CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0600, "blob mode %o", (unsigned)(sb.st_mode & 0777));
    CHECK(chmod(path, 0644) == 0, "chmod");
    CHECK_OK(ds_blobstore_put(dir, data, sizeof data, &again, &err), &err); /* kept, made private */
    CHECK(!strcmp(ref.hex, again.hex) && stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0600,
          "the same content again: %s, mode %o", again.hex, (unsigned)(sb.st_mode & 0777));
    void *got = NULL;
    size_t n = 0;
    CHECK_OK(ds_blobstore_get(dir, &ref, &got, &n, &err), &err);
    CHECK(got && n == sizeof data && !memcmp(got, data, n), "read back");
    free(got);
    CHECK_OK(ds_blobstore_check(dir, &ref, &err), &err);
    ds_blob_ref wrong = ref;
    wrong.bytes++;
    CHECK(ds_blobstore_check(dir, &wrong, &err) == DS_EFORMAT && contains(err.msg, "is damaged"),
          "another size: %s", err.msg);
    CHECK(ds_blobstore_get(dir, &wrong, &got, &n, &err) == DS_EFORMAT && !got, "get another size: %s", err.msg);
    memcpy(wrong.hex, "zz", 2);
    CHECK(ds_blobstore_check(dir, &wrong, &err) == DS_EFORMAT && contains(err.msg, "not 64 hex digits"),
          "not a hash: %s", err.msg);
    tu_write_file(path, "A model's bytes", sizeof data); /* same size, one byte changed */
    CHECK(ds_blobstore_get(dir, &ref, &got, &n, &err) == DS_EFORMAT && !got && contains(err.msg, "is damaged") &&
              contains(err.msg, ref.hex), "damaged: %s", err.msg);
    CHECK_OK(ds_blobstore_check(dir, &ref, &err), &err); /* the check reads only the size */
    CHECK_OK(ds_blobstore_put(dir, data, sizeof data, &again, &err), &err); /* a damaged one is rewritten */
    CHECK_OK(ds_blobstore_get(dir, &ref, &got, &n, &err), &err);
    free(got);

    /* a results file names a blob a writer stored in its store */
    char p[TU_PATH_LEN], store[TU_PATH_LEN + 80];
    make_results("refs.h5", p);
    ds_results *r = ds_results_open(p, &err);
    if (!r) {
        CHECK(0, "open: %s", err.msg);
        return;
    }
    CHECK_OK(ds_results_store_dir(r, store, sizeof store, &err), &err);
    CHECK_OK(ds_blobstore_put(store, data, sizeof data, &ref, &err), &err);
    CHECK_OK(ds_results_put_blob_ref(r, "models", "1111111111111111", &ref, &err), &err);
    ds_blob_ref absent = ref;
    absent.hex[0] = absent.hex[0] == '0' ? '1' : '0';
    CHECK(ds_results_put_blob_ref(r, "keys", "1111111111111111", &absent, &err) == DS_EIO &&
              contains(err.msg, absent.hex) && contains(err.msg, "is not there"),
          "a reference to a blob not stored: %s", err.msg);
    ds_result_row row;
    ds_result_row_init(&row);
    snprintf(row.id, sizeof row.id, "1111111111111111");
    CHECK_OK(ds_results_append(r, &row, &err), &err);
    ds_results_close(r);
    r = ds_results_open(p, &err);
    CHECK(r != NULL, "reopen: %s", err.msg);
    size_t named = 0;
    if (r) CHECK_OK(ds_results_check_store(r, &named, &err), &err);
    CHECK(named == 1, "%zu blobs named", named);
    if (r) CHECK_OK(ds_results_get_blob_ref(r, "models", "1111111111111111", &again, &err), &err);
    CHECK(!strcmp(again.hex, ref.hex) && again.bytes == ref.bytes, "reference read back: %s", again.hex);
    if (r) CHECK_OK(ds_results_get_blob_ref(r, "keys", "1111111111111111", &again, &err), &err);
    CHECK(again.hex[0] == '\0', "no key named: %s", again.hex);
    got = NULL;
    if (r) CHECK_OK(ds_results_get_blob(r, "models", "1111111111111111", &got, &n, &err), &err);
    CHECK(got && n == sizeof data && !memcmp(got, data, n), "blob through the file");
    free(got);
    snprintf(path, sizeof path, "%s/%s", store, ref.hex);
    CHECK(unlink(path) == 0, "unlink");
    CHECK(r && ds_results_check_store(r, &named, &err) == DS_EIO && contains(err.msg, ref.hex) &&
              contains(err.msg, "models/1111111111111111"), "a missing blob found at the check: %s", err.msg);
    ds_results_close(r);

    /* an inline blob (before format 4) is copied into the store to be named */
    hid_t f = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t g = f < 0 ? -1 : H5Gcreate2(f, "keys", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t dim = sizeof data;
    hid_t sp = H5Screate_simple(1, &dim, NULL);
    hid_t d = g < 0 ? -1 : H5Dcreate2(g, "2222222222222222", H5T_STD_U8LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    CHECK(d >= 0 && H5Dwrite(d, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0, "inline blob");
    H5Dclose(d);
    H5Sclose(sp);
    H5Gclose(g);
    H5Fclose(f);
    r = ds_results_open(p, &err);
    CHECK(r != NULL, "reopen: %s", err.msg);
    if (r) CHECK_OK(ds_results_get_blob_ref(r, "keys", "2222222222222222", &again, &err), &err);
    CHECK(!strcmp(again.hex, ref.hex) && again.bytes == sizeof data, "inline blob named: %s", again.hex);
    CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0600, "the inline blob's copy in the store");
    ds_results_close(r);
}

static void test_commit_below_regular_file(void)
{
    ds_err err = {0};
    char f[TU_PATH_LEN], p[TU_PATH_LEN + 16];
    tu_path(f, "regular");
    tu_write_file(f, "x", 1);
    snprintf(p, sizeof p, "%s/results.h5", f);
    ds_results_info info = sample_info();
    ds_results *r = ds_results_create(p, &info, &err);
    CHECK(r != NULL, "create: %s", err.msg);
    if (!r) return;
    ds_result_row row;
    ds_result_row_init(&row);
    snprintf(row.id, sizeof row.id, "0123456789abcdef");
    ds_status st = ds_results_append(r, &row, &err);
    CHECK(st == DS_EIO, "append below a regular file: %s", ds_status_name(st));
    CHECK(contains(err.msg, p) && contains(err.msg, "Not a directory"), "message: %s", err.msg);
    CHECK(ds_results_count(r) == 0, "the row counts although it was not written");
    st = ds_results_commit(r, &err);
    CHECK(st == DS_EIO && contains(err.msg, "Not a directory"), "commit: %s", err.msg);
    ds_results_close(r);
}

/* A committed file is 0600 whatever the umask (it holds keys), and a commit
 * tightens a file loosened since. */
static void test_mode_0600(void)
{
    char p[TU_PATH_LEN];
    mode_t old = umask(022);
    make_results("mode.h5", p);
    struct stat sb;
    CHECK(stat(p, &sb) == 0 && (sb.st_mode & 0777) == 0600, "mode %03o under umask 022",
          (unsigned)(sb.st_mode & 0777));
    CHECK(chmod(p, 0644) == 0, "chmod");
    ds_err err = {0};
    ds_results *r = ds_results_open(p, &err);
    CHECK(r != NULL, "open: %s", err.msg);
    if (r) CHECK_OK(ds_results_commit(r, &err), &err);
    ds_results_close(r);
    CHECK(stat(p, &sb) == 0 && (sb.st_mode & 0777) == 0600, "mode %03o after a commit",
          (unsigned)(sb.st_mode & 0777));
    umask(old);
}

static void test_commit_disk_full(void)
{
    ds_err err = {0};
    char p[TU_PATH_LEN];
    make_results("full.h5", p);
    tu_bytes before = tu_read_file(p);
    int entries = tu_count_entries(tu_root);
    ds_results *r = ds_results_open(p, &err);
    if (!r) {
        CHECK(0, "open: %s", err.msg);
        free(before.b);
        return;
    }
    ds_result_row row;
    ds_result_row_init(&row);
    snprintf(row.id, sizeof row.id, "2222222222222222");
    tu_fsize_limit(before.n / 2);  /* the disk fills halfway through the write */
    ds_status st = ds_results_append(r, &row, &err);
    tu_fsize_restore();
    CHECK(st == DS_EIO, "append on a full disk: %s", ds_status_name(st));
    CHECK(contains(err.msg, p) && contains(err.msg, "cannot write"), "message: %s", err.msg);
    CHECK(ds_results_count(r) == 3, "count %zu after a failed append", ds_results_count(r));
    tu_bytes after = tu_read_file(p);
    CHECK(tu_same_bytes(before, after), "the file on disk changed");
    CHECK(tu_count_entries(tu_root) == entries, "a temporary file was left behind");
    free(after.b);

    /* the handle still works once there is room */
    CHECK_OK(ds_results_append(r, &row, &err), &err);
    ds_results_close(r);
    r = ds_results_open(p, &err);
    CHECK(r && ds_results_count(r) == 4, "count after recovery %zu", r ? ds_results_count(r) : 0);
    CHECK(r && ds_results_find(r, "2222222222222222") == 3, "the row after recovery");
    ds_results_close(r);
    free(before.b);
}

/* ---------------------------------------------------------------- refusals */

static void expect_open_fails(const char *path, ds_status code, const char *phrase)
{
    ds_err err = {0};
    ds_results *r = ds_results_open(path, &err);
    CHECK(r == NULL, "%s was opened", path);
    ds_results_close(r);
    CHECK(err.code == code, "%s: code %s, expected %s (%s)", path, ds_status_name(err.code),
          ds_status_name(code), err.msg);
    CHECK(contains(err.msg, path) && contains(err.msg, phrase), "message '%s' lacks '%s'", err.msg,
          phrase);
}

static void test_refuse_truncated(void)
{
    char p[TU_PATH_LEN], t[TU_PATH_LEN];
    make_results("whole.h5", p);
    tu_bytes b = tu_read_file(p);
    tu_path(t, "half.h5");
    tu_write_file(t, b.b, b.n / 2);
    expect_open_fails(t, DS_EFORMAT, "not a readable results file (truncated or damaged?): ");
    ds_err err = {0};
    ds_results *r = ds_results_open(t, &err);
    CHECK(contains(err.msg, "truncated file"), "HDF5's reason missing: %s", err.msg);
    ds_results_close(r);
    tu_path(t, "header.h5");
    tu_write_file(t, b.b, 100);
    expect_open_fails(t, DS_EFORMAT, "not a readable results file (truncated or damaged?): ");
    tu_path(t, "empty.h5");
    tu_write_file(t, "", 0);
    expect_open_fails(t, DS_EFORMAT, "not a readable results file (truncated or damaged?): ");
    tu_path(t, "text.h5");
    tu_write_file(t, "name: x\n", 8);
    expect_open_fails(t, DS_EFORMAT, "not a readable results file (truncated or damaged?): ");
    tu_path(t, "missing.h5");
    expect_open_fails(t, DS_EIO, "cannot open: No such file or directory");
    expect_open_fails(tu_root, DS_EIO, "not a regular file");
    free(b.b);
}

static void test_refuse_model_file(void)
{
    ds_err err = {0};
    char p[TU_PATH_LEN];
    tu_path(p, "a-model.h5");
    ds_model *m = make_model(5);
    if (m) CHECK_OK(ds_model_save(m, p, &err), &err);
    ds_model_free(m);
    expect_open_fails(p, DS_EFORMAT, "not a deepsigns results file (attribute 'magic' is 'DEEPSIGNS-MODEL'");
    expect_open_fails(p, DS_EFORMAT, "it is a model file");
}

/* A results file whose /cells lacks a column. */
static void test_refuse_bad_table(void)
{
    char p[TU_PATH_LEN];
    tu_path(p, "bad-table.h5");
    hid_t f = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    CHECK(f >= 0, "H5Fcreate");
    if (f < 0) return;
    hid_t st = H5Tcopy(H5T_C_S1);
    H5Tset_size(st, (size_t)strlen(DS_RESULTS_MAGIC) + 1);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(f, "magic", st, sp, H5P_DEFAULT, H5P_DEFAULT);
    CHECK(a >= 0 && H5Awrite(a, st, DS_RESULTS_MAGIC) >= 0, "magic");
    H5Aclose(a);
    int v = DS_RESULTS_FORMAT_CURRENT;
    a = H5Acreate2(f, "format_version", H5T_STD_I32LE, sp, H5P_DEFAULT, H5P_DEFAULT);
    CHECK(a >= 0 && H5Awrite(a, H5T_NATIVE_INT, &v) >= 0, "format_version");
    H5Aclose(a);
    hid_t ct = H5Tcreate(H5T_COMPOUND, 8);
    H5Tinsert(ct, "seconds", 0, H5T_IEEE_F64LE);
    hsize_t dim = 0, maxdim = H5S_UNLIMITED, chunk = 8;
    hid_t ds = H5Screate_simple(1, &dim, &maxdim), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 1, &chunk);
    hid_t d = H5Dcreate2(f, "cells", ct, ds, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    CHECK(d >= 0, "cells");
    H5Dclose(d);
    H5Pclose(dcpl);
    H5Sclose(ds);
    H5Tclose(ct);
    H5Sclose(sp);
    H5Tclose(st);
    CHECK(H5Fclose(f) >= 0, "H5Fclose");
    expect_open_fails(p, DS_EFORMAT, "/cells has no column 'id'");
}

/* ---------------------------------------------------------------- other readers */

/* Run cmd with the shell; its exit status (-1 if it did not exit). */
static int run(const char *cmd)
{
    int rc = system(cmd);
    return rc != -1 && WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* A format 1 file (int64 seed column) reads with its seeds bit for bit, takes a row
 * on resume and reads again. */
static void check_reads_format_1(const char *v1)
{
    ds_err err = {0};
    ds_result_row want[3];
    sample_rows(want);
    for (int i = 0; i < 3; i++) want[i].config[0] = want[i].commitment[0] = '\0'; /* format 3 columns */
    ds_results *r = ds_results_open(v1, &err);
    CHECK(r != NULL, "open format 1 %s: %s", v1, err.msg);
    if (!r) return;
    CHECK(ds_results_count(r) == 3, "format 1: %zu rows", ds_results_count(r));
    for (size_t i = 0; i < 3 && i < ds_results_count(r); i++)
        check_same_row(ds_results_row(r, i), &want[i], "format 1 row");
    ds_result_row extra = want[1];
    snprintf(extra.id, sizeof extra.id, "1111111111111111");
    CHECK_OK(ds_results_append(r, &extra, &err), &err);
    CHECK_OK(ds_results_commit(r, &err), &err);
    ds_results_close(r);
    r = ds_results_open(v1, &err);
    CHECK(r != NULL, "reopen format 1: %s", err.msg);
    long at = r ? ds_results_find(r, "1111111111111111") : -1;
    const ds_result_row *got = at >= 0 ? ds_results_row(r, (size_t)at) : NULL;
    CHECK(got && got->seed == UINT64_MAX, "format 1 resumed row: seed %llu",
          got ? (unsigned long long)got->seed : 0ULL);
    /* written to, the file was upgraded: format 3, its old rows without a config */
    const ds_result_row *old = r && ds_results_count(r) ? ds_results_row(r, 0) : NULL;
    CHECK(old && !old->config[0] && !old->commitment[0] && old->seed == want[0].seed,
          "format 1 upgraded: first row config '%s'", old ? old->config : "?");
    if (old) check_same_row(old, &want[0], "format 1 row after the upgrade");
    ds_results_close(r);
    hid_t f = H5Fopen(v1, H5F_ACC_RDONLY, H5P_DEFAULT);
    int version = 0;
    hid_t a = f < 0 ? -1 : H5Aopen(f, "format_version", H5P_DEFAULT);
    CHECK(a >= 0 && H5Aread(a, H5T_NATIVE_INT, &version) >= 0 && version == DS_RESULTS_FORMAT_CURRENT,
          "format 1 file written to: format_version %d", version);
    if (a >= 0) H5Aclose(a);
    if (f >= 0) H5Fclose(f);
}

static void test_h5py_reads(void)
{
    if (access("/usr/bin/python3", X_OK) != 0 || run("/usr/bin/python3 -c 'import h5py' 2>/dev/null") != 0) {
        fprintf(stderr, "test_h5py_reads: /usr/bin/python3 with h5py not available; skipped\n");
        return;
    }
    char p[TU_PATH_LEN], script[TU_PATH_LEN], cmd[4 * TU_PATH_LEN];
    make_results("py.h5", p);
    ds_err err = {0};
    ds_results *r = ds_results_open(p, &err);
    ds_model *m = make_model(9);
    void *img = NULL;
    size_t n = 0;
    if (m) CHECK_OK(ds_model_save_image(m, &img, &n, &err), &err);
    static const char ids1[1][DS_CELL_ID_HEX] = {"0123456789abcdef"};
    static const char ids2[2][DS_CELL_ID_HEX] = {"0123456789abcdef", "aaaaaaaaaaaaaaaa"};
    char sha[65];
    memset(sha, 0, sizeof sha);
    for (int i = 0; i < 64; i += 2) memcpy(sha + i, "ab", 2);
    ds_results_run run1 = {.mode = "new", .spec_text = "name: x\n", .spec_path = "x.yaml",
                           .spec_hash = "00", .data_sha256 = sha, .ranks = 1, .threads = 1,
                           .cells = ids1, .ncells = 1};
    ds_results_run run2 = run1;
    run2.mode = "resume --force";
    run2.cells = ids2;
    run2.ncells = 2;
    if (r) {
        size_t nr = 99;
        CHECK_OK(ds_results_run_count(r, &nr, &err), &err);
        CHECK(nr == 0, "a fresh file has %zu runs", nr);
        CHECK_OK(ds_results_add_run(r, &run1, &err), &err);
        CHECK_OK(ds_results_add_run(r, &run2, &err), &err);
        CHECK_OK(ds_results_run_count(r, &nr, &err), &err);
        CHECK(nr == 2, "two runs recorded, %zu read", nr);
        char (*got)[DS_CELL_ID_HEX] = NULL;
        size_t ng = 0;
        CHECK_OK(ds_results_run_cells(r, 1, &got, &ng, &err), &err);
        CHECK(ng == 2 && got && !strcmp(got[1], "aaaaaaaaaaaaaaaa"), "run 2 cells: %zu", ng);
        free(got);
        CHECK(ds_results_run_cells(r, 2, &got, &ng, &err) != DS_OK && !got, "run 3 does not exist");
    }
    if (r && img) {
        CHECK_OK(ds_results_put_blob(r, "models", "fedcba9876543210", img, n, &err), &err);
        CHECK_OK(ds_results_commit(r, &err), &err);
    }
    ds_results_close(r);
    free(img);
    ds_model_free(m);

    tu_path(script, "read.py");
    static const char py[] =
        "import io, math, sys, h5py, numpy as np\n"
        "f = h5py.File(sys.argv[1], 'r')\n"
        "a = f.attrs\n"
        "def s(x): return x.decode() if isinstance(x, bytes) else str(x)\n"
        "assert s(a['magic']) == 'DEEPSIGNS-RESULTS', a['magic']\n"
        "assert int(a['format_version']) == 5\n"
        "assert int(a['seed']) == 0xF00DCAFEDEADBEEF, a['seed']\n"
        "assert int(a['ranks']) == 4 and int(a['threads']) == 2 and int(a['total_cells']) == 3\n"
        "assert s(a['spec_hash']) == '00112233445566778899aabbccddeeff'\n"
        "c = f['cells']\n"
        "assert c.shape == (3,), c.shape\n"
        "assert c.chunks == (64,), c.chunks\n"
        "t = c[()]\n"
        "assert t['id'][1] == b'fedcba9876543210', t['id'][1]\n"
        "assert t['kind'][2] == b'attack' and t['attack'][2] == b'prune'\n"
        "assert t['reason'][2] == b'x' * 159 and t['reason'][0] == b''\n"
        "assert int(t['seed'][1]) == 2**64 - 1 and int(t['seed'][2]) == 2**63\n"
        "assert t['rank'][2] == 2**31 - 1\n"
        "assert t['owned'].dtype == np.int8 and list(t['owned']) == [-1, 1, 0]\n"
        "assert t['bits'].dtype == np.int32 and t['seed'].dtype == np.uint64\n"
        "assert math.isnan(t['strength'][0]) and t['ber_p'][1] == 1.0 / 3.0\n"
        "assert t['seconds'][1] == 100.25\n"
        "units = dict(zip(c.dtype.names, [s(u) for u in c.attrs['units']]))\n"
        "assert len(units) == 32 and units['seconds'] == 's', units\n"
        "assert t['config'].dtype == np.dtype('S17') and t['commitment'].dtype == np.dtype('S65')\n"
        "assert t['config'][1] == b'00ff00ff00ff00ff' and t['commitment'][1] == b'c' * 64\n"
        "assert t['config'][0] == b'' and t['commitment'][2] == b''\n"
        "assert t['aligned'].dtype == np.dtype('i1') and t['ber_unaligned'].dtype == np.dtype('<f8')\n"
        "assert list(t.dtype.names)[-3:] == ['ber_unaligned', 'aligned', 'align_corr']\n"
        "runs = f['runs']\n"
        "assert list(runs) == ['0001', '0002'], list(runs)\n"
        "assert s(runs['0002'].attrs['mode']) == 'resume --force'\n"
        "assert s(runs['0001'].attrs['data_sha256']) == 'ab' * 32\n"
        "assert list(runs['0002']['cells'][()]) == [b'0123456789abcdef', b'aaaaaaaaaaaaaaaa']\n"
        "assert units['acc_after'] == 'fraction 0..1'\n"
        "import hashlib, os, stat\n"
        "ref = f['models']['fedcba9876543210']\n"
        "h = ref[()].decode()\n"
        "store = os.path.join(os.path.dirname(sys.argv[1]), s(a['blob_store']))\n"
        "b = open(os.path.join(store, h), 'rb').read()\n"
        "assert len(b) == int(ref.attrs['bytes']) and hashlib.sha256(b).hexdigest() == h\n"
        "assert stat.S_IMODE(os.stat(os.path.join(store, h)).st_mode) == 0o600\n"
        "assert stat.S_IMODE(os.stat(store).st_mode) == 0o700\n"
        "m = h5py.File(io.BytesIO(b), 'r')\n"
        "assert s(m.attrs['magic']) == 'DEEPSIGNS-MODEL'\n"
        "print('h5py ok', len(t), 'rows')\n"
        /* argv[2]: the same file in format 1 (the seed's bits in an int64 column) */
        "g = h5py.File(sys.argv[2], 'w')\n"
        "for k, v in a.items():\n"
        "    if k != 'blob_store': g.attrs[k] = v\n"
        "g.attrs['format_version'] = np.int32(1)\n"
        "v1 = [n for n in t.dtype.names if n not in ('config', 'commitment', 'ber_unaligned', "
        "'aligned', 'align_corr')]\n"
        "dt = np.dtype([(n, '<i8' if n == 'seed' else t.dtype.fields[n][0]) for n in v1])\n"
        "o = np.empty(t.shape, dtype=dt)\n"
        "for n in v1: o[n] = t['seed'].view('<i8') if n == 'seed' else t[n]\n"
        "d = g.create_dataset('cells', data=o, chunks=(64,), maxshape=(None,))\n"
        "d.attrs['units'] = c.attrs['units'][:len(v1)]\n"
        "g.close()\n";
    tu_write_file(script, py, sizeof py - 1);
    char v1[TU_PATH_LEN];
    tu_path(v1, "v1.h5");
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s' '%s' '%s'", script, p, v1);
    CHECK(run(cmd) == 0, "h5py could not read %s as documented (see the traceback above)", p);
    check_reads_format_1(v1);

    if (run("command -v h5dump >/dev/null 2>&1") != 0) {
        fprintf(stderr, "test_h5py_reads: h5dump not installed (hdf5-tools); skipped\n");
        return;
    }
    char out[TU_PATH_LEN];
    tu_path(out, "h5dump.txt");
    snprintf(cmd, sizeof cmd, "h5dump -H '%s' > '%s' 2>&1", p, out);
    CHECK(run(cmd) == 0, "h5dump -H %s failed", p);
    tu_bytes d = tu_read_file(out);
    char *txt = d.b ? calloc(1, d.n + 1) : NULL;
    if (txt) memcpy(txt, d.b, d.n);
    CHECK(contains(txt, "DATASET \"cells\"") && contains(txt, "H5T_COMPOUND") &&
          contains(txt, "\"reason\"") && contains(txt, "ATTRIBUTE \"spec_hash\""),
          "h5dump -H output:\n%s", txt ? txt : "(none)");
    free(txt);
    free(d.b);
}

int main(void)
{
    if (tu_root_create("results") != 0) return 1;
    RUN(test_model_image);
    RUN(test_key_image);
    RUN(test_row_init);
    RUN(test_roundtrip);
    RUN(test_two_handles);
    RUN(test_mpi_versions_given);
    RUN(test_attrs);
    RUN(test_long_spec_text);
    RUN(test_bad_rows);
    RUN(test_blobs);
    RUN(test_blob_store);
    RUN(test_blob_refs);
    RUN(test_commit_below_regular_file);
    RUN(test_mode_0600);
    RUN(test_commit_disk_full);
    RUN(test_refuse_truncated);
    RUN(test_refuse_model_file);
    RUN(test_refuse_bad_table);
    RUN(test_h5py_reads);
    tu_root_remove();
    TEST_MAIN_END();
}
