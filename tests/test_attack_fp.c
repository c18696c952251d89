/* test_attack_fp.c - the function-preserving attacks: neuron/channel permutation
 * and dummy neurons (clique, split) leave every output of mnist-mlp, mnist-cnn,
 * cifar10-cnn (and, for permute, a small WRN with batch norms) unchanged in
 * inference while changing the parameters; their refusals; ds_arch.extra in
 * model files (round trip, files without the attribute); the parameter
 * distance; the attack name tables. */
#include <hdf5.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "testutil.h"
#include "deepsigns/attack.h"
#include "deepsigns/model_file.h"

enum { BATCH = 8 };
#define TOL 1e-5

typedef struct arch_case {
    const char *name;
    int c, h, w;
    int hidden_layers;   /* hidden dense/conv layers that permute/dummy may reshape */
} arch_case;

static const arch_case cases[] = {
    {"mnist-mlp", 1, 28, 28, 2},
    {"mnist-cnn", 1, 28, 28, 3},
    {"cifar10-cnn", 3, 32, 32, 5},
};
#define NCASES (sizeof cases / sizeof cases[0])

/* ---------------------------------------------------------------- helpers */

/* A built model with He-normal weights and small random biases / bn entries
 * (so that moving them with the wrong unit shows). mlp hidden width 64. */
static ds_model *make(const arch_case *ac, uint64_t seed)
{
    ds_err err = {0};
    ds_arch a;
    CHECK_OK(ds_arch_defaults(ac->name, ac->c, ac->h, ac->w, 10, &a, &err), &err);
    if (!strcmp(ac->name, "mnist-mlp")) a.hidden = 64;
    if (!strcmp(ac->name, "cifar10-wrn")) {
        a.depth = 10;
        a.widen = 1;
    }
    ds_model *m = ds_model_build(&a, &err);
    CHECK(m != NULL, "build %s: %s", ac->name, err.msg);
    if (!m) return NULL;
    ds_model_init_params(m, seed);
    ds_rng r;
    ds_rng_init(&r, seed, 99);
    for (int t = 0; t < m->ntensors; t++) {
        const ds_tensor *ts = &m->tensors[t];
        if (ts->is_weight) continue;
        float *p = ds_model_tensor_data(m, t);
        int var = strstr(ts->name, "running_var") || strstr(ts->name, "gamma");
        for (size_t i = 0; i < ts->size; i++)
            p[i] = var ? 0.5f + ds_rng_uniformf(&r) : 0.1f * (float)ds_rng_normal(&r);
    }
    m->meta.epochs = 3;
    m->meta.test_accuracy = 0.5;
    return m;
}

static float *batch_input(const ds_model *m, uint64_t seed)
{
    size_t n = (size_t)BATCH * m->nodes[0].size;
    float *x = malloc(sizeof(float) * n);
    CHECK(x != NULL, "malloc");
    if (!x) return NULL;
    ds_rng r;
    ds_rng_init(&r, seed, 5);
    for (size_t i = 0; i < n; i++) x[i] = ds_rng_uniformf(&r);
    return x;
}

/* Inference outputs [BATCH, classes] of m on x (a fresh copy). */
static float *outputs(ds_model *m, const float *x)
{
    ds_err err = {0};
    CHECK_OK(ds_model_reserve(m, BATCH, &err), &err);
    ds_model_forward(m, x, BATCH, 0, NULL);
    int o = ds_model_output_node(m);
    size_t n = (size_t)BATCH * m->nodes[o].size;
    float *y = malloc(sizeof(float) * n);
    CHECK(y != NULL, "malloc");
    if (y) memcpy(y, ds_model_act(m, o), sizeof(float) * n);
    return y;
}

static double max_diff(const float *a, const float *b, size_t n)
{
    double d = 0.0;
    for (size_t i = 0; i < n; i++)
        if (fabs((double)a[i] - b[i]) > d) d = fabs((double)a[i] - b[i]);
    return d;
}

/* m computes the same outputs on x as the reference y0. */
static void check_same_function(ds_model *m, const float *x, const float *y0, const char *what)
{
    float *y = outputs(m, x);
    if (!y || !y0) {
        free(y);
        return;
    }
    size_t n = (size_t)BATCH * m->nodes[ds_model_output_node(m)].size;
    double d = max_diff(y, y0, n);
    CHECK(d <= TOL, "%s: outputs changed by %.3g", what, d);
    double mag = 0.0;
    for (size_t i = 0; i < n; i++) mag = fmax(mag, fabs(y0[i]));
    if (getenv("FP_VERBOSE")) fprintf(stderr, "%-48s max |y| %8.3g  max diff %.3g\n", what, mag, d);
    CHECK(mag > 1e-3, "%s: outputs all near zero (%.3g): a vacuous comparison", what, mag);
    free(y);
}

