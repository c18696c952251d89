/* optim.h - optimizers (SGD with momentum/Nesterov/weight decay, Adam, RMSprop)
 * and learning-rate schedules (constant, step, cosine).
 *
 * Optimizer state mirrors the model's parameter buffer. A step updates the
 * parameter range [lo, hi) only, so a caller can freeze a prefix or suffix
 * (e.g. fine-tune only the last layer).
 */
#ifndef DEEPSIGNS_OPTIM_H
#define DEEPSIGNS_OPTIM_H

#include <stddef.h>

#include "deepsigns/status.h"

/* The ranges of the optimizer settings, shared by the spec reader and the CLI:
 * learning rate in (0, DS_LR_MAX], momentum in [0, DS_MOMENTUM_MAX). */
#define DS_LR_MAX 10.0
#define DS_MOMENTUM_MAX 1.0

typedef enum ds_opt_kind { DS_OPT_SGD = 0, DS_OPT_ADAM, DS_OPT_RMSPROP } ds_opt_kind;
typedef enum ds_sched_kind { DS_SCHED_CONST = 0, DS_SCHED_STEP, DS_SCHED_COSINE } ds_sched_kind;

typedef struct ds_optim_cfg {
    ds_opt_kind kind;
    float lr;
    float momentum;      /* SGD momentum, in [0, DS_MOMENTUM_MAX) */
    int nesterov;        /* SGD: Nesterov momentum */
    float weight_decay;  /* L2 added to the gradient (all optimizers) */
    float beta1, beta2;  /* Adam */
    float rho;           /* RMSprop decay */
    float eps;           /* Adam / RMSprop */
    ds_sched_kind sched;
    int step_every;      /* step schedule: multiply by gamma every step_every epochs */
    float gamma;
} ds_optim_cfg;

typedef struct ds_optim {
    ds_optim_cfg cfg;
    size_t n;
    float *m, *v;        /* [n] momentum / first and second moments */
    long t;              /* steps taken */
} ds_optim;

/* Defaults for kind (sgd: lr 0.01 momentum 0.9; adam: 1e-3; rmsprop: 1e-3, rho 0.9). */
ds_optim_cfg ds_optim_defaults(ds_opt_kind kind);
ds_status ds_opt_kind_parse(const char *s, ds_opt_kind *out, ds_err *err);
ds_status ds_sched_kind_parse(const char *s, ds_sched_kind *out, ds_err *err);
const char *ds_opt_kind_name(ds_opt_kind kind);
const char *ds_sched_kind_name(ds_sched_kind kind);

ds_optim *ds_optim_new(const ds_optim_cfg *cfg, size_t nparams, ds_err *err);
void ds_optim_free(ds_optim *o);

/* Learning rate at epoch e (0-based) of total epochs. */
float ds_sched_lr(const ds_optim_cfg *cfg, int epoch, int total_epochs);

/* One update of params[lo, hi) from grads[lo, hi) at learning rate lr. */
void ds_optim_step(ds_optim *o, float *params, const float *grads, size_t lo, size_t hi, float lr);

#endif
