/* train.c - the minibatch training loop and evaluation. */
#include "deepsigns/train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deepsigns/kernels.h"
#include "deepsigns/progress.h"

enum { STREAM_EPOCH = 0x45504F43, STREAM_STEP = 0x53544550 };

int ds_argmax(const float *v, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[best]) best = i;
    return best;
}

static int count_correct(const float *logits, const int *y, int B, int C)
{
    int ok = 0;
    for (int b = 0; b < B; b++) ok += ds_argmax(logits + (size_t)b * C, C) == y[b];
    return ok;
}

ds_status ds_model_check_data(const ds_model *m, const ds_dataset *d, ds_err *err)
{
    const ds_arch *a = &m->arch;
    if (d->c != a->in_c || d->h != a->in_h || d->w != a->in_w)
        return ds_err_set(err, DS_EINVAL,
                          "data samples are %dx%dx%d but model %s expects %dx%dx%d", d->c, d->h,
                          d->w, a->name, a->in_c, a->in_h, a->in_w);
    if (d->num_classes > a->classes)
        return ds_err_set(err, DS_EINVAL, "data has %d classes but model %s has %d outputs",
                          d->num_classes, a->name, a->classes);
    return DS_OK;
}

ds_status ds_train(ds_model *m, const ds_dataset *d, const uint32_t *idx, size_t n,
                   const ds_train_cfg *cfg, const ds_train_hook *hook, ds_train_stats *out,
                   ds_err *err)
{
    if (cfg->epochs < 0 || cfg->batch < 1 || n == 0)
        return ds_err_set(err, DS_ERANGE, "training needs epochs >= 0, batch >= 1 and data (got %d, %d, %zu)",
                          cfg->epochs, cfg->batch, n);
    ds_status st = ds_model_check_data(m, d, err);
    if (st) return st;
    const int B = cfg->batch, C = m->arch.classes, out_node = ds_model_output_node(m);
    const size_t in_size = m->nodes[0].size;
    const size_t lo = cfg->param_lo, hi = cfg->param_hi ? cfg->param_hi : m->nparams;
    if ((st = ds_model_reserve(m, B, err))) return st;
    uint32_t *order = malloc(sizeof *order * n);
    float *x = malloc(sizeof *x * in_size * B);
    int *y = malloc(sizeof *y * B);
    ds_optim *opt = ds_optim_new(&cfg->opt, m->nparams, err);
    if (!order || !x || !y || !opt) {
        st = opt ? ds_err_set(err, DS_ENOMEM, "out of memory for training buffers") : err->code;
        goto done;
    }
    const int augment = cfg->aug.pad_crop > 0 || cfg->aug.hflip;
    const size_t steps_per_epoch = (n + B - 1) / B;
    ds_progress prog;
    ds_progress_start(&prog, "train", (size_t)cfg->epochs * steps_per_epoch, cfg->progress);
    double t0 = ds_now(), loss_sum = 0.0;
    long correct = 0, step = 0;
    for (int e = 0; e < cfg->epochs; e++) {
        ds_rng shuf;
        ds_rng_init(&shuf, cfg->seed, ds_rng_mix(STREAM_EPOCH, (uint64_t)e));
        memcpy(order, idx, sizeof *order * n);
        ds_rng_shuffle(&shuf, order, n);
        float lr = ds_sched_lr(&cfg->opt, e, cfg->epochs);
        loss_sum = 0.0;
        correct = 0;
        for (size_t s = 0; s < steps_per_epoch; s++, step++) {
            int bn = (int)((s + 1) * B <= n ? (size_t)B : n - s * B);
            ds_rng r;
            ds_rng_init(&r, cfg->seed, ds_rng_mix(STREAM_STEP, (uint64_t)step));
            ds_batch_fill(d, order + s * B, bn, &m->meta.preproc, augment ? &cfg->aug : NULL, &r,
                          x, y);
            ds_model_zero_grads(m);
            ds_model_zero_act_grads(m);
            ds_model_forward_keep(m, x, bn, 1, &r, hook && hook->fn ? hook->node : -1);
            const float *logits = ds_model_act(m, out_node);
            double loss = ds_softmax_ce(logits, y, bn, C, NULL, ds_model_dact(m, out_node), 1.0f);
            correct += count_correct(logits, y, bn, C);
            if (hook && hook->fn) loss += hook->fn(hook->ctx, m, x, y, bn);
            if (!isfinite(loss)) {
                st = ds_err_set(err, DS_ENUM, "training diverged at epoch %d step %zu (loss %g); "
                                "try a smaller learning rate", e + 1, s + 1, loss);
                goto done;
            }
            loss_sum += loss * bn;
            ds_model_backward(m, bn);
            ds_optim_step(opt, m->params, m->grads, lo, hi, lr);
            if (cfg->mask)
                for (size_t i = lo; i < hi; i++)
                    if (!cfg->mask[i]) m->params[i] = 0.0f;
            char extra[64];
            snprintf(extra, sizeof extra, "epoch %d/%d loss %.4f", e + 1, cfg->epochs,
                     loss_sum / ((s + 1) * (double)B));
            ds_progress_update(&prog, (size_t)step + 1, extra);
        }
    }
    if (out) {
        out->loss = cfg->epochs ? loss_sum / n : 0.0;
        out->accuracy = cfg->epochs ? (double)correct / n : 0.0;
        out->seconds = ds_now() - t0;
        out->steps = step;
    }
    {
        char extra[64];
        snprintf(extra, sizeof extra, "loss %.4f", cfg->epochs ? loss_sum / n : 0.0);
        ds_progress_finish(&prog, extra);
    }
    m->meta.epochs += cfg->epochs;
    m->meta.batch = B;
    m->meta.seed = cfg->seed;
    m->meta.lr = cfg->opt.lr;
    snprintf(m->meta.optimizer, sizeof m->meta.optimizer, "%s", ds_opt_kind_name(cfg->opt.kind));
done:
    ds_optim_free(opt);
    free(order);
    free(x);
    free(y);
    return st;
}

