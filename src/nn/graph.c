/* graph.c - appending nodes and parameter views while a model is laid out. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deepsigns/kernels.h"
#include "nn/graph.h"

/* Upper bounds that keep a hostile architecture from asking for absurd memory. */
/* A width may reach 2^17: a hidden layer of up to 65536 units (arch.c) plus up to 65536 dummy
 * units (arch extra, the documented --neurons range); memory stays bounded by the caps below. */
enum { GRAPH_MAX_NODES = 4096, GRAPH_MAX_DIM = 1 << 17 };
#define GRAPH_MAX_PARAMS ((size_t)1 << 28) /* 256 Mi floats = 1 GiB */
#define GRAPH_MAX_ACT ((size_t)1 << 24)    /* per-sample activation floats of one node */

static int graph_fail(ds_graph *g, ds_status code, const char *what)
{
    if (!g->failed) ds_err_set(g->err, code, "model layout: %s", what);
    g->failed = 1;
    return -1;
}

/* Make room in *arr (capacity *cap elements of elem bytes) for element n: doubles
 * the capacity when full. Returns 0, or -1 if out of memory (*arr unchanged). */
static int graph_grow(void **arr, int *cap, int n, size_t elem)
{
    if (n < *cap) return 0;
    int ncap = *cap ? 2 * *cap : 32;
    void *p = realloc(*arr, elem * (size_t)ncap);
    if (!p) return -1;
    *arr = p;
    *cap = ncap;
    return 0;
}

static int graph_check_in(ds_graph *g, int in)
{
    if (g->failed) return -1;
    if (in < 0 || in >= g->n) return graph_fail(g, DS_EINVAL, "node input out of range");
    return 0;
}

/* Append a node of kind op with output shape (c,h,w), input in. */
static int graph_node(ds_graph *g, ds_op op, int in, int c, int h, int w)
{
    if (g->failed) return -1;
    if (c < 1 || h < 1 || w < 1 || c > GRAPH_MAX_DIM || h > GRAPH_MAX_DIM || w > GRAPH_MAX_DIM)
        return graph_fail(g, DS_ERANGE, "a layer output shape is empty or absurd");
    size_t size = (size_t)c * h * w;
    if (size > GRAPH_MAX_ACT) return graph_fail(g, DS_ERANGE, "a layer output is too large");
    if (g->n == GRAPH_MAX_NODES) return graph_fail(g, DS_ERANGE, "too many layers");
    if (graph_grow((void **)&g->nodes, &g->cap, g->n, sizeof *g->nodes))
        return graph_fail(g, DS_ENOMEM, "out of memory for nodes");
    ds_node *nd = &g->nodes[g->n];
    memset(nd, 0, sizeof *nd);
    nd->op = op;
    nd->in0 = in;
    nd->in1 = -1;
    nd->c = c; nd->h = h; nd->w = w;
    nd->size = size;
    nd->t_w = nd->t_b = nd->t_mean = nd->t_var = -1;
    if (op == DS_OP_INPUT)
        snprintf(nd->name, sizeof nd->name, "input");
    else if (g->next_name)
        snprintf(nd->name, sizeof nd->name, "%s", g->next_name);
    else
        snprintf(nd->name, sizeof nd->name, "%s_%d", ds_op_name(op), ++g->counters[op]);
    g->next_name = NULL;
    return g->n++;
}

/* Add a parameter (trainable) or statistics view of the given dims to node. */
static int graph_tensor(ds_graph *g, int node, const char *suffix, int trainable, int is_weight,
                        int ndim, const int *dims)
{
    if (g->failed) return -1;
    size_t size = 1;
    for (int i = 0; i < ndim; i++) {
        if (dims[i] < 1 || dims[i] > GRAPH_MAX_DIM * 16)
            return graph_fail(g, DS_ERANGE, "a parameter tensor has an absurd dimension");
        size *= (size_t)dims[i];
        if (size > GRAPH_MAX_PARAMS) return graph_fail(g, DS_ERANGE, "a parameter tensor is too large");
    }
    size_t *total = trainable ? &g->nparams : &g->nstats;
    if (*total + size > GRAPH_MAX_PARAMS)
        return graph_fail(g, DS_ERANGE, "the model has too many parameters");
    if (graph_grow((void **)&g->tensors, &g->tcap, g->nt, sizeof *g->tensors))
        return graph_fail(g, DS_ENOMEM, "out of memory for tensors");
    ds_tensor *t = &g->tensors[g->nt];
    memset(t, 0, sizeof *t);
    /* an HDF5 dataset name: a '/' of an imported node's name becomes '_' */
    if ((size_t)snprintf(t->name, sizeof t->name, "%s.%s", g->nodes[node].name, suffix) >= sizeof t->name)
        return graph_fail(g, DS_ERANGE, "a layer name is too long for its tensors' names");
    for (char *c = t->name; *c; c++)
        if (*c == '/') *c = '_';
    t->trainable = trainable;
    t->is_weight = is_weight;
    t->ndim = ndim;
    memcpy(t->dims, dims, sizeof(int) * ndim);
    t->offset = *total;
    t->size = size;
    t->node = node;
    *total += size;
    return g->nt++;
}

