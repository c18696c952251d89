/* onnx_import.c - a model from an ONNX file (PyTorch's torch.onnx.export, ...).
 *
 * The file is a protobuf ModelProto, decoded by protobuf-c with the C that
 * protoc-c generates from Debian's onnx.proto at build time (build/gen/onnx/).
 * Its graph must be one the families we train can express: a single float input
 * [N, C, H, W] (or [N, F]), nodes in topological order (as ONNX requires), of
 *   Conv (square kernel, equal strides and symmetric pads, groups 1), Gemm,
 *   MatMul (+ Add of a bias), Relu, MaxPool and AveragePool (square kernels, no
 *   padding; a non-square AveragePool over the whole input),
 *   GlobalAveragePool, ReduceMean over H and W (as ds_model_export_onnx writes
 *   a global average pool), BatchNormalization, Flatten, Reshape to [N, -1],
 *   Add (residual), Dropout, Identity, Constant, Pad of zero width (PyTorch
 *   puts one before an AveragePool), and Softmax at the end (dropped: the model
 *   gives logits);
 * opsets 9 to 17 of the default domain. The nodes are laid out as a "graph"
 * architecture (model.h) whose layers keep the ONNX node names, so --layer can
 * name them; unnamed nodes, names a layout cannot hold (whitespace, over 50
 * characters) and a name an earlier layer has get our own ("conv_3": op and
 * ONNX node index). The model is
 * built from that layout text, as a model file's is, and only then are the
 * initializers, checked against the layer's shapes, copied in. External-data
 * tensors are refused (the message names the file they live in).
 */
#include "deepsigns/model_file.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/h5util.h" /* ds_io_check_preproc */
#include "io/untrusted.h"
#include "nn/graph.h"
#include "onnx/onnx.pb-c.h"

enum {
    ONNX_OPSET_MIN = 9, ONNX_OPSET_MAX = 17,
    ONNX_MAX_NODES = 8192,        /* ONNX nodes (Identity, Constant add to our layers) */
    ONNX_MAX_VALUES = 65536,      /* initializers + node outputs + graph inputs */
    ONNX_MAX_ATTR_INTS = 8,
};
#define ONNX_MAX_FILE ((long long)1 << 31) /* protobuf's own limit: 2 GiB */

/* A named value of the graph: an initializer (or Constant), or a layer's output. */
typedef struct onnx_value {
    const char *name;
    const Onnx__TensorProto *init; /* non-NULL: a constant */
    int node;                      /* our node producing it, -1 while not yet produced */
} onnx_value;

/* Where a layer's parameters come from. */
typedef struct onnx_params {
    const Onnx__TensorProto *w, *b, *mean, *var; /* bn: w = scale, b = bias */
    int transpose;                               /* Gemm with transB = 0: no; 1: W is [out, in] */
} onnx_params;

typedef struct onnx_ctx {
    const char *file;
    const Onnx__GraphProto *gp;
    int opset;
    ds_graph g;
    ds_err *err;
    onnx_value *vals;   /* sorted by name */
    size_t nvals;
    onnx_params *src;   /* per our node */
    unsigned char *done; /* per ONNX node: consumed by an earlier one (MatMul + Add) */
} onnx_ctx;

/* ------------------------------------------------------------ messages */

static ds_status node_fail(onnx_ctx *c, const Onnx__NodeProto *n, const char *fmt, const char *what)
{
    return ds_err_set(c->err, DS_EFORMAT, "%s: node '%s' (%s, opset %d): %s%s", c->file,
                      n->name ? n->name : "", n->op_type ? n->op_type : "?", c->opset, fmt, what ? what : "");
}

/* ------------------------------------------------------------ values */

static int value_cmp(const void *a, const void *b)
{
    return strcmp(((const onnx_value *)a)->name, ((const onnx_value *)b)->name);
}

static onnx_value *value_find(onnx_ctx *c, const char *name)
{
    if (!name) return NULL;
    onnx_value key = {.name = name};
    return bsearch(&key, c->vals, c->nvals, sizeof *c->vals, value_cmp);
}

/* Every name the graph defines, once: initializers, inputs, node outputs. */
static ds_status values_collect(onnx_ctx *c)
{
    const Onnx__GraphProto *g = c->gp;
    size_t n = g->n_initializer + g->n_input;
    for (size_t i = 0; i < g->n_node; i++) n += g->node[i]->n_output;
    if (n > ONNX_MAX_VALUES)
        return ds_err_set(c->err, DS_ERANGE, "%s: %zu named values (at most %d)", c->file, n, ONNX_MAX_VALUES);
    c->vals = calloc(n ? n : 1, sizeof *c->vals);
    if (!c->vals) return ds_err_set(c->err, DS_ENOMEM, "%s: out of memory", c->file);
    size_t k = 0;
    for (size_t i = 0; i < g->n_initializer; i++)
        c->vals[k++] = (onnx_value){g->initializer[i]->name, g->initializer[i], -1};
    for (size_t i = 0; i < g->n_input; i++) /* an input that is also an initializer: a constant */
        if (g->input[i]->name && g->input[i]->name[0]) c->vals[k++] = (onnx_value){g->input[i]->name, NULL, -1};
    for (size_t i = 0; i < g->n_node; i++)
        for (size_t j = 0; j < g->node[i]->n_output; j++)
            if (g->node[i]->output[j] && g->node[i]->output[j][0])
                c->vals[k++] = (onnx_value){g->node[i]->output[j], NULL, -1};
    for (size_t i = 0; i < k; i++)
        if (!c->vals[i].name || !c->vals[i].name[0])
            return ds_err_set(c->err, DS_EFORMAT, "%s: an initializer has no name", c->file);
    qsort(c->vals, k, sizeof *c->vals, value_cmp);
    c->nvals = 0;
    for (size_t i = 0; i < k; i++) { /* an input listed again as an initializer collapses into it */
        if (c->nvals && !strcmp(c->vals[c->nvals - 1].name, c->vals[i].name)) {
            onnx_value *prev = &c->vals[c->nvals - 1];
            if (!prev->init == !c->vals[i].init) /* two constants, or two inputs/outputs */
                return ds_err_set(c->err, DS_EFORMAT, "%s: value '%.100s' is defined twice", c->file,
                                  prev->name);
            if (!prev->init) prev->init = c->vals[i].init;
            continue;
        }
        c->vals[c->nvals++] = c->vals[i];
    }
    return DS_OK;
}

