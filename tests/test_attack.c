/* test_attack.c - the weight attacks (pruning, quantization, noise) and the
 * fine-tuning attacks on a small mnist-mlp and a synthetic dataset: exact
 * pruning counts, identity at zero strength, masks that hold, and fine-tuning
 * that touches nothing but the attacker's samples. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "deepsigns/attack.h"
#include "deepsigns/train.h"

enum { NS = 1200, SIDE = 8, CLASSES = 10 };

static uint8_t xs[NS * SIDE * SIDE], ys[NS];
static uint8_t xg[NS * SIDE * SIDE], yg[NS]; /* garbage outside the attacker pool */

static ds_dataset dataset(uint8_t *x, uint8_t *y)
{
    return (ds_dataset){.n = NS, .c = 1, .h = SIDE, .w = SIDE, .num_classes = CLASSES, .x = x,
                        .y = y, .owns = 0};
}

/* Samples whose label is predictable from their pixels (so training learns). */
static void make_data(void)
{
    ds_rng r;
    ds_rng_init(&r, 5, 1);
    for (int i = 0; i < NS; i++) {
        int label = (int)ds_rng_below(&r, CLASSES);
        ys[i] = (uint8_t)label;
        for (int p = 0; p < SIDE * SIDE; p++)
            xs[i * SIDE * SIDE + p] = (uint8_t)(ds_rng_below(&r, 64) + (p % CLASSES == label ? 160 : 0));
    }
}

static ds_model *small_mlp(uint64_t seed)
{
    ds_err err = {0};
    ds_arch a;
    if (ds_arch_defaults("mnist-mlp", 1, SIDE, SIDE, CLASSES, &a, &err)) return NULL;
    a.hidden = 32;
    ds_model *m = ds_model_build(&a, &err);
    if (!m) return NULL;
    ds_model_init_params(m, seed);
    /* non-zero biases, so that pruning them is visible */
    ds_rng r;
    ds_rng_init(&r, seed, 7);
    for (int t = 0; t < m->ntensors; t++)
        if (!m->tensors[t].is_weight)
            for (size_t j = 0; j < m->tensors[t].size; j++)
                m->params[m->tensors[t].offset + j] = (float)(0.1 * ds_rng_normal(&r));
    ds_dataset d = dataset(xs, ys);
    m->meta.preproc = ds_preproc_fit(&d, NULL, 0);
    return m;
}

static size_t zeros(const float *p, size_t n)
{
    size_t z = 0;
    for (size_t i = 0; i < n; i++) z += p[i] == 0.0f;
    return z;
}

static void test_prune_layer_exact(void)
{
    const double rates[] = {0.1, 0.37, 0.5, 0.9, 0.99};
    for (size_t k = 0; k < sizeof rates / sizeof rates[0]; k++) {
        ds_model *m = small_mlp(1);
        ds_err err = {0};
        size_t pruned = 0, total = 0;
        CHECK_OK(ds_attack_prune(m, DS_PRUNE_LAYER, rates[k], 0, 0, NULL, &pruned, &total, &err), &err);
        size_t expect = 0, all = 0;
        for (int t = 0; t < m->ntensors; t++) {
            const ds_tensor *ts = &m->tensors[t];
            size_t z = zeros(m->params + ts->offset, ts->size);
            if (ts->is_weight) {
                size_t want = (size_t)floor(rates[k] * (double)ts->size);
                CHECK(z == want, "rate %g: %s has %zu zeros, want %zu", rates[k], ts->name, z, want);
                expect += want;
                all += ts->size;
            } else {
                CHECK(z == 0, "rate %g: bias %s was pruned", rates[k], ts->name);
            }
        }
        CHECK(pruned == expect && total == all, "reported %zu of %zu, want %zu of %zu", pruned, total,
              expect, all);
        ds_model_free(m);
    }
}

