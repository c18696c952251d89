/* blackbox.c - DeepSigns black-box watermark: noise keys with random labels,
 * chosen where the unmarked model is wrong (and, with a Gaussian-mixture fit of
 * the penultimate layer, least likely), embedded by fine-tuning, detected by a
 * mismatch count against a binomial threshold (METHOD.md section 3). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deepsigns/stats.h"
#include "deepsigns/wm.h"

enum { STREAM_BB = 0x42424B45, GMM_SAMPLES = 5000 };

ds_status ds_bb_keys_check(int K, int classes, double alpha, ds_err *err)
{
    if (classes < 2 || K < 1) return DS_OK; /* refused where K and C are read */
    const double q = 1.0 - 1.0 / classes;
    if (ds_binom_threshold(K, q, alpha) >= 1) return DS_OK;
    int least = K + 1;
    while (least < 100000 && ds_binom_threshold(least, q, alpha) < 1) least++;
    return ds_err_set(err, DS_ERANGE,
                      "%d keys are too few for a %d-class model at alpha %g: even 0 mismatches has "
                      "p-value %.3g, so ownership could never be shown (%d or more are needed)",
                      K, classes, alpha, ds_binom_cdf(0, q, K), least);
}

ds_bb_opts ds_bb_defaults(void)
{
    return (ds_bb_opts){.K = 20, .candidates_factor = 30, .alpha = 1e-4, .use_gmm = 1,
                        .epochs = 2, .max_rounds = 5, .lr = 0.01f, .batch = 128,
                        .keys_per_batch = 16, .seed = 1};
}

/* A per-class diagonal Gaussian mixture of the penultimate layer on training data. */
static ds_gmm *bb_fit_gmm(ds_model *m, int node, const ds_dataset *train, const uint32_t *idx,
                          size_t n, ds_rng *r, ds_err *err)
{
    size_t ns = n < GMM_SAMPLES ? n : GMM_SAMPLES;
    const size_t F = m->nodes[node].size;
    uint32_t *sub = malloc(sizeof *sub * ns);
    float *feat = malloc(sizeof *feat * ns * F);
    int *labels = malloc(sizeof *labels * ns);
    ds_gmm *g = NULL;
    if (!sub || !feat || !labels) {
        ds_err_set(err, DS_ENOMEM, "out of memory for the mixture fit");
        goto done;
    }
    for (size_t i = 0; i < ns; i++) { /* evenly spaced: every class is present */
        sub[i] = idx[i * n / ns];
        labels[i] = train->y[sub[i]];
    }
    if (ds_model_run(m, train, sub, ns, node, feat, NULL, err)) goto done;
    ds_gmm_opts go = ds_gmm_defaults(m->arch.classes);
    go.init = DS_GMM_INIT_LABELS;
    go.max_iter = 30;
    g = ds_gmm_fit(feat, ns, (int)F, labels, &go, r, NULL, err);
done:
    free(sub); free(feat); free(labels);
    return g;
}

typedef struct bb_rank {
    double score;  /* log-likelihood (lower = rarer) */
    uint32_t i;
} bb_rank;