/* The layer producing input i of node n (-1 and an error if it is a constant,
 * absent, or not produced yet). */
static int input_node(onnx_ctx *c, const Onnx__NodeProto *n, size_t i)
{
    const onnx_value *v = i < n->n_input ? value_find(c, n->input[i]) : NULL;
    if (!v || v->init || v->node < 0) {
        char what[160];
        snprintf(what, sizeof what, "input %zu ('%.100s') %s", i, i < n->n_input ? n->input[i] : "",
                 !v ? "is missing or undefined" : v->init ? "is a constant, expected a layer's output"
                                                    : "is used before a node produces it");
        node_fail(c, n, what, NULL);
        return -1;
    }
    return v->node;
}

/* Input i of node n as a constant, or NULL (and an error unless optional and absent). */
static const Onnx__TensorProto *input_init(onnx_ctx *c, const Onnx__NodeProto *n, size_t i, int optional)
{
    if (optional && (i >= n->n_input || !n->input[i] || !n->input[i][0])) return NULL;
    const onnx_value *v = i < n->n_input ? value_find(c, n->input[i]) : NULL;
    if (!v || !v->init) {
        char what[160];
        snprintf(what, sizeof what, "input %zu ('%.100s') must be an initializer or a Constant", i,
                 i < n->n_input ? n->input[i] : "");
        node_fail(c, n, what, NULL);
        return NULL;
    }
    return v->init;
}

/* Output 0 of node n is our node id. */
static void bind_output(onnx_ctx *c, const Onnx__NodeProto *n, int id)
{
    onnx_value *v = n->n_output ? value_find(c, n->output[0]) : NULL;
    if (v) v->node = id;
}

/* ------------------------------------------------------------ attributes */

static const Onnx__AttributeProto *attr_find(const Onnx__NodeProto *n, const char *name)
{
    for (size_t i = 0; i < n->n_attribute; i++)
        if (n->attribute[i]->name && !strcmp(n->attribute[i]->name, name)) return n->attribute[i];
    return NULL;
}

static long long attr_int(const Onnx__NodeProto *n, const char *name, long long dflt)
{
    const Onnx__AttributeProto *a = attr_find(n, name);
    return a && a->has_i ? (long long)a->i : dflt;
}

static float attr_float(const Onnx__NodeProto *n, const char *name, float dflt)
{
    const Onnx__AttributeProto *a = attr_find(n, name);
    return a && a->has_f ? a->f : dflt;
}

/* Attribute ints into v[ONNX_MAX_ATTR_INTS]; the count, 0 if absent, -1 if too many. */
static int attr_ints(const Onnx__NodeProto *n, const char *name, long long *v)
{
    const Onnx__AttributeProto *a = attr_find(n, name);
    if (!a) return 0;
    if (a->n_ints > ONNX_MAX_ATTR_INTS) return -1;
    for (size_t i = 0; i < a->n_ints; i++) v[i] = a->ints[i];
    return (int)a->n_ints;
}

/* 1 if attribute `name` is absent or holds `count` ints all equal to want (count 0: any number). */
static int attr_all(const Onnx__NodeProto *n, const char *name, long long want)
{
    long long v[ONNX_MAX_ATTR_INTS];
    int k = attr_ints(n, name, v);
    if (k < 0) return 0;
    for (int i = 0; i < k; i++)
        if (v[i] != want) return 0;
    return 1;
}

/* auto_pad is absent, NOTSET or VALID (*valid = 1). */
static int attr_auto_pad_ok(const Onnx__NodeProto *n, int *valid)
{
    const Onnx__AttributeProto *a = attr_find(n, "auto_pad");
    *valid = 0;
    if (!a || !a->has_s) return 1;
    if (a->s.len == 6 && !memcmp(a->s.data, "NOTSET", 6)) return 1;
    if (a->s.len == 5 && !memcmp(a->s.data, "VALID", 5)) return *valid = 1;
    return 0;
}

/* 2-D geometry: kernel (from kernel_shape, or kk if absent), one stride, one pad. */
static ds_status attr_geometry(onnx_ctx *c, const Onnx__NodeProto *n, long long kk, int *k, int *stride,
                               int *pad)
{
    long long ks[ONNX_MAX_ATTR_INTS], st[ONNX_MAX_ATTR_INTS], pd[ONNX_MAX_ATTR_INTS];
    int nk = attr_ints(n, "kernel_shape", ks), ns = attr_ints(n, "strides", st), np = attr_ints(n, "pads", pd);
    int valid;
    if (nk == 0 && kk > 0) { ks[0] = ks[1] = kk; nk = 2; }
    if (nk != 2 || ks[0] != ks[1] || ks[0] < 1 || ks[0] > 64)
        return node_fail(c, n, "only square 2-D kernels of 1 to 64 are supported", NULL);
    if (!(ns == 0 || (ns == 2 && st[0] == st[1] && st[0] >= 1 && st[0] <= 64)))
        return node_fail(c, n, "only equal strides of 1 to 64 are supported", NULL);
    if (!(np == 0 || (np == 4 && pd[0] == pd[1] && pd[0] == pd[2] && pd[0] == pd[3] && pd[0] >= 0 &&
                      pd[0] <= 64)))
        return node_fail(c, n, "only the same padding on every side (0 to 64) is supported", NULL);
    if (!attr_all(n, "dilations", 1)) return node_fail(c, n, "dilations other than 1 are not supported", NULL);
    if (!attr_auto_pad_ok(n, &valid))
        return node_fail(c, n, "auto_pad SAME_UPPER/SAME_LOWER is not supported (export with explicit pads)", NULL);
    *k = (int)ks[0];
    *stride = ns ? (int)st[0] : 1;
    *pad = np && !valid ? (int)pd[0] : 0;
    return DS_OK;
}