static int is_hidden_layer(const ds_model *m, int i)
{
    ds_op op = m->nodes[i].op;
    return (op == DS_OP_DENSE || op == DS_OP_CONV2D) && i != ds_model_output_node(m);
}

static void expect_fail(ds_status st, const ds_err *err, const char *phrase, const char *what)
{
    CHECK(st != DS_OK, "%s: accepted", what);
    CHECK(strstr(err->msg, phrase) != NULL, "%s: message '%s' lacks '%s'", what, err->msg, phrase);
}

/* ---------------------------------------------------------------- permute */

static void permute_case(const arch_case *ac)
{
    ds_err err = {0};
    ds_model *m = make(ac, 1);
    float *x = m ? batch_input(m, 2) : NULL;
    if (!m || !x) goto out;
    float *y0 = outputs(m, x);
    int seen = 0;
    for (int i = 0; i < m->nnodes; i++) {
        if (!is_hidden_layer(m, i)) continue;
        seen++;
        /* by the layer's own name and by the name of the node after it (its relu) */
        for (int by_next = 0; by_next < 2; by_next++) {
            const char *name = by_next ? m->nodes[i + 1].name : m->nodes[i].name;
            char what[128];
            snprintf(what, sizeof what, "%s permute %s", ac->name, name);
            ds_model *c = ds_model_clone(m, &err);
            CHECK(c != NULL, "clone: %s", err.msg);
            if (!c) continue;
            int layers = -1;
            CHECK_OK(ds_attack_permute(c, name, 10 + (uint64_t)i, &layers, &err), &err);
            CHECK(layers == 1, "%s: %d layers", what, layers);
            CHECK(ds_model_param_distance(m, c) > 0.0, "%s: parameters unchanged", what);
            /* only the tensors from this layer to the next dense/conv layer moved */
            int next = i + 1;
            while (next < m->nnodes && m->nodes[next].op != DS_OP_DENSE &&
                   m->nodes[next].op != DS_OP_CONV2D)
                next++;
            for (int t = 0; t < m->ntensors; t++) {
                const ds_tensor *ts = &m->tensors[t];
                if (ts->node < i || ts->node > next)
                    CHECK(!memcmp(ds_model_tensor_data(m, t), ds_model_tensor_data(c, t),
                                  sizeof(float) * ts->size), "%s: %s changed", what, ts->name);
            }
            check_same_function(c, x, y0, what);
            ds_model_free(c);
        }
    }
    CHECK(seen == ac->hidden_layers, "%s: %d hidden layers", ac->name, seen);
    /* all layers at once, then again with another seed */
    ds_model *c = ds_model_clone(m, &err);
    if (c) {
        int layers = -1;
        CHECK_OK(ds_attack_permute(c, NULL, 77, &layers, &err), &err);
        CHECK(layers == ac->hidden_layers, "%s: all: %d layers", ac->name, layers);
        CHECK(ds_model_param_distance(m, c) > 0.0, "%s: all: parameters unchanged", ac->name);
        check_same_function(c, x, y0, "permute all");
        ds_model *once = ds_model_clone(c, &err);
        CHECK_OK(ds_attack_permute(c, NULL, 78, &layers, &err), &err);
        if (once) CHECK(ds_model_param_distance(once, c) > 0.0, "%s: second permutation did nothing", ac->name);
        check_same_function(c, x, y0, "permute twice");
        /* the same seed gives the same permutation */
        ds_model *d = ds_model_clone(m, &err);
        if (d) {
            CHECK_OK(ds_attack_permute(d, NULL, 77, NULL, &err), &err);
            if (once) CHECK(ds_model_param_distance(once, d) == 0.0, "%s: not reproducible", ac->name);
        }
        ds_model_free(d);
        ds_model_free(once);
    }
    ds_model_free(c);
    free(y0);
out:
    free(x);
    ds_model_free(m);
}

static void test_permute_mnist_mlp(void) { permute_case(&cases[0]); }
static void test_permute_mnist_cnn(void) { permute_case(&cases[1]); }
static void test_permute_cifar10_cnn(void) { permute_case(&cases[2]); }

