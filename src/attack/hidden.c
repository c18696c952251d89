/* hidden.c - finding the hidden layers that permute and dummy may reshape
 * (see hidden.h for the tensor views). */
#include "attack/hidden.h"

#include <stdlib.h>
#include <string.h>

static int is_layer(ds_op op) { return op == DS_OP_DENSE || op == DS_OP_CONV2D; }

/* Nodes that act on each unit (channel or feature) separately. */
static int is_per_unit(ds_op op)
{
    return op == DS_OP_RELU || op == DS_OP_DROPOUT || op == DS_OP_MAXPOOL ||
           op == DS_OP_BATCHNORM || op == DS_OP_GAP || op == DS_OP_FLATTEN || op == DS_OP_AVGPOOL;
}

/* The nodes reading node i: their count, the first two in *a, *b. */
static int consumers(const ds_model *m, int i, int *a, int *b)
{
    int n = 0;
    *a = *b = -1;
    for (int j = i + 1; j < m->nnodes; j++)
        if (m->nodes[j].in0 == i || m->nodes[j].in1 == i) {
            if (n == 0) *a = j;
            else if (n == 1) *b = j;
            n++;
        }
    return n;
}

static ds_status add_view(ds_hidden *h, int t, ds_unit_role role, size_t outer, size_t seg,
                          const char *what, const char *name, ds_err *err)
{
    if (t < 0) return DS_OK;
    if (h->nviews == DS_HIDDEN_MAX_VIEWS)
        return ds_err_set(err, DS_EINVAL, "%s: layer %s: too many batch norms before the next layer",
                          what, name);
    h->views[h->nviews++] = (ds_unit_view){.t = t, .role = role, .outer = outer, .seg = seg};
    return DS_OK;
}

ds_status ds_hidden_at(const ds_model *m, int node, const char *what, ds_hidden *h, ds_err *err)
{
    memset(h, 0, sizeof *h);
    const ds_node *p = &m->nodes[node];
    if (!is_layer(p->op))
        return ds_err_set(err, DS_EINVAL, "%s: node %s is not a dense or conv layer", what, p->name);
    if (node == ds_model_output_node(m))
        return ds_err_set(err, DS_EINVAL,
                          "%s: layer %s is the output layer (its units are the classes); "
                          "choose a hidden layer", what, p->name);
    h->node = node;
    h->units = p->c;
    for (int i = 0; i < node; i++) h->index += is_layer(m->nodes[i].op);
    const size_t units = (size_t)p->c;
    const ds_tensor *tw = &m->tensors[p->t_w];
    ds_status st = p->op == DS_OP_DENSE
                       ? add_view(h, p->t_w, DS_UNIT_IN_W, (size_t)tw->dims[0], 1, what, p->name, err)
                       : add_view(h, p->t_w, DS_UNIT_IN_W, 1, tw->size / units, what, p->name, err);
    if (!st) st = add_view(h, p->t_b, DS_UNIT_IN_B, 1, 1, what, p->name, err);
    /* walk to the consumer through per-unit nodes */
    int cur = node;
    while (!st) {
        int a, b;
        int n = consumers(m, cur, &a, &b);
        if (n == 0)
            return ds_err_set(err, DS_EINVAL, "%s: layer %s: %s feeds no layer", what, p->name,
                              m->nodes[cur].name);
        if (n > 1)
            return ds_err_set(err, DS_EINVAL,
                              "%s: layer %s: its output feeds more than one node (%s and %s); "
                              "only a chain into a single dense/conv layer can be reshaped",
                              what, p->name, m->nodes[a].name, m->nodes[b].name);
        const ds_node *q = &m->nodes[a];
        if (q->op == DS_OP_ADD)
            return ds_err_set(err, DS_EINVAL,
                              "%s: layer %s: its output feeds the residual add %s, which fixes "
                              "its width and unit order", what, p->name, q->name);
        if (is_layer(q->op)) {
            h->consumer = a;
            break;
        }
        if (!is_per_unit(q->op) || q->c % p->c)
            return ds_err_set(err, DS_EINVAL, "%s: layer %s: node %s between it and the next "
                              "layer does not act per unit", what, p->name, q->name);
        if (q->op == DS_OP_BATCHNORM) {
            size_t blk = (size_t)q->c / units;
            st = add_view(h, q->t_w, DS_UNIT_BN_GAMMA, 1, blk, what, p->name, err);
            if (!st) st = add_view(h, q->t_b, DS_UNIT_BN_BETA, 1, blk, what, p->name, err);
            if (!st) st = add_view(h, q->t_mean, DS_UNIT_BN_MEAN, 1, blk, what, p->name, err);
            if (!st) st = add_view(h, q->t_var, DS_UNIT_BN_VAR, 1, blk, what, p->name, err);
        }
        cur = a;
    }
    if (st) return st;
    const ds_node *q = &m->nodes[h->consumer];
    const ds_node *qin = &m->nodes[q->in0];
    const ds_tensor *qw = &m->tensors[q->t_w];
    if (q->op == DS_OP_DENSE) {
        /* W[NI, NO]: input row r = unit * blk + j (channel-major after a flatten) */
        if (qin->size % units)
            return ds_err_set(err, DS_EINVAL, "%s: layer %s: %s's inputs do not split into its units",
                              what, p->name, q->name);
        return add_view(h, q->t_w, DS_UNIT_OUT_W, 1, qin->size / units * (size_t)qw->dims[1], what,
                        p->name, err);
    }
    /* W[F, C, K, K]: input channel c = unit * blk + j of every filter */
    if (qin->c % p->c)
        return ds_err_set(err, DS_EINVAL, "%s: layer %s: %s's input channels do not split into its units",
                          what, p->name, q->name);
    return add_view(h, q->t_w, DS_UNIT_OUT_W, (size_t)qw->dims[0],
                    (size_t)qin->c / units * (size_t)qw->dims[2] * qw->dims[3], what, p->name, err);
}

