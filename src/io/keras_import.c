/* keras_import.c - an mnist-mlp, mnist-cnn or cifar10-cnn from a Keras HDF5 weights file.
 *
 * Keras (1 and 2) save_weights files list their layers in the root attribute
 * `layer_names`; each layer group lists its weights, as paths inside the group,
 * in the attribute `weight_names` (Keras 1: "dense_1_W:0" directly in the group;
 * Keras 2: "dense_1/kernel:0" in a subgroup). A full-model file keeps the same
 * structure under /model_weights. Files without these attributes are read by
 * taking the root's groups in natural name order ("dense_2" before "dense_10")
 * and the float datasets below each. Only layers with weights count, each a
 * kernel and a 1-D bias:
 *   3 dense (2-D kernel [in, out]), 784->H->H->10: an mnist-mlp;
 *   2 Conv2D (4-D kernel [K, K, C, F]) and 2 dense: the Keras MNIST CNN
 *     (mnist-cnn, input C x 28 x 28);
 *   4 Conv2D and 2 dense: the Keras CIFAR-10 CNN (cifar10-cnn, C x 32 x 32).
 * Layers wider than the architecture's become its extra units. A Keras dense
 * kernel [in, out] is our W layout; a Conv2D kernel [K, K, C, F] is our
 * [F, C, K, K] transposed; the dense layer after Keras' Flatten reads the
 * features channels-last (h, w, c), so its rows are permuted to our (c, h, w).
 * Every kernel's shape is compared with the architecture's before it is read.
 */
#include "deepsigns/model_file.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/h5util.h"
#include "io/untrusted.h"

enum {
    KERAS_MAX_LAYERS = 8,  /* layers with weights we keep track of (mnist-mlp has 3) */
    KERAS_MAX_DEPTH = 4,   /* deepest group nesting searched below a layer group */
    KERAS_MAX_VISITS = 100000, /* objects a scan may look at (hard links can form cycles) */
    KERAS_IN = 784,        /* 1x28x28 inputs */
    KERAS_CLASSES = 10,
};

/* A dense layer found in the file: kernel and bias paths relative to the weights root. */
typedef struct keras_layer {
    char name[128];
    char kernel[DS_H5_PATH_MAX], bias[DS_H5_PATH_MAX];
    ds_h5_shape ks, bs;
    int nweights;
} keras_layer;

typedef struct keras_ctx {
    const char *file;
    hid_t root;  /* the group holding the layer groups: / or /model_weights */
    keras_layer layers[KERAS_MAX_LAYERS];
    int n;
    long visits;  /* objects looked at by scan_weights so far */
} keras_ctx;

/* ------------------------------------------------------------ natural order */

/* Compare with digit runs taken as numbers: "dense_2" < "dense_10". */
static int natural_cmp(const char *a, const char *b)
{
    while (*a && *b) {
        if (isdigit((unsigned char)*a) && isdigit((unsigned char)*b)) {
            while (*a == '0') a++;
            while (*b == '0') b++;
            size_t la = 0, lb = 0;
            while (isdigit((unsigned char)a[la])) la++;
            while (isdigit((unsigned char)b[lb])) lb++;
            if (la != lb) return la < lb ? -1 : 1;
            int c = strncmp(a, b, la);
            if (c) return c;
            a += la;
            b += lb;
        } else if (*a != *b) {
            return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
        } else {
            a++;
            b++;
        }
    }
    return *a ? 1 : *b ? -1 : 0;
}

static int natural_qsort_cmp(const void *x, const void *y)
{
    return natural_cmp(*(char *const *)x, *(char *const *)y);
}

static ds_status list_natural(keras_ctx *c, hid_t grp, ds_h5_strings *names, ds_err *err)
{
    ds_status st = ds_h5_list_links(grp, c->file, names, err);
    if (!st && names->n > 1) qsort(names->s, names->n, sizeof *names->s, natural_qsort_cmp);
    return st;
}

/* ------------------------------------------------------------ collecting layers */