int ds_graph_input(ds_graph *g, int c, int h, int w)
{
    if (g->n != 0) return graph_fail(g, DS_EINVAL, "input must be the first node");
    return graph_node(g, DS_OP_INPUT, -1, c, h, w);
}

int ds_graph_dense(ds_graph *g, int in, int out, int bias)
{
    if (graph_check_in(g, in)) return -1;
    int fin = (int)g->nodes[in].size;
    int id = graph_node(g, DS_OP_DENSE, in, out, 1, 1);
    if (id < 0) return -1;
    g->nodes[id].bias = bias;
    g->nodes[id].t_w = graph_tensor(g, id, "W", 1, 1, 2, (int[]){fin, out});
    if (bias) g->nodes[id].t_b = graph_tensor(g, id, "b", 1, 0, 1, (int[]){out});
    return g->failed ? -1 : id;
}

int ds_graph_conv(ds_graph *g, int in, int filters, int k, int stride, int pad, int bias)
{
    if (graph_check_in(g, in)) return -1;
    const ds_node *src = &g->nodes[in];
    ds_conv_shape s = {.B = 1, .C = src->c, .H = src->h, .W = src->w,
                       .F = filters, .K = k, .stride = stride, .pad = pad};
    if (filters < 1 || k < 1 || k > 64 || stride > 64 || pad > 64 || ds_conv_shape_init(&s))
        return graph_fail(g, DS_ERANGE, "invalid convolution geometry");
    int id = graph_node(g, DS_OP_CONV2D, in, filters, s.Ho, s.Wo);
    if (id < 0) return -1;
    ds_node *nd = &g->nodes[id];
    nd->k = k; nd->stride = stride; nd->pad = pad; nd->bias = bias;
    nd->t_w = graph_tensor(g, id, "W", 1, 1, 4, (int[]){filters, s.C, k, k});
    if (bias) g->nodes[id].t_b = graph_tensor(g, id, "b", 1, 0, 1, (int[]){filters});
    return g->failed ? -1 : id;
}

/* a KxK pool of the given stride, no padding */
static int graph_pool(ds_graph *g, ds_op op, int in, int k, int stride)
{
    if (graph_check_in(g, in)) return -1;
    const ds_node *src = &g->nodes[in];
    if (k < 1 || stride < 1 || k > src->h || k > src->w)
        return graph_fail(g, DS_ERANGE, "invalid pooling geometry");
    int id = graph_node(g, op, in, src->c, (src->h - k) / stride + 1, (src->w - k) / stride + 1);
    if (id >= 0) { g->nodes[id].k = k; g->nodes[id].stride = stride; }
    return id;
}

int ds_graph_maxpool(ds_graph *g, int in, int k, int stride) { return graph_pool(g, DS_OP_MAXPOOL, in, k, stride); }

int ds_graph_avgpool(ds_graph *g, int in, int k, int stride) { return graph_pool(g, DS_OP_AVGPOOL, in, k, stride); }

int ds_graph_gap(ds_graph *g, int in)
{
    if (graph_check_in(g, in)) return -1;
    return graph_node(g, DS_OP_GAP, in, g->nodes[in].c, 1, 1);
}

/* a node with the same output shape as its input */
static int graph_same_shape(ds_graph *g, ds_op op, int in)
{
    if (graph_check_in(g, in)) return -1;
    const ds_node *src = &g->nodes[in];
    return graph_node(g, op, in, src->c, src->h, src->w);
}

int ds_graph_relu(ds_graph *g, int in) { return graph_same_shape(g, DS_OP_RELU, in); }

