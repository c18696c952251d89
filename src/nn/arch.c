/* arch.c - the paper's benchmark architectures, by name.
 *
 *   mnist-mlp    784-512FC-512FC-10FC, ReLU, dropout 0.2 after each hidden layer
 *   mnist-cnn    32C3-64C3-MP2-drop-128FC-drop-10FC (the Keras MNIST CNN example)
 *   cifar10-cnn  32C3(same)-32C3-MP2-drop-64C3(same)-64C3-MP2-drop-512FC-drop-10FC
 *                (the Keras CIFAR-10 example the paper uses)
 *   cifar10-wrn  pre-activation Wide ResNet WRN-depth-widen (default 16-4)
 *   graph        any sequential/residual network spelled out in arch.layout
 *                (model.h; an imported ONNX model): no defaults, no options
 * CNN dropout: arch.dropout after the dense layer, arch.dropout/2 after conv blocks.
 * arch.extra[i] widens the i-th hidden dense/conv layer (graph order) of the
 * mlp and the two CNNs; the WRN takes none (its widths meet in residual adds).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deepsigns/ranges.h"

#include "nn/graph.h"

static void layout_mlp(const ds_arch *a, ds_graph *g);
static void layout_mnist_cnn(const ds_arch *a, ds_graph *g);
static void layout_cifar_cnn(const ds_arch *a, ds_graph *g);
static void layout_wrn(const ds_arch *a, ds_graph *g);

/* The architectures, one row each: the name, the layout, the hidden dense/conv
 * layers arch.extra may widen (0: none may), and the defaults of the options. */
typedef struct arch_row {
    const char *name;
    void (*layout)(const ds_arch *a, ds_graph *g);
    int widenable;
    int hidden, depth, widen;
    float dropout;
} arch_row;

static const arch_row archs[] = {
    {"mnist-mlp", layout_mlp, 2, 512, 0, 0, 0.2f},
    {"mnist-cnn", layout_mnist_cnn, 3, 0, 0, 0, 0.5f},
    {"cifar10-cnn", layout_cifar_cnn, 5, 0, 0, 0, 0.5f},
    {"cifar10-wrn", layout_wrn, 0, 0, 16, 4, 0.0f},
};
#define NARCHS ((int)(sizeof archs / sizeof archs[0]))

int ds_arch_count(void)
{
    return NARCHS;
}

const char *ds_arch_name_at(int i)
{
    return i >= 0 && i < NARCHS ? archs[i].name : NULL;
}

static const arch_row *arch_find(const char *name)
{
    for (int i = 0; i < NARCHS; i++)
        if (!strcmp(archs[i].name, name)) return &archs[i];
    return NULL;
}

static ds_status arch_unknown(const char *name, ds_err *err)
{
    return ds_err_set(err, DS_EINVAL, "unknown architecture '%s' (expected mnist-mlp, mnist-cnn, "
                      "cifar10-cnn or cifar10-wrn)", name);
}

ds_status ds_arch_defaults(const char *name, int in_c, int in_h, int in_w, int classes,
                           ds_arch *arch, ds_err *err)
{
    memset(arch, 0, sizeof *arch);
    if (strlen(name) >= sizeof arch->name)
        return ds_err_set(err, DS_EINVAL, "unknown architecture '%.40s...'", name);
    strcpy(arch->name, name);
    arch->in_c = in_c; arch->in_h = in_h; arch->in_w = in_w;
    arch->classes = classes;
    const arch_row *r = arch_find(name);
    if (!r) return arch_unknown(name, err);
    arch->hidden = r->hidden;
    arch->depth = r->depth;
    arch->widen = r->widen;
    arch->dropout = r->dropout;
    return ds_arch_validate(arch, err);
}

/* Hidden dense/conv layers that arch.extra may widen (0: none may). */
static int arch_widenable(const char *name)
{
    const arch_row *r = arch_find(name);
    return r ? r->widenable : 0;
}

