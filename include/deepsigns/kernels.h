/* kernels.h - forward/backward kernels over raw float buffers.
 *
 * Every kernel states its shapes. Layout is NCHW for images and [B, F] for
 * features. Backward kernels ACCUMULATE (+=) into dx and parameter gradients;
 * callers zero those explicitly. A NULL dx means "input gradient not needed".
 * Fast kernels (GEMM-based) have a *_naive reference next to them for tests.
 */
#ifndef DEEPSIGNS_KERNELS_H
#define DEEPSIGNS_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "deepsigns/rng.h"

/* ---- GEMM: C[M,N] = op(A)[M,K] op(B)[K,N] + beta C, row-major; ta/tb transpose A/B.
 * oneDNN's sgemm in a DNNL=1 build, else OpenBLAS's (gemm.c); either is fixed by the
 * build, so results depend only on build, thread count and shape. */
void ds_sgemm(int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B,
              int ldb, float beta, float *C, int ldc);
/* oneDNN's OpenMP pool to OpenBLAS's thread count (no-op without oneDNN) */
void ds_dnnl_pin_threads(void);

/* ---- dense: y[B,NO] = x[B,NI] W[NI,NO] + b[NO] ---- */
void ds_dense_forward(float *y, const float *x, const float *W, const float *b, int B, int NI, int NO);
/* dx[B,NI] += dy W^T; dW[NI,NO] += x^T dy; db[NO] += sum_b dy */
void ds_dense_backward(float *dx, float *dW, float *db, const float *dy, const float *x,
                       const float *W, int B, int NI, int NO);
void ds_dense_forward_naive(float *y, const float *x, const float *W, const float *b, int B, int NI, int NO);
void ds_dense_backward_naive(float *dx, float *dW, float *db, const float *dy, const float *x,
                             const float *W, int B, int NI, int NO);

/* ---- conv2d: x[B,C,H,W] * W[F,C,K,K] (+ b[F]) -> y[B,F,Ho,Wo] ----
 * Ho = (H + 2*pad - K)/stride + 1, likewise Wo. col is scratch of
 * ds_conv_col_size() floats (one image's im2col matrix [C*K*K, Ho*Wo]). */
typedef struct ds_conv_shape {
    int B, C, H, W;     /* input */
    int F, K, stride, pad;
    int Ho, Wo;         /* output, filled by ds_conv_shape_init */
} ds_conv_shape;
/* Fill Ho/Wo; returns 0 if the geometry is valid, -1 otherwise. */
int ds_conv_shape_init(ds_conv_shape *s);
size_t ds_conv_col_size(const ds_conv_shape *s);
void ds_im2col(float *col, const float *x, const ds_conv_shape *s);   /* x one image [C,H,W] */
void ds_col2im_add(float *dx, const float *col, const ds_conv_shape *s); /* dx one image += */
void ds_conv_forward(float *y, const float *x, const float *W, const float *b,
                     const ds_conv_shape *s, float *col);
/* dx may be NULL; db may be NULL (conv without bias) */
void ds_conv_backward(float *dx, float *dW, float *db, const float *dy, const float *x,
                      const float *W, const ds_conv_shape *s, float *col);
void ds_conv_forward_naive(float *y, const float *x, const float *W, const float *b,
                           const ds_conv_shape *s);
void ds_conv_backward_naive(float *dx, float *dW, float *db, const float *dy, const float *x,
                            const float *W, const ds_conv_shape *s);

/* ---- conv plan: one convolution node at one batch size, planned once ----
 * The backend is chosen at build time: oneDNN's convolution primitives (make
 * DNNL=1: blocked layouts inside, NCHW/OIHW at the interface, reorders around)
 * or im2col + OpenBLAS sgemm above. Either way the interface is the one of
 * ds_conv_forward/backward: y[B,F,Ho,Wo] written; dx[B,C,H,W], dW[F,C,K,K],
 * db[F] accumulated (+=), dx and db may be NULL. scratch is caller-owned, of
 * ds_conv_plan_scratch() floats (any alignment); it may be shared by every
 * plan of a model (nothing in it survives a call). Results are deterministic
 * for a given build, thread count and shape. */
typedef struct ds_conv_plan ds_conv_plan;
/* NULL if the backend cannot serve this shape or is out of memory (callers
 * then use ds_conv_forward/backward, which always work). bias: whether the node
 * has one (the plan of a node without bias takes b = db = NULL). The shape's B is
 * the batch the plan serves, exactly. Both backends run on OpenBLAS's thread count at the time
 * of each call (the oneDNN OpenMP pool is set to it). */
