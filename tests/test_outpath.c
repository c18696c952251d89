/* test_outpath.c - the output path check (src/io/outpath.c): key and results
 * files are recognised by their HDF5 root attribute `magic` and refused unless
 * force; a model or other file may be replaced; an empty path, a directory, a
 * FIFO, a missing or non-directory parent are refused with a message naming
 * the option and the path. */
#include <hdf5.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "deepsigns/model_file.h"
#include "deepsigns/outpath.h"
#include "deepsigns/results.h"
#include "deepsigns/wm.h"
#include "io/h5util.h"
#include "testutil.h"

/* An HDF5 file at path whose root attribute magic is magic. */
static void write_h5(const char *path, const char *magic)
{
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    CHECK(f >= 0, "H5Fcreate %s", path);
    ds_err err = {0};
    if (f >= 0) CHECK_OK(ds_h5_attr_write_string(f, "magic", magic, path, &err), &err);
    CHECK_OK(ds_h5_close(&f, path, DS_OK, &err), &err);
}

/* ds_outpath_check(opt, path, force) fails with a message ending in want. */
static void expect_refused(const char *path, int force, const char *want)
{
    ds_err err = {0};
    char full[2 * TU_PATH_LEN];
    snprintf(full, sizeof full, "-o %s: %s", path, want);
    CHECK(ds_outpath_check("-o", path, force, &err) != DS_OK && !strcmp(err.msg, full),
          "%s: message \"%s\", expected \"%s\"", path, err.msg, full);
}

static void test_by_content(void)
{
    char key[TU_PATH_LEN], res[TU_PATH_LEN], model[TU_PATH_LEN], plain[TU_PATH_LEN], none[TU_PATH_LEN];
    tu_path(key, "a.h5"); /* names say nothing: the content decides */
    tu_path(res, "b.key");
    tu_path(model, "c.results");
    tu_path(plain, "d.h5");
    tu_path(none, "e.h5");
    write_h5(key, DS_KEY_MAGIC);
    write_h5(res, DS_RESULTS_MAGIC);
    write_h5(model, DS_MODEL_MAGIC);
    tu_write_file(plain, "not hdf5", 8);
    ds_err err = {0};
    ds_outpath_kind k;
    CHECK_OK(ds_outpath_kind_get(key, &k, &err), &err);
    CHECK(k == DS_OUTPATH_KEY, "key file: kind %d", k);
    CHECK_OK(ds_outpath_kind_get(res, &k, &err), &err);
    CHECK(k == DS_OUTPATH_RESULTS, "results file: kind %d", k);
    CHECK_OK(ds_outpath_kind_get(model, &k, &err), &err);
    CHECK(k == DS_OUTPATH_OTHER, "model file: kind %d", k);
    CHECK_OK(ds_outpath_kind_get(plain, &k, &err), &err);
    CHECK(k == DS_OUTPATH_OTHER, "plain file: kind %d", k);
    CHECK_OK(ds_outpath_kind_get(none, &k, &err), &err);
    CHECK(k == DS_OUTPATH_NONE, "no file: kind %d", k);
    expect_refused(key, 0, "refusing to replace a key file (use --force)");
    expect_refused(res, 0, "refusing to replace a results file (use --force)");
    CHECK_OK(ds_outpath_check("-o", key, 1, &err), &err);
    CHECK_OK(ds_outpath_check("-o", res, 1, &err), &err);
    CHECK_OK(ds_outpath_check("-o", model, 0, &err), &err);
    CHECK_OK(ds_outpath_check("-o", plain, 0, &err), &err);
    CHECK_OK(ds_outpath_check("-o", none, 0, &err), &err);
}

static void test_locations(void)
{
    ds_err err = {0};
    CHECK(ds_outpath_check("-o", "", 0, &err) != DS_OK && !strcmp(err.msg, "-o: empty path"), "empty: %s",
          err.msg);
    char dir[TU_PATH_LEN], fifo[TU_PATH_LEN], sub[TU_PATH_LEN], file[TU_PATH_LEN], under[2 * TU_PATH_LEN],
        want[4 * TU_PATH_LEN];
    tu_path(dir, "sub");
    CHECK(mkdir(dir, 0700) == 0, "mkdir %s", dir);
    expect_refused(dir, 1, "is a directory");
    tu_path(fifo, "fifo");
    CHECK(mkfifo(fifo, 0600) == 0, "mkfifo %s", fifo);
    expect_refused(fifo, 1, "not a regular file (a FIFO)");
    tu_path(sub, "nodir/x.h5");
    tu_path(dir, "nodir");
    snprintf(want, sizeof want, "directory %s does not exist", dir);
    expect_refused(sub, 0, want);
    tu_path(file, "afile");
    tu_write_file(file, "x", 1);
    snprintf(under, sizeof under, "%s/x.h5", file);
    snprintf(want, sizeof want, "%s is not a directory", file);
    expect_refused(under, 0, want);
    CHECK_OK(ds_outpath_check("-o", "x-in-the-working-directory.h5", 0, &err), &err);
}

int main(void)
{
    if (tu_root_create("outpath") != 0) return 1;
    RUN(test_by_content);
    RUN(test_locations);
    tu_root_remove();
    TEST_MAIN_END();
}
