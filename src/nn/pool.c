/* pool.c - max and average pooling (no padding) and global average pooling. */
#include <float.h>

#include "deepsigns/kernels.h"
#include "nn/parallel.h"

/* Every pass works plane by plane ((b, c) of B*C), so the public ones split the
 * planes over the pool (parallel.h) and run their part as B = planes, C = 1. */

/* x[B,C,H,W] -> y[B,C,Ho,Wo], arg = flat index of the max within its (H,W) plane;
 * the first of equal maxima (taps in row-major order), -FLT_MAX if none is larger. */
void ds_maxpool_forward_naive(float *y, int32_t *arg, const float *x, int B, int C, int H, int W,
                        int K, int S, int Ho, int Wo)
{
    for (size_t p = 0; p < (size_t)B * C; p++) {
        const float *xp = x + p * H * W;
        float *yp = y + p * Ho * Wo;
        int32_t *ap = arg + p * Ho * Wo;
        for (int oi = 0; oi < Ho; oi++)
            for (int oj = 0; oj < Wo; oj++) {
                float best = -FLT_MAX;
                int32_t bi = (oi * S) * W + oj * S;
                for (int ki = 0; ki < K; ki++)
                    for (int kj = 0; kj < K; kj++) {
                        int32_t idx = (oi * S + ki) * W + oj * S + kj;
                        if (xp[idx] > best) { best = xp[idx]; bi = idx; }
                    }
                yp[oi * Wo + oj] = best;
                ap[oi * Wo + oj] = bi;
            }
    }
}

/* 2x2 stride 2, the pooling of the CNNs: the same comparisons in the same order as
 * the reference (taps (0,0), (0,1), (1,0), (1,1), strict >), unrolled. */
static void maxpool_2x2(float *y, int32_t *arg, const float *x, size_t planes, int H, int W,
                        int Ho, int Wo)
{
    for (size_t p = 0; p < planes; p++) {
        const float *xp = x + p * H * W;
        float *yp = y + p * Ho * Wo;
        int32_t *ap = arg + p * Ho * Wo;
        for (int oi = 0; oi < Ho; oi++) {
            const float *r0 = xp + (size_t)(2 * oi) * W, *r1 = r0 + W;
            int32_t i0 = 2 * oi * W;
            for (int oj = 0; oj < Wo; oj++) {
                float best = -FLT_MAX;
                int32_t bi = i0 + 2 * oj;
                float a = r0[2 * oj], b = r0[2 * oj + 1], c = r1[2 * oj], d = r1[2 * oj + 1];
                if (a > best) { best = a; bi = i0 + 2 * oj; }
                if (b > best) { best = b; bi = i0 + 2 * oj + 1; }
                if (c > best) { best = c; bi = i0 + W + 2 * oj; }
                if (d > best) { best = d; bi = i0 + W + 2 * oj + 1; }
                yp[oi * Wo + oj] = best;
                ap[oi * Wo + oj] = bi;
            }
        }
    }
}

static void maxpool_forward_part(float *y, int32_t *arg, const float *x, size_t planes, int H,
                                 int W, int K, int S, int Ho, int Wo)
{
    if (K == 2 && S == 2)
        maxpool_2x2(y, arg, x, planes, H, W, Ho, Wo);
    else
        ds_maxpool_forward_naive(y, arg, x, (int)planes, 1, H, W, K, S, Ho, Wo);
}

void ds_maxpool_forward(float *y, int32_t *arg, const float *x, int B, int C, int H, int W,
                        int K, int S, int Ho, int Wo)
{
    const size_t in = (size_t)H * W, out = (size_t)Ho * Wo;
    DS_PAR_RANGES((size_t)B * C, in + 2 * out, 1, lo, hi,
                  maxpool_forward_part(y + lo * out, arg + lo * out, x + lo * in, hi - lo, H, W, K,
                                       S, Ho, Wo));
}