ds_conv_plan *ds_conv_plan_new(const ds_conv_shape *s, int bias);
void ds_conv_plan_free(ds_conv_plan *p);
size_t ds_conv_plan_scratch(const ds_conv_plan *p);
const ds_conv_shape *ds_conv_plan_shape(const ds_conv_plan *p); /* the shape it serves */
const char *ds_conv_backend(void); /* "onednn" or "openblas" */
void ds_conv_plan_forward(ds_conv_plan *p, float *y, const float *x, const float *W,
                          const float *b, float *scratch);
void ds_conv_plan_backward(ds_conv_plan *p, float *dx, float *dW, float *db, const float *dy,
                           const float *x, const float *W, float *scratch);

/* ---- max pool KxK stride S, no padding: x[B,C,H,W] -> y[B,C,Ho,Wo]; arg[B,C,Ho,Wo] ---- */
void ds_maxpool_forward(float *y, int32_t *arg, const float *x, int B, int C, int H, int W,
                        int K, int S, int Ho, int Wo);
/* the loop over any K, S; ds_maxpool_forward runs an unrolled 2x2/2 giving the same bits */
void ds_maxpool_forward_naive(float *y, int32_t *arg, const float *x, int B, int C, int H, int W,
                              int K, int S, int Ho, int Wo);
void ds_maxpool_backward(float *dx, const float *dy, const int32_t *arg, int B, int C, int H,
                         int W, int Ho, int Wo);

/* ---- average pool KxK stride S, no padding: x[B,C,H,W] -> y[B,C,Ho,Wo] ---- */
void ds_avgpool_forward(float *y, const float *x, int B, int C, int H, int W, int K, int S, int Ho, int Wo);
/* dx[B,C,H,W] += dy[B,C,Ho,Wo] / (K K) at every tap of its window */
void ds_avgpool_backward(float *dx, const float *dy, int B, int C, int H, int W, int K, int S, int Ho,
                         int Wo);

/* ---- global average pool: x[B,C,H,W] -> y[B,C] ---- */
void ds_gap_forward(float *y, const float *x, int B, int C, int HW);
void ds_gap_backward(float *dx, const float *dy, int B, int C, int HW);

/* ---- ReLU, elementwise over n ----
 * These passes, batch norm and pooling run on the GEMMs' OpenMP pool in a DNNL=1
 * build, split over elements, channels or planes (never a reduction): the same
 * results at every thread count. */
void ds_relu_forward(float *y, const float *x, size_t n);
void ds_relu_backward(float *dx, const float *dy, const float *y, size_t n);

/* ---- inverted dropout: mask[n] in {0, 1/(1-p)}; y = x * mask ---- */
void ds_dropout_forward(float *y, float *mask, const float *x, size_t n, float p, ds_rng *rng);
void ds_dropout_backward(float *dx, const float *dy, const float *mask, size_t n);

/* ---- batch norm over channels: x[B,C,HW]; gamma, beta, running mean/var [C] ----
 * train: batch statistics (biased variance for normalising, unbiased for the running
 * variance), running = (1-momentum)*running + momentum*batch; saves xhat[B,C,HW] and
 * invstd[C]. eval: running statistics. relu: y = max(0, bn(x)), a ReLU that reads
 * nothing else fused into the pass; then backward gets that ReLU's output as
 * relu_y and its gradient as dy (relu_y NULL: dy is the batch norm's own). */
void ds_bn_forward_train(float *y, float *xhat, float *invstd, const float *x,
                         const float *gamma, const float *beta, float *rmean, float *rvar,
                         int B, int C, int HW, float eps, float momentum, int relu);
void ds_bn_forward_eval(float *y, const float *x, const float *gamma, const float *beta,
                        const float *rmean, const float *rvar, int B, int C, int HW, float eps,
                        int relu);
void ds_bn_backward(float *dx, float *dgamma, float *dbeta, const float *dy, const float *xhat,
                    const float *invstd, const float *gamma, const float *relu_y, int B, int C,
                    int HW);

/* ---- residual add: y = a + b over n; backward passes dy to both ---- */
void ds_add_forward(float *y, const float *a, const float *b, size_t n);
void ds_accumulate(float *dst, const float *src, size_t n); /* dst += src */
void ds_zero(float *v, size_t n);                            /* v = 0 */
/* sum of v[0..n) in 8 interleaved partial sums (vectorisable, fixed order: deterministic) */
float ds_sum(const float *v, size_t n);

/* ---- softmax cross-entropy, mean over the batch ----
 * logits[B,C], labels[B]. Returns the mean loss; if dlogits is non-NULL adds
 * scale * (softmax - onehot) / B into it. probs[B,C] may be NULL. */
double ds_softmax_ce(const float *logits, const int *labels, int B, int C, float *probs,
                     float *dlogits, float scale);

#endif
