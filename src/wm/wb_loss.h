/* wb_loss.h - private: the DeepSigns white-box embedding loss and its
 * gradients (METHOD.md section 2), on one batch, for whitebox.c and the tests.
 *
 *   L = l1 * (L_centre + L_sep + L_norm + L_bits) + l2 * L_mbits
 *   L_centre = 1/(2B) sum_b |f_b - c_{y_b}|^2
 *   L_sep    = mean_b (c_y . c_n - 1) |c_y - c_n|^2,  n = nearest other centre (held fixed)
 *   L_norm   = sum_k |1 - |c_k|^2|
 *   L_bits   = sum_{k in T} sum_j BCE(b_kj, sigmoid(a_j . c_k))
 *   L_mbits  = sum_{k in T, n_k > 0} sum_j BCE(b_kj, sigmoid(a_j . fbar_k)),
 *              fbar_k = mean of f_b over the n_k samples of the batch with y_b = k
 *
 * Departures from METHOD section 2 (measured on Fashion-MNIST, mnist-mlp, 32 bits
 * on 2 classes; numbers in whitebox.c):
 * - L_mbits is new: the signature is decoded from the mean activation of the key
 *   images, so the bits are trained on the batch estimate of that mean, not only
 *   on a trainable centre that the activations must then follow. It carries the
 *   mark by default (l2); the centre terms are optional (l1, default 0).
 * - L_centre is the batch mean (1/B), not the sum: the sum, at l1 = 0.01 and
 *   batch 128, outweighs the cross-entropy (also a batch mean) and the network
 *   collapses.
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
    DS_WB_TERM_MBITS = 16,
    DS_WB_TERM_CENTRES = 15,   /* the terms that involve the centres */
    DS_WB_TERM_ALL = 31,
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
    float lambda1;         /* weight of the centre terms (centre, sep, norm, bits) */
    float lambda2;         /* weight of L_mbits */
    int terms;             /* DS_WB_TERM_* mask */
} ds_wb_batch;

/* Value of the loss; adds dL/df into df[B, M] and dL/dC into dC[C, M] when they
 * are non-NULL. nearest[C] is scratch (the nearest other centre of each class);
 * mu[M] and g[M] are scratch for L_mbits. A target class absent from the batch
 * contributes no L_centre or L_mbits term. */
double ds_wb_loss(const ds_wb_batch *in, float *df, float *dC, int *nearest, double *mu,
                  double *g);

#endif
