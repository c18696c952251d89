/* graph.h - private: the builder that lays out nodes and parameter views.
 *
 * Architectures (arch.c) call these to append nodes; each returns the new node's
 * index, or -1 once any call has failed (the error is sticky and kept in g->err).
 * Only small metadata is allocated here; parameter buffers are allocated by
 * ds_model_build after the totals are known to be sane.
 */
#ifndef DEEPSIGNS_NN_GRAPH_H
#define DEEPSIGNS_NN_GRAPH_H

#include "deepsigns/model.h"

typedef struct ds_graph {
    ds_node *nodes;
    int n, cap;
    ds_tensor *tensors;
    int nt, tcap;
    size_t nparams, nstats;
    int counters[16];  /* per-op name counters */
    const char *next_name; /* when set: the name of the next node appended (then cleared);
                              otherwise "<op>_<n>" */
    ds_err *err;
    int failed;
} ds_graph;

int ds_graph_input(ds_graph *g, int c, int h, int w);
int ds_graph_dense(ds_graph *g, int in, int out, int bias);
int ds_graph_conv(ds_graph *g, int in, int filters, int k, int stride, int pad, int bias);
int ds_graph_maxpool(ds_graph *g, int in, int k, int stride);
int ds_graph_avgpool(ds_graph *g, int in, int k, int stride);
int ds_graph_gap(ds_graph *g, int in);
int ds_graph_relu(ds_graph *g, int in);
int ds_graph_dropout(ds_graph *g, int in, float rate);
int ds_graph_bn(ds_graph *g, int in);
int ds_graph_add(ds_graph *g, int a, int b);
int ds_graph_flatten(ds_graph *g, int in);
void ds_graph_release(ds_graph *g);

/* A node name a "graph" layout can hold: 1 to DS_NAME_MAX - 14 printable ASCII
 * characters without whitespace (room for a tensor suffix such as
 * ".running_mean"), not "input". 1 if it can. */
int ds_graph_name_ok(const char *name);

/* The "graph" layout text (model.h) of the nodes of g into buf[len]; DS_ERANGE
 * if it does not fit. */
ds_status ds_graph_describe(const ds_graph *g, char *buf, size_t len, ds_err *err);

/* A model over the nodes of g, taking ownership of g's arrays (g is emptied,
 * also on failure). arch is recorded as the model's architecture. */
ds_model *ds_model_from_graph(ds_graph *g, const ds_arch *arch, ds_err *err);

/* Lay out the nodes of arch into g (arch.c). */
ds_status ds_arch_layout(const ds_arch *arch, ds_graph *g, ds_err *err);

#endif
