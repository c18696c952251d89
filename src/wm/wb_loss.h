/* wb_loss.h - private: the DeepSigns white-box embedding loss and its
 * gradients (METHOD.md section 2), on one batch, for whitebox.c and the tests.
 *
 *   L = l1 * (L_centre + L_sep + L_norm) + l2 * L_bits
 *   L_centre = 1/2 sum_b |f_b - c_{y_b}|^2
 *   L_sep    = mean_b (c_y . c_n - 1) |c_y - c_n|^2,  n = nearest other centre (held fixed)
 *   L_norm   = sum_k |1 - |c_k|^2|
 *   L_bits   = sum_{k in T} sum_j BCE(b_kj, sigmoid(a_j . c_k))
 */
#ifndef DEEPSIGNS_WM_WB_LOSS_H
#define DEEPSIGNS_WM_WB_LOSS_H

#include <stddef.h>
#include <stdint.h>

enum {
    DS_WB_TERM_CENTRE = 1,
    DS_WB_TERM_SEP = 2,
    DS_WB_TERM_NORM = 4,
    DS_WB_TERM_BITS = 8,
    DS_WB_TERM_ALL = 15,
};

typedef struct ds_wb_batch {
    const float *f;        /* [B, M] activations of the marked layer */
    const int *y;          /* [B] labels */
    int B, M;
    const float *centres;  /* [C, M] */
    int C;
    const float *A;        /* [N, M] */
    const uint8_t *bits;   /* [s, N] */
    const int *targets;    /* [s] */
    int s, N;
    float lambda1, lambda2;
    int terms;             /* DS_WB_TERM_* mask */
} ds_wb_batch;

/* Value of the loss; adds dL/df into df[B, M] and dL/dC into dC[C, M] when they
 * are non-NULL. nearest[C] is scratch (the nearest other centre of each class). */
double ds_wb_loss(const ds_wb_batch *in, float *df, float *dC, int *nearest);

#endif