static void test_prune_global_exact(void)
{
    ds_model *m = small_mlp(2);
    ds_err err = {0};
    size_t pruned = 0, total = 0, n = 0, z = 0;
    uint8_t *mask = malloc(m->nparams);
    CHECK_OK(ds_attack_prune(m, DS_PRUNE_GLOBAL, 0.6, 0, 0, mask, &pruned, &total, &err), &err);
    float kept_min = INFINITY;
    for (int t = 0; t < m->ntensors; t++) {
        const ds_tensor *ts = &m->tensors[t];
        if (!ts->is_weight) continue;
        n += ts->size;
        for (size_t j = 0; j < ts->size; j++) {
            size_t i = ts->offset + j;
            CHECK(mask[i] == (m->params[i] != 0.0f), "mask disagrees at %zu", i);
            if (m->params[i] == 0.0f) z++;
            else if (fabsf(m->params[i]) < kept_min) kept_min = fabsf(m->params[i]);
        }
    }
    CHECK(z == (size_t)floor(0.6 * (double)n) && pruned == z && total == n,
          "global: %zu zeros of %zu (reported %zu of %zu)", z, n, pruned, total);
    /* one threshold: every pruned weight was no larger than every kept one */
    ds_model *orig = small_mlp(2);
    for (size_t i = 0; i < m->nparams; i++)
        if (!mask[i]) CHECK(fabsf(orig->params[i]) <= kept_min, "pruned %g > kept %g", orig->params[i], kept_min);
    /* the per-tensor rates differ (the layers have different scales) */
    free(mask);
    ds_model_free(orig);
    ds_model_free(m);
}

static void test_prune_bias_and_range(void)
{
    ds_model *m = small_mlp(3);
    ds_err err = {0};
    CHECK_OK(ds_attack_prune(m, DS_PRUNE_LAYER, 0.5, 1, 0, NULL, NULL, NULL, &err), &err);
    for (int t = 0; t < m->ntensors; t++) {
        const ds_tensor *ts = &m->tensors[t];
        size_t z = zeros(m->params + ts->offset, ts->size);
        CHECK(z == ts->size / 2, "%s: %zu zeros of %zu", ts->name, z, ts->size);
    }
    CHECK(ds_attack_prune(m, DS_PRUNE_LAYER, 1.0, 0, 0, NULL, NULL, NULL, &err) == DS_ERANGE &&
              strstr(err.msg, "rate 1 out of range [0, 1)"),
          "rate 1 refused: %s", err.msg);
    CHECK(ds_attack_prune(m, DS_PRUNE_LAYER, -0.1, 0, 0, NULL, NULL, NULL, &err) == DS_ERANGE, "rate < 0 refused");
    ds_model_free(m);
}

static void test_zero_strength_identity(void)
{
    ds_model *a = small_mlp(4), *b = small_mlp(4);
    ds_err err = {0};
    CHECK_OK(ds_attack_prune(b, DS_PRUNE_LAYER, 0.0, 1, 1, NULL, NULL, NULL, &err), &err);
    CHECK_OK(ds_attack_prune(b, DS_PRUNE_GLOBAL, 0.0, 0, 0, NULL, NULL, NULL, &err), &err);
    CHECK_OK(ds_attack_noise(b, 0.0, 9, &err), &err);
    CHECK_OK(ds_attack_quantize(b, 32, &err), &err);
    CHECK(!memcmp(a->params, b->params, sizeof *a->params * a->nparams), "parameters changed");
    CHECK(ds_model_param_distance(a, b) == 0.0, "distance %g", ds_model_param_distance(a, b));
    /* the same through ds_attack_run */
    ds_attack_cfg c = ds_attack_defaults(DS_ATTACK_NOISE);
    c.sigma = 0.0;
    ds_attack_report rep;
    CHECK_OK(ds_attack_run(&b, &c, NULL, &rep, &err), &err);
    CHECK(rep.delta_l2 == 0.0 && rep.acc_after == -1.0, "report: delta %g acc %g", rep.delta_l2, rep.acc_after);
    CHECK(!memcmp(a->params, b->params, sizeof *a->params * a->nparams), "parameters changed by run");
    ds_model_free(a);
    ds_model_free(b);
}