/* WRN-10-1: only the first conv of each block (conv -> bn -> relu -> conv) can be
 * permuted, with its batch norm (random running statistics) along. */
static void test_permute_wrn(void)
{
    ds_err err = {0};
    const arch_case wrn = {"cifar10-wrn", 3, 32, 32, 3};
    ds_model *m = make(&wrn, 3);
    float *x = m ? batch_input(m, 4) : NULL;
    if (!m || !x) goto out;
    float *y0 = outputs(m, x);
    ds_model *c = ds_model_clone(m, &err);
    if (c) {
        int layers = -1;
        CHECK_OK(ds_attack_permute(c, NULL, 5, &layers, &err), &err);
        CHECK(layers == 3, "wrn: %d layers permuted", layers);
        CHECK(ds_model_param_distance(m, c) > 0.0, "wrn: unchanged");
        /* the running statistics moved too: some stats differ */
        CHECK(memcmp(m->stats, c->stats, sizeof(float) * m->nstats) != 0, "wrn: bn stats not permuted");
        check_same_function(c, x, y0, "wrn permute all");
        /* conv_1 feeds the first block's bn and its shortcut; the block's last conv the add */
        expect_fail(ds_attack_permute(c, "conv_1", 1, NULL, &err), &err, "more than one node",
                    "wrn conv_1");
        expect_fail(ds_attack_permute(c, "conv_3", 1, NULL, &err), &err, "residual add",
                    "wrn conv_3");
        /* bn_1 belongs to conv_1 (refused above); bn_3 follows the first block's add */
        expect_fail(ds_attack_permute(c, "bn_1", 1, NULL, &err), &err, "layer conv_1", "wrn bn_1");
        expect_fail(ds_attack_permute(c, "bn_3", 1, NULL, &err), &err, "follows add_1", "wrn bn_3");
        check_same_function(c, x, y0, "wrn after refusals");
    }
    ds_model_free(c);
    free(y0);
out:
    free(x);
    ds_model_free(m);
}

/* ---------------------------------------------------------------- scale */

/* Positive per-unit rescaling keeps every output of each architecture (and of
 * WRN-10-1, where it scales the batch norm on the way), changes the parameters,
 * gives each unit its own factor, and with spread 0 changes nothing. */
static void scale_case(const arch_case *ac)
{
    ds_err err = {0};
    ds_model *m = make(ac, 21);
    float *x = m ? batch_input(m, 22) : NULL;
    if (!m || !x) goto out;
    float *y0 = outputs(m, x);
    ds_model *c = ds_model_clone(m, &err);
    if (c) {
        int layers = -1;
        CHECK_OK(ds_attack_scale(c, NULL, 0.0, 1, &layers, &err), &err);
        CHECK(ds_model_param_distance(m, c) == 0.0, "%s: spread 0 changed the parameters", ac->name);
        CHECK_OK(ds_attack_scale(c, NULL, 2.0, 7, &layers, &err), &err);
        CHECK(layers == ac->hidden_layers, "%s: %d layers scaled, want %d", ac->name, layers,
              ac->hidden_layers);
        CHECK(ds_model_param_distance(m, c) > 0.0, "%s: unchanged", ac->name);
        char what[64];
        snprintf(what, sizeof what, "%s scale all", ac->name);
        check_same_function(c, x, y0, what);
        if (!strcmp(ac->name, "mnist-mlp")) { /* dense_1's columns: each its own factor */
            int t = ds_model_find_tensor(m, "dense_1.W");
            const float *a = t >= 0 ? ds_model_tensor_data(m, t) : NULL, *b = t >= 0 ? ds_model_tensor_data(c, t) : NULL;
            int no = t >= 0 ? m->tensors[t].dims[1] : 0;
            double r0 = a && a[0] != 0.0f ? b[0] / a[0] : 0.0, r1 = a && a[1] != 0.0f ? b[1] / a[1] : 0.0;
            CHECK(no > 1 && r0 > 0.0 && r1 > 0.0 && fabs(r0 - r1) > 1e-3 * r0,
                  "mlp: units 0 and 1 scaled alike (%g, %g)", r0, r1);
        }
    }
    ds_model_free(c);
    free(y0);
out:
    free(x);
    ds_model_free(m);
}

/* A chain of the three (dummies, then permuted and rescaled with them, so they
 * sit at random positions with their own scales) keeps every output; ds_attack_run
 * reports the steps. */