ds_status ds_arch_validate(const ds_arch *a, ds_err *err)
{
    int graph = !strcmp(a->name, "graph");
    size_t layout_len = strnlen(a->layout, sizeof a->layout);
    if (layout_len == sizeof a->layout)
        return ds_err_set(err, DS_ERANGE, "architecture %s: its layout is not terminated", a->name);
    if (graph && layout_len == 0)
        return ds_err_set(err, DS_EINVAL, "architecture graph: no layout (its layers)");
    if (!graph && layout_len)
        return ds_err_set(err, DS_EINVAL, "architecture %s: a layout is given, but only architecture "
                          "graph takes one", a->name);
    /* a graph's input may be a feature vector: C up to the widest layer */
    if (a->in_c < 1 || a->in_c > (graph ? DS_ARCH_HIDDEN_MAX : 4) || a->in_h < 1 || a->in_h > 1024 || a->in_w < 1 ||
        a->in_w > 1024)
        return ds_err_set(err, DS_ERANGE, "architecture %s: input shape %dx%dx%d out of range",
                          a->name, a->in_c, a->in_h, a->in_w);
    if (a->classes < 2 || a->classes > 100000)
        return ds_err_set(err, DS_ERANGE, "architecture %s: classes %d out of range [2, 100000]",
                          a->name, a->classes);
    if (!ds_range_holds(ds_range_of(DS_RANGE_DROPOUT), a->dropout))
        return ds_err_set(err, DS_ERANGE, "architecture %s: dropout %g out of range [0, 1)",
                          a->name, a->dropout);
    if (!strcmp(a->name, "mnist-mlp") && !ds_range_holds(ds_range_of(DS_RANGE_HIDDEN), a->hidden))
        return ds_err_set(err, DS_ERANGE, "architecture mnist-mlp: hidden width %d out of range [%d, %d]",
                          a->hidden, DS_ARCH_HIDDEN_MIN, DS_ARCH_HIDDEN_MAX);
    if (!strcmp(a->name, "cifar10-wrn")) {
        if (!ds_range_holds(ds_range_of(DS_RANGE_DEPTH), a->depth) || (a->depth - 4) % 6)
            return ds_err_set(err, DS_ERANGE, "architecture cifar10-wrn: depth %d must be 6n+4 in [%d, %d]",
                              a->depth, DS_ARCH_DEPTH_MIN, DS_ARCH_DEPTH_MAX);
        if (!ds_range_holds(ds_range_of(DS_RANGE_WIDEN), a->widen))
            return ds_err_set(err, DS_ERANGE, "architecture cifar10-wrn: widen %d out of range [%d, %d]",
                              a->widen, DS_ARCH_WIDEN_MIN, DS_ARCH_WIDEN_MAX);
    }
    int nw = arch_widenable(a->name);
    for (int i = 0; i < DS_ARCH_MAX_EXTRA; i++) {
        if (a->extra[i] < 0 || a->extra[i] > 65536)
            return ds_err_set(err, DS_ERANGE, "architecture %s: extra units %d of hidden layer %d out of range [0, 65536]",
                              a->name, a->extra[i], i);
        if (a->extra[i] && !nw)
            return ds_err_set(err, DS_EINVAL,
                              "architecture %s: extra units for hidden layer %d, but its layers cannot "
                              "be widened (residual adds fix their widths)", a->name, i);
        if (a->extra[i] && i >= nw)
            return ds_err_set(err, DS_EINVAL,
                              "architecture %s: extra units for hidden layer %d, but it has only %d "
                              "hidden layers", a->name, i, nw);
    }
    return DS_OK;
}

/* ------------------------------------------------------------ graph: the layout text */

/* A cursor over the layout text; line counts from 1 for messages. */
typedef struct layout_cursor {
    const char *p;
    int line;
} layout_cursor;

static void layout_skip_blanks(layout_cursor *c)
{
    while (*c->p == ' ' || *c->p == '\t') c->p++;
}

