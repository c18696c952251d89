/* model.c - building a model from its layout, the batch workspace, and the
 * forward and backward passes over the node list. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "deepsigns/kernels.h"
#include "nn/graph.h"

/* ds_model.fused_keep after a forward that fused nothing (every activation kept) */
enum { MODEL_UNFUSED = -2 };

const char *ds_op_name(ds_op op)
{
    switch (op) {
    case DS_OP_INPUT: return "input";
    case DS_OP_DENSE: return "dense";
    case DS_OP_CONV2D: return "conv";
    case DS_OP_MAXPOOL: return "maxpool";
    case DS_OP_GAP: return "gap";
    case DS_OP_RELU: return "relu";
    case DS_OP_DROPOUT: return "dropout";
    case DS_OP_BATCHNORM: return "bn";
    case DS_OP_ADD: return "add";
    case DS_OP_FLATTEN: return "flatten";
    case DS_OP_AVGPOOL: return "avgpool";
    }
    return "unknown";
}

ds_model *ds_model_build(const ds_arch *arch, ds_err *err)
{
    ds_graph g = {0};
    if (ds_arch_layout(arch, &g, err)) {
        ds_graph_release(&g);
        return NULL;
    }
    return ds_model_from_graph(&g, arch, err);
}

ds_model *ds_model_from_graph(ds_graph *g, const ds_arch *arch, ds_err *err)
{
    if (!g->failed && g->n < 2) {
        g->failed = 1;
        ds_err_set(err, DS_EINVAL, "a model needs an input and at least one layer");
    }
    ds_model *m = g->failed ? NULL : calloc(1, sizeof *m);
    if (!m) {
        if (!g->failed) ds_err_set(err, DS_ENOMEM, "out of memory for a model");
        ds_graph_release(g);
        return NULL;
    }
    m->arch = *arch;
    m->meta.preproc = (ds_preproc){.scale = 1.0f / 255.0f, .channels = 1, .std = {1, 1, 1}};
    strcpy(m->meta.source, "deepsigns");
    m->meta.test_accuracy = -1.0;
    m->nodes = g->nodes;
    m->nnodes = g->n;
    m->tensors = g->tensors;
    m->ntensors = g->nt;
    m->nparams = g->nparams;
    m->nstats = g->nstats;
    *g = (ds_graph){0};
    m->params = calloc(m->nparams ? m->nparams : 1, sizeof(float));
    m->grads = calloc(m->nparams ? m->nparams : 1, sizeof(float));
    m->stats = calloc(m->nstats ? m->nstats : 1, sizeof(float));
    if (!m->params || !m->grads || !m->stats) {
        ds_err_set(err, DS_ENOMEM, "out of memory for %zu parameters", m->nparams);
        ds_model_free(m);
        return NULL;
    }
    return m;
}

static void model_free_plans(ds_model *m)
{
    for (int i = 0; m->plans && i < m->nnodes; i++) ds_conv_plan_free(m->plans[i]);
    for (int i = 0; m->plans_alt && i < m->nnodes; i++) ds_conv_plan_free(m->plans_alt[i]);
    for (int i = 0; m->plans_fold && i < m->nnodes; i++) ds_conv_plan_free(m->plans_fold[i]);
    free(m->plans); free(m->plans_alt); free(m->alt_batch);
    free(m->plans_fold); free(m->fold_bn); free(m->fold_batch); free(m->fold); free(m->bn_relu);
    m->plans = m->plans_alt = m->plans_fold = NULL;
    m->alt_batch = m->fold_bn = m->fold_batch = m->bn_relu = NULL;
    m->fold = NULL;
}

static void model_free_workspace(ds_model *m)
{
    model_free_plans(m);
    free(m->acts); free(m->dacts); free(m->aux); free(m->iaux); free(m->col);
    m->acts = m->dacts = m->aux = m->col = NULL;
    m->iaux = NULL;
    m->batch_cap = 0;
}

void ds_model_free(ds_model *m)
{
    if (!m) return;
    model_free_workspace(m);
    free(m->nodes); free(m->tensors);
    free(m->params); free(m->grads); free(m->stats);
    free(m);
}

ds_model *ds_model_clone(const ds_model *m, ds_err *err)
{
    ds_model *c = ds_model_build(&m->arch, err);
    if (!c) return NULL;
    c->meta = m->meta;
    memcpy(c->params, m->params, sizeof(float) * m->nparams);
    memcpy(c->stats, m->stats, sizeof(float) * m->nstats);
    return c;
}