static void chain_case(const arch_case *ac)
{
    ds_err err = {0};
    ds_model *m = make(ac, 31);
    float *x = m ? batch_input(m, 32) : NULL;
    if (!m || !x) goto out;
    float *y0 = outputs(m, x);
    ds_model *c = ds_model_clone(m, &err);
    ds_attack_cfg cfg = ds_attack_defaults(DS_ATTACK_CHAIN);
    cfg.neurons = 6;
    ds_attack_report rep;
    if (c) {
        CHECK(cfg.nsteps == 3 && cfg.steps[0] == DS_ATTACK_DUMMY && cfg.steps[2] == DS_ATTACK_SCALE,
              "default chain");
        CHECK_OK(ds_attack_run(&c, &cfg, NULL, &rep, &err), &err);
        CHECK(rep.realised == 3 && !strcmp(rep.realised_what, "steps"), "%s: realised %g %s", ac->name,
              rep.realised, rep.realised_what);
        int added = 0;
        for (int i = 0; i < DS_ARCH_MAX_EXTRA; i++) added += c->arch.extra[i];
        CHECK(added == 6 * ac->hidden_layers, "%s: %d units added", ac->name, added);
        char what[64];
        snprintf(what, sizeof what, "%s dummy+permute+scale", ac->name);
        check_same_function(c, x, y0, what);
        /* the dummy units are not all at the end any more: some appended unit moved */
        const ds_node *p = NULL;
        for (int i = 0; i < c->nnodes && !p; i++)
            if (is_hidden_layer(c, i)) p = &c->nodes[i];
        CHECK(p != NULL, "a hidden layer");
    }
    ds_model_free(c);
    free(y0);
out:
    free(x);
    ds_model_free(m);
}

static void test_chain_mnist_mlp(void) { chain_case(&cases[0]); }
static void test_chain_cifar10_cnn(void) { chain_case(&cases[2]); }

static void test_scale_mnist_mlp(void) { scale_case(&cases[0]); }
static void test_scale_mnist_cnn(void) { scale_case(&cases[1]); }
static void test_scale_cifar10_cnn(void) { scale_case(&cases[2]); }
static void test_scale_wrn(void)
{
    const arch_case wrn = {"cifar10-wrn", 3, 32, 32, 3};
    scale_case(&wrn);
    ds_err err = {0};
    ds_model *m = make(&cases[0], 1);
    if (m) {
        expect_fail(ds_attack_scale(m, NULL, 20.5, 1, NULL, &err), &err, "out of range [0, 20]", "spread");
        expect_fail(ds_attack_scale(m, "dense_3", 1.0, 1, NULL, &err), &err, "output layer", "output");
    }
    ds_model_free(m);
}

static void test_permute_refusals(void)
{
    ds_err err = {0};
    ds_model *m = make(&cases[0], 1);
    if (!m) return;
    ds_model *c = ds_model_clone(m, &err);
    if (!c) goto out;
    int layers = -1;
    expect_fail(ds_attack_permute(c, "dense_3", 1, &layers, &err), &err, "output layer", "output");
    CHECK(layers == 0, "refused: %d layers", layers);
    expect_fail(ds_attack_permute(c, "nope", 1, NULL, &err), &err, "no layer 'nope'", "unknown");
    expect_fail(ds_attack_permute(c, "input", 1, NULL, &err), &err, "does not follow", "input");
    expect_fail(ds_attack_permute(c, "999", 1, NULL, &err), &err, "no layer", "index");
    CHECK(ds_model_param_distance(m, c) == 0.0, "a refused permutation changed the model");
    /* by index: node 2 is dense_1 */
    CHECK_OK(ds_attack_permute(c, "2", 1, &layers, &err), &err);
    CHECK(layers == 1, "by index: %d", layers);
out:
    ds_model_free(c);
    ds_model_free(m);
}

/* ---------------------------------------------------------------- dummy */

static int extra_sum(const ds_arch *a)
{
    int s = 0;
    for (int i = 0; i < DS_ARCH_MAX_EXTRA; i++) s += a->extra[i];
    return s;
}

