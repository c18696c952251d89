/* test_gradients.c - finite-difference checks of every layer's backward pass
 * and of whole models, and fast kernels against their naive references. */
#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "deepsigns/kernels.h"
#include "deepsigns/model.h"
#include "nn/graph.h"

enum { FD_SAMPLES = 24 };    /* entries checked per tensor */
#define FD_EPS 1e-3
#define FD_RTOL 2e-2

typedef struct fd_case {
    ds_model *m;
    int B;
    float *x;      /* [B, input size] */
    float *r;      /* [B, output size] projection: loss = sum r * y  (when labels == NULL) */
    int *labels;   /* softmax cross-entropy loss when non-NULL */
    int fused;     /* the training loop's forward (ds_model_forward_keep: batch norms fuse their ReLU) */
} fd_case;

static double fd_loss(fd_case *c)
{
    ds_rng rng;
    ds_rng_init(&rng, 7, 7); /* same dropout mask every call */
    if (c->fused)
        ds_model_forward_keep(c->m, c->x, c->B, 1, &rng, -1);
    else
        ds_model_forward(c->m, c->x, c->B, 1, &rng);
    int out = ds_model_output_node(c->m);
    const float *y = ds_model_act(c->m, out);
    size_t n = (size_t)c->B * c->m->nodes[out].size;
    if (c->labels) return ds_softmax_ce(y, c->labels, c->B, (int)c->m->nodes[out].size, NULL, NULL, 1.0f);
    double l = 0.0;
    for (size_t i = 0; i < n; i++) l += (double)c->r[i] * y[i];
    return l;
}

static void fd_backward(fd_case *c)
{
    ds_model_zero_grads(c->m);
    ds_model_zero_act_grads(c->m);
    fd_loss(c);
    int out = ds_model_output_node(c->m);
    size_t n = (size_t)c->B * c->m->nodes[out].size;
    float *dy = ds_model_dact(c->m, out);
    if (c->labels)
        ds_softmax_ce(ds_model_act(c->m, out), c->labels, c->B, (int)c->m->nodes[out].size, NULL, dy, 1.0f);
    else
        memcpy(dy, c->r, sizeof(float) * n);
    ds_model_backward(c->m, c->B);
}

/* Compare analytic and central-difference gradients of sampled entries of every
 * trainable tensor. Returns the number of mismatches; *checked counts entries
 * and *rel is ||analytic - numeric|| / ||numeric|| over them. */
static int fd_check(fd_case *c, const char *what, int *checked, double *rel)
{
    double dn = 0.0, nn = 0.0;
    *checked = 0;
    ds_model *m = c->m;
    fd_backward(c);
    float *g = malloc(sizeof(float) * m->nparams);
    memcpy(g, m->grads, sizeof(float) * m->nparams);
    ds_rng pick;
    ds_rng_init(&pick, 11, 0);
    int bad = 0;
    for (int t = 0; t < m->ntensors; t++) {
        const ds_tensor *ts = &m->tensors[t];
        if (!ts->trainable) continue;
        int ns = ts->size < FD_SAMPLES ? (int)ts->size : FD_SAMPLES;
        for (int s = 0; s < ns; s++) {
            size_t i = ts->offset + (ts->size <= FD_SAMPLES ? (size_t)s : ds_rng_below(&pick, (uint32_t)ts->size));
            float keep = m->params[i];
            m->params[i] = keep + (float)FD_EPS;
            double lp = fd_loss(c);
            m->params[i] = keep - (float)FD_EPS;
            double lm = fd_loss(c);
            m->params[i] = keep;
            double num = (lp - lm) / (2 * FD_EPS);
            double tol = 2e-3 + FD_RTOL * fabs(num);
            dn += (num - g[i]) * (num - g[i]);
            nn += num * num;
            (*checked)++;
            if (fabs(num - g[i]) > tol) {
                if (bad < 5)
                    fprintf(stderr, "%s: %s[%zu]: analytic %.6g numeric %.6g\n", what, ts->name,
                            i - ts->offset, g[i], num);
                bad++;
            }
        }
    }
    free(g);
    *rel = sqrt(dn / (nn > 0 ? nn : 1));
    return bad;
}