static void test_quantize_levels(void)
{
    ds_model *m = small_mlp(5), *o = small_mlp(5);
    ds_err err = {0};
    CHECK_OK(ds_attack_quantize(m, 3, &err), &err);
    for (int t = 0; t < m->ntensors; t++) {
        const ds_tensor *ts = &m->tensors[t];
        if (!ts->is_weight) continue;
        float lv[64];
        int nl = 0;
        float lo = INFINITY, hi = -INFINITY;
        for (size_t j = 0; j < ts->size; j++) {
            float v = o->params[ts->offset + j];
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
        for (size_t j = 0; j < ts->size && nl < 64; j++) {
            float v = m->params[ts->offset + j];
            int seen = 0;
            for (int q = 0; q < nl; q++) seen |= lv[q] == v;
            if (!seen) lv[nl++] = v;
            /* round to nearest: within half a step of the original */
            CHECK(fabsf(v - o->params[ts->offset + j]) <= (hi - lo) / 7 / 2 * 1.0001f, "%s[%zu] moved too far",
                  ts->name, j);
        }
        CHECK(nl <= 8, "%s: %d levels for 3 bits", ts->name, nl);
    }
    CHECK(ds_attack_quantize(m, 0, &err) == DS_ERANGE, "0 bits refused");
    ds_model_free(m);
    ds_model_free(o);
}

static void test_noise_scale(void)
{
    ds_model *m = small_mlp(6), *o = small_mlp(6);
    ds_err err = {0};
    CHECK_OK(ds_attack_noise(m, 0.2, 11, &err), &err);
    for (int t = 0; t < m->ntensors; t++) {
        const ds_tensor *ts = &m->tensors[t];
        if (!ts->is_weight) continue;
        double sw = 0.0, sd = 0.0, mean = 0.0;
        for (size_t j = 0; j < ts->size; j++) mean += o->params[ts->offset + j];
        mean /= ts->size;
        for (size_t j = 0; j < ts->size; j++) {
            double w = o->params[ts->offset + j], d = m->params[ts->offset + j] - w;
            sw += (w - mean) * (w - mean);
            sd += d * d;
        }
        double ratio = sqrt(sd / sw);
        CHECK(ratio > 0.15 && ratio < 0.25, "%s: noise/std = %g, want about 0.2", ts->name, ratio);
    }
    ds_model_free(m);
    ds_model_free(o);
}

/* Fine-tune with the real data and again with every sample outside the attacker
 * pool (and the whole test set) replaced by garbage: the models must be equal
 * bit for bit, so nothing outside the pool was seen. */
static void finetune_isolated(ds_ft_mode mode, int predicted)
{
    ds_err err = {0};
    ds_split sp;
    CHECK_OK(ds_split_make_default(NS, 3, &sp, &err), &err);
    memcpy(xg, xs, sizeof xs);
    memcpy(yg, ys, sizeof ys);
    uint8_t *in_pool = calloc(NS, 1);
    for (size_t i = 0; i < sp.n_attacker; i++) in_pool[sp.attacker[i]] = 1;
    ds_rng r;
    ds_rng_init(&r, 77, 0);
    for (int i = 0; i < NS; i++)
        if (!in_pool[i]) {
            for (int p = 0; p < SIDE * SIDE; p++) xg[i * SIDE * SIDE + p] = (uint8_t)ds_rng_below(&r, 256);
            yg[i] = (uint8_t)ds_rng_below(&r, CLASSES);
        }
    ds_dataset real = dataset(xs, ys), fake = dataset(xg, yg);
    ds_model *a = small_mlp(8), *b = small_mlp(8);
    ds_attack_cfg c = ds_attack_defaults(DS_ATTACK_FINETUNE);
    c.mode = mode;
    c.epochs = 2;
    c.batch = 32;
    c.predicted_labels = predicted;
    c.data_fraction = 0.5;
    ds_attack_data da = {.train = &real, .pool = sp.attacker, .npool = sp.n_attacker, .test = &real};
    ds_attack_data db = {.train = &fake, .pool = sp.attacker, .npool = sp.n_attacker, .test = &fake};
    ds_attack_report ra, rb;
    CHECK_OK(ds_attack_run(&a, &c, &da, &ra, &err), &err);
    CHECK_OK(ds_attack_run(&b, &c, &db, &rb, &err), &err);
    CHECK(!memcmp(a->params, b->params, sizeof *a->params * a->nparams),
          "mode %s predicted %d: the model depends on data outside the attacker pool",
          ds_ft_mode_name(mode), predicted);
    CHECK(ra.used_samples == (sp.n_attacker + 1) / 2, "used %zu of %zu", ra.used_samples, sp.n_attacker);
    CHECK(ra.delta_l2 > 0.0 && ra.acc_after >= 0.0 && ra.seconds >= 0.0, "report");
    ds_model_free(a);
    ds_model_free(b);
    free(in_pool);
    ds_split_free(&sp);
}

static void test_finetune_sees_only_attacker_pool(void)
{
    for (int mode = DS_FT_FTLL; mode <= DS_FT_RTAL; mode++) finetune_isolated((ds_ft_mode)mode, 0);
    finetune_isolated(DS_FT_FTAL, 1);
}

static void test_finetune_last_layer_only(void)
{
    ds_err err = {0};
    ds_split sp;
    CHECK_OK(ds_split_make_default(NS, 3, &sp, &err), &err);
    ds_dataset d = dataset(xs, ys);
    for (int mode = DS_FT_FTLL; mode <= DS_FT_RTLL; mode += 2) {
        ds_model *m = small_mlp(9), *o = small_mlp(9);
        ds_attack_cfg c = ds_attack_defaults(DS_ATTACK_FINETUNE);
        c.mode = (ds_ft_mode)mode;
        c.epochs = 1;
        ds_attack_data da = {.train = &d, .pool = sp.attacker, .npool = sp.n_attacker};
        ds_attack_report rep;
        CHECK_OK(ds_attack_run(&m, &c, &da, &rep, &err), &err);
        const ds_node *out = &m->nodes[ds_model_output_node(m)];
        for (int t = 0; t < m->ntensors; t++) {
            const ds_tensor *ts = &m->tensors[t];
            int same = !memcmp(m->params + ts->offset, o->params + ts->offset, sizeof(float) * ts->size);
            int last = t == out->t_w || t == out->t_b;
            CHECK(same != last, "%s: %s changed=%d", ds_ft_mode_name((ds_ft_mode)mode), ts->name, !same);
        }
        ds_model_free(m);
        ds_model_free(o);
    }
    ds_split_free(&sp);
}

static void test_prune_then_finetune_keeps_zeros(void)
{
    ds_err err = {0};
    ds_split sp;
    CHECK_OK(ds_split_make_default(NS, 3, &sp, &err), &err);
    ds_dataset d = dataset(xs, ys);
    ds_model *m = small_mlp(10);
    ds_attack_cfg c = ds_attack_defaults(DS_ATTACK_PRUNE);
    c.rate = 0.7;
    c.epochs = 2;
    ds_attack_data da = {.train = &d, .pool = sp.attacker, .npool = sp.n_attacker, .test = &d};
    ds_attack_report rep;
    CHECK_OK(ds_attack_run(&m, &c, &da, &rep, &err), &err);
    for (int t = 0; t < m->ntensors; t++) {
        const ds_tensor *ts = &m->tensors[t];
        if (!ts->is_weight) continue;
        size_t z = zeros(m->params + ts->offset, ts->size);
        CHECK(z >= (size_t)floor(0.7 * ts->size), "%s: %zu zeros after fine-tuning", ts->name, z);
    }
    CHECK(fabs(rep.realised - 0.7) < 0.01 && !strcmp(rep.realised_what, "sparsity"),
          "realised %s %g", rep.realised_what, rep.realised);
    CHECK(rep.used_samples == sp.n_attacker, "used %zu", rep.used_samples);
    ds_model_free(m);
    ds_split_free(&sp);
}

static void test_names(void)
{
    ds_err err = {0};
    ds_attack_kind k;
    CHECK(ds_attack_kind_parse("prune", &k, &err) == DS_OK && k == DS_ATTACK_PRUNE, "prune");
    CHECK(ds_attack_kind_parse("prunes", &k, &err) != DS_OK && strstr(err.msg, "prunes"), "%s", err.msg);
    ds_ft_mode m;
    CHECK(ds_ft_mode_parse("rtal", &m, &err) == DS_OK && m == DS_FT_RTAL, "rtal");
}

int main(void)
{
    make_data();
    RUN(test_prune_layer_exact);
    RUN(test_prune_global_exact);
    RUN(test_prune_bias_and_range);
    RUN(test_zero_strength_identity);
    RUN(test_quantize_levels);
    RUN(test_noise_scale);
    RUN(test_finetune_sees_only_attacker_pool);
    RUN(test_finetune_last_layer_only);
    RUN(test_prune_then_finetune_keeps_zeros);
    RUN(test_names);
    TEST_MAIN_END();
}