static ds_status join(const keras_ctx *c, const char *a, const char *b, char *out, ds_err *err)
{
    if ((size_t)snprintf(out, DS_H5_PATH_MAX, "%s/%s", a, b) >= DS_H5_PATH_MAX)
        return ds_err_set(err, DS_EFORMAT, "%s: object path %s/%s is too long", c->file, a, b);
    return DS_OK;
}

/* Record the dataset at rel (relative to the root) as L's kernel or bias. */
static ds_status layer_add_weight(keras_ctx *c, keras_layer *L, const char *rel, ds_err *err)
{
    ds_h5_shape s;
    char shape[96];
    ds_status st = ds_h5_dataset_shape(c->root, rel, c->file, &s, err);
    if (st) return st;
    ds_h5_shape_str(s.ndim, s.dims, shape, sizeof shape);
    char *slot = s.ndim == 2 || s.ndim == 4 ? L->kernel : s.ndim == 1 ? L->bias : NULL;
    if (s.cls != H5T_FLOAT)
        return ds_err_set(err, DS_EFORMAT, "%s: layer %s: weight %s is not a float dataset", c->file,
                          L->name, rel);
    if (!slot || slot[0])
        return ds_err_set(err, DS_EFORMAT,
                          "%s: layer %s: weight %s has shape %s; only dense and Conv2D layers (one "
                          "2-D or 4-D kernel and one 1-D bias) can be imported",
                          c->file, L->name, rel, shape);
    snprintf(slot, DS_H5_PATH_MAX, "%s", rel);
    *(s.ndim == 1 ? &L->bs : &L->ks) = s;
    L->nweights++;
    return DS_OK;
}

/* Add every float dataset below group rel (depth-first, natural order) to L. */
static ds_status scan_weights(keras_ctx *c, keras_layer *L, const char *rel, int depth, ds_err *err)
{
    if (depth > KERAS_MAX_DEPTH)
        return ds_err_set(err, DS_EFORMAT, "%s: layer %s: groups nested more than %d deep at %s",
                          c->file, L->name, KERAS_MAX_DEPTH, rel);
    hid_t g = -1;
    ds_h5_strings names = {0, NULL};
    ds_status st = ds_h5_group_open(c->root, rel, c->file, &g, err);
    if (!st) st = list_natural(c, g, &names, err);
    for (size_t i = 0; st == DS_OK && i < names.n; i++) {
        char child[DS_H5_PATH_MAX];
        ds_h5_shape s;
        if (++c->visits > KERAS_MAX_VISITS)
            st = ds_err_set(err, DS_EFORMAT, "%s: layer %s: more than %d objects below it", c->file,
                            L->name, KERAS_MAX_VISITS);
        if (st || (st = join(c, rel, names.s[i], child, err)) != DS_OK) break;
        if (ds_h5_obj_is(c->root, child, H5I_GROUP) > 0)
            st = scan_weights(c, L, child, depth + 1, err);
        else if (ds_h5_obj_is(c->root, child, H5I_DATASET) > 0 &&
                 (st = ds_h5_dataset_shape(c->root, child, c->file, &s, err)) == DS_OK &&
                 s.cls == H5T_FLOAT)
            st = layer_add_weight(c, L, child, err);
    }
    ds_h5_strings_free(&names);
    return ds_h5_close(&g, c->file, st, err);
}

/* Weights of layer group `name`: as its `weight_names` attribute lists them, or scanned. */
static ds_status collect_layer(keras_ctx *c, keras_layer *L, const char *name, ds_err *err)
{
    memset(L, 0, sizeof *L);
    if ((size_t)snprintf(L->name, sizeof L->name, "%s", name) >= sizeof L->name)
        return ds_err_set(err, DS_EFORMAT, "%s: layer name '%.40s...' is too long", c->file, name);
    hid_t g = -1;
    ds_status st = ds_h5_group_open(c->root, name, c->file, &g, err);
    int e = st ? 0 : ds_h5_attr_exists(g, "weight_names");
    if (e < 0) st = ds_h5_fail(err, DS_EFORMAT, "%s: layer %s: cannot read its attributes", c->file, name);
    if (!st && e == 0) st = scan_weights(c, L, name, 0, err);
    ds_h5_strings w = {0, NULL};
    if (!st && e > 0) st = ds_h5_attr_read_strings(g, "weight_names", c->file, &w, err);
    for (size_t i = 0; st == DS_OK && i < w.n; i++) {
        char rel[DS_H5_PATH_MAX];
        st = join(c, name, w.s[i], rel, err);
        if (!st && ds_h5_exists(c->root, rel) == 0)
            st = ds_err_set(err, DS_EFORMAT, "%s: layer %s: weight_names lists %s, which is missing",
                            c->file, name, w.s[i]);
        if (!st) st = layer_add_weight(c, L, rel, err);
    }
    ds_h5_strings_free(&w);
    return ds_h5_close(&g, c->file, st, err);
}

