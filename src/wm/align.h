/* align.h - the white-box module's internal pieces shared by whitebox.c and
 * align.c: the marked layer's lookup, the reference profiles, applying an
 * alignment. */
#ifndef DEEPSIGNS_WM_ALIGN_H
#define DEEPSIGNS_WM_ALIGN_H

#include "deepsigns/wm.h"

/* The node named `name`, which must be a hidden layer of m. */
ds_status ds_wb_layer_find(const ds_model *m, const char *name, int *node, ds_err *err);

/* The profiles of node's units on k's probe images: prof[c, P], each unit's
 * (channel's) activation averaged over the node's h x w positions. */
ds_status ds_wb_profiles_take(ds_model *m, int node, const ds_wm_key *k, float *prof, ds_err *err);

/* Suspect activations act[n, U' * pos] in the key's order: out[n, U * pos],
 * each reference unit the mean of its suspect units divided by their scales
 * (0 where it has none). */
ds_status ds_wb_alignment_apply(const ds_wb_alignment *a, const float *act, size_t n, size_t pos,
                                float *out, ds_err *err);

/* Match node (the key's layer, already found) of m, whose units may be
 * permuted, rescaled or joined by dummies, to k's reference: *out needs
 * ds_wb_alignment_free; DS_EKEY when k has no reference or the node's
 * positions per unit differ from the key's. */
ds_status ds_wb_align_node(ds_model *m, int node, const ds_wm_key *k, ds_wb_alignment *out,
                           ds_err *err);

#endif
