/* test_model_file.c - model files: bit-exact round trips for every architecture,
 * deterministic bytes, atomic saves that never damage an existing file, refusal
 * of malformed or hostile files (each message checked), extra string attributes,
 * and the Keras import (Keras 1, Keras 2, full-model and attribute-less layouts
 * written here with the HDF5 C API) checked weight by weight and against a
 * direct double-precision forward pass. Fixtures live in a mkdtemp directory
 * under /tmp that is removed at the end.
 */
#include "deepsigns/model_file.h"

#include <hdf5.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "testutil.h"
#include "deepsigns/rng.h"

/* ---------------------------------------------------------------- models */

static ds_model *make_model(const char *arch, int c, int h, int w, uint64_t seed)
{
    ds_err err = {0};
    ds_arch a;
    CHECK_OK(ds_arch_defaults(arch, c, h, w, 10, &a, &err), &err);
    if (!strcmp(arch, "cifar10-wrn")) {
        a.depth = 10;
        a.widen = 1;
    }
    ds_model *m = ds_model_build(&a, &err);
    CHECK(m != NULL, "build %s: %s", arch, err.msg);
    if (!m) return NULL;
    ds_model_init_params(m, seed);
    ds_rng r;
    ds_rng_init(&r, seed, 7);
    for (size_t i = 0; i < m->nparams; i++) m->params[i] = (float)ds_rng_normal(&r);
    for (size_t i = 0; i < m->nstats; i++) m->stats[i] = 0.1f + ds_rng_uniformf(&r);
    m->params[0] = -0.0f;  /* bits, not just values, must survive */
    m->params[1] = 1e-40f; /* a subnormal */
    m->meta.preproc = (ds_preproc){.scale = 1.0f / 255.0f, .channels = c,
                                   .mean = {0.49f, 0.48f, 0.45f}, .std = {0.25f, 0.24f, 0.26f}};
    snprintf(m->meta.source, sizeof m->meta.source, "deepsigns");
    snprintf(m->meta.dataset, sizeof m->meta.dataset, "/usr/share/datasets/%s-\xc3\xa9t\xc3\xa9", arch);
    snprintf(m->meta.optimizer, sizeof m->meta.optimizer, "sgd");
    m->meta.lr = 0.0125f;
    m->meta.epochs = 7;
    m->meta.batch = 128;
    m->meta.seed = 0xF00DCAFEDEADBEEFull; /* above 2^63 */
    m->meta.test_accuracy = 0.98765;
    return m;
}

static void check_same_model(const ds_model *a, const ds_model *b)
{
    CHECK(!strcmp(a->arch.name, b->arch.name), "arch %s vs %s", a->arch.name, b->arch.name);
    CHECK(a->arch.in_c == b->arch.in_c && a->arch.in_h == b->arch.in_h && a->arch.in_w == b->arch.in_w,
          "input shape");
    CHECK(a->arch.classes == b->arch.classes && a->arch.hidden == b->arch.hidden &&
          a->arch.depth == b->arch.depth && a->arch.widen == b->arch.widen, "arch options");
    CHECK(a->arch.dropout == b->arch.dropout, "dropout %g vs %g", a->arch.dropout, b->arch.dropout);
    const ds_model_meta *x = &a->meta, *y = &b->meta;
    CHECK(!memcmp(&x->preproc, &y->preproc, sizeof x->preproc), "preproc differs");
    CHECK(!strcmp(x->source, y->source), "source '%s' vs '%s'", x->source, y->source);
    CHECK(!strcmp(x->dataset, y->dataset), "dataset '%s' vs '%s'", x->dataset, y->dataset);
    CHECK(!strcmp(x->optimizer, y->optimizer), "optimizer '%s' vs '%s'", x->optimizer, y->optimizer);
    CHECK(x->lr == y->lr && x->epochs == y->epochs && x->batch == y->batch, "lr/epochs/batch");
    CHECK(x->seed == y->seed, "seed %llx vs %llx", (unsigned long long)x->seed,
          (unsigned long long)y->seed);
    CHECK(x->test_accuracy == y->test_accuracy, "test_accuracy %.17g vs %.17g", x->test_accuracy,
          y->test_accuracy);
    CHECK(a->nparams == b->nparams && a->nstats == b->nstats && a->ntensors == b->ntensors, "sizes");
    if (a->nparams != b->nparams || a->nstats != b->nstats) return;
    CHECK(!memcmp(a->params, b->params, sizeof(float) * a->nparams), "params differ");
    CHECK(!memcmp(a->stats, b->stats, sizeof(float) * a->nstats), "stats differ");
}

/* ---------------------------------------------------------------- HDF5 tampering */

static hid_t h5_open_rw(const char *path)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    CHECK(f >= 0, "H5Fopen %s", path);
    return f;
}

static void h5_close_file(hid_t f) { CHECK(f < 0 || H5Fclose(f) >= 0, "H5Fclose"); }

/* Replace attribute name of obj by a scalar (n == 0) or 1-D array written from mem. */
static void put_attr(hid_t obj, const char *name, hid_t ftype, hid_t mtype, const void *mem, int n)
{
    if (H5Aexists(obj, name) > 0) CHECK(H5Adelete(obj, name) >= 0, "H5Adelete %s", name);
    hsize_t dim = (hsize_t)n;
    hid_t sp = n ? H5Screate_simple(1, &dim, NULL) : H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, ftype, sp, H5P_DEFAULT, H5P_DEFAULT);
    CHECK(a >= 0 && H5Awrite(a, mtype, mem) >= 0, "write attribute %s", name);
    H5Aclose(a);
    H5Sclose(sp);
}

/* Fixed-length strings like numpy's 'S' arrays (NUL-padded, size of the longest). */
static void put_str_attr(hid_t obj, const char *name, const char *const *s, int n, int scalar)
{
    size_t len = 1;
    for (int i = 0; i < n; i++) len = strlen(s[i]) > len ? strlen(s[i]) : len;
    char *buf = calloc((size_t)n + 1, len);
    for (int i = 0; i < n; i++) memcpy(buf + i * len, s[i], strlen(s[i]));
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, len);
    H5Tset_strpad(t, H5T_STR_NULLPAD);
    put_attr(obj, name, t, t, buf, scalar ? 0 : n);
    H5Tclose(t);
    free(buf);
}

/* Variable-length strings, as h5py writes a list of str. */
static void put_vlen_str_attr(hid_t obj, const char *name, const char *const *s, int n)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    put_attr(obj, name, t, t, s, n);
    H5Tclose(t);
}

