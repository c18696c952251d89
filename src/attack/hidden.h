/* hidden.h - private: the hidden layers the function-preserving attacks
 * (permute, dummy) reshape, and where each unit's entries sit in the tensors.
 *
 * A hidden layer is a dense/conv node P other than the output layer whose output
 * reaches exactly one dense/conv node Q (its consumer) through nodes that act
 * per unit: relu, dropout, maxpool, batch norm, global average pool, flatten.
 * Reordering or adding units of P then only touches P's weights and bias, the
 * batch norms on the way and Q's input weights. Every such tensor is seen as
 * [outer, units, seg]: unit u owns data[(o * units + u) * seg + s] for every
 * o < outer, s < seg:
 *   dense P  W[NI, NO]     outer NI, seg 1         (column u)
 *   conv P   W[F, C, K, K] outer 1,  seg C*K*K     (filter u)
 *   P bias [F]             outer 1,  seg 1
 *   bn on the way [c]      outer 1,  seg c/units   (c/units = h*w after a flatten)
 *   dense Q  W[NI, NO]     outer 1,  seg (NI/units)*NO  (rows of unit u: a block
 *                          of h*w rows when a flatten of a conv output is between)
 *   conv Q   W[F, C, K, K] outer F,  seg (C/units)*K*K  (input channel u of each filter)
 */
#ifndef DEEPSIGNS_ATTACK_HIDDEN_H
#define DEEPSIGNS_ATTACK_HIDDEN_H

#include <stddef.h>

#include "deepsigns/model.h"
#include "deepsigns/status.h"

typedef enum ds_unit_role {
    DS_UNIT_IN_W = 0,   /* P's weights: the unit's incoming weights */
    DS_UNIT_IN_B,       /* P's bias */
    DS_UNIT_BN_GAMMA,
    DS_UNIT_BN_BETA,
    DS_UNIT_BN_MEAN,    /* running statistics (in stats) */
    DS_UNIT_BN_VAR,
    DS_UNIT_OUT_W,      /* Q's weights: the unit's outgoing weights */
} ds_unit_role;

enum { DS_HIDDEN_MAX_VIEWS = 32 };

typedef struct ds_unit_view {
    int t;              /* tensor */
    ds_unit_role role;
    size_t outer, seg;
} ds_unit_view;

typedef struct ds_hidden {
    int node;           /* P */
    int index;          /* P's position among the model's dense/conv nodes (ds_arch.extra) */
    int consumer;       /* Q */
    int units;          /* P's output channels / features */
    int nviews;
    ds_unit_view views[DS_HIDDEN_MAX_VIEWS];
} ds_hidden;

/* The hidden layer with dense/conv node `node`; what ("permute", ...) names the
 * attack in messages. Refuses the output layer and layers whose output feeds a
 * residual add or more than one node. */
ds_status ds_hidden_at(const ds_model *m, int node, const char *what, ds_hidden *h, ds_err *err);

/* The layers an attack works on: `layer` names a dense/conv node or a node after
 * it (its relu, ...) and must be eligible; NULL selects every eligible hidden
 * layer (at least one must exist). *out (free it) gets *n layers in graph order. */
ds_status ds_hidden_select(const ds_model *m, const char *layer, const char *what,
                           ds_hidden **out, int *n, ds_err *err);

/* Unit u's entry (o, s) of view v. */
static inline float *ds_unit_entry(const ds_model *m, const ds_unit_view *v, int units, size_t o,
                                   int u, size_t s)
{
    return ds_model_tensor_data(m, v->t) + (o * (size_t)units + (size_t)u) * v->seg + s;
}

#endif