/* ------------------------------------------------------------ tensors */

/* Elements of tensor t (dims checked); -1 if a dimension is negative or the count absurd. */
static long long tensor_count(const Onnx__TensorProto *t)
{
    long long n = 1;
    for (size_t i = 0; i < t->n_dims; i++) {
        if (t->dims[i] < 0 || t->dims[i] > ((long long)1 << 31)) return -1;
        n *= t->dims[i];
        if (n > ((long long)1 << 31)) return -1;
    }
    return n;
}

/* Tensor t has exactly dims want[0..nd) (nd = -1: any shape of `count` elements). */
static int tensor_shape_is(const Onnx__TensorProto *t, int nd, const long long *want, long long count)
{
    if (nd < 0) return tensor_count(t) == count;
    if ((int)t->n_dims != nd) return 0;
    for (int i = 0; i < nd; i++)
        if (t->dims[i] != want[i]) return 0;
    return 1;
}

/* Refuse tensors whose data lives in another file. */
static ds_status tensor_check_location(onnx_ctx *c, const Onnx__TensorProto *t)
{
    if (!(t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL))
        return DS_OK;
    const char *where = "(no location given)";
    for (size_t i = 0; i < t->n_external_data; i++)
        if (t->external_data[i]->key && !strcmp(t->external_data[i]->key, "location") && t->external_data[i]->value)
            where = t->external_data[i]->value;
    return ds_err_set(c->err, DS_EFORMAT,
                      "%s: tensor '%s' keeps its data in the external file '%.200s'; external data is "
                      "not read (export the model with its weights inside the file)",
                      c->file, t->name ? t->name : "", where);
}

/* The float data of t, count elements, into dst (transposed from [rows, cols] to
 * [cols, rows] when rows > 0); finite values only. */
static ds_status tensor_floats(onnx_ctx *c, const Onnx__TensorProto *t, size_t count, int rows,
                               float *dst)
{
    const char *name = t->name ? t->name : "";
    if (!t->has_data_type || t->data_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT)
        return ds_err_set(c->err, DS_EFORMAT, "%s: tensor '%s' is of data type %d, expected float (1)",
                          c->file, name, t->has_data_type ? (int)t->data_type : 0);
    const float *src = NULL;
    if (t->has_raw_data && t->raw_data.len) {
        if (t->raw_data.len != count * sizeof(float))
            return ds_err_set(c->err, DS_EFORMAT, "%s: tensor '%s' holds %zu bytes, its shape needs %zu",
                              c->file, name, t->raw_data.len, count * sizeof(float));
    } else if (t->n_float_data != count) {
        return ds_err_set(c->err, DS_EFORMAT, "%s: tensor '%s' holds %zu floats, its shape needs %zu",
                          c->file, name, t->n_float_data, count);
    } else {
        src = t->float_data;
    }
    const size_t cols = rows > 0 ? count / (size_t)rows : 0;
    for (size_t i = 0; i < count; i++) {
        float v;
        if (src) v = src[i];
        else memcpy(&v, t->raw_data.data + i * sizeof v, sizeof v); /* little-endian, as ONNX stores it */
        if (!isfinite(v))
            return ds_err_set(c->err, DS_ENUM, "%s: tensor '%s' holds a non-finite value at index %zu",
                              c->file, name, i);
        if (rows > 0) dst[(i % cols) * (size_t)rows + i / cols] = v; /* [rows, cols] -> [cols, rows] */
        else dst[i] = v;
    }
    return DS_OK;
}

/* The int64 values of a small constant tensor (a Reshape shape) into v[max]; the count or -1. */
static int tensor_int64s(const Onnx__TensorProto *t, long long *v, int max)
{
    if (!t->has_data_type || t->data_type != ONNX__TENSOR_PROTO__DATA_TYPE__INT64) return -1;
    long long n = tensor_count(t);
    if (n < 0 || n > max) return -1;
    if (t->has_raw_data && t->raw_data.len) {
        if (t->raw_data.len != (size_t)n * 8) return -1;
        for (long long i = 0; i < n; i++) {
            int64_t x;
            memcpy(&x, t->raw_data.data + i * 8, 8);
            v[i] = x;
        }
        return (int)n;
    }
    if ((long long)t->n_int64_data != n) return -1;
    for (long long i = 0; i < n; i++) v[i] = t->int64_data[i];
    return (int)n;
}

/* A scalar float constant (Dropout's ratio), or -1 if it is not one. */
static float tensor_scalar(onnx_ctx *c, const Onnx__TensorProto *t)
{
    float v;
    ds_err e = {0}, *keep = c->err;
    c->err = &e;
    ds_status st = tensor_count(t) == 1 ? tensor_floats(c, t, 1, 0, &v) : DS_EFORMAT;
    c->err = keep;
    return st ? -1.0f : v;
}

/* ------------------------------------------------------------ nodes */

/* The name our layer gets for ONNX node i: its own if a layout can hold it and
 * no earlier layer has it. */
static const char *layer_name(const onnx_ctx *c, const Onnx__NodeProto *n, int i, const char *op, char *buf,
                              size_t len)
{
    int ok = n->name && ds_graph_name_ok(n->name);
    for (int k = 0; ok && k < c->g.n; k++) ok = strcmp(c->g.nodes[k].name, n->name) != 0;
    if (ok) return n->name;
    snprintf(buf, len, "%s_%d", op, i);
    return buf;
}