/* The next whitespace-free word into buf[cap]; 0, or -1 if none or too long. */
static int layout_word(layout_cursor *c, char *buf, size_t cap)
{
    layout_skip_blanks(c);
    size_t n = 0;
    while (c->p[n] && c->p[n] != ' ' && c->p[n] != '\t' && c->p[n] != '\n') n++;
    if (n == 0 || n >= cap) return -1;
    memcpy(buf, c->p, n);
    buf[n] = '\0';
    c->p += n;
    return 0;
}

/* The next word as a finite number in [lo, hi]; integral when integer. */
static int layout_number(layout_cursor *c, double lo, double hi, int integer, double *out)
{
    char w[32];
    if (layout_word(c, w, sizeof w)) return -1;
    char *end;
    errno = 0;
    double v = integer ? (double)strtol(w, &end, 10) : strtod(w, &end);
    if (errno || *end || !isfinite(v) || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

static int layout_int(layout_cursor *c, long lo, long hi, int *out)
{
    double v;
    if (layout_number(c, (double)lo, (double)hi, 1, &v)) return -1;
    *out = (int)v;
    return 0;
}

static int layout_float(layout_cursor *c, float lo, float hi, float *out)
{
    double v;
    if (layout_number(c, lo, hi, 0, &v)) return -1;
    *out = (float)v;
    return 0;
}

/* The rest of the line must be blank; moves past its newline. */
static int layout_line_end(layout_cursor *c)
{
    layout_skip_blanks(c);
    if (*c->p == '\n') {
        c->p++;
        c->line++;
        return 0;
    }
    return *c->p ? -1 : 0;
}

/* The fields of an "OP NAME IN" line after IN, and the layer they describe. */
static int layout_layer(ds_graph *g, layout_cursor *c, const char *op, int in)
{
    int in1 = 0, v[5] = {0};
    float f = 0.0f;
    int id;
    if (!strcmp(op, "dense")) {
        if (layout_int(c, 1, INT32_MAX, &v[0]) || layout_int(c, 0, 1, &v[1])) return -1;
        id = ds_graph_dense(g, in, v[0], v[1]);
    } else if (!strcmp(op, "conv")) {
        if (layout_int(c, 1, INT32_MAX, &v[0]) || layout_int(c, 1, 64, &v[1]) || layout_int(c, 1, 64, &v[2]) ||
            layout_int(c, 0, 64, &v[3]) || layout_int(c, 0, 1, &v[4]))
            return -1;
        id = ds_graph_conv(g, in, v[0], v[1], v[2], v[3], v[4]);
    } else if (!strcmp(op, "maxpool") || !strcmp(op, "avgpool")) {
        if (layout_int(c, 1, 1024, &v[0]) || layout_int(c, 1, 1024, &v[1])) return -1;
        id = (op[0] == 'm' ? ds_graph_maxpool : ds_graph_avgpool)(g, in, v[0], v[1]);
    } else if (!strcmp(op, "dropout")) {
        if (layout_float(c, 0.0f, 0.999999f, &f)) return -1;
        id = ds_graph_dropout(g, in, f);
    } else if (!strcmp(op, "bn")) {
        if (layout_float(c, 1e-12f, 1.0f, &f)) return -1;
        id = ds_graph_bn(g, in);
        if (id >= 0) g->nodes[id].eps = f;
    } else if (!strcmp(op, "add")) {
        if (layout_int(c, 0, g->n - 1, &in1)) return -1;
        id = ds_graph_add(g, in, in1);
    } else if (!strcmp(op, "gap")) {
        id = ds_graph_gap(g, in);
    } else if (!strcmp(op, "relu")) {
        id = ds_graph_relu(g, in);
    } else if (!strcmp(op, "flatten")) {
        id = ds_graph_flatten(g, in);
    } else {
        return -1;
    }
    return id < 0 ? -2 : 0;
}

/* One node line "OP NAME IN ..." (model.h); -1 if it is not well formed. */
static int layout_node(const ds_arch *a, ds_graph *g, layout_cursor *c)
{
    char op[16], name[DS_NAME_MAX];
    int in = 0, v[3] = {0};
    if (layout_word(c, op, sizeof op)) return -1;
    if (g->n == 0) {
        if (strcmp(op, "input") || layout_int(c, 1, INT32_MAX, &v[0]) || layout_int(c, 1, INT32_MAX, &v[1]) ||
            layout_int(c, 1, INT32_MAX, &v[2]))
            return -1;
        if (v[0] != a->in_c || v[1] != a->in_h || v[2] != a->in_w) return -1;
        return ds_graph_input(g, v[0], v[1], v[2]) < 0 ? -2 : 0;
    }
    if (layout_word(c, name, sizeof name) || !ds_graph_name_ok(name) || layout_int(c, 0, g->n - 1, &in))
        return -1;
    for (int i = 0; i < g->n; i++)
        if (!strcmp(g->nodes[i].name, name)) return -1; /* names are unique */
    g->next_name = name;
    int r = layout_layer(g, c, op, in);
    g->next_name = NULL;
    return r;
}

static void layout_graph(const ds_arch *a, ds_graph *g)
{
    layout_cursor c = {a->layout, 1};
    while (*c.p && !g->failed) {
        int line = c.line, r = layout_node(a, g, &c);
        if (r == 0 && layout_line_end(&c)) r = -1;
        if (r == -1) {
            g->next_name = NULL;
            ds_err_set(g->err, DS_EFORMAT, "graph layout line %d is not a well-formed %s line "
                       "(model.h describes them)", line, g->n ? "layer" : "input");
            g->failed = 1;
        } else if (r == -2) {
            (void)ds_err_prefix(g->err, "graph layout line %d: ", line);
        }
    }
    if (g->failed) return;
    if (g->n < 2 || (int)g->nodes[g->n - 1].size != a->classes) {
        ds_err_set(g->err, DS_EFORMAT, "graph layout: %s, but there are %d classes",
                   g->n < 2 ? "no layers" : "the last layer's output is not the classes' logits",
                   a->classes);
        g->failed = 1;
    }
}

/* ------------------------------------------------------------ the named architectures */

static void layout_mlp(const ds_arch *a, ds_graph *g)
{
    int x = ds_graph_input(g, a->in_c, a->in_h, a->in_w);
    x = ds_graph_flatten(g, x);
    for (int i = 0; i < 2; i++) {
        x = ds_graph_relu(g, ds_graph_dense(g, x, a->hidden + a->extra[i], 1));
        if (a->dropout > 0.0f) x = ds_graph_dropout(g, x, a->dropout);
    }
    ds_graph_dense(g, x, a->classes, 1);
}

static int conv_relu(ds_graph *g, int x, int filters, int pad)
{
    return ds_graph_relu(g, ds_graph_conv(g, x, filters, 3, 1, pad, 1));
}

static int maybe_dropout(ds_graph *g, int x, float rate)
{
    return rate > 0.0f ? ds_graph_dropout(g, x, rate) : x;
}

static void layout_mnist_cnn(const ds_arch *a, ds_graph *g)
{
    int x = ds_graph_input(g, a->in_c, a->in_h, a->in_w);
    x = conv_relu(g, x, 32 + a->extra[0], 0);
    x = conv_relu(g, x, 64 + a->extra[1], 0);
    x = maybe_dropout(g, ds_graph_maxpool(g, x, 2, 2), a->dropout / 2);
    x = ds_graph_relu(g, ds_graph_dense(g, ds_graph_flatten(g, x), 128 + a->extra[2], 1));
    x = maybe_dropout(g, x, a->dropout);
    ds_graph_dense(g, x, a->classes, 1);
}

static void layout_cifar_cnn(const ds_arch *a, ds_graph *g)
{
    int x = ds_graph_input(g, a->in_c, a->in_h, a->in_w);
    int e = 0;
    for (int f = 32; f <= 64; f *= 2) {
        x = conv_relu(g, x, f + a->extra[e++], 1);
        x = conv_relu(g, x, f + a->extra[e++], 0);
        x = maybe_dropout(g, ds_graph_maxpool(g, x, 2, 2), a->dropout / 2);
    }
    x = ds_graph_relu(g, ds_graph_dense(g, ds_graph_flatten(g, x), 512 + a->extra[e], 1));
    x = maybe_dropout(g, x, a->dropout);
    ds_graph_dense(g, x, a->classes, 1);
}

/* pre-activation wide basic block: BN-ReLU-conv3(stride)-BN-ReLU-[drop]-conv3 + shortcut */
static int wrn_block(ds_graph *g, int x, int out, int stride, float drop)
{
    int o = ds_graph_relu(g, ds_graph_bn(g, x));
    int shortcut = x;
    if (x >= 0 && (g->nodes[x].c != out || stride != 1))
        shortcut = ds_graph_conv(g, o, out, 1, stride, 0, 0);
    int y = ds_graph_conv(g, o, out, 3, stride, 1, 0);
    y = maybe_dropout(g, ds_graph_relu(g, ds_graph_bn(g, y)), drop);
    y = ds_graph_conv(g, y, out, 3, 1, 1, 0);
    return ds_graph_add(g, y, shortcut);
}

static void layout_wrn(const ds_arch *a, ds_graph *g)
{
    int n = (a->depth - 4) / 6;
    int x = ds_graph_input(g, a->in_c, a->in_h, a->in_w);
    x = ds_graph_conv(g, x, 16, 3, 1, 1, 0);
    for (int grp = 0; grp < 3; grp++)
        for (int i = 0; i < n; i++)
            x = wrn_block(g, x, (16 << grp) * a->widen, (grp > 0 && i == 0) ? 2 : 1, a->dropout);
    x = ds_graph_gap(g, ds_graph_relu(g, ds_graph_bn(g, x)));
    ds_graph_dense(g, x, a->classes, 1);
}

/* "mnist-mlp with input 1x28x28, 10 classes, hidden 512" (and the other options
 * that shape the layers) into buf, for messages. */
static void arch_describe(const ds_arch *a, char *buf, size_t len)
{
    int k = snprintf(buf, len, "%s with input %dx%dx%d, %d classes", a->name, a->in_c, a->in_h,
                     a->in_w, a->classes);
    if (k > 0 && (size_t)k < len && !strcmp(a->name, "mnist-mlp"))
        k += snprintf(buf + k, len - (size_t)k, ", hidden %d", a->hidden);
    if (k > 0 && (size_t)k < len && !strcmp(a->name, "cifar10-wrn"))
        k += snprintf(buf + k, len - (size_t)k, ", depth %d, widen %d", a->depth, a->widen);
    for (int i = 0; i < DS_ARCH_MAX_EXTRA && k > 0 && (size_t)k < len; i++)
        if (a->extra[i]) k += snprintf(buf + k, len - (size_t)k, ", %d extra units in hidden layer %d",
                                       a->extra[i], i);
}

/* A layout that failed (g->failed, message in err): say in which architecture and
 * where, since the graph's own message knows neither. */
static ds_status layout_failed(const ds_arch *a, const ds_graph *g, ds_err *err)
{
    if (!err) return DS_EINVAL;
    char what[DS_ERR_MSG_MAX], desc[192], where[96] = "";
    snprintf(what, sizeof what, "%s", err->msg);
    arch_describe(a, desc, sizeof desc);
    if (g->n > 0) {
        const ds_node *last = &g->nodes[g->n - 1];
        snprintf(where, sizeof where, "; last layer laid out: %s, %dx%dx%d", last->name, last->c,
                 last->h, last->w);
    }
    return ds_err_set(err, err->code, "%s (in %s%s)", what, desc, where);
}

ds_status ds_arch_layout(const ds_arch *a, ds_graph *g, ds_err *err)
{
    ds_status st = ds_arch_validate(a, err);
    if (st) return st;
    g->err = err;
    if (!strcmp(a->name, "graph")) { /* the layout text, not a row of the table */
        layout_graph(a, g);
    } else {
        const arch_row *r = arch_find(a->name);
        if (!r) return arch_unknown(a->name, err);
        r->layout(a, g);
    }
    return g->failed ? layout_failed(a, g, err) : DS_OK;
}
