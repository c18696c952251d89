/* weights.c - attacks that edit weights in place without data: magnitude
 * pruning (per tensor or global), uniform k-bit quantization, Gaussian noise. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "deepsigns/attack.h"

enum { STREAM_NOISE = 0x4E4F4953 };

/* Is tensor t a pruning target? Weights always; dense/conv biases and batch-norm
 * gamma/beta on request; never running statistics. */
static int prune_target(const ds_model *m, int t, int include_bias, int include_bn)
{
    const ds_tensor *ts = &m->tensors[t];
    if (!ts->trainable) return 0;
    if (ts->is_weight) return 1;
    const ds_node *nd = &m->nodes[ts->node];
    if (nd->op == DS_OP_BATCHNORM) return include_bn;
    return include_bias && (nd->op == DS_OP_DENSE || nd->op == DS_OP_CONV2D) && nd->t_b == t;
}

typedef struct mag {
    float a;     /* |w| */
    size_t i;    /* position in params (breaks ties) */
} mag;

static int mag_cmp(const void *x, const void *y)
{
    const mag *p = x, *q = y;
    if (p->a != q->a) return p->a < q->a ? -1 : 1;
    return p->i < q->i ? -1 : p->i > q->i;
}

/* Zero the floor(rate * n) smallest of the n entries listed in v[n]. */
static void prune_entries(ds_model *m, mag *v, size_t n, double rate, uint8_t *mask, size_t *pruned)
{
    qsort(v, n, sizeof *v, mag_cmp);
    size_t k = (size_t)floor(rate * (double)n);
    for (size_t j = 0; j < k; j++) {
        m->params[v[j].i] = 0.0f;
        if (mask) mask[v[j].i] = 0;
    }
    *pruned += k;
}

static size_t gather(const ds_model *m, int t, mag *v)
{
    const ds_tensor *ts = &m->tensors[t];
    for (size_t j = 0; j < ts->size; j++) {
        v[j].a = fabsf(m->params[ts->offset + j]);
        v[j].i = ts->offset + j;
    }
    return ts->size;
}

ds_status ds_attack_prune(ds_model *m, ds_prune_scope scope, double rate, int include_bias,
                          int include_bn, uint8_t *mask, size_t *pruned, size_t *total,
                          ds_err *err)
{
    if (!(rate >= 0.0 && rate < 1.0))
        return ds_err_set(err, DS_ERANGE, "prune: rate %g out of range [0, 1)", rate);
    size_t n = 0, cap = 0, done = 0;
    for (int t = 0; t < m->ntensors; t++)
        if (prune_target(m, t, include_bias, include_bn)) {
            n += m->tensors[t].size;
            if (m->tensors[t].size > cap) cap = m->tensors[t].size;
        }
    if (mask) memset(mask, 1, m->nparams);
    if (total) *total = n;
    if (pruned) *pruned = 0;
    if (n == 0) return ds_err_set(err, DS_EINVAL, "prune: the model has no tensor to prune");
    mag *v = malloc(sizeof *v * (scope == DS_PRUNE_GLOBAL ? n : cap));
    if (!v) return ds_err_set(err, DS_ENOMEM, "prune: out of memory for %zu magnitudes", n);
    size_t at = 0;
    for (int t = 0; t < m->ntensors; t++) {
        if (!prune_target(m, t, include_bias, include_bn)) continue;
        if (scope == DS_PRUNE_GLOBAL) {
            at += gather(m, t, v + at);
        } else {
            size_t nt = gather(m, t, v);
            prune_entries(m, v, nt, rate, mask, &done);
        }
    }
    if (scope == DS_PRUNE_GLOBAL) prune_entries(m, v, at, rate, mask, &done);
    free(v);
    if (pruned) *pruned = done;
    return DS_OK;
}

ds_status ds_attack_quantize(ds_model *m, int bits, ds_err *err)
{
    if (bits < 1 || bits > 32)
        return ds_err_set(err, DS_ERANGE, "quantize: bits %d out of range [1, 32]", bits);
    if (bits == 32) return DS_OK; /* float32 already */
    const double levels = ldexp(1.0, bits) - 1.0;
    for (int t = 0; t < m->ntensors; t++) {
        const ds_tensor *ts = &m->tensors[t];
        if (!ts->is_weight) continue;
        float *w = m->params + ts->offset;
        float lo = w[0], hi = w[0];
        for (size_t j = 1; j < ts->size; j++) {
            if (w[j] < lo) lo = w[j];
            if (w[j] > hi) hi = w[j];
        }
        if (hi == lo) continue;
        const double step = ((double)hi - lo) / levels;
        for (size_t j = 0; j < ts->size; j++)
            w[j] = (float)(lo + nearbyint((w[j] - (double)lo) / step) * step);
    }
    return DS_OK;
}

ds_status ds_attack_noise(ds_model *m, double sigma, uint64_t seed, ds_err *err)
{
    if (!(sigma >= 0.0 && isfinite(sigma)))
        return ds_err_set(err, DS_ERANGE, "noise: sigma %g must be finite and >= 0", sigma);
    if (sigma == 0.0) return DS_OK;
    ds_rng root;
    ds_rng_init(&root, seed, STREAM_NOISE);
    for (int t = 0; t < m->ntensors; t++) {
        const ds_tensor *ts = &m->tensors[t];
        if (!ts->is_weight) continue;
        float *w = m->params + ts->offset;
        double mean = 0.0, var = 0.0;
        for (size_t j = 0; j < ts->size; j++) mean += w[j];
        mean /= (double)ts->size;
        for (size_t j = 0; j < ts->size; j++) var += (w[j] - mean) * (w[j] - mean);
        const double sd = sigma * sqrt(var / (double)ts->size);
        ds_rng r = ds_rng_child(&root, (uint64_t)t);
        for (size_t j = 0; j < ts->size; j++) w[j] = (float)(w[j] + sd * ds_rng_normal(&r));
    }
    return DS_OK;
}