void ds_model_init_tensor(ds_model *m, int t, uint64_t seed)
{
    ds_rng root;
    ds_rng_init(&root, seed, 0x494E4954 /* "INIT" */);
    const ds_tensor *ts = &m->tensors[t];
    float *p = ds_model_tensor_data(m, t);
    const char *suffix = strrchr(ts->name, '.') + 1;
    if (ts->is_weight) {
        /* He-normal: std = sqrt(2 / fan_in); fan_in = rows of W[I,O], or C*K*K of W[F,C,K,K] */
        int fan_in = ts->ndim == 2 ? ts->dims[0] : ts->dims[1] * ts->dims[2] * ts->dims[3];
        double sd = sqrt(2.0 / fan_in);
        ds_rng r = ds_rng_child(&root, (uint64_t)t);
        for (size_t i = 0; i < ts->size; i++) p[i] = (float)(sd * ds_rng_normal(&r));
    } else {
        float v = (!strcmp(suffix, "gamma") || !strcmp(suffix, "running_var")) ? 1.0f : 0.0f;
        for (size_t i = 0; i < ts->size; i++) p[i] = v;
    }
}

void ds_model_init_params(ds_model *m, uint64_t seed)
{
    for (int t = 0; t < m->ntensors; t++) ds_model_init_tensor(m, t, seed);
}

static ds_conv_shape conv_shape(const ds_model *m, const ds_node *nd, int B)
{
    const ds_node *in = &m->nodes[nd->in0];
    ds_conv_shape s = {.B = B, .C = in->c, .H = in->h, .W = in->w,
                       .F = nd->c, .K = nd->k, .stride = nd->stride, .pad = nd->pad};
    ds_conv_shape_init(&s);
    return s;
}

static ds_status model_reserve(ds_model *m, int batch, int grads, ds_err *err);

ds_status ds_model_reserve(ds_model *m, int batch, ds_err *err)
{
    /* a workspace made for inference (no gradients) is made again at this batch */
    if (batch <= m->batch_cap && m->dacts) return DS_OK;
    return model_reserve(m, batch, 1, err);
}

ds_status ds_model_reserve_infer(ds_model *m, int batch, ds_err *err)
{
    if (batch <= m->batch_cap) return DS_OK;
    return model_reserve(m, batch, 0, err);
}

/* The nodes that read node i's output (as either input). */
static int model_readers(const ds_model *m, int i)
{
    int readers = 0;
    for (int k = 1; k < m->nnodes; k++) readers += (m->nodes[k].in0 == i) + (m->nodes[k].in1 == i);
    return readers;
}