/* Run a finite-difference check on a model: random params, inputs and projection.
 * Single layers must match at every sampled entry. Whole deep models are checked
 * in float32, where a perturbation can cross a ReLU or max-pool kink: there at
 * most 5% of entries may disagree and the relative error of the whole sampled
 * gradient must stay under 3%. Returns non-zero on failure. */
static int fd_run(ds_model *m, int B, int use_ce, const char *what)
{
    ds_err err = {0};
    if (!m) { fprintf(stderr, "%s: build failed\n", what); return 1; }
    ds_model_init_params(m, 3);
    /* non-trivial batch-norm affine parameters and biases */
    ds_rng r;
    ds_rng_init(&r, 5, 5);
    for (int t = 0; t < m->ntensors; t++)
        if (m->tensors[t].trainable && !m->tensors[t].is_weight) {
            float *p = ds_model_tensor_data(m, t);
            for (size_t i = 0; i < m->tensors[t].size; i++) p[i] += 0.2f * (float)ds_rng_normal(&r);
        }
    if (ds_model_reserve(m, B, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    int out = ds_model_output_node(m);
    size_t nin = (size_t)B * m->nodes[0].size, nout = (size_t)B * m->nodes[out].size;
    fd_case c = {.m = m, .B = B, .x = malloc(sizeof(float) * nin), .r = malloc(sizeof(float) * nout)};
    for (size_t i = 0; i < nin; i++) c.x[i] = (float)ds_rng_normal(&r);
    for (size_t i = 0; i < nout; i++) c.r[i] = (float)ds_rng_normal(&r);
    int labels[64];
    if (use_ce) {
        for (int b = 0; b < B; b++) labels[b] = (int)ds_rng_below(&r, (uint32_t)m->nodes[out].size);
        c.labels = labels;
    }
    int checked;
    double rel;
    int bad = fd_check(&c, what, &checked, &rel);
    fprintf(stderr, "%s: %d of %d sampled gradient entries off, relative error %.2e\n", what, bad,
            checked, rel);
    int failed = use_ce ? bad * 20 > checked || rel > 3e-2 : bad;
    int fusable = 0;
    for (int j = 0; j < m->nnodes; j++) fusable += m->bn_relu[j] >= 0;
    if (fusable) { /* again through the fused passes: the same gradients, bit for bit */
        float *g0 = malloc(sizeof(float) * m->nparams);
        fd_backward(&c);
        memcpy(g0, m->grads, sizeof(float) * m->nparams);
        c.fused = 1;
        fd_backward(&c);
        int same = !memcmp(g0, m->grads, sizeof(float) * m->nparams);
        free(g0);
        int fbad = fd_check(&c, what, &checked, &rel);
        fprintf(stderr, "%s, %d batch norm(s) with their ReLU fused: %d of %d sampled entries off, "
                "relative error %.2e; gradients %s the unfused ones\n", what, fusable, fbad, checked,
                rel, same ? "bit-identical to" : "DIFFER from");
        failed |= !same || (use_ce ? fbad * 20 > checked || rel > 3e-2 : fbad);
    }
    free(c.x);
    free(c.r);
    return failed;
}

static ds_arch small_arch(int c, int h, int w)
{
    ds_arch a = {.name = "custom", .in_c = c, .in_h = h, .in_w = w, .classes = 3};
    return a;
}

/* Graph: input -> [prefix dense or conv with params] -> layer under test -> dense out */
static ds_model *graph_model(int which)
{
    ds_graph g = {0};
    ds_err err = {0};
    g.err = &err;
    ds_arch a = small_arch(2, 6, 6);
    int x = ds_graph_input(&g, 2, 6, 6);
    switch (which) {
    case 0: /* dense */
        x = ds_graph_dense(&g, ds_graph_flatten(&g, x), 7, 1);
        break;
    case 1: /* conv stride 1 pad 1 */
        x = ds_graph_conv(&g, x, 3, 3, 1, 1, 1);
        x = ds_graph_conv(&g, x, 2, 3, 1, 1, 1);
        break;
    case 2: /* conv stride 2 pad 0, 1x1 conv */
        x = ds_graph_conv(&g, x, 3, 3, 2, 0, 1);
        x = ds_graph_conv(&g, x, 4, 1, 1, 0, 0);
        break;
    case 3: /* maxpool */
        x = ds_graph_maxpool(&g, ds_graph_conv(&g, x, 3, 3, 1, 1, 1), 2, 2);
        break;
    case 4: /* global average pool */
        x = ds_graph_gap(&g, ds_graph_conv(&g, x, 3, 3, 1, 1, 1));
        break;
    case 5: /* relu */
        x = ds_graph_relu(&g, ds_graph_conv(&g, x, 3, 3, 1, 1, 1));
        break;
    case 6: /* dropout */
        x = ds_graph_dropout(&g, ds_graph_dense(&g, ds_graph_flatten(&g, x), 9, 1), 0.3f);
        break;
    case 7: /* batch norm on conv features */
        x = ds_graph_bn(&g, ds_graph_conv(&g, x, 3, 3, 1, 1, 0));
        break;
    case 8: /* batch norm on dense features */
        x = ds_graph_bn(&g, ds_graph_dense(&g, ds_graph_flatten(&g, x), 5, 1));
        break;
    case 9: { /* residual block with projection shortcut */
        int o = ds_graph_relu(&g, ds_graph_bn(&g, x));
        int sc = ds_graph_conv(&g, o, 4, 1, 2, 0, 0);
        int y = ds_graph_conv(&g, o, 4, 3, 2, 1, 0);
        y = ds_graph_conv(&g, ds_graph_relu(&g, ds_graph_bn(&g, y)), 4, 3, 1, 1, 0);
        x = ds_graph_add(&g, y, sc);
        break;
    }
    case 10: { /* identity residual */
        int c0 = ds_graph_conv(&g, x, 2, 3, 1, 1, 1);
        x = ds_graph_add(&g, ds_graph_relu(&g, ds_graph_conv(&g, c0, 2, 3, 1, 1, 1)), c0);
        break;
    }
    case 11: /* average pool 3x3 stride 2 (overlapping windows) */
        x = ds_graph_avgpool(&g, ds_graph_conv(&g, x, 3, 3, 1, 1, 1), 3, 2);
        break;
    }
    ds_graph_dense(&g, ds_graph_flatten(&g, x), 3, 1);
    ds_model *m = ds_model_from_graph(&g, &a, &err);
    if (!m) fprintf(stderr, "graph %d: %s\n", which, err.msg);
    return m;
}

static const char *const layer_names[] = {"dense", "conv_s1p1", "conv_s2p0_1x1", "maxpool", "gap",
                                          "relu", "dropout", "bn_conv", "bn_dense",
                                          "residual_projection", "residual_identity", "avgpool"};

static void test_layer_gradients(void)
{
    for (int w = 0; w < (int)(sizeof layer_names / sizeof layer_names[0]); w++) {
        ds_model *m = graph_model(w);
        int bad = fd_run(m, 3, 0, layer_names[w]);
        CHECK(bad == 0, "%s: %d gradient entries disagree with finite differences", layer_names[w], bad);
        ds_model_free(m);
    }
}

static void test_softmax_ce_gradient(void)
{
    enum { B = 4, C = 5 };
    float z[B * C], d[B * C] = {0};
    int y[B] = {0, 3, 4, 1};
    ds_rng r;
    ds_rng_init(&r, 1, 2);
    for (int i = 0; i < B * C; i++) z[i] = 3.0f * (float)ds_rng_normal(&r);
    ds_softmax_ce(z, y, B, C, NULL, d, 1.0f);
    for (int i = 0; i < B * C; i++) {
        float keep = z[i];
        z[i] = keep + 1e-2f;
        double lp = ds_softmax_ce(z, y, B, C, NULL, NULL, 1.0f);
        z[i] = keep - 1e-2f;
        double lm = ds_softmax_ce(z, y, B, C, NULL, NULL, 1.0f);
        z[i] = keep;
        CHECK_CLOSE(d[i], (lp - lm) / 2e-2, 1e-4, 1e-2, "dlogits");
    }
    /* huge logits stay finite */
    z[0] = 1e30f;
    CHECK(isfinite(ds_softmax_ce(z, y, B, C, NULL, NULL, 1.0f)), "loss with huge logit is not finite");
}

static void test_model_gradients(void)
{
    ds_err err = {0};
    ds_arch a;
    CHECK_OK(ds_arch_defaults("mnist-mlp", 1, 8, 8, 10, &a, &err), &err);
    a.hidden = 16;
    ds_model *m = ds_model_build(&a, &err);
    CHECK(fd_run(m, 4, 1, "mnist-mlp") == 0, "mnist-mlp whole-model gradients");
    ds_model_free(m);

    CHECK_OK(ds_arch_defaults("mnist-cnn", 1, 10, 10, 10, &a, &err), &err);
    m = ds_model_build(&a, &err);
    CHECK(fd_run(m, 2, 1, "mnist-cnn") == 0, "mnist-cnn whole-model gradients");
    ds_model_free(m);

    CHECK_OK(ds_arch_defaults("cifar10-cnn", 3, 12, 12, 10, &a, &err), &err);
    m = ds_model_build(&a, &err);
    CHECK(fd_run(m, 2, 1, "cifar10-cnn") == 0, "cifar10-cnn whole-model gradients");
    ds_model_free(m);

    CHECK_OK(ds_arch_defaults("cifar10-wrn", 3, 8, 8, 10, &a, &err), &err);
    a.depth = 10;
    a.widen = 1;
    a.dropout = 0.2f;
    m = ds_model_build(&a, &err);
    CHECK(fd_run(m, 3, 1, "cifar10-wrn") == 0, "cifar10-wrn whole-model gradients");
    ds_model_free(m);
}

static void fill(float *v, size_t n, ds_rng *r)
{
    for (size_t i = 0; i < n; i++) v[i] = (float)ds_rng_normal(r);
}

static double max_abs_diff(const float *a, const float *b, size_t n)
{
    double d = 0.0;
    for (size_t i = 0; i < n; i++) d = fmax(d, fabs((double)a[i] - b[i]));
    return d;
}

static void test_dense_vs_naive(void)
{
    enum { B = 5, NI = 37, NO = 11 };
    ds_rng r;
    ds_rng_init(&r, 2, 3);
    float x[B * NI], W[NI * NO], b[NO], dy[B * NO], y1[B * NO], y2[B * NO];
    float dx1[B * NI] = {0}, dx2[B * NI] = {0}, dW1[NI * NO] = {0}, dW2[NI * NO] = {0};
    float db1[NO] = {0}, db2[NO] = {0};
    fill(x, B * NI, &r); fill(W, NI * NO, &r); fill(b, NO, &r); fill(dy, B * NO, &r);
    ds_dense_forward(y1, x, W, b, B, NI, NO);
    ds_dense_forward_naive(y2, x, W, b, B, NI, NO);
    CHECK(max_abs_diff(y1, y2, B * NO) < 1e-4, "dense forward vs naive: %g", max_abs_diff(y1, y2, B * NO));
    ds_dense_backward(dx1, dW1, db1, dy, x, W, B, NI, NO);
    ds_dense_backward_naive(dx2, dW2, db2, dy, x, W, B, NI, NO);
    CHECK(max_abs_diff(dx1, dx2, B * NI) < 1e-4, "dense dx vs naive");
    CHECK(max_abs_diff(dW1, dW2, NI * NO) < 1e-4, "dense dW vs naive");
    CHECK(max_abs_diff(db1, db2, NO) < 1e-4, "dense db vs naive");
}

static void test_conv_vs_naive(void)
{
    const int geo[][5] = {/* C, F, K, stride, pad */
                          {1, 4, 3, 1, 0}, {3, 5, 3, 1, 1}, {2, 3, 3, 2, 1}, {4, 2, 1, 1, 0},
                          {3, 4, 1, 2, 0}, {2, 3, 5, 3, 2}, {2, 2, 2, 2, 0}};
    ds_rng r;
    ds_rng_init(&r, 4, 4);
    for (size_t gi = 0; gi < sizeof geo / sizeof geo[0]; gi++) {
        ds_conv_shape s = {.B = 2, .C = geo[gi][0], .H = 9, .W = 7, .F = geo[gi][1],
                           .K = geo[gi][2], .stride = geo[gi][3], .pad = geo[gi][4]};
        CHECK(ds_conv_shape_init(&s) == 0, "geometry %zu", gi);
        size_t nx = (size_t)s.B * s.C * s.H * s.W, nw = (size_t)s.F * s.C * s.K * s.K;
        size_t ny = (size_t)s.B * s.F * s.Ho * s.Wo;
        float *x = malloc(4 * nx), *W = malloc(4 * nw), *b = malloc(4 * s.F), *dy = malloc(4 * ny);
        float *y1 = malloc(4 * ny), *y2 = malloc(4 * ny), *col = malloc(4 * ds_conv_col_size(&s));
        float *dx1 = calloc(nx, 4), *dx2 = calloc(nx, 4), *dW1 = calloc(nw, 4), *dW2 = calloc(nw, 4);
        float *db1 = calloc(s.F, 4), *db2 = calloc(s.F, 4);
        fill(x, nx, &r); fill(W, nw, &r); fill(b, s.F, &r); fill(dy, ny, &r);
        ds_conv_forward(y1, x, W, b, &s, col);
        ds_conv_forward_naive(y2, x, W, b, &s);
        CHECK(max_abs_diff(y1, y2, ny) < 1e-4, "conv forward vs naive, geometry %zu: %g", gi, max_abs_diff(y1, y2, ny));
        ds_conv_backward(dx1, dW1, db1, dy, x, W, &s, col);
        ds_conv_backward_naive(dx2, dW2, db2, dy, x, W, &s);
        CHECK(max_abs_diff(dx1, dx2, nx) < 1e-4, "conv dx vs naive, geometry %zu", gi);
        CHECK(max_abs_diff(dW1, dW2, nw) < 1e-4, "conv dW vs naive, geometry %zu", gi);
        CHECK(max_abs_diff(db1, db2, s.F) < 1e-4, "conv db vs naive, geometry %zu", gi);
        free(x); free(W); free(b); free(dy); free(y1); free(y2); free(col);
        free(dx1); free(dx2); free(dW1); free(dW2); free(db1); free(db2);
    }
}

/* The conv plan of the backend built in (oneDNN or im2col + OpenBLAS) against the
 * direct-loop reference, on the geometries the architectures use and odd ones;
 * the gradients start non-zero, so the check covers accumulation (+=) too. */
static void test_conv_plan_vs_naive(void)
{
    const int geo[][8] = {/* B, C, H, F, K, stride, pad, bias */
                          {3, 3, 12, 16, 3, 1, 1, 1}, {2, 16, 11, 32, 3, 1, 0, 1},
                          {3, 16, 12, 32, 3, 2, 1, 0}, {2, 16, 12, 32, 1, 2, 0, 0},
                          {5, 1, 10, 8, 3, 1, 0, 1},  {2, 5, 9, 7, 5, 3, 2, 1},
                          {1, 24, 8, 24, 3, 1, 1, 0}, {2, 4, 9, 6, 1, 1, 0, 1}};
    ds_rng r;
    ds_rng_init(&r, 6, 6);
    fprintf(stderr, "conv backend: %s\n", ds_conv_backend());
    for (size_t gi = 0; gi < sizeof geo / sizeof geo[0]; gi++) {
        ds_conv_shape s = {.B = geo[gi][0], .C = geo[gi][1], .H = geo[gi][2], .W = geo[gi][2] + 1,
                           .F = geo[gi][3], .K = geo[gi][4], .stride = geo[gi][5], .pad = geo[gi][6]};
        int bias = geo[gi][7];
        CHECK(ds_conv_shape_init(&s) == 0, "geometry %zu", gi);
        ds_conv_plan *p = ds_conv_plan_new(&s, bias);
        CHECK(p != NULL, "a plan for geometry %zu", gi);
        if (!p) continue;
        size_t nx = (size_t)s.B * s.C * s.H * s.W, nw = (size_t)s.F * s.C * s.K * s.K;
        size_t ny = (size_t)s.B * s.F * s.Ho * s.Wo;
        float *x = malloc(4 * nx), *W = malloc(4 * nw), *b = malloc(4 * s.F), *dy = malloc(4 * ny);
        float *y1 = malloc(4 * ny), *y2 = malloc(4 * ny);
        float *scratch = malloc(4 * ds_conv_plan_scratch(p));
        float *dx1 = malloc(4 * nx), *dx2 = malloc(4 * nx), *dW1 = malloc(4 * nw), *dW2 = malloc(4 * nw);
        float *db1 = malloc(4 * s.F), *db2 = malloc(4 * s.F);
        fill(x, nx, &r); fill(W, nw, &r); fill(b, s.F, &r); fill(dy, ny, &r);
        fill(dx1, nx, &r); fill(dW1, nw, &r); fill(db1, s.F, &r);
        memcpy(dx2, dx1, 4 * nx); memcpy(dW2, dW1, 4 * nw); memcpy(db2, db1, 4 * s.F);
        double tol = 1e-5 * (double)s.C * s.K * s.K + 1e-4;
        ds_conv_plan_forward(p, y1, x, W, bias ? b : NULL, scratch);
        ds_conv_forward_naive(y2, x, W, bias ? b : NULL, &s);
        CHECK(max_abs_diff(y1, y2, ny) < tol, "conv plan forward vs naive, geometry %zu: %g", gi,
              max_abs_diff(y1, y2, ny));
        ds_conv_plan_backward(p, dx1, dW1, bias ? db1 : NULL, dy, x, W, scratch);
        ds_conv_backward_naive(dx2, dW2, bias ? db2 : NULL, dy, x, W, &s);
        double tw = 1e-5 * (double)s.B * s.Ho * s.Wo + 1e-4;
        CHECK(max_abs_diff(dx1, dx2, nx) < tol, "conv plan dx vs naive, geometry %zu: %g", gi,
              max_abs_diff(dx1, dx2, nx));
        CHECK(max_abs_diff(dW1, dW2, nw) < tw, "conv plan dW vs naive, geometry %zu: %g", gi,
              max_abs_diff(dW1, dW2, nw));
        CHECK(max_abs_diff(db1, db2, s.F) < tw, "conv plan db vs naive, geometry %zu: %g", gi,
              max_abs_diff(db1, db2, s.F));
        /* dx = NULL: the input gradient is skipped, the weight gradient still right */
        memcpy(dW1, dW2, 4 * nw);
        ds_conv_plan_backward(p, NULL, dW1, NULL, dy, x, W, scratch);
        ds_conv_backward_naive(NULL, dW2, NULL, dy, x, W, &s);
        CHECK(max_abs_diff(dW1, dW2, nw) < 2 * tw, "conv plan dW without dx, geometry %zu", gi);
        ds_conv_plan_free(p);
        free(x); free(W); free(b); free(dy); free(y1); free(y2); free(scratch);
        free(dx1); free(dx2); free(dW1); free(dW2); free(db1); free(db2);
    }
    ds_conv_plan_free(NULL);
}

/* The unrolled 2x2/2 max pool gives the reference's bits and argmax, ties and
 * odd sizes included (values on a coarse grid, so that maxima tie often). */
static void test_maxpool_vs_naive(void)
{
    enum { B = 3, C = 4, H = 9, W = 7, Ho = 4, Wo = 3 };
    ds_rng r;
    ds_rng_init(&r, 8, 8);
    float x[B * C * H * W], y1[B * C * Ho * Wo], y2[B * C * Ho * Wo];
    int32_t a1[B * C * Ho * Wo], a2[B * C * Ho * Wo];
    for (int i = 0; i < B * C * H * W; i++) x[i] = (float)(int)(3.0 * ds_rng_normal(&r)) - 2.0f;
    ds_maxpool_forward(y1, a1, x, B, C, H, W, 2, 2, Ho, Wo);
    ds_maxpool_forward_naive(y2, a2, x, B, C, H, W, 2, 2, Ho, Wo);
    CHECK(!memcmp(y1, y2, sizeof y1), "2x2 max pool values equal the reference's");
    CHECK(!memcmp(a1, a2, sizeof a1), "2x2 max pool argmax equals the reference's");
}

/* ds_model_infer (batch norm folded into the conv before it) against the unfolded
 * eval-mode forward, on a WRN with trained-looking running statistics: the logits
 * agree within float rounding, some batch norm was folded, and a kept conv node's
 * own output is still computed exactly. */
static void test_folded_inference(void)
{
    enum { B = 5 };
    ds_err err = {0};
    ds_arch a;
    CHECK_OK(ds_arch_defaults("cifar10-wrn", 3, 8, 8, 10, &a, &err), &err);
    a.depth = 10;
    a.widen = 2;
    ds_model *m = ds_model_build(&a, &err);
    CHECK(m != NULL, "build");
    if (!m) return;
    ds_model_init_params(m, 9);
    ds_rng r;
    ds_rng_init(&r, 9, 9);
    for (int t = 0; t < m->ntensors; t++) {
        float *p = ds_model_tensor_data(m, t);
        const char *suffix = strrchr(m->tensors[t].name, '.') + 1;
        for (size_t i = 0; i < m->tensors[t].size; i++) {
            if (!strcmp(suffix, "running_var")) p[i] = 0.5f + (float)fabs(ds_rng_normal(&r));
            else if (!m->tensors[t].is_weight) p[i] += 0.3f * (float)ds_rng_normal(&r);
        }
    }
    CHECK_OK(ds_model_reserve_infer(m, B, &err), &err);
    int out = ds_model_output_node(m), folded = 0, conv = -1;
    for (int i = 0; i < m->nnodes; i++) {
        folded += m->fold_bn[i] >= 0;
        if (m->fold_bn[i] >= 0 && conv < 0) conv = i;
    }
    CHECK(folded > 0 && conv > 0, "the WRN has batch norms to fold (%d)", folded);
    size_t nin = (size_t)B * m->nodes[0].size, nout = (size_t)B * m->nodes[out].size;
    size_t nconv = conv > 0 ? (size_t)B * m->nodes[conv].size : 1;
    float *x = malloc(4 * nin), *ref = malloc(4 * nout), *cref = malloc(4 * nconv);
    fill(x, nin, &r);
    ds_model_forward(m, x, B, 0, NULL);
    memcpy(ref, ds_model_act(m, out), 4 * nout);
    if (conv > 0) memcpy(cref, ds_model_act(m, conv), 4 * nconv);
    double scale = 0.0;
    for (size_t i = 0; i < nout; i++) scale = fmax(scale, fabs(ref[i]));
    ds_model_infer(m, x, B, -1);
    double d = max_abs_diff(ds_model_act(m, out), ref, nout);
    fprintf(stderr, "folded inference: %d batch norms folded, logits off by %.2e (up to %.3g)\n",
            folded, d, scale);
    CHECK(d <= 1e-4 * (1.0 + scale), "folded inference vs unfolded: %g (logits up to %g)", d, scale);
    if (conv > 0) {
        ds_model_infer(m, x, B, conv);
        CHECK(!memcmp(ds_model_act(m, conv), cref, 4 * nconv), "a kept conv is not folded");
        d = max_abs_diff(ds_model_act(m, out), ref, nout);
        CHECK(d <= 1e-4 * (1.0 + scale), "inference keeping a conv vs unfolded: %g", d);
    }
    /* every folded conv runs on its oneDNN plan (the scratch planned at reserve
     * serves it): WRN-10-1 at 32x32, batch 256, 2 threads, where one folded
     * plan's scratch exceeded the unfolded plans' and the conv ran on im2col */
    if (!strcmp(ds_conv_backend(), "onednn")) {
        enum { B2 = 256 };
        int t0 = openblas_get_num_threads();
        openblas_set_num_threads(2);
        ds_arch a2;
        CHECK_OK(ds_arch_defaults("cifar10-wrn", 3, 32, 32, 10, &a2, &err), &err);
        a2.depth = 10;
        a2.widen = 1;
        ds_model *m2 = ds_model_build(&a2, &err);
        float *x2 = m2 ? malloc(sizeof(float) * B2 * m2->nodes[0].size) : NULL;
        CHECK(x2 && !ds_model_reserve_infer(m2, B2, &err), "WRN-10-1 with a workspace of %d", B2);
        if (x2 && m2->batch_cap) {
            ds_model_init_params(m2, 4);
            fill(x2, (size_t)B2 * m2->nodes[0].size, &r);
            ds_model_infer(m2, x2, B2, -1);
            int planned = 0, nfold = 0;
            for (int i = 0; i < m2->nnodes; i++) {
                nfold += m2->fold_bn[i] >= 0;
                planned += m2->fold_bn[i] >= 0 && m2->plans_fold[i];
            }
            CHECK(nfold > 0 && planned == nfold, "%d of %d folded convs ran on a plan at 2 threads",
                  planned, nfold);
        }
        ds_model_free(m2);
        free(x2);
        openblas_set_num_threads(t0);
    }
    /* a batch norm that fuses its ReLU, kept: its own output is computed */
    int bn = -1;
    for (int j = 0; j < m->nnodes && bn < 0; j++)
        if (m->bn_relu[j] >= 0 && m->nodes[m->nodes[j].in0].op != DS_OP_CONV2D) bn = j;
    CHECK(bn > 0, "the WRN has a batch norm that fuses its ReLU");
    if (bn > 0) {
        size_t nbn = (size_t)B * m->nodes[bn].size;
        float *bref = malloc(4 * nbn);
        ds_model_forward(m, x, B, 0, NULL);
        memcpy(bref, ds_model_act(m, bn), 4 * nbn);
        ds_model_infer(m, x, B, bn);
        d = max_abs_diff(ds_model_act(m, bn), bref, nbn);
        CHECK(d <= 1e-4 * (1.0 + scale), "a kept batch norm's output: off by %g", d);
        d = max_abs_diff(ds_model_act(m, out), ref, nout);
        CHECK(d <= 1e-4 * (1.0 + scale), "inference keeping a batch norm vs unfused: %g", d);
        free(bref);
    }
    free(x); free(ref); free(cref);
    ds_model_free(m);
}

static void test_bn_eval_uses_running_stats(void)
{
    enum { B = 64, C = 2 };
    float x[B * C], y[B * C], xhat[B * C], invstd[C];
    float gamma[C] = {1, 1}, beta[C] = {0, 0}, rmean[C] = {0, 0}, rvar[C] = {1, 1};
    ds_rng r;
    ds_rng_init(&r, 9, 9);
    for (int i = 0; i < B * C; i++) x[i] = 3.0f + 2.0f * (float)ds_rng_normal(&r);
    for (int it = 0; it < 200; it++)
        ds_bn_forward_train(y, xhat, invstd, x, gamma, beta, rmean, rvar, B, C, 1, 1e-5f, 0.1f, 0);
    CHECK_CLOSE(rmean[0], 3.0, 0.6, 0, "running mean converges to the batch mean");
    CHECK_CLOSE(rvar[0], 4.0, 1.6, 0, "running variance converges to the batch variance");
    ds_bn_forward_eval(y, x, gamma, beta, rmean, rvar, B, C, 1, 1e-5f, 0);
    double mean = 0;
    for (int b = 0; b < B; b++) mean += y[b * C];
    CHECK(fabs(mean / B) < 0.05, "eval output standardised with running stats: mean %g", mean / B);
}

int main(void)
{
    RUN(test_dense_vs_naive);
    RUN(test_conv_vs_naive);
    RUN(test_conv_plan_vs_naive);
    RUN(test_maxpool_vs_naive);
    RUN(test_folded_inference);
    RUN(test_softmax_ce_gradient);
    RUN(test_bn_eval_uses_running_stats);
    RUN(test_layer_gradients);
    RUN(test_model_gradients);
    TEST_MAIN_END();
}