/* Collect layer `name`; keep it if it has weights, which must be a kernel and a bias. */
static ds_status add_layer(keras_ctx *c, const char *name, ds_err *err)
{
    keras_layer L;
    ds_status st = collect_layer(c, &L, name, err);
    if (st || L.nweights == 0) return st;
    if (!L.kernel[0] || !L.bias[0])
        return ds_err_set(err, DS_EFORMAT,
                          "%s: layer %s has a %s but no %s; only dense and Conv2D layers with a "
                          "bias can be imported", c->file, name, L.kernel[0] ? "kernel" : "bias",
                          L.kernel[0] ? "bias" : "kernel");
    if (c->n == KERAS_MAX_LAYERS)
        return ds_err_set(err, DS_EFORMAT,
                          "%s: more than %d layers have weights; an mnist-mlp has 3 dense layers",
                          c->file, KERAS_MAX_LAYERS);
    c->layers[c->n++] = L;
    return DS_OK;
}

/* Layers in the order the root lists them: `layer_names`, else natural group order. */
static ds_status collect_layers(keras_ctx *c, ds_err *err)
{
    ds_h5_strings names = {0, NULL};
    int e = ds_h5_attr_exists(c->root, "layer_names");
    ds_status st = DS_OK;
    if (e < 0) st = ds_h5_fail(err, DS_EFORMAT, "%s: cannot read the root attributes", c->file);
    else if (e > 0) st = ds_h5_attr_read_strings(c->root, "layer_names", c->file, &names, err);
    else st = list_natural(c, c->root, &names, err);
    for (size_t i = 0; st == DS_OK && i < names.n; i++) {
        if (e == 0 && ds_h5_obj_is(c->root, names.s[i], H5I_GROUP) <= 0) continue;
        st = add_layer(c, names.s[i], err);
    }
    ds_h5_strings_free(&names);
    return st;
}

/* ------------------------------------------------------------ checking and loading */

/* "dense_1 784x512+512, dense_2 ..." for messages. */
static void describe_layers(const keras_ctx *c, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < c->n && used < len; i++) {
        char k[96], b[96];
        ds_h5_shape_str(c->layers[i].ks.ndim, c->layers[i].ks.dims, k, sizeof k);
        ds_h5_shape_str(c->layers[i].bs.ndim, c->layers[i].bs.dims, b, sizeof b);
        used += (size_t)snprintf(buf + used, len - used, "%s%s %s+%s", i ? ", " : "",
                                 c->layers[i].name, k, b);
    }
}

/* Three dense layers 784->H->H->10; returns H in *hidden. */
static ds_status check_mlp(const keras_ctx *c, int *hidden, ds_err *err)
{
    char found[200];
    describe_layers(c, found, sizeof found);
    if (c->n != 3)
        return ds_err_set(err, DS_EFORMAT,
                          "%s: expected 3 dense layers (mnist-mlp 784-H-H-10), found %d layers with "
                          "weights%s%s", c->file, c->n, c->n ? ": " : "", found);
    hsize_t H = c->layers[0].ks.dims[1];
    *hidden = H > INT_MAX ? INT_MAX : (int)H;
    const hsize_t in[3] = {KERAS_IN, H, H}, out[3] = {H, H, KERAS_CLASSES};
    for (int i = 0; i < 3; i++) {
        const keras_layer *L = &c->layers[i];
        if (L->ks.dims[0] != in[i] || L->ks.dims[1] != out[i] || L->bs.dims[0] != out[i])
            return ds_err_set(err, DS_EFORMAT,
                              "%s: layer %s has kernel %llux%llu and bias %llu, expected %llux%llu and "
                              "%llu (mnist-mlp 784-H-H-10 with H = %llu; layers found: %s)",
                              c->file, L->name, (unsigned long long)L->ks.dims[0],
                              (unsigned long long)L->ks.dims[1], (unsigned long long)L->bs.dims[0],
                              (unsigned long long)in[i], (unsigned long long)out[i],
                              (unsigned long long)out[i], (unsigned long long)H, found);
    }
    return DS_OK;
}