static ds_status model_reserve(ds_model *m, int batch, int grads, ds_err *err)
{
    if (batch < 1 || batch > 1 << 20)
        return ds_err_set(err, DS_ERANGE, "batch size %d out of range", batch);
    model_free_workspace(m);
    size_t acts = 0, aux = 0, iaux = 0, col = 1;
    for (int i = 0; i < m->nnodes; i++) {
        ds_node *nd = &m->nodes[i];
        size_t len = (size_t)batch * nd->size;
        /* a flatten shares its input's buffer; so does a dropout in an inference
         * workspace (no gradients), where it is the identity */
        if (nd->op == DS_OP_FLATTEN || (!grads && nd->op == DS_OP_DROPOUT)) {
            nd->act_off = m->nodes[nd->in0].act_off;
        } else {
            nd->act_off = acts;
            acts += len;
        }
        nd->aux_off = aux;
        nd->iaux_off = iaux;
        if (nd->op == DS_OP_DROPOUT) aux += len;
        if (nd->op == DS_OP_BATCHNORM) aux += len + (size_t)nd->c;
        if (nd->op == DS_OP_MAXPOOL) iaux += len;
        if (nd->op == DS_OP_CONV2D) {
            const ds_node *in = &m->nodes[nd->in0];
            size_t c = (size_t)in->c * nd->k * nd->k * nd->h * nd->w;
            if (c > col) col = c;
        }
    }
    /* a plan per conv node at this batch size; the scratch serves the largest */
    size_t nn = m->nnodes > 0 ? (size_t)m->nnodes : 1;
    m->plans = calloc(nn, sizeof *m->plans);
    m->plans_alt = calloc(nn, sizeof *m->plans_alt);
    m->alt_batch = calloc(nn, sizeof *m->alt_batch);
    m->plans_fold = calloc(nn, sizeof *m->plans_fold);
    m->fold_batch = calloc(nn, sizeof *m->fold_batch);
    m->fold_bn = malloc(nn * sizeof *m->fold_bn);
    m->bn_relu = malloc(nn * sizeof *m->bn_relu);
    if (!m->plans || !m->plans_alt || !m->alt_batch || !m->plans_fold || !m->fold_batch ||
        !m->fold_bn || !m->bn_relu) {
        model_free_workspace(m);
        return ds_err_set(err, DS_ENOMEM, "out of memory for convolution plans");
    }
    /* batch norms folded at inference: the only consumer of a conv's output; and
     * the ReLU that is a batch norm's only consumer (computed in its pass) */
    size_t fold = 1;
    m->fused_keep = MODEL_UNFUSED;
    for (int i = 0; i < m->nnodes; i++) m->fold_bn[i] = m->bn_relu[i] = -1;
    for (int j = 1; j < m->nnodes; j++) {
        const ds_node *bn = &m->nodes[j];
        if (bn->op != DS_OP_BATCHNORM || model_readers(m, j) != 1) continue;
        for (int r = j + 1; r < m->nnodes; r++)
            if (m->nodes[r].in0 == j && m->nodes[r].op == DS_OP_RELU) m->bn_relu[j] = r;
    }
    for (int j = 1; j < m->nnodes; j++) {
        const ds_node *bn = &m->nodes[j];
        int i = bn->in0;
        if (bn->op != DS_OP_BATCHNORM || m->nodes[i].op != DS_OP_CONV2D) continue;
        if (model_readers(m, i) != 1) continue;
        m->fold_bn[i] = j;
        size_t w = m->tensors[m->nodes[i].t_w].size + (size_t)m->nodes[i].c;
        if (w > fold) fold = w;
    }
    m->fold = malloc(sizeof(float) * fold);
    if (!m->fold) {
        model_free_workspace(m);
        return ds_err_set(err, DS_ENOMEM, "out of memory for folded weights");
    }
    for (int i = 0; i < m->nnodes; i++) {
        const ds_node *nd = &m->nodes[i];
        if (nd->op != DS_OP_CONV2D) continue;
        ds_conv_shape s = conv_shape(m, nd, batch);
        m->plans[i] = ds_conv_plan_new(&s, nd->bias);
        if (m->plans[i] && ds_conv_plan_scratch(m->plans[i]) > col) col = ds_conv_plan_scratch(m->plans[i]);
        /* and its inference plan with the folded batch norm's bias, so that the
         * scratch serves it too (a plan that did not fit ran the im2col path) */
        if (m->fold_bn[i] < 0 || nd->bias) continue;
        m->plans_fold[i] = ds_conv_plan_new(&s, 1);
        m->fold_batch[i] = batch;
        if (m->plans_fold[i] && ds_conv_plan_scratch(m->plans_fold[i]) > col)
            col = ds_conv_plan_scratch(m->plans_fold[i]);
    }
    m->acts = malloc(sizeof(float) * acts);
    m->dacts = grads ? calloc(acts, sizeof(float)) : NULL;
    m->aux = malloc(sizeof(float) * (aux ? aux : 1));
    m->iaux = malloc(sizeof(int32_t) * (iaux ? iaux : 1));
    m->col = malloc(sizeof(float) * col);
    if (!m->acts || (grads && !m->dacts) || !m->aux || !m->iaux || !m->col) {
        model_free_workspace(m);
        return ds_err_set(err, DS_ENOMEM, "out of memory for a batch of %d (%zu activations)",
                          batch, acts);
    }
    m->acts_len = acts; m->aux_len = aux; m->iaux_len = iaux; m->col_len = col;
    m->batch_cap = batch;
    return DS_OK;
}

float *ds_model_act(const ds_model *m, int node) { return m->acts + m->nodes[node].act_off; }
float *ds_model_dact(const ds_model *m, int node) { return m->dacts + m->nodes[node].act_off; }
int ds_model_output_node(const ds_model *m) { return m->nnodes - 1; }

float *ds_model_tensor_data(const ds_model *m, int t)
{
    const ds_tensor *ts = &m->tensors[t];
    return (ts->trainable ? m->params : m->stats) + ts->offset;
}

static float *param(const ds_model *m, int t) { return t < 0 ? NULL : ds_model_tensor_data(m, t); }
static float *grad(const ds_model *m, int t) { return t < 0 ? NULL : m->grads + m->tensors[t].offset; }


