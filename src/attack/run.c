/* run.c - one configured attack: defaults, the attacks that train (fine-tuning,
 * overwriting, pruning followed by masked fine-tuning) and the report. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attack/kinds.h"
#include "deepsigns/attack.h"
#include "deepsigns/progress.h"
#include "deepsigns/train.h"

enum { STREAM_REINIT = 0x5245494E, EVAL_BATCH = 0 /* ds_infer_batch */ };

ds_attack_cfg ds_attack_defaults(ds_attack_kind kind)
{
    ds_attack_cfg c;
    memset(&c, 0, sizeof c);
    c.kind = kind;
    c.seed = 1;
    c.scope = DS_PRUNE_LAYER;
    c.rate = 0.5;
    c.mode = DS_FT_FTAL;
    c.epochs = kind == DS_ATTACK_FINETUNE ? 10 : kind == DS_ATTACK_OVERWRITE ? 2 : 0;
    c.batch = 128;
    c.opt = ds_optim_defaults(DS_OPT_SGD); /* lr 0.01, momentum 0.9 */
    c.opt.sched = DS_SCHED_CONST;
    c.data_fraction = 1.0;
    c.scheme = DS_WM_BLACKBOX;
    c.keys = 20;
    c.bits = kind == DS_ATTACK_QUANTIZE ? 8 : 32;
    c.targets = 2;
    c.sigma = 0.1;
    c.dummy = DS_DUMMY_CLIQUE;
    c.neurons = 8;
    c.spread = 2.0;
    c.steps[0] = DS_ATTACK_DUMMY;
    c.steps[1] = DS_ATTACK_PERMUTE;
    c.steps[2] = DS_ATTACK_SCALE;
    c.nsteps = 3;
    return c;
}

/* The attacker's training samples: the first data_fraction of the pool (the pool
 * is already in random order). */
static size_t attacker_count(const ds_attack_cfg *c, const ds_attack_data *d)
{
    size_t n = (size_t)ceil(c->data_fraction * (double)d->npool);
    return n > d->npool ? d->npool : n;
}

static ds_status check_data(const ds_attack_cfg *c, const ds_attack_data *d, ds_err *err)
{
    if (!(c->data_fraction > 0.0 && c->data_fraction <= 1.0))
        return ds_err_set(err, DS_ERANGE, "%s: data fraction %g out of range (0, 1]",
                          ds_attack_kind_name(c->kind), c->data_fraction);
    if (!d || !d->train || !d->pool || attacker_count(c, d) == 0)
        return ds_err_set(err, DS_EINVAL, "%s needs attacker data (none given)",
                          ds_attack_kind_name(c->kind));
    return DS_OK;
}

static ds_train_cfg attacker_train_cfg(const ds_attack_cfg *c, int epochs)
{
    ds_train_cfg t;
    memset(&t, 0, sizeof t);
    t.epochs = epochs;
    t.batch = c->batch;
    t.opt = c->opt;
    t.seed = c->seed;
    t.progress = c->progress;
    return t;
}

/* Fine-tune m on the attacker's data. mask (pruning) keeps zeroed weights at zero.
 * With predicted labels the victim's own answers replace the true labels. */
static ds_status finetune(ds_model *m, const ds_attack_cfg *c, ds_ft_mode mode, int epochs,
                          const uint8_t *mask, const ds_attack_data *d, size_t *used, ds_err *err)
{
    ds_status st = check_data(c, d, err);
    if (st) return st;
    if (epochs < 0) return ds_err_set(err, DS_ERANGE, "finetune: epochs %d < 0", epochs);
    const size_t n = attacker_count(c, d);
    const int out = ds_model_output_node(m);
    const ds_node *on = &m->nodes[out];
    if (on->op != DS_OP_DENSE || on->t_w < 0)
        return ds_err_set(err, DS_EINVAL, "finetune: the output node %s is not a dense layer", on->name);
    ds_train_cfg t = attacker_train_cfg(c, epochs);
    t.mask = mask;
    if (mode == DS_FT_RTLL || mode == DS_FT_RTAL) {
        ds_model_init_tensor(m, on->t_w, ds_rng_mix(c->seed, STREAM_REINIT));
        if (on->t_b >= 0) ds_model_init_tensor(m, on->t_b, ds_rng_mix(c->seed, STREAM_REINIT));
    }
    if (mode == DS_FT_FTLL || mode == DS_FT_RTLL) {
        const ds_tensor *w = &m->tensors[on->t_w];
        size_t lo = w->offset, hi = w->offset + w->size;
        if (on->t_b >= 0) {
            const ds_tensor *b = &m->tensors[on->t_b];
            if (b->offset != hi && b->offset + b->size != lo)
                return ds_err_set(err, DS_EINVAL, "finetune: the last layer's parameters are not contiguous");
            lo = b->offset < lo ? b->offset : lo;
            hi = b->offset + b->size > hi ? b->offset + b->size : hi;
        }
        t.param_lo = lo;
        t.param_hi = hi;
    }
    ds_dataset view = *d->train;
    view.owns = 0;
    uint8_t *labels = NULL;
    int *pred = NULL;
    if (c->predicted_labels) {
        labels = malloc(view.n);
        pred = malloc(sizeof *pred * n);
        if (!labels || !pred) {
            st = ds_err_set(err, DS_ENOMEM, "finetune: out of memory for predicted labels");
            goto done;
        }
        memcpy(labels, d->train->y, view.n);
        if ((st = ds_model_run(m, d->train, d->pool, n, out, NULL, pred, err))) goto done;
        for (size_t i = 0; i < n; i++) labels[d->pool[i]] = (uint8_t)pred[i];
        view.y = labels;
    }
    if (epochs > 0) st = ds_train(m, &view, d->pool, n, &t, NULL, NULL, err);
    if (used) *used = epochs > 0 ? n : 0;
done:
    free(labels);
    free(pred);
    return st;
}