/* Append our node and bind the ONNX node's output to it. */
static ds_status emitted(onnx_ctx *c, const Onnx__NodeProto *n, int id)
{
    c->g.next_name = NULL;
    if (id < 0) return ds_err_prefix(c->err, "%s: node '%s' (%s): ", c->file, n->name ? n->name : "", n->op_type);
    bind_output(c, n, id);
    return DS_OK;
}

/* The inputs of a Conv or Gemm: a layer's output, a weight, an optional bias. */
static ds_status weighted_inputs(onnx_ctx *c, const Onnx__NodeProto *n, int *in,
                                 const Onnx__TensorProto **w, const Onnx__TensorProto **b)
{
    *in = input_node(c, n, 0);
    *w = *in < 0 ? NULL : input_init(c, n, 1, 0);
    if (!*w) return c->err->code;
    *b = input_init(c, n, 2, 1);
    return !*b && n->n_input > 2 && n->input[2][0] ? c->err->code : DS_OK;
}

static ds_status node_conv(onnx_ctx *c, const Onnx__NodeProto *n)
{
    int in;
    const Onnx__TensorProto *w, *b;
    ds_status st = weighted_inputs(c, n, &in, &w, &b);
    if (st) return st;
    if (attr_int(n, "group", 1) != 1) return node_fail(c, n, "only groups = 1 is supported", NULL);
    if (w->n_dims != 4 || w->dims[0] < 1 || w->dims[0] > 65536 || w->dims[2] != w->dims[3])
        return node_fail(c, n, "the weight must be [F, C, K, K]", NULL);
    int k, stride, pad;
    if ((st = attr_geometry(c, n, w->dims[2], &k, &stride, &pad))) return st;
    const long long want[4] = {w->dims[0], c->g.nodes[in].c, k, k}, bw[1] = {w->dims[0]};
    if (!tensor_shape_is(w, 4, want, 0))
        return node_fail(c, n, "the weight's shape does not match its input's channels and kernel_shape", NULL);
    if (b && !tensor_shape_is(b, 1, bw, 0)) return node_fail(c, n, "the bias must be [F]", NULL);
    int id = ds_graph_conv(&c->g, in, (int)w->dims[0], k, stride, pad, b != NULL);
    if (id >= 0) c->src[id] = (onnx_params){.w = w, .b = b};
    return emitted(c, n, id);
}

/* A dense layer: in, weight w ([in, out], or [out, in] when transposed), bias b or NULL. */
static ds_status add_dense(onnx_ctx *c, const Onnx__NodeProto *n, int in, const Onnx__TensorProto *w,
                           int transposed, const Onnx__TensorProto *b)
{
    const ds_node *src = &c->g.nodes[in];
    if (src->h != 1 || src->w != 1)
        return node_fail(c, n, "its input is not flat (add a Flatten before it)", NULL);
    if (w->n_dims != 2 || w->dims[0] < 1 || w->dims[1] < 1 || w->dims[0] > 1 << 24 || w->dims[1] > 1 << 24)
        return node_fail(c, n, "the weight must be a 2-D matrix", NULL);
    long long fin = transposed ? w->dims[1] : w->dims[0], out = transposed ? w->dims[0] : w->dims[1];
    if (fin != (long long)src->size) {
        char what[96];
        snprintf(what, sizeof what, "the weight takes %lld inputs, its input has %zu", fin, src->size);
        return node_fail(c, n, what, NULL);
    }
    const long long b1[1] = {out}, b2[2] = {1, out};
    if (b && !tensor_shape_is(b, 1, b1, 0) && !tensor_shape_is(b, 2, b2, 0))
        return node_fail(c, n, "the bias must be [out] or [1, out]", NULL);
    if (out > 1 << 17) return node_fail(c, n, "too many output units", NULL);
    int id = ds_graph_dense(&c->g, in, (int)out, b != NULL);
    if (id >= 0) c->src[id] = (onnx_params){.w = w, .b = b, .transpose = transposed};
    return emitted(c, n, id);
}

static ds_status node_gemm(onnx_ctx *c, const Onnx__NodeProto *n)
{
    int in;
    const Onnx__TensorProto *w, *b;
    ds_status st = weighted_inputs(c, n, &in, &w, &b);
    if (st) return st;
    if (attr_int(n, "transA", 0) != 0) return node_fail(c, n, "transA = 1 is not supported", NULL);
    if (attr_float(n, "alpha", 1.0f) != 1.0f || attr_float(n, "beta", 1.0f) != 1.0f)
        return node_fail(c, n, "alpha and beta other than 1 are not supported", NULL);
    return add_dense(c, n, in, w, attr_int(n, "transB", 0) != 0, b);
}

/* The one node reading value `name`, or -1 (none, several, or a graph output). */
static int sole_reader(const onnx_ctx *c, const char *name)
{
    int reader = -1;
    for (size_t i = 0; i < c->gp->n_output; i++)
        if (c->gp->output[i]->name && !strcmp(c->gp->output[i]->name, name)) return -1;
    for (size_t i = 0; i < c->gp->n_node; i++)
        for (size_t j = 0; j < c->gp->node[i]->n_input; j++)
            if (c->gp->node[i]->input[j] && !strcmp(c->gp->node[i]->input[j], name)) {
                if (reader >= 0) return -1;
                reader = (int)i;
            }
    return reader;
}

/* MatMul(x, W[in, out]), merged with an Add of a bias constant that alone reads it. */
static ds_status node_matmul(onnx_ctx *c, const Onnx__NodeProto *n)
{
    int in = input_node(c, n, 0);
    const Onnx__TensorProto *w = in < 0 ? NULL : input_init(c, n, 1, 0);
    if (!w) return c->err->code;
    int r = n->n_output ? sole_reader(c, n->output[0]) : -1;
    const Onnx__NodeProto *add = r >= 0 ? c->gp->node[r] : NULL;
    const Onnx__TensorProto *b = NULL;
    if (add && add->op_type && !strcmp(add->op_type, "Add") && add->n_input == 2) {
        int other = !strcmp(add->input[0], n->output[0]) ? 1 : 0;
        const onnx_value *v = value_find(c, add->input[other]);
        if (v && v->init) b = v->init;
    }
    ds_status st = add_dense(c, n, in, w, 0, b);
    if (!st && b) {
        c->done[r] = 1;
        bind_output(c, add, c->g.n - 1);
    }
    return st;
}

