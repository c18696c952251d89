/* load_dir.c - load the train and test sets from a dataset directory, with
 * format detection: data_batch_1.bin present -> CIFAR-10, otherwise IDX.
 */
#include "deepsigns/data.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

enum {
    PATH_CAP = 4096,
    CIFAR_TRAIN_BATCHES = 5,
    IDX_CLASSES = 10,
};

#define IDX_NAMES_HINT \
    "train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, " \
    "t10k-labels-idx1-ubyte (each optionally .gz)"
#define CIFAR_NAMES_HINT "data_batch_1.bin .. data_batch_5.bin and test_batch.bin"

/* The four IDX files, each as "name-idxN-ubyte" and the dotted "name.idxN-ubyte". */
enum { IDX_TRAIN_IMAGES, IDX_TRAIN_LABELS, IDX_TEST_IMAGES, IDX_TEST_LABELS, IDX_NFILES };
static const char *const idx_names[IDX_NFILES][2] = {
    {"train-images-idx3-ubyte", "train-images.idx3-ubyte"},
    {"train-labels-idx1-ubyte", "train-labels.idx1-ubyte"},
    {"t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"},
    {"t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"},
};

ds_status ds_data_format_parse(const char *s, ds_data_format *out, ds_err *err)
{
    static const struct { const char *name; ds_data_format fmt; } table[] = {
        {"auto", DS_FORMAT_AUTO}, {"idx", DS_FORMAT_IDX}, {"cifar10", DS_FORMAT_CIFAR10},
    };
    for (size_t i = 0; s && i < sizeof table / sizeof table[0]; i++)
        if (strcmp(s, table[i].name) == 0) {
            if (out) *out = table[i].fmt;
            return DS_OK;
        }
    return ds_err_set(err, DS_EINVAL, "unknown data format \"%s\" (expected auto, idx or cifar10)",
                      s ? s : "(null)");
}

static int is_file(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* out = dir/name suffix; fails if it does not fit in PATH_CAP. */
static ds_status join(char out[PATH_CAP], const char *dir, const char *name, const char *suffix,
                      ds_err *err)
{
    int k = snprintf(out, PATH_CAP, "%s/%s%s", dir, name, suffix);
    if (k < 0 || k >= PATH_CAP)
        return ds_err_set(err, DS_EINVAL, "%s: path too long for %s%s", dir, name, suffix);
    return DS_OK;
}

/* Find IDX file `which` in dir (either spelling, raw or .gz) and write its path. */
static ds_status idx_find(const char *dir, int which, int autodetect, char out[PATH_CAP],
                          ds_err *err)
{
    static const char *const suffixes[] = {"", ".gz"};
    for (int v = 0; v < 2; v++)
        for (int g = 0; g < 2; g++) {
            ds_status st = join(out, dir, idx_names[which][v], suffixes[g], err);
            if (st) return st;
            if (is_file(out)) return DS_OK;
        }
    return ds_err_set(err, DS_EIO, "%s: missing IDX file %s (looked for %s[.gz] and %s[.gz]; "
                      "an IDX directory holds " IDX_NAMES_HINT "%s)", dir, idx_names[which][0],
                      idx_names[which][0], idx_names[which][1],
                      autodetect ? "; no data_batch_1.bin for CIFAR-10 either" : "");
}

static ds_status load_idx(const char *dir, int autodetect, ds_dataset *train, ds_dataset *test,
                          ds_err *err)
{
    char path[IDX_NFILES][PATH_CAP];
    for (int i = 0; i < IDX_NFILES; i++) {
        ds_status st = idx_find(dir, i, autodetect, path[i], err);
        if (st) return st;
    }
    ds_status st = ds_idx_load(path[IDX_TRAIN_IMAGES], path[IDX_TRAIN_LABELS], IDX_CLASSES, train, err);
    if (!st) st = ds_idx_load(path[IDX_TEST_IMAGES], path[IDX_TEST_LABELS], IDX_CLASSES, test, err);
    return st;
}

/* Path of CIFAR-10 file i: data_batch_{i+1}.bin for i < 5, test_batch.bin for i == 5. */
static ds_status cifar_path(const char *dir, int i, char out[PATH_CAP], ds_err *err)
{
    char name[32];
    if (i < CIFAR_TRAIN_BATCHES) snprintf(name, sizeof name, "data_batch_%d.bin", i + 1);
    else snprintf(name, sizeof name, "test_batch.bin");
    ds_status st = join(out, dir, name, "", err);
    if (!st && !is_file(out))
        st = ds_err_set(err, DS_EIO, "%s: missing CIFAR-10 file %s (need " CIFAR_NAMES_HINT ")",
                        dir, name);
    return st;
}

static ds_status load_cifar(const char *dir, ds_dataset *train, ds_dataset *test, ds_err *err)
{
    char path[CIFAR_TRAIN_BATCHES + 1][PATH_CAP];
    const char *train_paths[CIFAR_TRAIN_BATCHES];
    for (int i = 0; i <= CIFAR_TRAIN_BATCHES; i++) {
        ds_status st = cifar_path(dir, i, path[i], err);
        if (st) return st;
        if (i < CIFAR_TRAIN_BATCHES) train_paths[i] = path[i];
    }
    const char *test_path = path[CIFAR_TRAIN_BATCHES];
    ds_status st = ds_cifar10_load(train_paths, CIFAR_TRAIN_BATCHES, train, err);
    if (!st) st = ds_cifar10_load(&test_path, 1, test, err);
    return st;
}

/* dir must exist and be a directory. */
#define DIR_HINT "expected a directory of IDX files " IDX_NAMES_HINT " or of CIFAR-10 files " CIFAR_NAMES_HINT
static ds_status check_dir(const char *dir, ds_err *err)
{
    struct stat sb;
    if (stat(dir, &sb) != 0)
        return ds_err_set(err, DS_EIO, "%s: %s (%s); " DIR_HINT, dir,
                          errno == ENOENT ? "data directory not found" : "cannot access the data directory",
                          strerror(errno));
    if (!S_ISDIR(sb.st_mode))
        return ds_err_set(err, DS_EIO, "%s: not a directory (a %s); " DIR_HINT, dir,
                          S_ISREG(sb.st_mode) ? "file" : "special file");
    return DS_OK;
}

ds_status ds_data_load_dir(const char *dir, ds_data_format fmt, ds_dataset *train,
                           ds_dataset *test, ds_err *err)
{
    if (!train || !test) return ds_err_set(err, DS_EINVAL, "ds_data_load_dir: train or test is NULL");
    memset(train, 0, sizeof *train);
    memset(test, 0, sizeof *test);
    if (!dir) return ds_err_set(err, DS_EINVAL, "ds_data_load_dir: dir is NULL");
    ds_status st = check_dir(dir, err);
    if (st) return st;
    int autodetect = fmt == DS_FORMAT_AUTO;
    if (autodetect) {
        char probe[PATH_CAP];
        st = join(probe, dir, "data_batch_1.bin", "", err);
        if (st) return st;
        fmt = is_file(probe) ? DS_FORMAT_CIFAR10 : DS_FORMAT_IDX;
    }
    switch (fmt) {
    case DS_FORMAT_IDX: st = load_idx(dir, autodetect, train, test, err); break;
    case DS_FORMAT_CIFAR10: st = load_cifar(dir, train, test, err); break;
    default: return ds_err_set(err, DS_EINVAL, "ds_data_load_dir: unknown format %d", (int)fmt);
    }
    if (st) {
        ds_dataset_free(train);
        ds_dataset_free(test);
    }
    return st;
}