/* The plan of conv node i for a batch of B (NULL: run the direct path). A batch
 * other than batch_cap gets a plan of its own, made on first use and kept until
 * the batch size changes again (once per epoch's last batch at most). */
static ds_conv_plan *conv_plan(ds_model *m, int i, int B)
{
    if (!m->plans) return NULL;
    if (B == m->batch_cap) return m->plans[i];
    if (m->alt_batch[i] != B) {
        ds_conv_plan_free(m->plans_alt[i]);
        ds_conv_shape s = conv_shape(m, &m->nodes[i], B);
        m->plans_alt[i] = ds_conv_plan_new(&s, m->nodes[i].bias);
        m->alt_batch[i] = B;
        if (m->plans_alt[i] && ds_conv_plan_scratch(m->plans_alt[i]) > m->col_len) {
            ds_conv_plan_free(m->plans_alt[i]);
            m->plans_alt[i] = NULL;
        }
    }
    return m->plans_alt[i];
}

/* The plan of conv node i with a bias for a batch of B (inference, folded batch
 * norm), made on first use at each batch size; NULL: the direct path. */
static ds_conv_plan *conv_plan_fold(ds_model *m, int i, int B)
{
    if (m->fold_batch[i] != B) {
        ds_conv_plan_free(m->plans_fold[i]);
        ds_conv_shape s = conv_shape(m, &m->nodes[i], B);
        m->plans_fold[i] = ds_conv_plan_new(&s, 1);
        m->fold_batch[i] = B;
        if (m->plans_fold[i] && ds_conv_plan_scratch(m->plans_fold[i]) > m->col_len) {
            ds_conv_plan_free(m->plans_fold[i]);
            m->plans_fold[i] = NULL;
        }
    }
    return m->plans_fold[i];
}

/* Conv node i with batch norm j folded in: y_j[B,F,Ho,Wo] = conv(x, W') + b', with
 * W'[f] = W[f] s_f, b'_f = (b_f - mean_f) s_f + beta_f, s_f = gamma_f / sqrt(var_f + eps)
 * (the scale and shift of ds_bn_forward_eval). */
static void conv_bn_folded(ds_model *m, int i, int j, int B)
{
    const ds_node *nd = &m->nodes[i], *bn = &m->nodes[j];
    const float *W = param(m, nd->t_w), *b = param(m, nd->t_b);
    const float *gamma = param(m, bn->t_w), *beta = param(m, bn->t_b);
    const float *mean = param(m, bn->t_mean), *var = param(m, bn->t_var);
    const int F = nd->c;
    const size_t per = m->tensors[nd->t_w].size / (size_t)F;
    float *Wf = m->fold, *bf = m->fold + (size_t)F * per;
    for (int f = 0; f < F; f++) {
        float scale = gamma[f] / sqrtf(var[f] + bn->eps);
        float shift = beta[f] - mean[f] * scale;
        for (size_t k = 0; k < per; k++) Wf[(size_t)f * per + k] = W[(size_t)f * per + k] * scale;
        bf[f] = (b ? b[f] : 0.0f) * scale + shift;
    }
    float *y = ds_model_act(m, j);
    const float *xi = ds_model_act(m, nd->in0);
    ds_conv_plan *pl = conv_plan_fold(m, i, B);
    if (pl) {
        ds_conv_plan_forward(pl, y, xi, Wf, bf, m->col);
    } else {
        ds_conv_shape s = conv_shape(m, nd, B);
        ds_conv_forward(y, xi, Wf, bf, &s, m->col);
    }
}

static void model_forward(ds_model *m, const float *x, int B, int train, ds_rng *rng, int fold,
                          int keep);

void ds_model_forward(ds_model *m, const float *x, int B, int train, ds_rng *rng)
{
    model_forward(m, x, B, train, rng, 0, MODEL_UNFUSED);
}

void ds_model_forward_keep(ds_model *m, const float *x, int B, int train, ds_rng *rng, int keep)
{
    model_forward(m, x, B, train, rng, 0, keep < 0 ? -1 : keep);
}

/* Whether batch norm j is folded into its conv by this forward (inference). */
static int bn_folded(const ds_model *m, int j, int fold, int keep)
{
    int i = m->nodes[j].in0;
    return fold && i != keep && m->fold_bn && m->fold_bn[i] == j;
}