static ds_status node_add(onnx_ctx *c, const Onnx__NodeProto *n)
{
    if (n->n_input != 2) return node_fail(c, n, "expected two inputs", NULL);
    for (int i = 0; i < 2; i++) {
        const onnx_value *v = value_find(c, n->input[i]);
        if (v && v->init)
            return node_fail(c, n, "an Add of a constant is only read as the bias of a MatMul", NULL);
    }
    int a = input_node(c, n, 0), b = a < 0 ? -1 : input_node(c, n, 1);
    if (b < 0) return c->err->code;
    return emitted(c, n, ds_graph_add(&c->g, a, b));
}

static ds_status node_pool(onnx_ctx *c, const Onnx__NodeProto *n, int average)
{
    int in = input_node(c, n, 0);
    if (in < 0) return c->err->code;
    if (n->n_output > 1 && n->output[1] && n->output[1][0])
        return node_fail(c, n, "the Indices output is not supported", NULL);
    if (attr_int(n, "ceil_mode", 0) != 0) return node_fail(c, n, "ceil_mode = 1 is not supported", NULL);
    const ds_node *src = &c->g.nodes[in];
    long long ks[ONNX_MAX_ATTR_INTS];
    int nk = attr_ints(n, "kernel_shape", ks), valid;
    if (average && nk == 2 && ks[0] != ks[1]) { /* not square: only over the whole input */
        if (ks[0] != src->h || ks[1] != src->w || !attr_all(n, "pads", 0) || !attr_auto_pad_ok(n, &valid))
            return node_fail(c, n, "an AveragePool with a kernel that is not square is only supported over "
                             "the whole input (a global average pool)", NULL);
        return emitted(c, n, ds_graph_gap(&c->g, in));
    }
    int k, stride, pad;
    ds_status st = attr_geometry(c, n, 0, &k, &stride, &pad);
    if (st) return st;
    if (pad) return node_fail(c, n, "a padded pool is not supported", NULL);
    return emitted(c, n, (average ? ds_graph_avgpool : ds_graph_maxpool)(&c->g, in, k, stride));
}

static ds_status node_unary(onnx_ctx *c, const Onnx__NodeProto *n, int (*layer)(ds_graph *, int));

/* ReduceMean over axes 2 and 3 of [N, C, H, W]: a global average pool. */
static ds_status node_reduce_mean(onnx_ctx *c, const Onnx__NodeProto *n)
{
    long long ax[ONNX_MAX_ATTR_INTS];
    int k = attr_ints(n, "axes", ax), seen = 0;
    for (int i = 0; i < k; i++) seen |= ax[i] == 2 || ax[i] == -2 ? 1 : ax[i] == 3 || ax[i] == -1 ? 2 : 4;
    if (k != 2 || seen != 3) return node_fail(c, n, "only a ReduceMean over axes 2 and 3 is supported", NULL);
    return node_unary(c, n, ds_graph_gap);
}

static ds_status node_bn(onnx_ctx *c, const Onnx__NodeProto *n)
{
    int in = input_node(c, n, 0);
    if (in < 0) return c->err->code;
    const Onnx__TensorProto *t[4];
    const long long C[1] = {c->g.nodes[in].c};
    for (int i = 0; i < 4; i++) {
        if (!(t[i] = input_init(c, n, (size_t)i + 1, 0))) return c->err->code;
        if (!tensor_shape_is(t[i], 1, C, 0))
            return node_fail(c, n, "scale, bias, mean and var must be [C] of its input", NULL);
    }
    if (attr_int(n, "training_mode", 0) != 0) return node_fail(c, n, "training_mode = 1 is not supported", NULL);
    if (attr_int(n, "spatial", 1) != 1) return node_fail(c, n, "spatial = 0 is not supported", NULL);
    float eps = attr_float(n, "epsilon", 1e-5f);
    if (!(eps >= 1e-12f && eps <= 1.0f)) return node_fail(c, n, "epsilon out of range [1e-12, 1]", NULL);
    int id = ds_graph_bn(&c->g, in);
    if (id >= 0) {
        c->g.nodes[id].eps = eps;
        c->src[id] = (onnx_params){.w = t[0], .b = t[1], .mean = t[2], .var = t[3]};
    }
    return emitted(c, n, id);
}

static ds_status node_dropout(onnx_ctx *c, const Onnx__NodeProto *n)
{
    int in = input_node(c, n, 0);
    if (in < 0) return c->err->code;
    float rate = attr_float(n, "ratio", 0.5f);
    if (n->n_input > 1 && n->input[1][0]) {
        const Onnx__TensorProto *r = input_init(c, n, 1, 0);
        if (!r || (rate = tensor_scalar(c, r)) < 0.0f)
            return r ? node_fail(c, n, "the ratio must be a float scalar", NULL) : c->err->code;
    }
    if (!(rate >= 0.0f && rate < 1.0f)) return node_fail(c, n, "the ratio must be in [0, 1)", NULL);
    return emitted(c, n, ds_graph_dropout(&c->g, in, rate));
}