/* The attacker embeds a watermark of their own (METHOD section 4, overwriting). */
static ds_status overwrite(ds_model *m, const ds_attack_cfg *c, const ds_attack_data *d,
                           size_t *used, ds_err *err)
{
    ds_status st = check_data(c, d, err);
    if (st) return st;
    const size_t n = attacker_count(c, d);
    ds_wm_key k;
    memset(&k, 0, sizeof k);
    if (c->scheme == DS_WM_WHITEBOX) {
        ds_wb_opts o = ds_wb_defaults();
        o.layer = c->layer;
        o.N = c->bits;
        o.s = c->targets;
        o.seed = c->seed;
        if ((st = ds_wb_keygen(m, d->train, d->pool, n, &o, &k, err))) goto done;
        ds_train_cfg t = attacker_train_cfg(c, c->epochs);
        st = ds_wb_embed(m, &k, d->train, d->pool, n, &t, 0, NULL, err);
    } else {
        ds_bb_opts o = ds_bb_defaults();
        o.K = c->keys;
        o.seed = c->seed;
        o.epochs = c->epochs;
        o.lr = c->opt.lr;
        o.batch = c->batch;
        o.progress = c->progress;
        st = ds_bb_embed(m, d->train, d->pool, n, &o, &k, err);
    }
    if (st == DS_OK && used) *used = n;
done:
    ds_wm_key_free(&k);
    return st;
}

ds_status ds_attack_run_finetune(ds_model **mp, const ds_attack_cfg *c, const ds_attack_data *d,
                                 ds_attack_report *rep, ds_err *err)
{
    rep->realised = c->epochs;
    snprintf(rep->realised_what, sizeof rep->realised_what, "epochs");
    return finetune(*mp, c, c->mode, c->epochs, NULL, d, &rep->used_samples, err);
}

ds_status ds_attack_run_overwrite(ds_model **mp, const ds_attack_cfg *c, const ds_attack_data *d,
                                  ds_attack_report *rep, ds_err *err)
{
    rep->realised = c->scheme == DS_WM_WHITEBOX ? c->bits : c->keys;
    snprintf(rep->realised_what, sizeof rep->realised_what, "%s",
             c->scheme == DS_WM_WHITEBOX ? "bits" : "keys");
    return overwrite(*mp, c, d, &rep->used_samples, err);
}

ds_status ds_attack_run_prune(ds_model **mp, const ds_attack_cfg *c, const ds_attack_data *d,
                              ds_attack_report *rep, ds_err *err)
{
    ds_model *m = *mp;
    uint8_t *mask = c->epochs > 0 ? malloc(m->nparams) : NULL;
    if (c->epochs > 0 && !mask)
        return ds_err_set(err, DS_ENOMEM, "prune: out of memory for the mask");
    size_t pruned = 0, total = 0;
    ds_status st = ds_attack_prune(m, c->scope, c->rate, c->prune_bias, c->prune_bn, mask,
                                   &pruned, &total, err);
    if (st == DS_OK && c->epochs > 0)
        st = finetune(m, c, DS_FT_FTAL, c->epochs, mask, d, &rep->used_samples, err);
    free(mask);
    /* sparsity of the pruned tensors as they end */
    size_t zeros = 0;
    for (int t = 0; t < m->ntensors && st == DS_OK; t++) {
        const ds_tensor *ts = &m->tensors[t];
        if (!ts->trainable) continue;
        const ds_node *nd = &m->nodes[ts->node];
        int target = ts->is_weight || (c->prune_bn && nd->op == DS_OP_BATCHNORM) ||
                     (c->prune_bias && nd->t_b == t && nd->op != DS_OP_BATCHNORM);
        for (size_t j = 0; target && j < ts->size; j++) zeros += m->params[ts->offset + j] == 0.0f;
    }
    rep->realised = total ? (double)zeros / (double)total : 0.0;
    snprintf(rep->realised_what, sizeof rep->realised_what, "sparsity");
    return st;
}

ds_status ds_attack_run(ds_model **mp, const ds_attack_cfg *c, const ds_attack_data *d,
                        ds_attack_report *rep, ds_err *err)
{
    memset(rep, 0, sizeof *rep);
    rep->acc_before = rep->acc_after = -1.0;
    rep->delta_l2 = NAN;
    ds_model *m = *mp;
    ds_status st;
    if (d && d->test && (st = ds_evaluate(m, d->test, NULL, d->test->n, EVAL_BATCH,
                                          &rep->acc_before, NULL, err)))
        return st;
    ds_model *before = ds_model_clone(m, err);
    if (!before) return err ? err->code : DS_ENOMEM;
    const double t0 = ds_now();
    const ds_attack_info *info = ds_attack_info_of(c->kind);
    st = info ? info->run(mp, c, d, rep, err)
              : ds_err_set(err, DS_EINVAL, "unknown attack kind %d", (int)c->kind);
    m = *mp;
    rep->seconds = ds_now() - t0;
    if (st == DS_OK) {
        rep->delta_l2 = ds_model_param_distance(before, m);
        if (d && d->test)
            st = ds_evaluate(m, d->test, NULL, d->test->n, EVAL_BATCH, &rep->acc_after, NULL, err);
        if (st == DS_OK && rep->acc_after >= 0.0) m->meta.test_accuracy = rep->acc_after;
    }
    ds_model_free(before);
    return st;
}