/* The dense/conv node a named node belongs to: itself, or the nearest one
 * before it through per-unit nodes. */
static ds_status resolve(const ds_model *m, const char *layer, const char *what, int *node,
                         ds_err *err)
{
    int i = ds_model_find_node(m, layer);
    if (i < 0)
        return ds_err_set(err, DS_EINVAL,
                          "%s: no layer '%s' in this %s model (give a node name such as dense_1, "
                          "conv_2 or relu_1, or a node index)", what, layer, m->arch.name);
    int j = i;
    while (j > 0 && is_per_unit(m->nodes[j].op)) j = m->nodes[j].in0;
    if (j <= 0 || !is_layer(m->nodes[j].op))
        return ds_err_set(err, DS_EINVAL, "%s: node %s does not follow a dense or conv layer (it "
                          "follows %s)", what, m->nodes[i].name, m->nodes[j < 0 ? 0 : j].name);
    *node = j;
    return DS_OK;
}

ds_status ds_hidden_select(const ds_model *m, const char *layer, const char *what,
                           ds_hidden **out, int *n, ds_err *err)
{
    *out = NULL;
    *n = 0;
    int cap = 0;
    for (int i = 0; i < m->nnodes; i++) cap += is_layer(m->nodes[i].op);
    ds_hidden *hs = malloc(sizeof *hs * (size_t)(cap ? cap : 1));
    if (!hs) return ds_err_set(err, DS_ENOMEM, "%s: out of memory", what);
    ds_status st = DS_OK;
    if (layer) {
        int node = -1;
        st = resolve(m, layer, what, &node, err);
        if (!st) st = ds_hidden_at(m, node, what, &hs[0], err);
        if (!st) *n = 1;
    } else {
        for (int i = 0; i < m->nnodes; i++) {
            if (!is_layer(m->nodes[i].op) || i == ds_model_output_node(m)) continue;
            if (ds_hidden_at(m, i, what, &hs[*n], NULL) == DS_OK) (*n)++;
        }
        if (*n == 0)
            st = ds_err_set(err, DS_EINVAL, "%s: this %s model has no hidden layer feeding a single "
                            "dense/conv layer", what, m->arch.name);
    }
    if (st) {
        free(hs);
        *n = 0;
        return st;
    }
    *out = hs;
    return DS_OK;
}