/* Flatten (axis 1), or a Reshape to [N, -1] / [N, size]. */
static ds_status node_flatten(onnx_ctx *c, const Onnx__NodeProto *n, int reshape)
{
    int in = input_node(c, n, 0);
    if (in < 0) return c->err->code;
    if (reshape) {
        const Onnx__TensorProto *s = input_init(c, n, 1, 0);
        long long v[2];
        if (!s) return c->err->code;
        long long size = (long long)c->g.nodes[in].size;
        int k = tensor_int64s(s, v, 2);
        if (!(k == 2 && ((v[1] == size && (v[0] == -1 || v[0] >= 0)) || (v[1] == -1 && v[0] >= 0))))
            return node_fail(c, n, "only a Reshape to [N, -1] (a flatten) is supported", NULL);
    } else if (attr_int(n, "axis", 1) != 1) {
        return node_fail(c, n, "only Flatten with axis = 1 is supported", NULL);
    }
    return emitted(c, n, ds_graph_flatten(&c->g, in));
}

/* Identity and Softmax (at the end): output 0 is input 0. */
static ds_status node_alias(onnx_ctx *c, const Onnx__NodeProto *n, int softmax)
{
    const onnx_value *src = n->n_input ? value_find(c, n->input[0]) : NULL;
    onnx_value *dst = n->n_output ? value_find(c, n->output[0]) : NULL;
    if (!softmax && src && src->init && dst) { /* an Identity of a constant: a constant */
        dst->init = src->init;
        return DS_OK;
    }
    int in = input_node(c, n, 0);
    if (in < 0) return c->err->code;
    if (softmax) {
        int out = c->gp->n_output == 1 && n->n_output && c->gp->output[0]->name &&
                  !strcmp(c->gp->output[0]->name, n->output[0]);
        if (!out) return node_fail(c, n, "a Softmax is only supported as the graph's output", NULL);
    }
    bind_output(c, n, in);
    return DS_OK;
}

/* Relu, GlobalAveragePool: one layer on input 0. */
static ds_status node_unary(onnx_ctx *c, const Onnx__NodeProto *n, int (*layer)(ds_graph *, int))
{
    int in = input_node(c, n, 0);
    return in < 0 ? c->err->code : emitted(c, n, layer(&c->g, in));
}

/* A Pad of zero width everywhere (PyTorch puts one before an AveragePool): input 0 itself. */
static ds_status node_pad(onnx_ctx *c, const Onnx__NodeProto *n)
{
    long long v[ONNX_MAX_ATTR_INTS];
    int k = c->opset < 11 ? attr_ints(n, "pads", v) : -1;
    if (c->opset >= 11) {
        const Onnx__TensorProto *p = input_init(c, n, 1, 0);
        if (!p) return c->err->code;
        k = tensor_int64s(p, v, ONNX_MAX_ATTR_INTS);
    }
    for (int i = 0; i < k; i++)
        if (v[i] != 0) k = -1;
    if (k < 0) return node_fail(c, n, "only a Pad of zero width is supported", NULL);
    int in = input_node(c, n, 0);
    if (in < 0) return c->err->code;
    bind_output(c, n, in);
    return DS_OK;
}

static ds_status node_constant(onnx_ctx *c, const Onnx__NodeProto *n)
{
    const Onnx__AttributeProto *a = attr_find(n, "value");
    if (!a || !a->t || !n->n_output) return node_fail(c, n, "only a Constant with a tensor value is supported", NULL);
    ds_status st = tensor_check_location(c, a->t);
    if (st) return st;
    onnx_value *v = value_find(c, n->output[0]);
    if (v) v->init = a->t;
    return DS_OK;
}

static ds_status import_node(onnx_ctx *c, int i)
{
    const Onnx__NodeProto *n = c->gp->node[i];
    const char *op = n->op_type ? n->op_type : "";
    char buf[DS_NAME_MAX];
    if (n->domain && n->domain[0] && strcmp(n->domain, "ai.onnx"))
        return ds_err_set(c->err, DS_EFORMAT, "%s: node '%s' (%s, opset %d): operator domain '%.60s' is "
                          "not supported", c->file, n->name ? n->name : "", op, c->opset, n->domain);
    static const struct { const char *onnx, *ours; } names[] = {
        {"Conv", "conv"}, {"Gemm", "dense"}, {"MatMul", "dense"}, {"Add", "add"}, {"Relu", "relu"},
        {"MaxPool", "maxpool"}, {"AveragePool", "avgpool"}, {"GlobalAveragePool", "gap"},
        {"BatchNormalization", "bn"}, {"Dropout", "dropout"}, {"Flatten", "flatten"},
        {"Reshape", "flatten"}, {"ReduceMean", "gap"},
    };
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
        if (!strcmp(op, names[k].onnx)) c->g.next_name = layer_name(c, n, i, names[k].ours, buf, sizeof buf);
    ds_status st;
    if (!strcmp(op, "Conv")) st = node_conv(c, n);
    else if (!strcmp(op, "Gemm")) st = node_gemm(c, n);
    else if (!strcmp(op, "MatMul")) st = node_matmul(c, n);
    else if (!strcmp(op, "Add")) st = node_add(c, n);
    else if (!strcmp(op, "Relu")) st = node_unary(c, n, ds_graph_relu);
    else if (!strcmp(op, "MaxPool")) st = node_pool(c, n, 0);
    else if (!strcmp(op, "AveragePool")) st = node_pool(c, n, 1);
    else if (!strcmp(op, "GlobalAveragePool")) st = node_unary(c, n, ds_graph_gap);
    else if (!strcmp(op, "BatchNormalization")) st = node_bn(c, n);
    else if (!strcmp(op, "Dropout")) st = node_dropout(c, n);
    else if (!strcmp(op, "Flatten")) st = node_flatten(c, n, 0);
    else if (!strcmp(op, "Reshape")) st = node_flatten(c, n, 1);
    else if (!strcmp(op, "Identity")) st = node_alias(c, n, 0);
    else if (!strcmp(op, "Softmax")) st = node_alias(c, n, 1);
    else if (!strcmp(op, "Constant")) st = node_constant(c, n);
    else if (!strcmp(op, "Pad")) st = node_pad(c, n);
    else if (!strcmp(op, "ReduceMean")) st = node_reduce_mean(c, n);
    else
        st = ds_err_set(c->err, DS_EFORMAT, "%s: node '%s': op type '%.60s' (opset %d) is not supported "
                        "(supported: Conv, Gemm, MatMul, Add, Relu, MaxPool, AveragePool, GlobalAveragePool, "
                        "BatchNormalization, Dropout, Flatten, Reshape, Identity, Constant, Pad of zero width, ReduceMean, Softmax)",
                        c->file, n->name ? n->name : "", op, c->opset);
    c->g.next_name = NULL;
    return st;
}