static void dummy_one(ds_model *m, const float *x, const float *y0, ds_dummy_kind kind,
                      const char *layer, int neurons, int nlayers)
{
    ds_err err = {0};
    char what[128];
    snprintf(what, sizeof what, "%s dummy %s %s x%d", m->arch.name, ds_dummy_kind_name(kind),
             layer ? layer : "(all)", neurons);
    ds_model *d = ds_attack_dummy(m, kind, layer, neurons, 21, &err);
    CHECK(d != NULL, "%s: %s", what, err.msg);
    if (!d) return;
    CHECK(d->nparams > m->nparams, "%s: nparams %zu -> %zu", what, m->nparams, d->nparams);
    CHECK(extra_sum(&d->arch) == extra_sum(&m->arch) + nlayers * neurons, "%s: extra %d", what,
          extra_sum(&d->arch));
    CHECK(d->meta.epochs == m->meta.epochs && d->meta.test_accuracy == m->meta.test_accuracy,
          "%s: meta not copied", what);
    CHECK(ds_model_param_distance(m, d) > 0.0, "%s: distance 0", what);
    check_same_function(d, x, y0, what);
    ds_model_free(d);
}

static void dummy_case(const arch_case *ac)
{
    ds_err err = {0};
    ds_model *m = make(ac, 7);
    float *x = m ? batch_input(m, 8) : NULL;
    if (!m || !x) goto out;
    float *y0 = outputs(m, x);
    dummy_one(m, x, y0, DS_DUMMY_CLIQUE, NULL, 4, ac->hidden_layers);
    dummy_one(m, x, y0, DS_DUMMY_CLIQUE, NULL, 5, ac->hidden_layers); /* a group of 3 */
    dummy_one(m, x, y0, DS_DUMMY_SPLIT, NULL, 3, ac->hidden_layers);
    for (int i = 0; i < m->nnodes; i++) {
        if (!is_hidden_layer(m, i)) continue;
        dummy_one(m, x, y0, DS_DUMMY_CLIQUE, m->nodes[i].name, 2, 1);
        dummy_one(m, x, y0, DS_DUMMY_SPLIT, m->nodes[i + 1].name, 6, 1);
    }
    /* the exact extra[] recorded for one layer; a dummy of a dummy; then permuted */
    ds_model *d = ds_attack_dummy(m, DS_DUMMY_SPLIT, "relu_2", 3, 1, &err);
    CHECK(d != NULL, "%s", err.msg);
    if (d) {
        int want[DS_ARCH_MAX_EXTRA] = {0};
        want[1] = 3;
        CHECK(!memcmp(d->arch.extra, want, sizeof want), "%s: extra[1] = %d", ac->name, d->arch.extra[1]);
        ds_model *dd = ds_attack_dummy(d, DS_DUMMY_CLIQUE, NULL, 2, 2, &err);
        CHECK(dd != NULL, "%s", err.msg);
        if (dd) {
            CHECK(dd->arch.extra[1] == 5 && dd->arch.extra[0] == 2, "%s: extra %d %d", ac->name,
                  dd->arch.extra[0], dd->arch.extra[1]);
            check_same_function(dd, x, y0, "dummy of a dummy");
            CHECK_OK(ds_attack_permute(dd, NULL, 3, NULL, &err), &err);
            check_same_function(dd, x, y0, "dummy then permute");
        }
        ds_model_free(dd);
    }
    ds_model_free(d);
    free(y0);
out:
    free(x);
    ds_model_free(m);
}

static void test_dummy_mnist_mlp(void) { dummy_case(&cases[0]); }
static void test_dummy_mnist_cnn(void) { dummy_case(&cases[1]); }
static void test_dummy_cifar10_cnn(void) { dummy_case(&cases[2]); }

static void test_dummy_refusals(void)
{
    ds_err err = {0};
    ds_model *m = make(&cases[0], 1);
    if (!m) return;
    CHECK(ds_attack_dummy(m, DS_DUMMY_CLIQUE, "dense_3", 4, 1, &err) == NULL, "output layer accepted");
    CHECK(strstr(err.msg, "output layer") != NULL, "message: %s", err.msg);
    CHECK(ds_attack_dummy(m, DS_DUMMY_CLIQUE, "nope", 4, 1, &err) == NULL, "unknown layer accepted");
    CHECK(strstr(err.msg, "no layer 'nope'") != NULL, "message: %s", err.msg);
    CHECK(ds_attack_dummy(m, DS_DUMMY_CLIQUE, NULL, 1, 1, &err) == NULL, "a clique of 1 accepted");
    CHECK(strstr(err.msg, "out of range") != NULL, "message: %s", err.msg);
    CHECK(ds_attack_dummy(m, DS_DUMMY_SPLIT, "dense_1", 65, 1, &err) == NULL, "split 65 of 64 accepted");
    CHECK(strstr(err.msg, "which has 64") != NULL, "message: %s", err.msg);
    CHECK(ds_attack_dummy(m, (ds_dummy_kind)7, NULL, 4, 1, &err) == NULL, "kind 7 accepted");
    ds_model_free(m);

    /* the WRN: residual adds fix its widths */
    const arch_case wrn = {"cifar10-wrn", 3, 32, 32, 3};
    m = make(&wrn, 1);
    if (m) {
        CHECK(ds_attack_dummy(m, DS_DUMMY_CLIQUE, "conv_2", 2, 1, &err) == NULL, "wrn dummy accepted");
        CHECK(strstr(err.msg, "cannot be widened") != NULL, "message: %s", err.msg);
        CHECK(ds_attack_dummy(m, DS_DUMMY_CLIQUE, NULL, 2, 1, &err) == NULL, "wrn dummy accepted");
    }
    ds_model_free(m);
}