/* Read layer i's kernel and bias into tensors dense_<i+1>.W and .b. */
static ds_status load_layer(const keras_ctx *c, ds_model *m, int i, ds_err *err)
{
    const keras_layer *L = &c->layers[i];
    const char *const paths[2] = {L->kernel, L->bias};
    const char *const suffix[2] = {"W", "b"};
    for (int k = 0; k < 2; k++) {
        char name[DS_NAME_MAX];
        snprintf(name, sizeof name, "dense_%d.%s", i + 1, suffix[k]);
        int t = ds_model_find_tensor(m, name);
        if (t < 0) return ds_err_set(err, DS_EINVAL, "%s: mnist-mlp has no tensor %s", c->file, name);
        const ds_tensor *ts = &m->tensors[t];
        ds_status st = ds_h5_read_f32(c->root, paths[k], ts->ndim, ts->dims,
                                      ds_model_tensor_data(m, t), c->file, err);
        if (st) return st;
    }
    return DS_OK;
}

static ds_status build_mlp(const keras_ctx *c, int hidden, const ds_preproc *pp, ds_model **out,
                           ds_err *err)
{
    ds_arch arch;
    ds_status st = ds_arch_defaults("mnist-mlp", 1, 28, 28, KERAS_CLASSES, &arch, err);
    arch.hidden = hidden;  /* ds_model_build validates it before allocating */
    if (!st && (*out = ds_model_build(&arch, err)) == NULL) st = err ? err->code : DS_EINVAL;
    if (st) {
        (void)ds_err_prefix(err, "%s: ", c->file);
        return st;
    }
    for (int i = 0; st == DS_OK && i < 3; i++) st = load_layer(c, *out, i, err);
    (*out)->meta.preproc = *pp;
    snprintf((*out)->meta.source, sizeof (*out)->meta.source, "keras-import");
    return st;
}

/* ------------------------------------------------------------ the two CNNs */

/* The CNN the layers describe: 2 Conv2D + 2 dense (mnist-cnn) or 4 + 2
 * (cifar10-cnn), convolutions first; its widths beyond the defaults as extra units. */
static ds_status cnn_arch(const keras_ctx *c, ds_arch *arch, ds_err *err)
{
    static const int mnist_w[] = {32, 64, 128}, cifar_w[] = {32, 32, 64, 64, 512};
    char found[200];
    describe_layers(c, found, sizeof found);
    int nconv = 0;
    while (nconv < c->n && c->layers[nconv].ks.ndim == 4) nconv++;
    int ok = (nconv == 2 || nconv == 4) && c->n == nconv + 2;
    for (int i = nconv; ok && i < c->n; i++) ok = c->layers[i].ks.ndim == 2;
    if (!ok)
        return ds_err_set(err, DS_EFORMAT,
                          "%s: the layers with weights are not those of mnist-mlp (3 dense), mnist-cnn "
                          "(2 Conv2D, 2 dense) or cifar10-cnn (4 Conv2D, 2 dense): %s", c->file, found);
    const keras_layer *first = &c->layers[0], *last = &c->layers[c->n - 1];
    const char *name = nconv == 2 ? "mnist-cnn" : "cifar10-cnn";
    int hw = nconv == 2 ? 28 : 32;
    if (first->ks.dims[2] < 1 || first->ks.dims[2] > 4 || last->ks.dims[1] < 2 || last->ks.dims[1] > 100000)
        return ds_err_set(err, DS_EFORMAT, "%s: %s with %llu input channels and %llu classes is out of range "
                          "(layers found: %s)", c->file, name, (unsigned long long)first->ks.dims[2],
                          (unsigned long long)last->ks.dims[1], found);
    ds_status st = ds_arch_defaults(name, (int)first->ks.dims[2], hw, hw, (int)last->ks.dims[1], arch, err);
    const int *defaults = nconv == 2 ? mnist_w : cifar_w;
    for (int i = 0; st == DS_OK && i < c->n - 1; i++) {
        const keras_layer *L = &c->layers[i];
        hsize_t width = L->ks.dims[L->ks.ndim - 1];
        if (width < (hsize_t)defaults[i] || width > (hsize_t)defaults[i] + 65536)
            return ds_err_set(err, DS_EFORMAT, "%s: layer %s has %llu units; %s's layer %d has %d to %d "
                              "(layers found: %s)", c->file, L->name, (unsigned long long)width, name, i + 1,
                              defaults[i], defaults[i] + 65536, found);
        arch->extra[i] = (int)(width - (hsize_t)defaults[i]);
    }
    return st;
}