/* ------------------------------------------------------------ the graph */

/* The default domain's opset, which must be in [ONNX_OPSET_MIN, ONNX_OPSET_MAX]. */
static ds_status read_opset(onnx_ctx *c, const Onnx__ModelProto *mp)
{
    c->opset = 0;
    for (size_t i = 0; i < mp->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *o = mp->opset_import[i];
        if ((!o->domain || !o->domain[0] || !strcmp(o->domain, "ai.onnx")) && o->has_version)
            c->opset = o->version < 0 || o->version > 1000 ? 1000 : (int)o->version;
    }
    if (c->opset < ONNX_OPSET_MIN || c->opset > ONNX_OPSET_MAX)
        return ds_err_set(c->err, DS_EFORMAT, "%s: opset %d of the default ONNX domain%s; opsets %d to %d "
                          "are supported", c->file, c->opset, c->opset ? "" : " (none given)",
                          ONNX_OPSET_MIN, ONNX_OPSET_MAX);
    return DS_OK;
}

/* The graph's one non-constant input, float [N, C, H, W] or [N, F]: node 0. */
static ds_status read_input(onnx_ctx *c)
{
    const Onnx__ValueInfoProto *in = NULL;
    for (size_t i = 0; i < c->gp->n_input; i++) {
        const onnx_value *v = value_find(c, c->gp->input[i]->name);
        if (!v || v->init) continue;
        if (in)
            return ds_err_set(c->err, DS_EFORMAT, "%s: the graph has several inputs ('%.60s', '%.60s'); "
                              "a model takes one", c->file, in->name, c->gp->input[i]->name);
        in = c->gp->input[i];
    }
    if (!in) return ds_err_set(c->err, DS_EFORMAT, "%s: the graph has no input", c->file);
    const Onnx__TypeProto *tp = in->type;
    const Onnx__TypeProto__Tensor *tt = tp && tp->value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE ? tp->tensor_type : NULL;
    const Onnx__TensorShapeProto *sh = tt ? tt->shape : NULL;
    if (!tt || !tt->has_elem_type || tt->elem_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT || !sh ||
        (sh->n_dim != 4 && sh->n_dim != 2))
        return ds_err_set(c->err, DS_EFORMAT, "%s: input '%.60s' must be a float tensor [N, C, H, W] or [N, F]",
                          c->file, in->name);
    long long d[3] = {1, 1, 1};
    for (size_t i = 1; i < sh->n_dim; i++) {
        const Onnx__TensorShapeProto__Dimension *dm = sh->dim[i];
        if (dm->value_case != ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE || dm->dim_value < 1 ||
            dm->dim_value > 65536)
            return ds_err_set(c->err, DS_EFORMAT, "%s: input '%.60s': dimension %zu must be a fixed size "
                              "of 1 to 65536", c->file, in->name, i);
        d[i - 1] = dm->dim_value;
    }
    int id = ds_graph_input(&c->g, (int)d[0], (int)d[1], (int)d[2]);
    if (id < 0) return ds_err_prefix(c->err, "%s: input '%.60s': ", c->file, in->name);
    value_find(c, in->name)->node = id;
    return DS_OK;
}

/* The graph's one output must be the last layer's. */
static ds_status check_output(onnx_ctx *c)
{
    if (c->gp->n_output != 1)
        return ds_err_set(c->err, DS_EFORMAT, "%s: the graph has %zu outputs; a model gives one (the logits)",
                          c->file, c->gp->n_output);
    const onnx_value *v = value_find(c, c->gp->output[0]->name);
    if (!v || v->init || v->node < 0 || v->node != c->g.n - 1 || c->g.n < 2)
        return ds_err_set(c->err, DS_EFORMAT, "%s: the graph's output '%.60s' is not its last layer's",
                          c->file, c->gp->output[0]->name ? c->gp->output[0]->name : "");
    return DS_OK;
}

static ds_status import_graph(onnx_ctx *c, const Onnx__ModelProto *mp)
{
    if (!mp->graph) return ds_err_set(c->err, DS_EFORMAT, "%s: the model has no graph", c->file);
    c->gp = mp->graph;
    if (c->gp->n_node > ONNX_MAX_NODES)
        return ds_err_set(c->err, DS_ERANGE, "%s: %zu nodes (at most %d)", c->file, c->gp->n_node, ONNX_MAX_NODES);
    if (c->gp->n_sparse_initializer)
        return ds_err_set(c->err, DS_EFORMAT, "%s: sparse initializers are not supported", c->file);
    ds_status st = read_opset(c, mp);
    for (size_t i = 0; st == DS_OK && i < c->gp->n_initializer; i++)
        st = tensor_check_location(c, c->gp->initializer[i]);
    if (!st) st = values_collect(c);
    if (st) return st;
    c->src = calloc(c->gp->n_node + 1, sizeof *c->src);
    c->done = calloc(c->gp->n_node + 1, 1);
    if (!c->src || !c->done) return ds_err_set(c->err, DS_ENOMEM, "%s: out of memory", c->file);
    c->g.err = c->err;
    st = read_input(c);
    for (size_t i = 0; st == DS_OK && i < c->gp->n_node; i++)
        if (!c->done[i]) st = import_node(c, (int)i);
    return st ? st : check_output(c);
}

