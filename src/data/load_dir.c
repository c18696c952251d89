/* load_dir.c - load the train and test sets from a dataset directory, with
 * format detection: data_batch_1.bin present -> CIFAR-10, otherwise IDX.
 */
#include "deepsigns/data.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sodium.h>
#include <stdlib.h>
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

/* The files of a dataset directory, in a fixed order: IDX train images, train
 * labels, test images, test labels; or CIFAR-10 data_batch_1..5.bin, test_batch.bin. */
typedef struct dir_files {
    ds_data_format fmt;    /* DS_FORMAT_IDX or DS_FORMAT_CIFAR10 (auto resolved) */
    int n;
    char path[CIFAR_TRAIN_BATCHES + 1][PATH_CAP];
} dir_files;

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

/* Find the files of dir in format fmt (auto: data_batch_1.bin present -> CIFAR-10). */
static ds_status find_files(const char *dir, ds_data_format fmt, dir_files *f, ds_err *err)
{
    ds_status st = check_dir(dir, err);
    if (st) return st;
    int autodetect = fmt == DS_FORMAT_AUTO;
    if (autodetect) {
        char probe[PATH_CAP];
        if ((st = join(probe, dir, "data_batch_1.bin", "", err))) return st;
        fmt = is_file(probe) ? DS_FORMAT_CIFAR10 : DS_FORMAT_IDX;
    }
    f->fmt = fmt;
    switch (fmt) {
    case DS_FORMAT_IDX: f->n = IDX_NFILES; break;
    case DS_FORMAT_CIFAR10: f->n = CIFAR_TRAIN_BATCHES + 1; break;
    default: return ds_err_set(err, DS_EINVAL, "%s: unknown data format %d", dir, (int)fmt);
    }
    for (int i = 0; i < f->n && !st; i++)
        st = fmt == DS_FORMAT_IDX ? idx_find(dir, i, autodetect, f->path[i], err)
                                  : cifar_path(dir, i, f->path[i], err);
    return st;
}

ds_status ds_data_load_dir(const char *dir, ds_data_format fmt, ds_dataset *train,
                           ds_dataset *test, ds_err *err)
{
    if (!train || !test) return ds_err_set(err, DS_EINVAL, "ds_data_load_dir: train or test is NULL");
    memset(train, 0, sizeof *train);
    memset(test, 0, sizeof *test);
    if (!dir) return ds_err_set(err, DS_EINVAL, "ds_data_load_dir: dir is NULL");
    dir_files *f = malloc(sizeof *f);
    if (!f) return ds_err_set(err, DS_ENOMEM, "%s: out of memory", dir);
    ds_status st = find_files(dir, fmt, f, err);
    if (!st && f->fmt == DS_FORMAT_IDX) {
        st = ds_idx_load(f->path[IDX_TRAIN_IMAGES], f->path[IDX_TRAIN_LABELS], IDX_CLASSES, train, err);
        if (!st)
            st = ds_idx_load(f->path[IDX_TEST_IMAGES], f->path[IDX_TEST_LABELS], IDX_CLASSES, test, err);
    } else if (!st) {
        const char *train_paths[CIFAR_TRAIN_BATCHES];
        for (int i = 0; i < CIFAR_TRAIN_BATCHES; i++) train_paths[i] = f->path[i];
        const char *test_path = f->path[CIFAR_TRAIN_BATCHES];
        st = ds_cifar10_load(train_paths, CIFAR_TRAIN_BATCHES, train, err);
        if (!st) st = ds_cifar10_load(&test_path, 1, test, err);
    }
    free(f);
    if (st) {
        ds_dataset_free(train);
        ds_dataset_free(test);
    }
    return st;
}

/* SHA-256 over each file in order: its name (without the directory), NUL, its
 * size as 20 decimal digits, NUL, its bytes. */
ds_status ds_data_fingerprint_dir(const char *dir, ds_data_format fmt, char hex[DS_DATA_SHA256_HEX],
                                  ds_err *err)
{
    hex[0] = '\0';
    if (!dir) return ds_err_set(err, DS_EINVAL, "ds_data_fingerprint_dir: dir is NULL");
    if (sodium_init() < 0) return ds_err_set(err, DS_ELIB, "libsodium failed to initialise");
    enum { CHUNK = 1 << 16 };
    dir_files *f = malloc(sizeof *f);
    unsigned char *buf = malloc(CHUNK);
    crypto_hash_sha256_state h;
    ds_status st = !f || !buf ? ds_err_set(err, DS_ENOMEM, "%s: out of memory", dir) : DS_OK;
    if (!st) st = find_files(dir, fmt, f, err);
    if (!st && crypto_hash_sha256_init(&h) != 0) st = ds_err_set(err, DS_ELIB, "SHA-256 failed");
    for (int i = 0; i < (f ? f->n : 0) && !st; i++) {
        FILE *fp = fopen(f->path[i], "rb");
        if (!fp) {
            st = ds_err_set(err, DS_EIO, "%s: cannot open: %s", f->path[i], strerror(errno));
            break;
        }
        struct stat sb;
        const char *name = strrchr(f->path[i], '/');
        name = name ? name + 1 : f->path[i];
        char head[PATH_CAP + 32];
        int hl = fstat(fileno(fp), &sb) != 0 ? -1
                 : snprintf(head, sizeof head, "%s%c%020llu%c", name, '\0',
                            (unsigned long long)sb.st_size, '\0');
        if (hl < 0 || hl >= (int)sizeof head ||
            crypto_hash_sha256_update(&h, (const unsigned char *)head, (unsigned long long)hl) != 0)
            st = ds_err_set(err, DS_EIO, "%s: cannot read its size", f->path[i]);
        size_t got;
        while (!st && (got = fread(buf, 1, CHUNK, fp)) > 0)
            if (crypto_hash_sha256_update(&h, buf, got) != 0) st = ds_err_set(err, DS_ELIB, "SHA-256 failed");
        if (!st && ferror(fp)) st = ds_err_set(err, DS_EIO, "%s: read error", f->path[i]);
        fclose(fp);
    }
    unsigned char digest[crypto_hash_sha256_BYTES];
    if (!st && crypto_hash_sha256_final(&h, digest) != 0) st = ds_err_set(err, DS_ELIB, "SHA-256 failed");
    if (!st) sodium_bin2hex(hex, DS_DATA_SHA256_HEX, digest, sizeof digest);
    free(buf);
    free(f);
    return st;
}