/* The kernel of layer L, its Keras shape checked against tensor t of node nd, into
 * t's data: a Conv2D kernel [K, K, C, F] as [F, C, K, K]; a dense kernel after a
 * flatten of (C, H, W) with its rows from (h, w, c) order to (c, h, w). */
static ds_status load_kernel(const keras_ctx *c, const keras_layer *L, ds_model *m, const ds_node *nd,
                             ds_err *err)
{
    const ds_tensor *t = &m->tensors[nd->t_w];
    const ds_node *src = &m->nodes[nd->in0];
    const ds_node *grid = src->op == DS_OP_FLATTEN ? &m->nodes[src->in0] : src; /* what was flattened */
    int kd[4], same = L->ks.ndim == t->ndim;
    if (same && t->ndim == 4) { kd[0] = t->dims[2]; kd[1] = t->dims[3]; kd[2] = t->dims[1]; kd[3] = t->dims[0]; }
    else if (same) { kd[0] = t->dims[0]; kd[1] = t->dims[1]; }
    for (int d = 0; same && d < t->ndim; d++) same = L->ks.dims[d] == (hsize_t)kd[d];
    if (!same || L->bs.dims[0] != (hsize_t)nd->c) {
        char got[96];
        ds_h5_shape_str(L->ks.ndim, L->ks.dims, got, sizeof got);
        return ds_err_set(err, DS_EFORMAT, "%s: layer %s has kernel %s, which does not fit %s's %s "
                          "(%s of %d units)", c->file, L->name, got, m->arch.name, nd->name,
                          t->ndim == 4 ? "[K, K, C, F] convolution" : "[in, out] dense layer", nd->c);
    }
    float *tmp = malloc(sizeof *tmp * t->size), *W = ds_model_tensor_data(m, nd->t_w);
    if (!tmp) return ds_err_set(err, DS_ENOMEM, "%s: out of memory for layer %s", c->file, L->name);
    ds_status st = ds_h5_read_f32(c->root, L->kernel, t->ndim, kd, tmp, c->file, err);
    if (!st && t->ndim == 4) { /* [K, K, C, F] -> [F, C, K, K] */
        const size_t K = (size_t)kd[0], C = (size_t)kd[2], F = (size_t)kd[3];
        for (size_t i = 0; i < K; i++)
            for (size_t j = 0; j < K; j++)
                for (size_t ch = 0; ch < C; ch++)
                    for (size_t f = 0; f < F; f++)
                        W[((f * C + ch) * K + i) * K + j] = tmp[((i * K + j) * C + ch) * F + f];
    } else if (!st && grid->h * grid->w > 1) { /* rows (h, w, c) -> (c, h, w) */
        const size_t C = (size_t)grid->c, HW = (size_t)grid->h * grid->w, out = (size_t)kd[1];
        for (size_t p = 0; p < HW; p++)
            for (size_t ch = 0; ch < C; ch++)
                memcpy(W + (ch * HW + p) * out, tmp + (p * C + ch) * out, sizeof *W * out);
    } else if (!st) {
        memcpy(W, tmp, sizeof *W * t->size);
    }
    free(tmp);
    return st;
}