/* Copy the initializers into the layers of m (built from the layout of c->g). */
static ds_status copy_params(onnx_ctx *c, ds_model *m)
{
    ds_status st = DS_OK;
    for (int i = 0; st == DS_OK && i < m->nnodes; i++) {
        const ds_node *nd = &m->nodes[i];
        const onnx_params *p = &c->src[i];
        const Onnx__TensorProto *ts[4] = {p->w, p->b, p->mean, p->var};
        const int tid[4] = {nd->t_w, nd->t_b, nd->t_mean, nd->t_var};
        for (int k = 0; st == DS_OK && k < 4; k++) {
            if (tid[k] < 0 || !ts[k]) continue;
            const ds_tensor *t = &m->tensors[tid[k]];
            /* Gemm's transB = 1 weight is [out, in]: ours is [in, out] */
            int rows = k == 0 && nd->op == DS_OP_DENSE && p->transpose ? t->dims[1] : 0;
            st = tensor_floats(c, ts[k], t->size, rows, ds_model_tensor_data(m, tid[k]));
        }
    }
    return st;
}

/* The preprocessing a deepsigns export recorded (DS_ONNX_PREPROC_KEY) into *pp;
 * 0 if there is none, -1 if it does not parse. */
static int recorded_preproc(const Onnx__ModelProto *mp, ds_preproc *pp)
{
    for (size_t i = 0; i < mp->n_metadata_props; i++) {
        const Onnx__StringStringEntryProto *e = mp->metadata_props[i];
        if (!e->key || strcmp(e->key, DS_ONNX_PREPROC_KEY) || !e->value) continue;
        ds_preproc p = {0};
        char tail;
        int k = sscanf(e->value, "scale %g channels %d mean %g %g %g std %g %g %g %c", &p.scale, &p.channels,
                       &p.mean[0], &p.mean[1], &p.mean[2], &p.std[0], &p.std[1], &p.std[2], &tail);
        if (k != 8) return -1;
        *pp = p;
        return 1;
    }
    return 0;
}

static ds_model *import_image(const void *buf, size_t n, const char *name, const ds_preproc *pp, ds_err *err)
{
    ds_err local = {0};
    onnx_ctx c = {.file = name, .err = err ? err : &local};
    ds_preproc pre = {.scale = 1.0f / 255.0f, .channels = 1, .std = {1.0f, 1.0f, 1.0f}};
    Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, n, buf);
    if (!mp) {
        ds_err_set(c.err, DS_EFORMAT, "%s: not an ONNX model (the protobuf does not decode)", name);
        return NULL;
    }
    int rec = pp ? 0 : recorded_preproc(mp, &pre);
    if (pp) pre = *pp;
    ds_status pst = rec < 0 ? ds_err_set(c.err, DS_EFORMAT, "%s: metadata property %s does not parse",
                                         name, DS_ONNX_PREPROC_KEY)
                            : ds_io_check_preproc(&pre, name, c.err);
    if (pst) {
        onnx__model_proto__free_unpacked(mp, NULL);
        return NULL;
    }
    ds_arch *arch = calloc(1, sizeof *arch);
    ds_model *m = NULL;
    ds_status st = arch ? import_graph(&c, mp) : ds_err_set(c.err, DS_ENOMEM, "%s: out of memory", name);
    if (!st) {
        snprintf(arch->name, sizeof arch->name, "graph");
        arch->in_c = c.g.nodes[0].c;
        arch->in_h = c.g.nodes[0].h;
        arch->in_w = c.g.nodes[0].w;
        arch->classes = (int)c.g.nodes[c.g.n - 1].size;
        st = ds_graph_describe(&c.g, arch->layout, sizeof arch->layout, c.err);
        if (st) (void)ds_err_prefix(c.err, "%s: ", name);
    }
    /* one way to build a model from a layout: the model file's */
    if (!st && !(m = ds_model_build(arch, c.err))) st = ds_err_prefix(c.err, "%s: ", name);
    if (!st && m->nnodes != c.g.n)
        st = ds_err_set(c.err, DS_ELIB, "%s: the layout rebuilt %d layers of %d", name, m->nnodes, c.g.n);
    if (!st) st = copy_params(&c, m);
    if (!st) {
        m->meta.preproc = pre;
        snprintf(m->meta.source, sizeof m->meta.source, "onnx-import");
    }
    ds_graph_release(&c.g);
    free(c.vals);
    free(c.src);
    free(c.done);
    free(arch);
    onnx__model_proto__free_unpacked(mp, NULL);
    if (st) {
        ds_model_free(m);
        return NULL;
    }
    return m;
}

ds_model *ds_model_import_onnx_image(const void *buf, size_t n, const char *name, const ds_preproc *pp,
                                     ds_err *err)
{
    return import_image(buf, n, name ? name : "ONNX image", pp, err);
}

ds_model *ds_model_import_onnx(const char *path, const ds_preproc *pp, ds_err *err)
{
    struct stat sb;
    if (ds_io_check_regular(path, err)) return NULL;
    if (stat(path, &sb) != 0) {
        ds_err_set(err, DS_EIO, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    if ((long long)sb.st_size >= ONNX_MAX_FILE) {
        ds_err_set(err, DS_ERANGE, "%s: %lld bytes; an ONNX file (a protobuf) holds less than 2 GiB",
                   path, (long long)sb.st_size);
        return NULL;
    }
    void *buf;
    size_t n;
    if (ds_io_read_whole(path, &buf, &n, err)) return NULL;
    ds_model *m = import_image(buf, n, path, pp, err);
    free(buf);
    return m;
}

int ds_model_file_is_onnx(const void *head, size_t n)
{
    /* An HDF5 file starts with its signature; a serialized ModelProto with field 1
     * (ir_version, a varint: tag 0x08), which every ONNX writer puts first. */
    static const unsigned char hdf5[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    const unsigned char *h = head;
    if (n >= sizeof hdf5 && !memcmp(h, hdf5, sizeof hdf5)) return 0;
    return n >= 2 && h[0] == 0x08;
}