static void file_set_int(const char *path, const char *name, long long v)
{
    hid_t f = h5_open_rw(path);
    put_attr(f, name, H5T_STD_I64LE, H5T_NATIVE_LLONG, &v, 0);
    h5_close_file(f);
}

static void file_set_str(const char *path, const char *name, const char *v)
{
    hid_t f = h5_open_rw(path);
    put_str_attr(f, name, &v, 1, 1);
    h5_close_file(f);
}

static void file_unlink(const char *path, const char *obj)
{
    hid_t f = h5_open_rw(path);
    CHECK(H5Ldelete(f, obj, H5P_DEFAULT) >= 0, "H5Ldelete %s", obj);
    h5_close_file(f);
}

/* Create dataset name in loc of file type ftype holding data (converted from float). */
static void put_dataset(hid_t loc, const char *name, hid_t ftype, int ndim, const hsize_t *dims,
                        const float *data)
{
    hid_t sp = H5Screate_simple(ndim, dims, NULL);
    hid_t d = H5Dcreate2(loc, name, ftype, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    CHECK(d >= 0 && H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0,
          "write dataset %s", name);
    H5Dclose(d);
    H5Sclose(sp);
}

static void file_put_dataset(const char *path, const char *obj, hid_t ftype, int ndim,
                             const hsize_t *dims)
{
    size_t n = 1;
    for (int i = 0; i < ndim; i++) n *= dims[i];
    float *data = calloc(n, sizeof *data);
    hid_t f = h5_open_rw(path);
    put_dataset(f, obj, ftype, ndim, dims, data);
    h5_close_file(f);
    free(data);
}

/* Overwrite element i of the 1-D float dataset obj with v. */
static void file_poke(const char *path, const char *obj, hsize_t i, float v)
{
    hid_t f = h5_open_rw(path);
    hid_t d = H5Dopen2(f, obj, H5P_DEFAULT);
    hid_t fs = H5Dget_space(d);
    hsize_t one = 1;
    hid_t ms = H5Screate_simple(1, &one, NULL);
    CHECK(H5Sselect_elements(fs, H5S_SELECT_SET, 1, &i) >= 0 &&
          H5Dwrite(d, H5T_NATIVE_FLOAT, ms, fs, H5P_DEFAULT, &v) >= 0, "poke %s", obj);
    H5Sclose(ms);
    H5Sclose(fs);
    H5Dclose(d);
    h5_close_file(f);
}

/* ---------------------------------------------------------------- expectations */

static void expect_load_fails(const char *path, ds_status code, const char *phrase)
{
    ds_err err = {0};
    ds_model *m = ds_model_load(path, &err);
    CHECK(m == NULL, "%s: loaded, expected '%s'", path, phrase);
    CHECK(err.code == code, "%s: %s, expected %s: %s", path, ds_status_name(err.code),
          ds_status_name(code), err.msg);
    CHECK(strstr(err.msg, phrase) != NULL, "message '%s' lacks '%s'", err.msg, phrase);
    CHECK(strstr(err.msg, path) != NULL, "message '%s' does not name the file", err.msg);
    ds_model_free(m);
}

/* The load of path must fail with code and exactly the message "<path>: <after>". */
static void expect_load_message(const char *path, ds_status code, const char *after)
{
    char want[DS_ERR_MSG_MAX];
    snprintf(want, sizeof want, "%s: %s", path, after);
    ds_err err = {0};
    ds_model *m = ds_model_load(path, &err);
    CHECK(m == NULL, "%s: loaded, expected '%s'", path, after);
    CHECK(err.code == code, "%s: %s, expected %s: %s", path, ds_status_name(err.code),
          ds_status_name(code), err.msg);
    CHECK(!strcmp(err.msg, want), "message\n  \"%s\"\nexpected\n  \"%s\"", err.msg, want);
    ds_model_free(m);
}

/* The root attributes of fresh()'s files, as messages about mismatched tensors list them. */
#define MLP_ATTRS(classes, hidden) \
    "arch mnist-mlp, in_c 1, in_h 28, in_w 28, classes " #classes ", hidden " #hidden
#define FOR_ATTRS "for the architecture its attributes describe"

/* Save m to <tu_root>/name (into path) and expect success. */
static void save_ok(const ds_model *m, const char *name, char *path)
{
    ds_err err = {0};
    tu_path(path, name);
    CHECK_OK(ds_model_save(m, path, &err), &err);
}

/* ---------------------------------------------------------------- round trips */

static void roundtrip(const char *arch, int c, int h, int w)
{
    ds_model *m = make_model(arch, c, h, w, 42);
    if (!m) return;
    char name[64], path[TU_PATH_LEN];
    snprintf(name, sizeof name, "rt-%s.h5", arch);
    save_ok(m, name, path);
    ds_err err = {0};
    ds_model *l = ds_model_load(path, &err);
    CHECK(l != NULL, "load %s: %s", path, err.msg);
    if (l) check_same_model(m, l);
    ds_model_free(l);
    ds_model_free(m);
}

static void test_roundtrip_mnist_mlp(void) { roundtrip("mnist-mlp", 1, 28, 28); }
static void test_roundtrip_mnist_cnn(void) { roundtrip("mnist-cnn", 1, 28, 28); }
static void test_roundtrip_cifar10_cnn(void) { roundtrip("cifar10-cnn", 3, 32, 32); }
static void test_roundtrip_cifar10_wrn(void) { roundtrip("cifar10-wrn", 3, 32, 32); }

/* Two saves of one model, and a save of the loaded copy, give the same bytes. */
static void test_deterministic_bytes(void)
{
    ds_model *m = make_model("cifar10-wrn", 3, 32, 32, 5);
    if (!m) return;
    char a[TU_PATH_LEN], b[TU_PATH_LEN], c[TU_PATH_LEN];
    save_ok(m, "det-a.h5", a);
    sleep(1); /* any timestamp would now differ */
    save_ok(m, "det-b.h5", b);
    ds_err err = {0};
    ds_model *l = ds_model_load(a, &err);
    CHECK(l != NULL, "load: %s", err.msg);
    if (l) save_ok(l, "det-c.h5", c);
    tu_bytes x = tu_read_file(a), y = tu_read_file(b), z = tu_read_file(c);
    CHECK(x.n > 0 && tu_same_bytes(x, y), "two saves differ (%zu vs %zu bytes)", x.n, y.n);
    CHECK(tu_same_bytes(x, z), "save of the loaded model differs");
    free(x.b); free(y.b); free(z.b);
    ds_model_free(l);
    ds_model_free(m);
}

/* HDF5's automatic error printing is restored after a failing call. */
static void test_error_printing_restored(void)
{
    H5E_auto2_t f0, f1;
    void *d0, *d1;
    H5Eget_auto2(H5E_DEFAULT, &f0, &d0);
    char path[TU_PATH_LEN];
    tu_path(path, "garbage-for-quiet.h5");
    tu_write_file(path, "not hdf5 at all", 15);
    ds_err err = {0};
    CHECK(ds_model_load(path, &err) == NULL, "loaded garbage");
    H5Eget_auto2(H5E_DEFAULT, &f1, &d1);
    CHECK(f0 == f1 && d0 == d1, "error printer not restored");
}

/* ---------------------------------------------------------------- atomic saves */

static void test_save_missing_directory(void)
{
    ds_model *m = make_model("mnist-mlp", 1, 28, 28, 1);
    if (!m) return;
    char path[TU_PATH_LEN];
    tu_path(path, "no-such-dir/m.h5");
    int before = tu_count_entries(tu_root);
    ds_err err = {0};
    ds_status st = ds_model_save(m, path, &err);
    CHECK(st == DS_EIO, "saving into a missing directory: %s (%s)", ds_status_name(st), err.msg);
    CHECK(strstr(err.msg, "cannot create") && strstr(err.msg, "No such file"), "message: %s", err.msg);
    CHECK(tu_count_entries(tu_root) == before, "something was created");
    ds_model_free(m);
}

/* A save that fails when renaming (the target is a non-empty directory). */
static void test_save_over_directory(void)
{
    ds_model *m = make_model("mnist-mlp", 1, 28, 28, 1);
    if (!m) return;
    char dir[TU_PATH_LEN], inner[TU_PATH_LEN];
    tu_path(dir, "a-directory.h5");
    CHECK(mkdir(dir, 0700) == 0, "mkdir");
    CHECK(snprintf(inner, sizeof inner, "%s/keep", dir) < TU_PATH_LEN, "path too long");
    tu_write_file(inner, "x", 1);
    int before = tu_count_entries(tu_root);
    ds_err err = {0};
    CHECK(ds_model_save(m, dir, &err) == DS_EIO, "saving over a directory: %s", err.msg);
    CHECK(strstr(err.msg, "cannot rename") != NULL, "message: %s", err.msg);
    CHECK(tu_count_entries(tu_root) == before, "a temporary file was left behind");
    CHECK(tu_count_entries(dir) == 1, "the directory was changed");
    ds_model_free(m);
}

/* A write error midway (file size limit) leaves the old file as it was. */
static void test_save_fails_midway(void)
{
    ds_model *old = make_model("mnist-cnn", 1, 28, 28, 2), *big = make_model("mnist-mlp", 1, 28, 28, 3);
    char path[TU_PATH_LEN], dir[TU_PATH_LEN];
    tu_path(dir, "midway");
    CHECK(mkdir(dir, 0700) == 0, "mkdir");
    CHECK(snprintf(path, sizeof path, "%s/m.h5", dir) < TU_PATH_LEN, "path too long");
    ds_err err = {0};
    if (!old || !big) goto done;
    CHECK_OK(ds_model_save(old, path, &err), &err);
    tu_bytes before = tu_read_file(path);
    tu_fsize_limit(256 * 1024); /* the mlp needs about 2.7 MB */
    ds_status st = ds_model_save(big, path, &err);
    tu_fsize_restore();
    CHECK(st == DS_EIO, "save past the size limit: %s (%s)", ds_status_name(st), err.msg);
    CHECK(strstr(err.msg, path) != NULL, "message does not name the file: %s", err.msg);
    tu_bytes after = tu_read_file(path);
    CHECK(tu_same_bytes(before, after), "the existing file changed");
    CHECK(tu_count_entries(dir) == 1, "a temporary file was left behind");
    ds_model *l = ds_model_load(path, &err);
    CHECK(l != NULL, "old file no longer loads: %s", err.msg);
    if (l) check_same_model(old, l);
    ds_model_free(l);
    free(before.b);
    free(after.b);
done:
    ds_model_free(old);
    ds_model_free(big);
}

/* Saving over a file keeps its permission bits. */
static void test_save_keeps_mode(void)
{
    ds_model *m = make_model("mnist-mlp", 1, 28, 28, 6);
    if (!m) return;
    char path[TU_PATH_LEN];
    save_ok(m, "mode.h5", path);
    CHECK(chmod(path, 0640) == 0, "chmod");
    m->meta.epochs++;
    save_ok(m, "mode.h5", path);
    CHECK(tu_file_mode(path) == 0640, "mode %o", tu_file_mode(path));
    ds_err err = {0};
    CHECK_OK(ds_model_file_set_attr_string(path, "commitment", "c", &err), &err);
    CHECK(tu_file_mode(path) == 0640, "mode %o after set", tu_file_mode(path));
    ds_model_free(m);
}

/* A model holding NaN is refused before anything is written. */
static void test_save_refuses_nan(void)
{
    ds_model *m = make_model("mnist-mlp", 1, 28, 28, 4);
    if (!m) return;
    char path[TU_PATH_LEN];
    save_ok(m, "nan-target.h5", path);
    tu_bytes before = tu_read_file(path);
    int entries = tu_count_entries(tu_root);
    m->params[m->nparams - 1] = NAN;
    ds_err err = {0};
    CHECK(ds_model_save(m, path, &err) == DS_ENUM, "saved a NaN: %s", err.msg);
    CHECK(strstr(err.msg, "non-finite") && strstr(err.msg, "dense_3.b"), "message: %s", err.msg);
    tu_bytes after = tu_read_file(path);
    CHECK(tu_same_bytes(before, after), "the existing file changed");
    CHECK(tu_count_entries(tu_root) == entries, "a temporary file was left behind");
    free(before.b);
    free(after.b);
    ds_model_free(m);
}

/* ---------------------------------------------------------------- refusals */

/* A fresh valid mnist-mlp file named name (into path). */
static void fresh(const char *name, char *path)
{
    ds_model *m = make_model("mnist-mlp", 1, 28, 28, 9);
    if (m) save_ok(m, name, path);
    ds_model_free(m);
}

static void test_refuse_magic(void)
{
    char p[TU_PATH_LEN];
    fresh("bad-magic.h5", p);
    file_set_str(p, "magic", "NOT-A-MODEL");
    expect_load_fails(p, DS_EFORMAT, "not a deepsigns model file");
    fresh("no-magic.h5", p);
    hid_t f = h5_open_rw(p);
    CHECK(H5Adelete(f, "magic") >= 0, "H5Adelete");
    h5_close_file(f);
    expect_load_fails(p, DS_EFORMAT, "no 'magic' attribute");
}

static void test_refuse_version(void)
{
    char p[TU_PATH_LEN];
    fresh("version.h5", p);
    file_set_int(p, "format_version", 99);
    expect_load_fails(p, DS_EFORMAT, "format version 99 is not supported");
}

static double now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void test_refuse_absurd_options(void)
{
    char p[TU_PATH_LEN];
    fresh("hidden.h5", p);
    file_set_int(p, "hidden", 1LL << 30);
    double t0 = now_seconds();
    expect_load_fails(p, DS_ERANGE, "hidden width 1073741824 out of range");
    CHECK(now_seconds() - t0 < 1.0, "refusing took %.2f s", now_seconds() - t0);
    fresh("hidden-huge.h5", p);
    file_set_int(p, "hidden", 1LL << 40);
    expect_load_fails(p, DS_ERANGE, "does not fit an int");
    fresh("classes.h5", p);
    file_set_int(p, "classes", 0);
    expect_load_fails(p, DS_ERANGE, "classes 0 out of range");
    ds_model *w = make_model("cifar10-wrn", 3, 32, 32, 1);
    if (w) save_ok(w, "depth.h5", p);
    ds_model_free(w);
    file_set_int(p, "depth", 1000000);
    expect_load_fails(p, DS_ERANGE, "depth 1000000 must be 6n+4");
    fresh("channels.h5", p);
    file_set_int(p, "preproc_channels", 7);
    expect_load_fails(p, DS_ERANGE, "preprocessing channels 7");
}

static void test_refuse_attribute_types(void)
{
    char p[TU_PATH_LEN];
    fresh("hidden-float.h5", p);
    hid_t f = h5_open_rw(p);
    float v = 512.0f;
    put_attr(f, "hidden", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, &v, 0);
    h5_close_file(f);
    expect_load_fails(p, DS_EFORMAT, "attribute 'hidden' is a float, expected an integer");
    fresh("no-lr.h5", p);
    f = h5_open_rw(p);
    CHECK(H5Adelete(f, "lr") >= 0, "H5Adelete");
    h5_close_file(f);
    expect_load_fails(p, DS_EFORMAT, "attribute 'lr' is missing");
    fresh("long-arch.h5", p);
    file_set_str(p, "arch", "an-architecture-name-longer-than-thirty-one-bytes");
    expect_load_fails(p, DS_ERANGE, "attribute 'arch' is 49 bytes long");
    fresh("mean2.h5", p);
    f = h5_open_rw(p);
    float two[2] = {0, 0};
    put_attr(f, "preproc_mean", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, two, 2);
    h5_close_file(f);
    expect_load_fails(p, DS_EFORMAT, "attribute 'preproc_mean' has 2 values, expected 3");
}

static void test_refuse_dataset_shape(void)
{
    char p[TU_PATH_LEN];
    fresh("shape.h5", p);
    file_unlink(p, "/params/dense_1.W");
    hsize_t dims[2] = {784, 511};
    file_put_dataset(p, "/params/dense_1.W", H5T_IEEE_F32LE, 2, dims);
    expect_load_message(p, DS_EFORMAT, "/params/dense_1.W has shape 784x511, expected 784x512 "
                        FOR_ATTRS " (" MLP_ATTRS(10, 512) ")");
    fresh("rank.h5", p);
    file_unlink(p, "/params/dense_2.b");
    hsize_t d3[3] = {1, 512, 1};
    file_put_dataset(p, "/params/dense_2.b", H5T_IEEE_F32LE, 3, d3);
    expect_load_message(p, DS_EFORMAT, "/params/dense_2.b has shape 1x512x1, expected 512 "
                        FOR_ATTRS " (" MLP_ATTRS(10, 512) ")");
    fresh("int-dataset.h5", p);
    file_unlink(p, "/params/dense_3.b");
    hsize_t d1[1] = {10};
    file_put_dataset(p, "/params/dense_3.b", H5T_STD_I32LE, 1, d1);
    expect_load_message(p, DS_EFORMAT, "/params/dense_3.b is an integer dataset, expected float");
}

static void test_refuse_missing_and_extra(void)
{
    char p[TU_PATH_LEN];
    fresh("missing.h5", p);
    file_unlink(p, "/params/dense_2.b");
    expect_load_message(p, DS_EFORMAT, "/params/dense_2.b is missing (expected a float dataset of "
                        "shape 512 " FOR_ATTRS ": " MLP_ATTRS(10, 512) ")");
    fresh("extra.h5", p);
    hsize_t dims[2] = {512, 10};
    file_put_dataset(p, "/params/dense_9.W", H5T_IEEE_F32LE, 2, dims);
    expect_load_message(p, DS_EFORMAT, "/params/dense_9.W is not a trainable tensor of the architecture "
                        "its attributes describe (" MLP_ATTRS(10, 512) "): a file for another "
                        "architecture or options?");
    fresh("no-params.h5", p);
    file_unlink(p, "/params");
    expect_load_message(p, DS_EFORMAT, "group /params is missing");
    /* a stats tensor in a model without statistics */
    fresh("extra-stats.h5", p);
    file_put_dataset(p, "/stats/bn_1.running_mean", H5T_IEEE_F32LE, 1, dims);
    expect_load_fails(p, DS_EFORMAT, "/stats/bn_1.running_mean is not a statistics tensor");
}

/* Attributes that are each in range but do not match the tensors stored with them. */
static void test_refuse_inconsistent_attributes(void)
{
    char p[TU_PATH_LEN];
    fresh("classes12.h5", p);
    file_set_int(p, "classes", 12);
    expect_load_message(p, DS_EFORMAT, "/params/dense_3.W has shape 512x10, expected 512x12 " FOR_ATTRS
                        " (" MLP_ATTRS(12, 512) ")");
    fresh("hidden256.h5", p);
    file_set_int(p, "hidden", 256);
    expect_load_message(p, DS_EFORMAT, "/params/dense_1.W has shape 784x512, expected 784x256 " FOR_ATTRS
                        " (" MLP_ATTRS(10, 256) ")");
    fresh("in-c3.h5", p);
    file_set_int(p, "in_c", 3);
    expect_load_message(p, DS_EFORMAT, "/params/dense_1.W has shape 784x512, expected 2352x512 " FOR_ATTRS
                        " (arch mnist-mlp, in_c 3, in_h 28, in_w 28, classes 10, hidden 512)");
    fresh("arch-cnn.h5", p);
    file_set_str(p, "arch", "mnist-cnn");
    expect_load_message(p, DS_EFORMAT, "/params/conv_1.W is missing (expected a float dataset of shape "
                        "32x1x3x3 " FOR_ATTRS ": arch mnist-cnn, in_c 1, in_h 28, in_w 28, classes 10, "
                        "hidden 512)");
    fresh("extra-units.h5", p);
    hid_t f = h5_open_rw(p);
    const int extra[8] = {0, 5, 0, 0, 0, 0, 0, 0};
    put_attr(f, "extra_units", H5T_STD_I32LE, H5T_NATIVE_INT, extra, 8);
    h5_close_file(f);
    expect_load_message(p, DS_EFORMAT, "/params/dense_2.W has shape 512x512, expected 512x517 " FOR_ATTRS
                        " (" MLP_ATTRS(10, 512) ", extra_units 0,5,0,0,0,0,0,0)");
}

/* The refusals of the three files test_refuse_before_allocating makes. */
static void expect_shape_refusals(const char *big, const char *huge, const char *wide)
{
    expect_load_message(big, DS_EFORMAT, "/params/dense_1.W has shape 784x512, expected 784x15000 "
                        FOR_ATTRS " (" MLP_ATTRS(10, 15000) ")");
    expect_load_message(huge, DS_ERANGE, "model layout: the model has too many parameters (in "
                        "mnist-mlp with input 1x28x28, 10 classes, hidden 16000; last layer laid "
                        "out: dense_2, 16000x1x1)");
    expect_load_message(wide, DS_ERANGE, "model layout: a layer output shape is empty or absurd (in "
                        "mnist-mlp with input 4x1024x1024, 10 classes, hidden 512; last layer "
                        "laid out: input, 4x1024x1024)");
}

/* Shapes that are absurd, or that the tensors do not back, are refused from the
 * attributes and the datasets' metadata alone: in a child whose address space is
 * capped a few hundred MiB above its current size (where building the model the
 * file announces fails for memory), a file announcing a ~1 GiB model is refused
 * for its shapes, not for memory. Under AddressSanitizer (whose shadow memory an
 * address-space cap would break) only the messages are checked. */
static void test_refuse_before_allocating(void)
{
    char big[TU_PATH_LEN], huge[TU_PATH_LEN], wide[TU_PATH_LEN];
    fresh("hidden15000.h5", big);     /* 237 M parameters: a valid layout the file does not hold */
    file_set_int(big, "hidden", 15000);
    fresh("hidden16000.h5", huge);    /* 269 M: more than a model may have */
    file_set_int(huge, "hidden", 16000);
    fresh("input-4x1024x1024.h5", wide);
    file_set_int(wide, "in_c", 4);
    file_set_int(wide, "in_h", 1024);
    file_set_int(wide, "in_w", 1024);
#if defined(__SANITIZE_ADDRESS__)
    expect_shape_refusals(big, huge, wide);
    printf("NOTE test_refuse_before_allocating: under AddressSanitizer, without the address-space cap\n");
#else
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0) {
        long pages = 0;
        FILE *statm = fopen("/proc/self/statm", "r");
        if (!statm || fscanf(statm, "%ld", &pages) != 1) _exit(100);
        fclose(statm);
        rlim_t cap = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + ((rlim_t)384 << 20);
        struct rlimit rl = {cap, cap};
        if (setrlimit(RLIMIT_AS, &rl) != 0) _exit(101);
        check_failures_in_test = 0;
        ds_err e = {0};
        ds_arch a;
        CHECK_OK(ds_arch_defaults("mnist-mlp", 1, 28, 28, 10, &a, &e), &e);
        a.hidden = 15000;
        ds_model *m = ds_model_build(&a, &e); /* the cap bites: building it needs memory */
        CHECK(m == NULL && e.code == DS_ENOMEM, "built under the cap (%s): the test proves nothing", e.msg);
        ds_model_free(m);
        expect_shape_refusals(big, huge, wide);
        fflush(NULL);
        _exit(check_failures_in_test ? 1 : 0);
    }
    int status = 0;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid, "waitpid");
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child: %s %d (100/101: no address-space cap)",
          WIFEXITED(status) ? "exit" : "signal", WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