static ds_status build_cnn(const keras_ctx *c, const ds_preproc *pp, ds_model **out, ds_err *err)
{
    ds_arch arch;
    ds_status st = cnn_arch(c, &arch, err);
    if (!st && (*out = ds_model_build(&arch, err)) == NULL) st = ds_err_prefix(err, "%s: ", c->file);
    int layer = 0;
    for (int i = 0; st == DS_OK && i < (*out)->nnodes; i++) {
        const ds_node *nd = &(*out)->nodes[i];
        if (nd->op != DS_OP_CONV2D && nd->op != DS_OP_DENSE) continue;
        const keras_layer *L = &c->layers[layer++];
        const ds_tensor *tb = &(*out)->tensors[nd->t_b];
        st = load_kernel(c, L, *out, nd, err);
        if (!st) st = ds_h5_read_f32(c->root, L->bias, tb->ndim, tb->dims, ds_model_tensor_data(*out, nd->t_b),
                                     c->file, err);
    }
    if (!st) {
        (*out)->meta.preproc = *pp;
        snprintf((*out)->meta.source, sizeof (*out)->meta.source, "keras-import");
    }
    return st;
}

/* The group holding the layers: /model_weights in a full-model file, else the root. */
static ds_status open_weights_root(hid_t f, keras_ctx *c, ds_err *err)
{
    int full = ds_h5_obj_is(f, "model_weights", H5I_GROUP);
    if (full < 0) return ds_h5_fail(err, DS_EFORMAT, "%s: cannot look up /model_weights", c->file);
    if (full) return ds_h5_group_open(f, "model_weights", c->file, &c->root, err);
    c->root = H5Gopen2(f, "/", H5P_DEFAULT);
    if (c->root < 0) return ds_h5_fail(err, DS_EFORMAT, "%s: cannot open the root group", c->file);
    return DS_OK;
}

static ds_model *import_direct(const char *path, const ds_preproc *pp, ds_err *err)
{
    ds_preproc pre = {.scale = 1.0f / 255.0f, .channels = 1, .std = {1.0f, 1.0f, 1.0f}};
    if (pp) pre = *pp;
    if (ds_io_check_preproc(&pre, path, err)) return NULL;
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        ds_err_set(err, DS_EIO, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    (void)fclose(fp);
    keras_ctx *c = calloc(1, sizeof *c);
    if (!c) {
        ds_err_set(err, DS_ENOMEM, "%s: out of memory", path);
        return NULL;
    }
    c->file = path;
    c->root = -1;
    ds_h5_quiet q;
    ds_h5_quiet_begin(&q);
    ds_model *m = NULL;
    int hidden = 0;
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    ds_status st = f < 0 ? ds_h5_fail(err, DS_EFORMAT, "%s: not a readable HDF5 file", path) : DS_OK;
    if (!st && ds_h5_attr_exists(f, "magic") > 0)
        st = ds_err_set(err, DS_EFORMAT, "%s: this is a deepsigns model file, not a Keras one; "
                        "load it with ds_model_load", path);
    if (!st) st = open_weights_root(f, c, err);
    if (!st) st = collect_layers(c, err);
    int conv = 0;
    for (int i = 0; i < c->n; i++) conv |= c->layers[i].ks.ndim == 4;
    if (!st && conv) st = build_cnn(c, &pre, &m, err);
    if (!st && !conv) st = check_mlp(c, &hidden, err);
    if (!st && !conv) st = build_mlp(c, hidden, &pre, &m, err);
    st = ds_h5_close(&c->root, path, st, err);
    st = ds_h5_close(&f, path, st, err);
    ds_h5_quiet_end(&q);
    free(c);
    if (st) {
        ds_model_free(m);
        return NULL;
    }
    return m;
}

typedef struct {
    const char *path;
    const ds_preproc *pp;
} import_trial;

static void trial_import(void *ctx)
{
    const import_trial *t = ctx;
    ds_err e = {0};
    ds_model_free(import_direct(t->path, t->pp, &e));
}

ds_model *ds_model_import_keras(const char *path, const ds_preproc *pp, ds_err *err)
{
    import_trial t = {path, pp};
    if (ds_io_trial_parse(path, "Keras weights", trial_import, &t, DS_IO_TRIAL_SECONDS, err)) return NULL;
    return import_direct(path, pp, err);
}