static void test_arch_extra_validate(void)
{
    ds_err err = {0};
    ds_arch a;
    CHECK_OK(ds_arch_defaults("cifar10-wrn", 3, 32, 32, 10, &a, &err), &err);
    a.extra[0] = 1;
    expect_fail(ds_arch_validate(&a, &err), &err, "cannot be widened", "wrn extra");
    CHECK(ds_model_build(&a, &err) == NULL, "wrn with extra built");
    CHECK_OK(ds_arch_defaults("mnist-mlp", 1, 28, 28, 10, &a, &err), &err);
    a.extra[1] = -1;
    expect_fail(ds_arch_validate(&a, &err), &err, "out of range", "negative extra");
    a.extra[1] = 65537;
    expect_fail(ds_arch_validate(&a, &err), &err, "out of range", "huge extra");
    a.extra[1] = 65536;
    CHECK_OK(ds_arch_validate(&a, &err), &err);
    a.extra[1] = 0;
    a.extra[2] = 1;
    expect_fail(ds_arch_validate(&a, &err), &err, "only 2 hidden layers", "mlp extra[2]");
    /* the widths: mnist-cnn conv 32+1, conv 64+2, dense 128+3 */
    CHECK_OK(ds_arch_defaults("mnist-cnn", 1, 28, 28, 10, &a, &err), &err);
    a.extra[0] = 1;
    a.extra[1] = 2;
    a.extra[2] = 3;
    ds_model *m = ds_model_build(&a, &err);
    CHECK(m != NULL, "%s", err.msg);
    if (m) {
        int c1 = ds_model_find_node(m, "conv_1"), c2 = ds_model_find_node(m, "conv_2"),
            d1 = ds_model_find_node(m, "dense_1");
        CHECK(m->nodes[c1].c == 33 && m->nodes[c2].c == 66 && m->nodes[d1].c == 131,
              "widths %d %d %d", m->nodes[c1].c, m->nodes[c2].c, m->nodes[d1].c);
    }
    ds_model_free(m);
}

/* ---------------------------------------------------------------- model files */

static void test_dummy_file_roundtrip(void)
{
    ds_err err = {0};
    ds_model *m = make(&cases[1], 4);
    float *x = m ? batch_input(m, 9) : NULL;
    ds_model *d = m ? ds_attack_dummy(m, DS_DUMMY_SPLIT, NULL, 4, 5, &err) : NULL;
    CHECK(d != NULL, "%s", err.msg);
    if (!d || !x) goto out;
    char p[TU_PATH_LEN];
    tu_path(p, "dummy.h5");
    CHECK_OK(ds_model_save(d, p, &err), &err);
    ds_model *l = ds_model_load(p, &err);
    CHECK(l != NULL, "load: %s", err.msg);
    if (l) {
        CHECK(!memcmp(l->arch.extra, d->arch.extra, sizeof d->arch.extra), "extra_units lost");
        CHECK(l->arch.extra[0] == 4 && l->arch.extra[2] == 4, "extra %d %d", l->arch.extra[0],
              l->arch.extra[2]);
        CHECK(l->nparams == d->nparams && !memcmp(l->params, d->params, sizeof(float) * d->nparams),
              "params differ");
        float *y0 = outputs(m, x);
        check_same_function(l, x, y0, "loaded dummy");
        free(y0);
    }
    ds_model_free(l);
out:
    free(x);
    ds_model_free(d);
    ds_model_free(m);
}

