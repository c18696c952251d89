/* optim.c - SGD (momentum, Nesterov, weight decay), Adam, RMSprop; LR schedules. */
#include "deepsigns/optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/clones.h"

ds_optim_cfg ds_optim_defaults(ds_opt_kind kind)
{
    ds_optim_cfg c = {.kind = kind, .beta1 = 0.9f, .beta2 = 0.999f, .rho = 0.9f, .eps = 1e-8f,
                      .sched = DS_SCHED_CONST, .step_every = 10, .gamma = 0.1f};
    switch (kind) {
    case DS_OPT_SGD: c.lr = 0.01f; c.momentum = 0.9f; break;
    case DS_OPT_ADAM: c.lr = 1e-3f; break;
    case DS_OPT_RMSPROP: c.lr = 1e-3f; c.eps = 1e-7f; break;
    }
    return c;
}

static const char *const opt_names[] = {"sgd", "adam", "rmsprop"};
static const char *const sched_names[] = {"const", "step", "cosine"};

const char *ds_opt_kind_name(ds_opt_kind k) { return opt_names[k]; }
const char *ds_sched_kind_name(ds_sched_kind k) { return sched_names[k]; }

ds_status ds_opt_kind_parse(const char *s, ds_opt_kind *out, ds_err *err)
{
    for (int i = 0; i < 3; i++)
        if (!strcmp(s, opt_names[i])) { *out = (ds_opt_kind)i; return DS_OK; }
    return ds_err_set(err, DS_EINVAL, "unknown optimizer '%s' (expected sgd, adam or rmsprop)", s);
}

ds_status ds_sched_kind_parse(const char *s, ds_sched_kind *out, ds_err *err)
{
    for (int i = 0; i < 3; i++)
        if (!strcmp(s, sched_names[i])) { *out = (ds_sched_kind)i; return DS_OK; }
    return ds_err_set(err, DS_EINVAL, "unknown schedule '%s' (expected const, step or cosine)", s);
}

ds_optim *ds_optim_new(const ds_optim_cfg *cfg, size_t nparams, ds_err *err)
{
    if (!(cfg->lr > 0.0f) || !isfinite(cfg->lr)) {
        ds_err_set(err, DS_ERANGE, "learning rate %g must be positive", cfg->lr);
        return NULL;
    }
    ds_optim *o = calloc(1, sizeof *o);
    if (o) {
        o->cfg = *cfg;
        o->n = nparams;
        o->m = calloc(nparams ? nparams : 1, sizeof(float));
        o->v = calloc(nparams ? nparams : 1, sizeof(float));
    }
    if (!o || !o->m || !o->v) {
        ds_optim_free(o);
        ds_err_set(err, DS_ENOMEM, "out of memory for optimizer state (%zu parameters)", nparams);
        return NULL;
    }
    return o;
}

void ds_optim_free(ds_optim *o)
{
    if (!o) return;
    free(o->m);
    free(o->v);
    free(o);
}

float ds_sched_lr(const ds_optim_cfg *c, int epoch, int total)
{
    switch (c->sched) {
    case DS_SCHED_STEP:
        return c->lr * powf(c->gamma, (float)(epoch / (c->step_every > 0 ? c->step_every : 1)));
    case DS_SCHED_COSINE:
        return total > 0 ? c->lr * 0.5f * (1.0f + cosf((float)M_PI * epoch / total)) : c->lr;
    case DS_SCHED_CONST:
        break;
    }
    return c->lr;
}

/* SGD, PyTorch form: v = mu*v + g; step = nesterov ? g + mu*v : v. Branch-free
 * inner loops so they vectorise. */
DS_INLINE_CLONED static void sgd_step(float *restrict p, const float *restrict g, float *restrict v, size_t n,
                     float lr, float mu, float wd, int nesterov)
{
    if (mu == 0.0f) {
        for (size_t i = 0; i < n; i++) p[i] -= lr * (g[i] + wd * p[i]);
    } else if (nesterov) {
        for (size_t i = 0; i < n; i++) {
            float gi = g[i] + wd * p[i];
            v[i] = mu * v[i] + gi;
            p[i] -= lr * (gi + mu * v[i]);
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            v[i] = mu * v[i] + (g[i] + wd * p[i]);
            p[i] -= lr * v[i];
        }
    }
}

DS_INLINE_CLONED static void adam_step(float *restrict p, const float *restrict g, float *restrict m,
                      float *restrict v, size_t n, float step, float sbc2, const ds_optim_cfg *c)
{
    const float b1 = c->beta1, b2 = c->beta2, eps = c->eps, wd = c->weight_decay;
    for (size_t i = 0; i < n; i++) {
        float gi = g[i] + wd * p[i];
        m[i] = b1 * m[i] + (1.0f - b1) * gi;
        v[i] = b2 * v[i] + (1.0f - b2) * gi * gi;
        p[i] -= step * m[i] / (sqrtf(v[i]) / sbc2 + eps);
    }
}

DS_INLINE_CLONED static void rmsprop_step(float *restrict p, const float *restrict g, float *restrict v, size_t n,
                         float lr, const ds_optim_cfg *c)
{
    const float rho = c->rho, eps = c->eps, wd = c->weight_decay;
    for (size_t i = 0; i < n; i++) {
        float gi = g[i] + wd * p[i];
        v[i] = rho * v[i] + (1.0f - rho) * gi * gi;
        p[i] -= lr * gi / (sqrtf(v[i]) + eps);
    }
}

DS_CLONES void ds_optim_step(ds_optim *o, float *p, const float *g, size_t lo, size_t hi, float lr)
{
    const ds_optim_cfg *c = &o->cfg;
    const size_t n = hi > lo ? hi - lo : 0;
    o->t++;
    switch (c->kind) {
    case DS_OPT_SGD:
        sgd_step(p + lo, g + lo, o->m + lo, n, lr, c->momentum, c->weight_decay, c->nesterov);
        break;
    case DS_OPT_ADAM: {
        float bc1 = 1.0f - powf(c->beta1, (float)o->t), bc2 = 1.0f - powf(c->beta2, (float)o->t);
        adam_step(p + lo, g + lo, o->m + lo, o->v + lo, n, lr / bc1, sqrtf(bc2), c);
        break;
    }
    case DS_OPT_RMSPROP:
        rmsprop_step(p + lo, g + lo, o->v + lo, n, lr, c);
        break;
    }
}