#endif
}

static void test_refuse_nonfinite(void)
{
    char p[TU_PATH_LEN];
    fresh("nan.h5", p);
    file_poke(p, "/params/dense_3.b", 5, NAN);
    expect_load_fails(p, DS_EFORMAT, "/params/dense_3.b holds a non-finite value (nan at index 5)");
    fresh("inf.h5", p);
    file_poke(p, "/params/dense_1.b", 0, -INFINITY);
    expect_load_fails(p, DS_EFORMAT, "non-finite value (-inf at index 0)");
    fresh("lr-nan.h5", p);
    hid_t f = h5_open_rw(p);
    float v = NAN;
    put_attr(f, "lr", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, &v, 0);
    h5_close_file(f);
    expect_load_fails(p, DS_EFORMAT, "attribute 'lr' is not finite");
}

static void test_refuse_not_hdf5(void)
{
    char p[TU_PATH_LEN];
    tu_path(p, "random.h5");
    unsigned char junk[4096];
    ds_rng r;
    ds_rng_init(&r, 3, 3);
    for (size_t i = 0; i < sizeof junk; i++) junk[i] = (unsigned char)ds_rng_u32(&r);
    tu_write_file(p, junk, sizeof junk);
    expect_load_fails(p, DS_EFORMAT, "not a readable HDF5 file");
    tu_path(p, "empty.h5");
    tu_write_file(p, "", 0);
    expect_load_fails(p, DS_EFORMAT, "not a readable HDF5 file");
    tu_path(p, "does-not-exist.h5");
    expect_load_fails(p, DS_EIO, "cannot open: No such file or directory");
}