/* A file written before extra_units existed loads with no extra units. */
static void test_file_without_extra_units(void)
{
    ds_err err = {0};
    ds_model *m = make(&cases[2], 6);
    if (!m) return;
    char p[TU_PATH_LEN];
    tu_path(p, "old.h5");
    CHECK_OK(ds_model_save(m, p, &err), &err);
    hid_t f = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT);
    CHECK(f >= 0, "H5Fopen %s", p);
    if (f >= 0) {
        CHECK(H5Aexists(f, "extra_units") > 0, "extra_units not written");
        CHECK(H5Adelete(f, "extra_units") >= 0, "H5Adelete");
        CHECK(H5Aexists(f, "extra_units") == 0, "extra_units still there");
        CHECK(H5Fclose(f) >= 0, "H5Fclose");
    }
    ds_model *l = ds_model_load(p, &err);
    CHECK(l != NULL, "load without extra_units: %s", err.msg);
    if (l) {
        int zero[DS_ARCH_MAX_EXTRA] = {0};
        CHECK(!memcmp(l->arch.extra, zero, sizeof zero), "extra not zero");
        CHECK(ds_model_param_distance(m, l) == 0.0, "params differ");
    }
    ds_model_free(l);
    ds_model_free(m);
}

/* A file whose extra_units ask for something the architecture refuses. */
static void test_file_bad_extra_units(void)
{
    ds_err err = {0};
    const arch_case wrn = {"cifar10-wrn", 3, 32, 32, 3};
    ds_model *m = make(&wrn, 6);
    if (!m) return;
    char p[TU_PATH_LEN];
    tu_path(p, "bad-extra.h5");
    CHECK_OK(ds_model_save(m, p, &err), &err);
    hid_t f = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT);
    CHECK(f >= 0, "H5Fopen %s", p);
    if (f >= 0) {
        int v[DS_ARCH_MAX_EXTRA] = {0, 3};
        hid_t a = H5Aopen(f, "extra_units", H5P_DEFAULT);
        CHECK(a >= 0 && H5Awrite(a, H5T_NATIVE_INT, v) >= 0, "H5Awrite");
        if (a >= 0) H5Aclose(a);
        CHECK(H5Fclose(f) >= 0, "H5Fclose");
    }
    ds_model *l = ds_model_load(p, &err);
    CHECK(l == NULL, "wrn with extra units loaded");
    CHECK(strstr(err.msg, "cannot be widened") != NULL, "message: %s", err.msg);
    ds_model_free(l);
    ds_model_free(m);
}

/* ---------------------------------------------------------------- distance */

static void test_param_distance(void)
{
    ds_err err = {0};
    ds_model *m = make(&cases[0], 2);
    ds_model *c = m ? ds_model_clone(m, &err) : NULL;
    if (!c) goto out;
    CHECK(ds_model_param_distance(m, c) == 0.0, "clone at distance %g", ds_model_param_distance(m, c));
    /* statistics are not parameters; two entries change by 3 and -4 */
    c->params[5] += 3.0f;
    c->params[c->nparams - 1] -= 4.0f;
    double want = sqrt(pow((double)c->params[5] - m->params[5], 2) +
                       pow((double)c->params[c->nparams - 1] - m->params[m->nparams - 1], 2));
    CHECK_CLOSE(ds_model_param_distance(m, c), want, 1e-12, 1e-12, "two changes");
    CHECK_CLOSE(ds_model_param_distance(m, c), 5.0, 1e-5, 0, "3-4-5");
    CHECK(ds_model_param_distance(c, m) == ds_model_param_distance(m, c), "not symmetric");

    /* different widths: entries only the wider model has count in full */
    ds_arch a = m->arch;
    a.hidden = 4;
    ds_arch b = a;
    b.extra[0] = 2;
    ds_model *x = ds_model_build(&a, &err), *y = ds_model_build(&b, &err);
    CHECK(x && y, "%s", err.msg);
    if (x && y) {
        int tx = ds_model_find_tensor(x, "dense_1.W"), ty = ds_model_find_tensor(y, "dense_1.W");
        float *wx = ds_model_tensor_data(x, tx), *wy = ds_model_tensor_data(y, ty);
        /* x dense_1.W [784, 4], y [784, 6] */
        wx[1 * 4 + 2] = 4.0f;
        wy[1 * 6 + 2] = 1.0f;  /* same multi-index (1, 2): differs by 3 */
        wy[0 * 6 + 5] = 2.0f;  /* appended column: counts 2 */
        int ux = ds_model_find_tensor(x, "dense_2.W"), uy = ds_model_find_tensor(y, "dense_2.W");
        ds_model_tensor_data(x, ux)[3 * 4 + 0] = 1.0f;  /* (3, 0) in both: differs by 1 */
        ds_model_tensor_data(y, uy)[5 * 4 + 1] = -5.0f; /* appended row 5 of [6, 4]: counts 5 */
        int bx = ds_model_find_tensor(x, "dense_1.b");
        ds_model_tensor_data(x, bx)[0] = 1.0f;          /* (0) in both: differs by 1 */
        double d = ds_model_param_distance(x, y);
        CHECK_CLOSE(d, sqrt(9.0 + 4.0 + 1.0 + 25.0 + 1.0), 1e-12, 1e-12, "widened");
        CHECK_CLOSE(ds_model_param_distance(y, x), d, 1e-12, 1e-12, "widened, swapped");
        /* stats of another model: not counted */
        CHECK(ds_model_param_distance(x, x) == 0.0, "self");
    }
    ds_model_free(x);
    ds_model_free(y);
out:
    ds_model_free(c);
    ds_model_free(m);
}