/* The ReLU that batch norm j computes in its own pass in a forward that keeps
 * node keep (MODEL_UNFUSED: none), or -1: j itself is computed, not kept, and
 * read only by that ReLU. */
static int bn_fused_relu(const ds_model *m, int j, int fold, int keep)
{
    if (keep == MODEL_UNFUSED || j == keep || !m->bn_relu || m->bn_relu[j] < 0) return -1;
    return bn_folded(m, j, fold, keep) ? -1 : m->bn_relu[j];
}

void ds_model_infer(ds_model *m, const float *x, int B, int keep)
{
    model_forward(m, x, B, 0, NULL, 1, keep);
}

static void model_forward(ds_model *m, const float *x, int B, int train, ds_rng *rng, int fold,
                          int keep)
{
    float *x0 = m->acts + m->nodes[0].act_off;
    if (x != x0) memcpy(x0, x, sizeof(float) * B * m->nodes[0].size); /* (filled in place) */
    m->fused_keep = keep;
    for (int i = 1; i < m->nnodes; i++) {
        const ds_node *nd = &m->nodes[i];
        const ds_node *in = &m->nodes[nd->in0];
        float *y = ds_model_act(m, i);
        const float *xi = ds_model_act(m, nd->in0);
        size_t n = (size_t)B * nd->size;
        switch (nd->op) {
        case DS_OP_DENSE:
            ds_dense_forward(y, xi, param(m, nd->t_w), param(m, nd->t_b), B, (int)in->size, nd->c);
            break;
        case DS_OP_CONV2D: {
            if (fold && i != keep && m->fold_bn && m->fold_bn[i] > i) {
                conv_bn_folded(m, i, m->fold_bn[i], B);
                break;
            }
            ds_conv_plan *pl = conv_plan(m, i, B);
            ds_conv_shape s = conv_shape(m, nd, B);
            if (pl)
                ds_conv_plan_forward(pl, y, xi, param(m, nd->t_w), param(m, nd->t_b), m->col);
            else
                ds_conv_forward(y, xi, param(m, nd->t_w), param(m, nd->t_b), &s, m->col);
            break;
        }
        case DS_OP_MAXPOOL:
            ds_maxpool_forward(y, m->iaux + nd->iaux_off, xi, B, in->c, in->h, in->w, nd->k,
                               nd->stride, nd->h, nd->w);
            break;
        case DS_OP_GAP:
            ds_gap_forward(y, xi, B, in->c, in->h * in->w);
            break;
        case DS_OP_AVGPOOL:
            ds_avgpool_forward(y, xi, B, in->c, in->h, in->w, nd->k, nd->stride, nd->h, nd->w);
            break;
        case DS_OP_RELU:
            if (in->op == DS_OP_BATCHNORM && bn_fused_relu(m, nd->in0, fold, keep) == i)
                break; /* computed with its batch norm */
            ds_relu_forward(y, xi, n);
            break;
        case DS_OP_DROPOUT:
            if (train && nd->rate > 0.0f)
                ds_dropout_forward(y, m->aux + nd->aux_off, xi, n, nd->rate, rng);
            else if (y != xi)
                memcpy(y, xi, sizeof(float) * n);
            break;
        case DS_OP_BATCHNORM: {
            float *xhat = m->aux + nd->aux_off;
            if (bn_folded(m, i, fold, keep)) break; /* computed with its conv */
            int r = bn_fused_relu(m, i, fold, keep);
            if (r >= 0) y = ds_model_act(m, r); /* the ReLU's output, in this pass */
            if (train)
                ds_bn_forward_train(y, xhat, xhat + n, xi, param(m, nd->t_w), param(m, nd->t_b),
                                    param(m, nd->t_mean), param(m, nd->t_var), B, nd->c,
                                    nd->h * nd->w, nd->eps, nd->momentum, r >= 0);
            else
                ds_bn_forward_eval(y, xi, param(m, nd->t_w), param(m, nd->t_b),
                                   param(m, nd->t_mean), param(m, nd->t_var), B, nd->c,
                                   nd->h * nd->w, nd->eps, r >= 0);
            break;
        }
        case DS_OP_ADD:
            ds_add_forward(y, xi, ds_model_act(m, nd->in1), n);
            break;
        case DS_OP_FLATTEN:
        case DS_OP_INPUT:
            break;
        }
    }
}