static void test_refuse_truncated(void)
{
    char p[TU_PATH_LEN], t[TU_PATH_LEN];
    fresh("whole.h5", p);
    tu_bytes b = tu_read_file(p);
    tu_path(t, "half.h5");
    tu_write_file(t, b.b, b.n / 2);
    expect_load_fails(t, DS_EFORMAT, "not a readable HDF5 file");
    tu_path(t, "header-only.h5");
    tu_write_file(t, b.b, 200);
    expect_load_fails(t, DS_EFORMAT, "not a readable HDF5 file");
    free(b.b);
}

/* ---------------------------------------------------------------- string attributes */

static void test_attr_strings(void)
{
    char p[TU_PATH_LEN], buf[200];
    fresh("attrs.h5", p);
    ds_err err = {0};
    int found = -1;
    CHECK_OK(ds_model_file_get_attr_string(p, "commitment", buf, sizeof buf, &found, &err), &err);
    CHECK(found == 0 && buf[0] == '\0', "found a commitment in a fresh file");
    char hex[132];
    for (int i = 0; i < 131; i++) hex[i] = "0123456789abcdef"[i % 16];
    hex[131] = '\0';
    CHECK_OK(ds_model_file_set_attr_string(p, "commitment", "first", &err), &err);
    CHECK_OK(ds_model_file_set_attr_string(p, "commitment", hex, &err), &err);
    CHECK_OK(ds_model_file_get_attr_string(p, "commitment", buf, sizeof buf, &found, &err), &err);
    CHECK(found == 1 && !strcmp(buf, hex), "commitment read back as '%s'", buf);
    CHECK_OK(ds_model_file_get_attr_string(p, "optimizer", buf, sizeof buf, &found, &err), &err);
    CHECK(found == 1 && !strcmp(buf, "sgd"), "optimizer '%s'", buf);
    CHECK(ds_model_file_get_attr_string(p, "commitment", buf, 10, &found, &err) == DS_ERANGE,
          "a short buffer was accepted");
    CHECK(strstr(err.msg, "131 bytes long") != NULL, "message: %s", err.msg);
    ds_model *m = ds_model_load(p, &err);
    CHECK(m != NULL, "file with a commitment no longer loads: %s", err.msg);
    ds_model_free(m);
    int entries = tu_count_entries(tu_root);
    tu_bytes before = tu_read_file(p);
    CHECK(ds_model_file_set_attr_string(p, "magic", "x", &err) == DS_EINVAL, "set magic");
    CHECK(strstr(err.msg, "defines the file") != NULL, "message: %s", err.msg);
    CHECK(ds_model_file_set_attr_string(p, "hidden", "x", &err) == DS_EINVAL, "set hidden");
    CHECK(strstr(err.msg, "not a string") != NULL, "message: %s", err.msg);
    tu_bytes after = tu_read_file(p);
    CHECK(tu_same_bytes(before, after), "a refused set changed the file");
    CHECK(tu_count_entries(tu_root) == entries, "a temporary file was left behind");
    free(before.b);
    free(after.b);
    char q[TU_PATH_LEN];
    tu_path(q, "junk-for-attrs.h5");
    tu_write_file(q, "junk", 4);
    entries = tu_count_entries(tu_root);
    CHECK(ds_model_file_set_attr_string(q, "commitment", "x", &err) == DS_EFORMAT, "set on junk");
    CHECK(strstr(err.msg, "not a readable HDF5 file") != NULL, "message: %s", err.msg);
    CHECK(tu_count_entries(tu_root) == entries, "a temporary file was left behind");
    tu_path(q, "absent.h5");
    CHECK(ds_model_file_get_attr_string(q, "commitment", buf, sizeof buf, &found, &err) == DS_EIO,
          "get on a missing file");
}