/* ---------------------------------------------------------------- names */

static void test_names(void)
{
    ds_err err = {0};
    const char *kinds[] = {"prune", "finetune", "overwrite", "quantize", "noise", "permute", "dummy",
                           "scale", "chain"};
    CHECK(ds_attack_kind_count() == 9, "%d kinds in the table", ds_attack_kind_count());
    for (int i = 0; i < 9; i++) {
        ds_attack_kind k = 0;
        CHECK_OK(ds_attack_kind_parse(kinds[i], &k, &err), &err);
        CHECK((int)k == DS_ATTACK_PRUNE + i, "%s -> %d", kinds[i], (int)k);
        CHECK(!strcmp(ds_attack_kind_name(k), kinds[i]), "name %s", ds_attack_kind_name(k));
    }
    const char *modes[] = {"ftll", "ftal", "rtll", "rtal"};
    for (int i = 0; i < 4; i++) {
        ds_ft_mode f = DS_FT_RTAL;
        CHECK_OK(ds_ft_mode_parse(modes[i], &f, &err), &err);
        CHECK((int)f == i && !strcmp(ds_ft_mode_name(f), modes[i]), "%s", modes[i]);
    }
    ds_dummy_kind d = DS_DUMMY_SPLIT;
    CHECK_OK(ds_dummy_kind_parse("clique", &d, &err), &err);
    CHECK(d == DS_DUMMY_CLIQUE && !strcmp(ds_dummy_kind_name(DS_DUMMY_SPLIT), "split"), "dummy names");
    ds_attack_kind k = DS_ATTACK_NOISE;
    expect_fail(ds_attack_kind_parse("Prune", &k, &err), &err,
                "prune, finetune, overwrite, quantize, noise, permute, dummy, scale or chain", "attack parse");
    CHECK(k == DS_ATTACK_NOISE, "output written on failure");
    ds_ft_mode f;
    expect_fail(ds_ft_mode_parse("", &f, &err), &err, "ftll, ftal, rtll or rtal", "mode parse");
    expect_fail(ds_dummy_kind_parse("pair", &d, &err), &err, "clique or split", "dummy parse");
    CHECK(!strcmp(ds_attack_kind_name((ds_attack_kind)0), "?"), "unknown kind name");
}

int main(void)
{
    if (tu_root_create("attack-fp") != 0) return 1;
    RUN(test_permute_mnist_mlp);
    RUN(test_permute_mnist_cnn);
    RUN(test_permute_cifar10_cnn);
    RUN(test_permute_wrn);
    RUN(test_permute_refusals);
    RUN(test_dummy_mnist_mlp);
    RUN(test_dummy_mnist_cnn);
    RUN(test_dummy_cifar10_cnn);
    RUN(test_dummy_refusals);
    RUN(test_arch_extra_validate);
    RUN(test_dummy_file_roundtrip);
    RUN(test_file_without_extra_units);
    RUN(test_file_bad_extra_units);
    RUN(test_param_distance);
    RUN(test_scale_mnist_mlp);
    RUN(test_scale_mnist_cnn);
    RUN(test_scale_cifar10_cnn);
    RUN(test_scale_wrn);
    RUN(test_chain_mnist_mlp);
    RUN(test_chain_cifar10_cnn);
    RUN(test_names);
    tu_root_remove();
    TEST_MAIN_END();
}
