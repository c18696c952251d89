/* data.h - datasets on disk (IDX, CIFAR-10 binary), splits and batches.
 *
 * A dataset keeps raw pixels (uint8, NCHW) and labels in memory; batches are
 * turned into floats with the preprocessing a model records (ds_preproc), and
 * optionally augmented (CIFAR: pad-4 random crop, horizontal flip). Every
 * loader validates what it reads and names the file and the fault on error.
 */
#ifndef DEEPSIGNS_DATA_H
#define DEEPSIGNS_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "deepsigns/rng.h"
#include "deepsigns/status.h"

#define DS_DEFAULT_DATA_DIR "/usr/share/datasets/fashion-mnist"

typedef enum ds_data_format {
    DS_FORMAT_AUTO = 0, /* detect from the files present */
    DS_FORMAT_IDX,      /* MNIST / Fashion-MNIST IDX files, raw or gzipped */
    DS_FORMAT_CIFAR10,  /* CIFAR-10 binary batches */
} ds_data_format;

typedef struct ds_dataset {
    size_t n;          /* number of samples */
    int c, h, w;       /* channels, height, width of one sample */
    int num_classes;   /* labels are in [0, num_classes) */
    uint8_t *x;        /* [n, c, h, w] raw pixels 0..255 */
    uint8_t *y;        /* [n] labels */
    int owns;          /* 1 if x and y are heap buffers freed by ds_dataset_free */
} ds_dataset;

/* Input preprocessing: x = (pixel * scale - mean[c]) / std[c]. Stored in model files. */
typedef struct ds_preproc {
    float scale;
    int channels;      /* number of valid entries in mean/std (1..3) */
    float mean[3];
    float std[3];
} ds_preproc;

/* Augmentation applied when a batch is filled for training. */
typedef struct ds_augment {
    int pad_crop;      /* pad by this many pixels (zeros) and crop back at random; 0 = off */
    int hflip;         /* flip horizontally with probability 1/2 */
} ds_augment;

/* Load one IDX image file + label file pair (".gz" is detected by content).
 * Validates magic numbers, dimensions, counts, file sizes and that every label < num_classes. */
ds_status ds_idx_load(const char *images_path, const char *labels_path, int num_classes,
                      ds_dataset *out, ds_err *err);

/* Load CIFAR-10 binary batch files (each record: 1 label byte + 3072 pixel bytes). */
ds_status ds_cifar10_load(const char *const *paths, int npaths, ds_dataset *out, ds_err *err);

/* Load the train and test sets from a directory of either format.
 * IDX: train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], t10k-*;
 * CIFAR-10: data_batch_1..5.bin and test_batch.bin. */
ds_status ds_data_load_dir(const char *dir, ds_data_format fmt, ds_dataset *train,
                           ds_dataset *test, ds_err *err);

/* The fingerprint of the files ds_data_load_dir reads from dir: SHA-256 (64 hex
 * digits) over each file's name, size and bytes, in a fixed order. A results
 * file records it so that a resume on changed data is caught. */
enum { DS_DATA_SHA256_HEX = 65 };
ds_status ds_data_fingerprint_dir(const char *dir, ds_data_format fmt, char hex[DS_DATA_SHA256_HEX],
                                  ds_err *err);

/* Parse "auto", "idx", "cifar10"; returns DS_EINVAL on anything else. */
ds_status ds_data_format_parse(const char *s, ds_data_format *out, ds_err *err);

/* Free buffers owned by d and zero it. Accepts NULL. */
void ds_dataset_free(ds_dataset *d);

/* The default preprocessing for a dataset: pixels/255 for 1-channel data,
 * per-channel standardisation (CIFAR-10 statistics) for 3-channel data. */
ds_preproc ds_preproc_default(const ds_dataset *d);

/* Per-channel standardisation fitted on samples idx[0..n) of d (idx NULL: all):
 * scale 1/255, mean and std of the scaled pixels. */
ds_preproc ds_preproc_fit(const ds_dataset *d, const uint32_t *idx, size_t n);

/* Fill a float batch from samples idx[0..b): x_out [b, c, h, w], y_out [b].
 * aug may be NULL (no augmentation); rng is used only when aug is active. */
void ds_batch_fill(const ds_dataset *d, const uint32_t *idx, size_t b, const ds_preproc *pp,
                   const ds_augment *aug, ds_rng *rng, float *x_out, int *y_out);

/* Disjoint splits of the n training samples, shuffled by seed. The owner
 * trains on train + attacker + keypool (everything but val); an attacker's
 * fine-tuning data come from the attacker part only, so they never include the
 * owner's key images (drawn from keypool) nor the test set. */
typedef struct ds_split {
    uint32_t *train;    size_t n_train;    /* the rest of the owner's training data */
    uint32_t *val;      size_t n_val;      /* validation, never trained on */
    uint32_t *attacker; size_t n_attacker; /* the data an attacker holds (fine-tuning attacks) */
    uint32_t *keypool;  size_t n_keypool;  /* where the owner's white-box key images come from */
} ds_split;

/* The owner's training indices (train + attacker + keypool), ascending, in a new
 * array of *n entries; NULL if out of memory. */
uint32_t *ds_split_owner(const ds_split *s, size_t *n);

/* Draw the split; the sizes of val, attacker and keypool are given, train gets
 * the rest. Fails if they do not fit in n. */
ds_status ds_split_make(size_t n, uint64_t seed, size_t n_val, size_t n_attacker,
                        size_t n_keypool, ds_split *out, ds_err *err);
/* The standard split: validation n/12, attacker n/6, key pool n/12 (for the
 * 60000 Fashion-MNIST training images: 5000, 10000, 5000). */
ds_status ds_split_make_default(size_t n, uint64_t seed, ds_split *out, ds_err *err);
void ds_split_free(ds_split *s);

#endif