/* ---------------------------------------------------------------- Keras */

enum { K_IN = 784, K_OUT = 10 };

typedef struct kfix {
    int H;
    float *W[3], *b[3];
    int rows[3], cols[3];
} kfix;

static void kfix_init(kfix *k, int H, uint64_t seed)
{
    ds_rng r;
    ds_rng_init(&r, seed, 11);
    k->H = H;
    int ins[3] = {K_IN, H, H}, outs[3] = {H, H, K_OUT};
    for (int l = 0; l < 3; l++) {
        k->rows[l] = ins[l];
        k->cols[l] = outs[l];
        k->W[l] = malloc(sizeof(float) * ins[l] * outs[l]);
        k->b[l] = malloc(sizeof(float) * outs[l]);
        for (int i = 0; i < ins[l] * outs[l]; i++) k->W[l][i] = 0.1f * (float)ds_rng_normal(&r);
        for (int i = 0; i < outs[l]; i++) k->b[l][i] = 0.1f * (float)ds_rng_normal(&r);
    }
}

static void kfix_free(kfix *k)
{
    for (int l = 0; l < 3; l++) {
        free(k->W[l]);
        free(k->b[l]);
    }
}

typedef enum { K1, K2, K2_FULL, K_NOATTR } klayout;

/* An empty weight_names: Keras 1 style H5S_NULL, Keras 2 style float64[0] (h5py of []). */
static void put_empty_names(hid_t g, klayout lay)
{
    hsize_t zero = 0;
    hid_t sp = lay == K1 ? H5Screate(H5S_NULL) : H5Screate_simple(1, &zero, NULL);
    hid_t a = H5Acreate2(g, "weight_names", H5T_IEEE_F64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
    CHECK(sp >= 0 && a >= 0, "empty weight_names");
    H5Aclose(a);
    H5Sclose(sp);
}

/* One dense layer group `name` under root in the given layout. */
static void put_dense(hid_t root, const char *name, const kfix *k, int l, klayout lay, hid_t ftype)
{
    hid_t g = H5Gcreate2(root, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    char wn[2][96];
    hsize_t wd[2] = {(hsize_t)k->rows[l], (hsize_t)k->cols[l]}, bd[1] = {(hsize_t)k->cols[l]};
    if (lay == K1) {
        snprintf(wn[0], sizeof wn[0], "%s_W:0", name);
        snprintf(wn[1], sizeof wn[1], "%s_b:0", name);
        put_dataset(g, wn[0], ftype, 2, wd, k->W[l]);
        put_dataset(g, wn[1], ftype, 1, bd, k->b[l]);
    } else {
        hid_t sub = H5Gcreate2(g, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        put_dataset(sub, "bias:0", ftype, 1, bd, k->b[l]); /* bias first: order must not matter */
        put_dataset(sub, "kernel:0", ftype, 2, wd, k->W[l]);
        H5Gclose(sub);
        snprintf(wn[0], sizeof wn[0], "%s/kernel:0", name);
        snprintf(wn[1], sizeof wn[1], "%s/bias:0", name);
    }
    const char *names[2] = {wn[0], wn[1]};
    if (lay == K2_FULL)
        put_vlen_str_attr(g, "weight_names", names, 2);
    else if (lay != K_NOATTR)
        put_str_attr(g, "weight_names", names, 2, 0);
    H5Gclose(g);
}

/* A Keras weights file of k at path; layer names dense_<ids[i]> with dropouts between. */
static void write_keras(const char *path, const kfix *k, klayout lay, hid_t ftype, const int ids[3])
{
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    CHECK(f >= 0, "H5Fcreate %s", path);
    hid_t root = lay == K2_FULL ? H5Gcreate2(f, "model_weights", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)
                                : H5Gopen2(f, "/", H5P_DEFAULT);
    char names[5][32];
    const char *list[5];
    for (int i = 0; i < 5; i++) {
        if (i % 2 == 0)
            snprintf(names[i], sizeof names[i], "dense_%d", ids[i / 2]);
        else
            snprintf(names[i], sizeof names[i], "dropout_%d", i / 2 + 1);
        list[i] = names[i];
    }
    for (int i = 0; i < 5; i++) {
        if (i % 2 == 0) {
            put_dense(root, names[i], k, i / 2, lay, ftype);
        } else if (lay != K_NOATTR) {
            hid_t g = H5Gcreate2(root, names[i], H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
            put_empty_names(g, lay);
            H5Gclose(g);
        }
    }
    if (lay == K2_FULL)
        put_vlen_str_attr(root, "layer_names", list, 5);
    else if (lay != K_NOATTR)
        put_str_attr(root, "layer_names", list, 5, 0);
    if (lay != K_NOATTR) {
        const char *ver = lay == K1 ? "1.2.2" : "2.2.4";
        put_str_attr(root, "keras_version", &ver, 1, 1);
    }
    H5Gclose(root);
    h5_close_file(f);
}

/* Every weight equals the fixture's, bit for bit. */
static void check_keras_weights(const ds_model *m, const kfix *k)
{
    for (int l = 0; l < 3; l++) {
        char wn[32], bn[32];
        snprintf(wn, sizeof wn, "dense_%d.W", l + 1);
        snprintf(bn, sizeof bn, "dense_%d.b", l + 1);
        int tw = ds_model_find_tensor(m, wn), tb = ds_model_find_tensor(m, bn);
        CHECK(tw >= 0 && tb >= 0, "tensors of layer %d", l + 1);
        if (tw < 0 || tb < 0) continue;
        CHECK(!memcmp(ds_model_tensor_data(m, tw), k->W[l], sizeof(float) * k->rows[l] * k->cols[l]),
              "%s differs", wn);
        CHECK(!memcmp(ds_model_tensor_data(m, tb), k->b[l], sizeof(float) * k->cols[l]), "%s differs",
              bn);
    }
}

/* y[n] = x[m] W[m,n] + b, optionally relu, in double. */
static void ref_dense(const double *x, int rows, const float *W, const float *b, int cols, int relu,
                      double *y)
{
    for (int j = 0; j < cols; j++) {
        double s = b[j];
        for (int i = 0; i < rows; i++) s += x[i] * W[(size_t)i * cols + j];
        y[j] = relu && s < 0 ? 0 : s;
    }
}

/* Eval-mode forward on a few random inputs equals relu(relu(x W1 + b1) W2 + b2) W3 + b3. */
static void check_keras_forward(ds_model *m, const kfix *k)
{
    enum { B = 4 };
    ds_err err = {0};
    CHECK_OK(ds_model_reserve(m, B, &err), &err);
    float *x = malloc(sizeof(float) * B * K_IN);
    double *xd = malloc(sizeof(double) * K_IN), *h1 = malloc(sizeof(double) * k->H),
           *h2 = malloc(sizeof(double) * k->H), out[K_OUT];
    ds_rng r;
    ds_rng_init(&r, 99, 1);
    for (int i = 0; i < B * K_IN; i++) x[i] = ds_rng_uniformf(&r);
    ds_model_forward(m, x, B, 0, NULL);
    const float *y = ds_model_act(m, ds_model_output_node(m));
    for (int s = 0; s < B; s++) {
        for (int i = 0; i < K_IN; i++) xd[i] = x[s * K_IN + i];
        ref_dense(xd, K_IN, k->W[0], k->b[0], k->H, 1, h1);
        ref_dense(h1, k->H, k->W[1], k->b[1], k->H, 1, h2);
        ref_dense(h2, k->H, k->W[2], k->b[2], K_OUT, 0, out);
        for (int j = 0; j < K_OUT; j++) CHECK_CLOSE(y[s * K_OUT + j], out[j], 1e-4, 1e-4, "logit");
    }
    free(x); free(xd); free(h1); free(h2);
}

static void keras_case(klayout lay, hid_t ftype, const char *name, const ds_preproc *pp)
{
    kfix k;
    kfix_init(&k, 48, 17 + (uint64_t)lay);
    char p[TU_PATH_LEN];
    tu_path(p, name);
    const int ids[3] = {1, 2, 3}, sparse[3] = {2, 9, 10};
    write_keras(p, &k, lay, ftype, lay == K_NOATTR ? sparse : ids);
    ds_err err = {0};
    ds_model *m = ds_model_import_keras(p, pp, &err);
    CHECK(m != NULL, "import %s: %s", name, err.msg);
    if (m) {
        CHECK(!strcmp(m->arch.name, "mnist-mlp") && m->arch.hidden == 48 && m->arch.classes == 10 &&
              m->arch.in_c == 1 && m->arch.in_h == 28 && m->arch.in_w == 28, "arch of %s", name);
        CHECK(!strcmp(m->meta.source, "keras-import"), "source '%s'", m->meta.source);
        ds_preproc want = {.scale = 1.0f / 255.0f, .channels = 1, .std = {1, 1, 1}};
        if (pp) want = *pp;
        CHECK(!memcmp(&m->meta.preproc, &want, sizeof want), "preproc of %s", name);
        check_keras_weights(m, &k);
        check_keras_forward(m, &k);
    }
    ds_model_free(m);
    kfix_free(&k);
}

static void test_keras1(void) { keras_case(K1, H5T_IEEE_F64LE, "keras1.h5", NULL); }
static void test_keras2(void) { keras_case(K2, H5T_IEEE_F32LE, "keras2.h5", NULL); }

static void test_keras2_full_model(void)
{
    ds_preproc pp = {.scale = 1.0f / 255.0f, .channels = 1, .mean = {0.1307f}, .std = {0.3081f}};
    keras_case(K2_FULL, H5T_IEEE_F32BE, "keras2-full.h5", &pp);
}

static void test_keras_no_attributes(void) { keras_case(K_NOATTR, H5T_IEEE_F32LE, "keras-noattr.h5", NULL); }

static void expect_import_fails(const char *path, const char *phrase1, const char *phrase2)
{
    ds_err err = {0};
    ds_model *m = ds_model_import_keras(path, NULL, &err);
    CHECK(m == NULL, "%s imported", path);
    CHECK(err.code != DS_OK && strstr(err.msg, path), "message '%s' does not name the file", err.msg);
    CHECK(strstr(err.msg, phrase1) != NULL, "message '%s' lacks '%s'", err.msg, phrase1);
    CHECK(!phrase2 || strstr(err.msg, phrase2) != NULL, "message '%s' lacks '%s'", err.msg, phrase2);
    ds_model_free(m);
}

static void test_keras_refusals(void)
{
    char p[TU_PATH_LEN];
    kfix k;
    kfix_init(&k, 32, 5);
    const int ids[3] = {1, 2, 3};
    /* layer 2 narrower than layer 1 */
    k.cols[1] = 16;
    k.rows[2] = 16;
    tu_path(p, "keras-shapes.h5");
    write_keras(p, &k, K2, H5T_IEEE_F32LE, ids);
    expect_import_fails(p, "layer dense_2 has kernel 32x16 and bias 16, expected 32x32 and 32",
                        "dense_1 784x32+32");
    /* a 4-layer model */
    k.cols[1] = k.rows[2] = 32;
    tu_path(p, "keras-4layers.h5");
    write_keras(p, &k, K2, H5T_IEEE_F32LE, ids);
    hid_t f = h5_open_rw(p);
    put_dense(f, "dense_4", &k, 2, K2, H5T_IEEE_F32LE);
    const char *names[4] = {"dense_1", "dense_2", "dense_3", "dense_4"};
    put_str_attr(f, "layer_names", names, 4, 0);
    h5_close_file(f);
    expect_import_fails(p, "expected 3 dense layers", "found 4 layers with weights");
    /* one convolution and two dense layers: neither the MLP nor a CNN */
    tu_path(p, "keras-conv.h5");
    write_keras(p, &k, K2, H5T_IEEE_F32LE, ids);
    file_unlink(p, "/dense_1/dense_1/kernel:0");
    hsize_t cd[4] = {3, 3, 1, 32};
    file_put_dataset(p, "/dense_1/dense_1/kernel:0", H5T_IEEE_F32LE, 4, cd);
    expect_import_fails(p, "are not those of mnist-mlp (3 dense), mnist-cnn (2 Conv2D, 2 dense) or "
                        "cifar10-cnn (4 Conv2D, 2 dense)", "dense_1 3x3x1x32+32");
    /* a 3-D kernel */
    tu_path(p, "keras-3d.h5");
    write_keras(p, &k, K2, H5T_IEEE_F32LE, ids);
    file_unlink(p, "/dense_1/dense_1/kernel:0");
    hsize_t d3[3] = {3, 3, 32};
    file_put_dataset(p, "/dense_1/dense_1/kernel:0", H5T_IEEE_F32LE, 3, d3);
    expect_import_fails(p, "layer dense_1: weight dense_1/dense_1/kernel:0 has shape 3x3x32",
                        "only dense and Conv2D layers");
    /* weight_names naming a dataset that is not there */
    tu_path(p, "keras-missing.h5");
    write_keras(p, &k, K1, H5T_IEEE_F32LE, ids);
    file_unlink(p, "/dense_3/dense_3_b:0");
    expect_import_fails(p, "layer dense_3: weight_names lists dense_3_b:0, which is missing", NULL);
    /* a NaN weight */
    tu_path(p, "keras-nan.h5");
    k.W[1][7] = NAN;
    write_keras(p, &k, K2, H5T_IEEE_F32LE, ids);
    expect_import_fails(p, "/dense_2/dense_2/kernel:0 holds a non-finite value (nan at index 7)", NULL);
    /* not HDF5, and a deepsigns model file */
    tu_path(p, "junk-for-keras.h5");
    tu_write_file(p, "junk", 4);
    expect_import_fails(p, "not a readable HDF5 file", NULL);
    fresh("ds-model-for-keras.h5", p);
    expect_import_fails(p, "this is a deepsigns model file", NULL);
    kfix_free(&k);
}

/* A Keras file given to ds_model_load gets a hint. */
static void test_load_keras_hint(void)
{
    kfix k;
    kfix_init(&k, 8, 1);
    char p[TU_PATH_LEN];
    tu_path(p, "keras-for-load.h5");
    const int ids[3] = {1, 2, 3};
    write_keras(p, &k, K2, H5T_IEEE_F32LE, ids);
    expect_load_fails(p, DS_EFORMAT, "looks like a Keras weights file");
    kfix_free(&k);
}

int main(void)
{
    if (tu_root_create("model-file") != 0) return 1;
    RUN(test_roundtrip_mnist_mlp);
    RUN(test_roundtrip_mnist_cnn);
    RUN(test_roundtrip_cifar10_cnn);
    RUN(test_roundtrip_cifar10_wrn);
    RUN(test_deterministic_bytes);
    RUN(test_error_printing_restored);
    RUN(test_save_missing_directory);
    RUN(test_save_over_directory);
    RUN(test_save_fails_midway);
    RUN(test_save_keeps_mode);
    RUN(test_save_refuses_nan);
    RUN(test_refuse_magic);
    RUN(test_refuse_version);
    RUN(test_refuse_absurd_options);
    RUN(test_refuse_attribute_types);
    RUN(test_refuse_dataset_shape);
    RUN(test_refuse_missing_and_extra);
    RUN(test_refuse_inconsistent_attributes);
    RUN(test_refuse_before_allocating);
    RUN(test_refuse_nonfinite);
    RUN(test_refuse_not_hdf5);
    RUN(test_refuse_truncated);
    RUN(test_attr_strings);
    RUN(test_keras1);
    RUN(test_keras2);
    RUN(test_keras2_full_model);
    RUN(test_keras_no_attributes);
    RUN(test_keras_refusals);
    RUN(test_load_keras_hint);
    tu_root_remove();
    TEST_MAIN_END();
}