int ds_graph_dropout(ds_graph *g, int in, float rate)
{
    if (!(rate >= 0.0f && rate < 1.0f)) return graph_fail(g, DS_ERANGE, "dropout rate must be in [0, 1)");
    int id = graph_same_shape(g, DS_OP_DROPOUT, in);
    if (id >= 0) g->nodes[id].rate = rate;
    return id;
}

int ds_graph_bn(ds_graph *g, int in)
{
    int id = graph_same_shape(g, DS_OP_BATCHNORM, in);
    if (id < 0) return -1;
    ds_node *nd = &g->nodes[id];
    int c = nd->c;
    nd->eps = 1e-5f;
    nd->momentum = 0.1f;
    nd->t_w = graph_tensor(g, id, "gamma", 1, 0, 1, &c);
    g->nodes[id].t_b = graph_tensor(g, id, "beta", 1, 0, 1, &c);
    g->nodes[id].t_mean = graph_tensor(g, id, "running_mean", 0, 0, 1, &c);
    g->nodes[id].t_var = graph_tensor(g, id, "running_var", 0, 0, 1, &c);
    return g->failed ? -1 : id;
}

int ds_graph_add(ds_graph *g, int a, int b)
{
    if (graph_check_in(g, a) || graph_check_in(g, b)) return -1;
    const ds_node *na = &g->nodes[a], *nb = &g->nodes[b];
    if (na->c != nb->c || na->h != nb->h || na->w != nb->w)
        return graph_fail(g, DS_EINVAL, "residual add of different shapes");
    int id = graph_same_shape(g, DS_OP_ADD, a);
    if (id >= 0) g->nodes[id].in1 = b;
    return id;
}

int ds_graph_flatten(ds_graph *g, int in)
{
    if (graph_check_in(g, in)) return -1;
    return graph_node(g, DS_OP_FLATTEN, in, (int)g->nodes[in].size, 1, 1);
}

void ds_graph_release(ds_graph *g)
{
    free(g->nodes);
    free(g->tensors);
    g->nodes = NULL;
    g->tensors = NULL;
    g->n = g->nt = g->cap = g->tcap = 0;
}

int ds_graph_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n < 1 || n > DS_NAME_MAX - 14 || !strcmp(name, "input")) return 0;
    for (size_t i = 0; i < n; i++)
        if (name[i] <= ' ' || name[i] > '~') return 0;
    return 1;
}

/* Append the printf-formatted text to buf[len] at *used; 1 if it did not fit. */
static int describe_append(char *buf, size_t len, size_t *used, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int describe_append(char *buf, size_t len, size_t *used, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(buf + *used, len - *used, fmt, ap);
    va_end(ap);
    if (k < 0 || (size_t)k >= len - *used) return 1;
    *used += (size_t)k;
    return 0;
}

ds_status ds_graph_describe(const ds_graph *g, char *buf, size_t len, ds_err *err)
{
    size_t used = 0;
    int full = len == 0;
    if (!full) buf[0] = '\0';
    for (int i = 0; !full && i < g->n; i++) {
        const ds_node *nd = &g->nodes[i];
        if (nd->op == DS_OP_INPUT) {
            full = describe_append(buf, len, &used, "input %d %d %d\n", nd->c, nd->h, nd->w);
            continue;
        }
        full = describe_append(buf, len, &used, "%s %s %d", ds_op_name(nd->op), nd->name, nd->in0);
        if (full) break;
        /* the fields after "OP NAME IN" (model.h) */
        if (nd->op == DS_OP_DENSE)
            full = describe_append(buf, len, &used, " %d %d", nd->c, nd->bias);
        else if (nd->op == DS_OP_CONV2D)
            full = describe_append(buf, len, &used, " %d %d %d %d %d", nd->c, nd->k, nd->stride, nd->pad, nd->bias);
        else if (nd->op == DS_OP_MAXPOOL || nd->op == DS_OP_AVGPOOL)
            full = describe_append(buf, len, &used, " %d %d", nd->k, nd->stride);
        else if (nd->op == DS_OP_DROPOUT || nd->op == DS_OP_BATCHNORM)
            full = describe_append(buf, len, &used, " %.9g", (double)(nd->op == DS_OP_DROPOUT ? nd->rate : nd->eps));
        else if (nd->op == DS_OP_ADD)
            full = describe_append(buf, len, &used, " %d", nd->in1);
        if (!full) full = describe_append(buf, len, &used, "\n");
    }
    if (full)
        return ds_err_set(err, DS_ERANGE, "model layout: %d layers do not fit a layout of %zu bytes",
                          g->n, len);
    return DS_OK;
}