static int rank_cmp(const void *a, const void *b)
{
    const bb_rank *x = a, *y = b;
    if (x->score != y->score) return x->score < y->score ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

/* The pool of images the fine-tuning draws from: the training images followed
 * by the candidates (a copy; the training set is left as it is). */
static ds_status bb_concat(const ds_dataset *a, const ds_dataset *b, ds_dataset *out, ds_err *err)
{
    const size_t chw = (size_t)a->c * a->h * a->w;
    *out = *a;
    out->n = a->n + b->n;
    out->owns = 1;
    out->x = malloc(chw * out->n);
    out->y = malloc(out->n);
    if (!out->x || !out->y) {
        ds_dataset_free(out);
        return ds_err_set(err, DS_ENOMEM, "out of memory for the fine-tuning set");
    }
    memcpy(out->x, a->x, chw * a->n);
    memcpy(out->x + chw * a->n, b->x, chw * b->n);
    memcpy(out->y, a->y, a->n);
    memcpy(out->y + a->n, b->y, b->n);
    return DS_OK;
}

/* Fine-tune m on idx[0..n) of train plus the candidate images cand (each repeated
 * so that about keys_per_batch of every batch are candidates). */
static ds_status bb_finetune(ds_model *m, const ds_dataset *train, const uint32_t *idx, size_t n,
                             const ds_dataset *cand, const ds_bb_opts *o, uint64_t seed, ds_err *err)
{
    ds_dataset pool;
    ds_status st = bb_concat(train, cand, &pool, err);
    if (st) return st;
    size_t rep = 1;
    if (o->keys_per_batch > 0 && o->keys_per_batch < o->batch && cand->n)
        rep = (n * o->keys_per_batch) / ((size_t)(o->batch - o->keys_per_batch) * cand->n) + 1;
    size_t total = n + rep * cand->n;
    uint32_t *all = malloc(sizeof *all * total);
    if (!all) {
        ds_dataset_free(&pool);
        return ds_err_set(err, DS_ENOMEM, "out of memory");
    }
    memcpy(all, idx, sizeof *all * n);
    for (size_t r = 0, k = n; r < rep; r++)
        for (size_t i = 0; i < cand->n; i++) all[k++] = (uint32_t)(train->n + i);
    ds_train_cfg cfg = {.epochs = o->epochs, .batch = o->batch, .seed = seed, .progress = o->progress};
    cfg.opt = ds_optim_defaults(DS_OPT_SGD);
    cfg.opt.lr = o->lr;
    cfg.opt.nesterov = 1;
    st = ds_train(m, &pool, all, total, &cfg, NULL, NULL, err);
    free(all);
    ds_dataset_free(&pool);
    return st;
}

static ds_status bb_check_opts(const ds_model *m, const ds_bb_opts *o, ds_err *err)
{
    if (o->K < 1 || o->K > 100000)
        return ds_err_set(err, DS_ERANGE, "keys: %d is out of range [1, 100000]", o->K);
    if (o->candidates_factor < 1 || o->candidates_factor > 1000)
        return ds_err_set(err, DS_ERANGE, "candidates per key: %d is out of range [1, 1000]", o->candidates_factor);
    if (!(o->alpha > 0 && o->alpha < 1))
        return ds_err_set(err, DS_ERANGE, "false-positive bound %g must be in (0, 1)", o->alpha);
    if (o->epochs < 1 || o->max_rounds < 1 || o->batch < 2)
        return ds_err_set(err, DS_ERANGE, "black-box embedding needs epochs, rounds >= 1 and batch >= 2");
    if (m->arch.classes < 2) return ds_err_set(err, DS_EINVAL, "a black-box mark needs >= 2 classes");
    return DS_OK;
}

/* One round: draw candidates, keep the ones the model gets wrong (ranked by
 * rarity), fine-tune on them plus the keys already chosen, and append to keys
 * the candidates the model now gets right. */
static ds_status bb_round(ds_model *m, int node, const ds_gmm *g, const ds_dataset *train,
                          const uint32_t *idx, size_t n, const ds_bb_opts *o, int round,
                          ds_rng *r, ds_dataset *keys, ds_err *err)
{
    const int C = m->arch.classes;
    const size_t chw = (size_t)train->c * train->h * train->w;
    const size_t R = (size_t)o->K * o->candidates_factor, F = m->nodes[node].size;
    ds_dataset cand = {.n = R, .c = train->c, .h = train->h, .w = train->w, .num_classes = C,
                       .x = malloc(chw * R), .y = malloc(R), .owns = 1};
    ds_dataset tune = cand;
    int *pred = malloc(sizeof *pred * (R + keys->n)); /* R candidates, then the R + keys->n tuned */
    float *feat = g ? malloc(sizeof *feat * R * F) : NULL;
    bb_rank *rank = malloc(sizeof *rank * R);
    tune.x = malloc(chw * (R + keys->n));
    tune.y = malloc(R + keys->n);
    ds_status st = DS_OK;
    if (!cand.x || !cand.y || !pred || (g && !feat) || !rank || !tune.x || !tune.y) {
        st = ds_err_set(err, DS_ENOMEM, "out of memory for %zu candidates", R);
        goto done;
    }
    /* uniform noise images, uniformly random labels */
    for (size_t i = 0; i < chw * R; i++) cand.x[i] = (uint8_t)(ds_rng_u32(r) >> 24);
    for (size_t i = 0; i < R; i++) cand.y[i] = (uint8_t)ds_rng_below(r, (uint32_t)C);
    if ((st = ds_model_run(m, &cand, NULL, R, node, feat, pred, err))) goto done;
    size_t nw = 0;
    for (size_t i = 0; i < R; i++) {
        if (pred[i] == cand.y[i]) continue;
        rank[nw].i = (uint32_t)i;
        rank[nw].score = g ? ds_gmm_logpdf(g, feat + i * F) : 0.0;
        nw++;
    }
    qsort(rank, nw, sizeof *rank, rank_cmp);
    /* fine-tune on the wrong candidates (ranked) and the keys so far */
    memcpy(tune.x, keys->x, chw * keys->n);
    memcpy(tune.y, keys->y, keys->n);
    for (size_t j = 0; j < nw; j++) {
        memcpy(tune.x + (keys->n + j) * chw, cand.x + (size_t)rank[j].i * chw, chw);
        tune.y[keys->n + j] = cand.y[rank[j].i];
    }
    tune.n = keys->n + nw;
    if ((st = bb_finetune(m, train, idx, n, &tune, o, ds_rng_mix(o->seed, (uint64_t)round), err)))
        goto done;
    /* keep the keys still right, then the new candidates now right, in rank order */
    if ((st = ds_model_run(m, &tune, NULL, tune.n, node, NULL, pred, err))) goto done;
    size_t kept = 0;
    for (size_t j = 0; j < tune.n && kept < (size_t)o->K; j++) {
        if (pred[j] != tune.y[j]) continue;
        memmove(keys->x + kept * chw, tune.x + j * chw, chw);
        keys->y[kept] = tune.y[j];
        kept++;
    }
    keys->n = kept;
done:
    free(cand.x); free(cand.y); free(tune.x); free(tune.y);
    free(pred); free(feat); free(rank);
    return st;
}

ds_status ds_bb_embed(ds_model *m, const ds_dataset *train, const uint32_t *idx, size_t n,
                      const ds_bb_opts *o, ds_wm_key *k, ds_err *err)
{
    memset(k, 0, sizeof *k);
    ds_status st = bb_check_opts(m, o, err);
    if (st) return st;
    int node = ds_model_find_node(m, ds_wb_default_layer(m));
    const size_t chw = (size_t)train->c * train->h * train->w;
    ds_rng r;
    ds_rng_init(&r, o->seed, STREAM_BB);
    ds_gmm *g = o->use_gmm ? bb_fit_gmm(m, node, train, idx, n, &r, err) : NULL;
    if (o->use_gmm && !g) return ds_err_prefix(err, "black-box key ranking: ");
    ds_dataset keys = {.c = train->c, .h = train->h, .w = train->w, .num_classes = m->arch.classes,
                       .x = malloc(chw * o->K), .y = malloc(o->K), .owns = 1};
    if (!keys.x || !keys.y) {
        st = ds_err_set(err, DS_ENOMEM, "out of memory for %d keys", o->K);
        goto done;
    }
    for (int round = 0; round < o->max_rounds && keys.n < (size_t)o->K; round++)
        if ((st = bb_round(m, node, g, train, idx, n, o, round, &r, &keys, err))) goto done;
    if (keys.n < (size_t)o->K) {
        st = ds_err_set(err, DS_ENUM, "only %zu of %d black-box keys were learned after %d rounds; "
                        "raise the epochs or the learning rate", keys.n, o->K, o->max_rounds);
        goto done;
    }
    k->scheme = DS_WM_BLACKBOX;
    snprintf(k->arch, sizeof k->arch, "%s", m->arch.name);
    k->classes = m->arch.classes;
    k->seed = o->seed;
    k->bb.K = o->K;
    k->bb.alpha = o->alpha;
    k->n = keys.n;
    k->c = keys.c; k->h = keys.h; k->w = keys.w;
    k->x = keys.x;
    k->y = keys.y;
    keys.x = keys.y = NULL;
    k->source_index = malloc(sizeof *k->source_index * k->n);
    if (!k->source_index) {
        st = ds_err_set(err, DS_ENOMEM, "out of memory");
        ds_wm_key_free(k);
        goto done;
    }
    for (size_t i = 0; i < k->n; i++) k->source_index[i] = -1;
done:
    ds_dataset_free(&keys);
    ds_gmm_free(g);
    return st;
}

ds_status ds_bb_detect(ds_model *m, const ds_wm_key *k, ds_bb_result *out, ds_err *err)
{
    memset(out, 0, sizeof *out);
    if (k->scheme != DS_WM_BLACKBOX) return ds_err_set(err, DS_EINVAL, "not a black-box key");
    if (k->classes != m->arch.classes)
        return ds_err_set(err, DS_EKEY, "the key is for a %d-class model but the model has %d classes",
                          k->classes, m->arch.classes);
    if (k->c != m->arch.in_c || k->h != m->arch.in_h || k->w != m->arch.in_w)
        return ds_err_set(err, DS_EKEY, "the key images are %dx%dx%d but the model takes %dx%dx%d",
                          k->c, k->h, k->w, m->arch.in_c, m->arch.in_h, m->arch.in_w);
    ds_dataset imgs = ds_wm_key_images(k);
    int *pred = malloc(sizeof *pred * (k->n ? k->n : 1));
    if (!pred) return ds_err_set(err, DS_ENOMEM, "out of memory");
    ds_status st = ds_model_run(m, &imgs, NULL, k->n, 0, NULL, pred, err);
    if (!st) {
        const double q = 1.0 - 1.0 / k->classes;
        out->K = (int)k->n;
        for (size_t i = 0; i < k->n; i++) out->mismatches += pred[i] != k->y[i];
        out->theta = ds_binom_threshold(out->K, q, k->bb.alpha);
        out->p_value = ds_binom_cdf(out->mismatches, q, out->K);
        out->owned = out->mismatches < out->theta;
    }
    free(pred);
    return st;
}