void ds_model_backward(ds_model *m, int B)
{
    for (int i = m->nnodes - 1; i >= 1; i--) {
        const ds_node *nd = &m->nodes[i];
        const ds_node *in = &m->nodes[nd->in0];
        const float *dy = ds_model_dact(m, i);
        /* the input needs no gradient; a flatten shares its input's gradient */
        float *dx = ds_model_dact(m, nd->in0);
        int need_dx = !(nd->in0 == 0 || (in->op == DS_OP_FLATTEN && in->in0 == 0));
        if (!need_dx) dx = NULL;
        size_t n = (size_t)B * nd->size;
        switch (nd->op) {
        case DS_OP_DENSE:
            ds_dense_backward(dx, grad(m, nd->t_w), grad(m, nd->t_b), dy, ds_model_act(m, nd->in0),
                              param(m, nd->t_w), B, (int)in->size, nd->c);
            break;
        case DS_OP_CONV2D: {
            ds_conv_plan *pl = conv_plan(m, i, B);
            ds_conv_shape s = conv_shape(m, nd, B);
            if (pl)
                ds_conv_plan_backward(pl, dx, grad(m, nd->t_w), grad(m, nd->t_b), dy,
                                      ds_model_act(m, nd->in0), param(m, nd->t_w), m->col);
            else
                ds_conv_backward(dx, grad(m, nd->t_w), grad(m, nd->t_b), dy,
                                 ds_model_act(m, nd->in0), param(m, nd->t_w), &s, m->col);
            break;
        }
        case DS_OP_MAXPOOL:
            if (dx)
                ds_maxpool_backward(dx, dy, m->iaux + nd->iaux_off, B, in->c, in->h, in->w, nd->h,
                                    nd->w);
            break;
        case DS_OP_GAP:
            if (dx) ds_gap_backward(dx, dy, B, in->c, in->h * in->w);
            break;
        case DS_OP_AVGPOOL:
            if (dx) ds_avgpool_backward(dx, dy, B, in->c, in->h, in->w, nd->k, nd->stride, nd->h, nd->w);
            break;
        case DS_OP_RELU:
            if (in->op == DS_OP_BATCHNORM && bn_fused_relu(m, nd->in0, 0, m->fused_keep) == i)
                break; /* with its batch norm's */
            if (dx) ds_relu_backward(dx, dy, ds_model_act(m, i), n);
            break;
        case DS_OP_DROPOUT:
            if (!dx) break;
            if (nd->rate > 0.0f)
                ds_dropout_backward(dx, dy, m->aux + nd->aux_off, n);
            else
                ds_accumulate(dx, dy, n);
            break;
        case DS_OP_BATCHNORM: {
            const float *xhat = m->aux + nd->aux_off, *relu_y = NULL;
            int r = bn_fused_relu(m, i, 0, m->fused_keep);
            if (r >= 0) { /* from the ReLU's gradient, where its output was positive */
                dy = ds_model_dact(m, r);
                relu_y = ds_model_act(m, r);
            }
            ds_bn_backward(dx, grad(m, nd->t_w), grad(m, nd->t_b), dy, xhat, xhat + n,
                           param(m, nd->t_w), relu_y, B, nd->c, nd->h * nd->w);
            break;
        }
        case DS_OP_ADD:
            if (dx) ds_accumulate(dx, dy, n);
            if (nd->in1 != 0) ds_accumulate(ds_model_dact(m, nd->in1), dy, n);
            break;
        case DS_OP_FLATTEN:
        case DS_OP_INPUT:
            break;
        }
    }
}

void ds_model_zero_grads(ds_model *m)
{
    ds_zero(m->grads, m->nparams);
}

/* Zero every node's output gradient except the input's (never computed; a
 * flatten of the input shares it). Nodes are laid out contiguously after it. */
void ds_model_zero_act_grads(ds_model *m)
{
    size_t skip = (size_t)m->batch_cap * m->nodes[0].size;
    ds_zero(m->dacts + skip, m->acts_len - skip);
}

int ds_model_find_node(const ds_model *m, const char *s)
{
    if (!s || !*s) return -1;
    char *end;
    long v = strtol(s, &end, 10);
    if (*end == '\0') return (v >= 0 && v < m->nnodes) ? (int)v : -1;
    for (int i = 0; i < m->nnodes; i++)
        if (!strcmp(m->nodes[i].name, s)) return i;
    return -1;
}

int ds_model_find_tensor(const ds_model *m, const char *name)
{
    for (int t = 0; t < m->ntensors; t++)
        if (!strcmp(m->tensors[t].name, name)) return t;
    return -1;
}