int ds_infer_batch(const ds_model *m, size_t n)
{
    (void)m; /* 512 and 1024 measured no faster than 256 here, on any architecture */
    const int b = 256;
    return n > 0 && n < (size_t)b ? (int)n : b;
}

ds_status ds_evaluate(ds_model *m, const ds_dataset *d, const uint32_t *idx, size_t n, int batch,
                      double *accuracy, double *loss, ds_err *err)
{
    ds_status st = ds_model_check_data(m, d, err);
    if (st) return st;
    if (n == 0 || n > d->n) return ds_err_set(err, DS_ERANGE, "evaluation of %zu samples of %zu", n, d->n);
    if (batch < 1) batch = ds_infer_batch(m, n);
    if ((st = ds_model_reserve_infer(m, batch, err))) return st;
    const int C = m->arch.classes, out_node = ds_model_output_node(m);
    float *x = malloc(sizeof *x * m->nodes[0].size * batch);
    int *y = malloc(sizeof *y * batch);
    uint32_t *ids = malloc(sizeof *ids * batch);
    if (!x || !y || !ids) {
        st = ds_err_set(err, DS_ENOMEM, "out of memory for evaluation buffers");
        goto done;
    }
    long correct = 0;
    double loss_sum = 0.0;
    for (size_t s = 0; s < n; s += batch) {
        int bn = (int)(n - s < (size_t)batch ? n - s : (size_t)batch);
        for (int i = 0; i < bn; i++) ids[i] = idx ? idx[s + i] : (uint32_t)(s + i);
        ds_batch_fill(d, ids, bn, &m->meta.preproc, NULL, NULL, x, y);
        ds_model_infer(m, x, bn, -1);
        const float *logits = ds_model_act(m, out_node);
        loss_sum += ds_softmax_ce(logits, y, bn, C, NULL, NULL, 1.0f) * bn;
        correct += count_correct(logits, y, bn, C);
    }
    if (accuracy) *accuracy = (double)correct / n;
    if (loss) *loss = loss_sum / n;
done:
    free(x);
    free(y);
    free(ids);
    return st;
}

ds_status ds_model_run(ds_model *m, const ds_dataset *d, const uint32_t *idx, size_t n, int node,
                       float *feat, int *pred, ds_err *err)
{
    const int C = m->arch.classes, out = ds_model_output_node(m);
    const int chunk = ds_infer_batch(m, n);
    ds_status st = ds_model_reserve_infer(m, chunk, err);
    if (st) return st;
    const size_t F = feat ? m->nodes[node].size : 0;
    float *x = ds_model_act(m, 0); /* the batch is filled into the input's activations */
    uint32_t *ids = malloc(sizeof *ids * chunk);
    if (!ids) return ds_err_set(err, DS_ENOMEM, "out of memory for a batch of %d", chunk);
    for (size_t s = 0; s < n; s += chunk) {
        int bn = (int)(n - s < (size_t)chunk ? n - s : (size_t)chunk);
        for (int i = 0; i < bn; i++) ids[i] = idx ? idx[s + i] : (uint32_t)(s + i);
        ds_batch_fill(d, ids, bn, &m->meta.preproc, NULL, NULL, x, NULL);
        ds_model_infer(m, x, bn, feat ? node : -1);
        if (feat) memcpy(feat + s * F, ds_model_act(m, node), sizeof(float) * bn * F);
        if (pred) {
            const float *logits = ds_model_act(m, out);
            for (int b = 0; b < bn; b++) pred[s + b] = ds_argmax(logits + (size_t)b * C, C);
        }
    }
    free(ids);
    return DS_OK;
}
