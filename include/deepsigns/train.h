/* train.h - minibatch training and evaluation of a model on a dataset.
 *
 * Training is deterministic given cfg->seed and the BLAS thread count: epoch
 * shuffles, dropout masks and augmentation draw from streams derived from the
 * seed. A hook can add extra loss terms (the white-box watermark does) by adding
 * gradients into activation gradients (ds_model_dact) or m->grads.
 */
#ifndef DEEPSIGNS_TRAIN_H
#define DEEPSIGNS_TRAIN_H

#include "deepsigns/data.h"
#include "deepsigns/model.h"
#include "deepsigns/optim.h"

/* The ranges of the training settings, shared by the spec reader and the CLI. */
enum { DS_EPOCHS_MAX = 100000, DS_BATCH_MAX = 65536 };

typedef struct ds_train_cfg {
    int epochs;
    int batch;
    ds_optim_cfg opt;
    uint64_t seed;
    ds_augment aug;          /* all zero: no augmentation */
    int progress;            /* report progress on stderr */
    size_t param_lo, param_hi; /* update only params[lo, hi); hi == 0 means all */
    const uint8_t *mask;     /* [nparams] or NULL: params where mask is 0 stay 0 (pruned) */
} ds_train_cfg;

/* Called after the forward pass and the cross-entropy gradient, before backward.
 * x is the batch [B, ...], y its labels. Returns the hook's loss (for reporting). */
typedef struct ds_train_hook {
    double (*fn)(void *ctx, ds_model *m, const float *x, const int *y, int B);
    void *ctx;
    int node; /* the node whose activations and gradient fn uses (kept by the forward) */
} ds_train_hook;

typedef struct ds_train_stats {
    double loss;             /* mean training loss of the last epoch (CE + hook) */
    double accuracy;         /* training accuracy of the last epoch (dropout on) */
    double seconds;
    long steps;
} ds_train_stats;

/* The data's samples have the model's input shape, and at most its outputs as
 * classes (DS_EINVAL naming both otherwise). */
ds_status ds_model_check_data(const ds_model *m, const ds_dataset *d, ds_err *err);

/* Train on samples idx[0..n) of d. Fails with DS_ENUM if the loss becomes non-finite. */
ds_status ds_train(ds_model *m, const ds_dataset *d, const uint32_t *idx, size_t n,
                   const ds_train_cfg *cfg, const ds_train_hook *hook, ds_train_stats *out,
                   ds_err *err);

/* Accuracy and mean loss in inference mode on idx[0..n) (idx NULL: the first n samples),
 * in batches of `batch` (< 1: ds_infer_batch). */
ds_status ds_evaluate(ds_model *m, const ds_dataset *d, const uint32_t *idx, size_t n, int batch,
                      double *accuracy, double *loss, ds_err *err);

/* Run samples idx[0..n) of d (idx NULL: samples 0..n-1) through m in inference
 * mode, in chunks, with the model's preprocessing. Writes the activations of
 * node `node` to feat[n, size of node] when feat is non-NULL, and the predicted
 * class of each sample to pred[n] when pred is non-NULL. */
ds_status ds_model_run(ds_model *m, const ds_dataset *d, const uint32_t *idx, size_t n, int node,
                       float *feat, int *pred, ds_err *err);

/* The batch of an inference pass over n samples: 256 (batches of 512 and 1024
 * measured no faster), or n if smaller, so that a few keys get plans of their
 * own size. Inference reserves no gradient buffers (ds_model_reserve_infer). */
int ds_infer_batch(const ds_model *m, size_t n);

/* Index of the largest of v[0..n). */
int ds_argmax(const float *v, int n);

#endif