static void maxpool_backward_part(float *dx, const float *dy, const int32_t *arg, size_t planes,
                                  int H, int W, int Ho, int Wo)
{
    for (size_t p = 0; p < planes; p++) {
        float *dxp = dx + p * H * W;
        const float *dyp = dy + p * Ho * Wo;
        const int32_t *ap = arg + p * Ho * Wo;
        for (int o = 0; o < Ho * Wo; o++) dxp[ap[o]] += dyp[o];
    }
}

/* dx[B,C,H,W] += scatter(dy[B,C,Ho,Wo]) at arg */
void ds_maxpool_backward(float *dx, const float *dy, const int32_t *arg, int B, int C, int H,
                         int W, int Ho, int Wo)
{
    const size_t in = (size_t)H * W, out = (size_t)Ho * Wo;
    DS_PAR_RANGES((size_t)B * C, in + 2 * out, 1, lo, hi,
                  maxpool_backward_part(dx + lo * in, dy + lo * out, arg + lo * out, hi - lo, H, W,
                                        Ho, Wo));
}

static void gap_forward_part(float *y, const float *x, size_t planes, int HW)
{
    for (size_t p = 0; p < planes; p++) {
        float acc = 0.0f;
        for (int i = 0; i < HW; i++) acc += x[p * HW + i];
        y[p] = acc / (float)HW;
    }
}

/* x[B,C,HW] -> y[B,C] (mean over HW) */
void ds_gap_forward(float *y, const float *x, int B, int C, int HW)
{
    DS_PAR_RANGES((size_t)B * C, (size_t)HW, 1, lo, hi,
                  gap_forward_part(y + lo, x + lo * HW, hi - lo, HW));
}

static void gap_backward_part(float *dx, const float *dy, size_t planes, int HW)
{
    for (size_t p = 0; p < planes; p++) {
        float g = dy[p] / (float)HW;
        for (int i = 0; i < HW; i++) dx[p * HW + i] += g;
    }
}

/* dx[B,C,HW] += dy[B,C] / HW */
void ds_gap_backward(float *dx, const float *dy, int B, int C, int HW)
{
    DS_PAR_RANGES((size_t)B * C, 2 * (size_t)HW, 1, lo, hi,
                  gap_backward_part(dx + lo * HW, dy + lo, hi - lo, HW));
}

/* x[B,C,H,W] -> y[B,C,Ho,Wo]: the mean of each KxK window (taps summed in row-major order) */
void ds_avgpool_forward(float *y, const float *x, int B, int C, int H, int W, int K, int S, int Ho, int Wo)
{
    const float inv = 1.0f / (float)(K * K);
    for (size_t p = 0; p < (size_t)B * C; p++) {
        const float *xp = x + p * H * W;
        float *yp = y + p * Ho * Wo;
        for (int oi = 0; oi < Ho; oi++)
            for (int oj = 0; oj < Wo; oj++) {
                float acc = 0.0f;
                for (int ki = 0; ki < K; ki++)
                    for (int kj = 0; kj < K; kj++) acc += xp[(oi * S + ki) * W + oj * S + kj];
                yp[oi * Wo + oj] = acc * inv;
            }
    }
}

/* dx[B,C,H,W] += dy[B,C,Ho,Wo] / (K K) over each window */
void ds_avgpool_backward(float *dx, const float *dy, int B, int C, int H, int W, int K, int S, int Ho,
                         int Wo)
{
    const float inv = 1.0f / (float)(K * K);
    for (size_t p = 0; p < (size_t)B * C; p++) {
        float *dxp = dx + p * H * W;
        const float *dyp = dy + p * Ho * Wo;
        for (int oi = 0; oi < Ho; oi++)
            for (int oj = 0; oj < Wo; oj++) {
                float g = dyp[oi * Wo + oj] * inv;
                for (int ki = 0; ki < K; ki++)
                    for (int kj = 0; kj < K; kj++) dxp[(oi * S + ki) * W + oj * S + kj] += g;
            }
    }
}
