/* pool.c - max pooling (no padding) and global average pooling. */
#include <float.h>

#include "deepsigns/kernels.h"

/* x[B,C,H,W] -> y[B,C,Ho,Wo], arg = flat index of the max within its (H,W) plane */
void ds_maxpool_forward(float *y, int32_t *arg, const float *x, int B, int C, int H, int W,
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

/* dx[B,C,H,W] += scatter(dy[B,C,Ho,Wo]) at arg */
void ds_maxpool_backward(float *dx, const float *dy, const int32_t *arg, int B, int C, int H,
                         int W, int Ho, int Wo)
{
    for (size_t p = 0; p < (size_t)B * C; p++) {
        float *dxp = dx + p * H * W;
        const float *dyp = dy + p * Ho * Wo;
        const int32_t *ap = arg + p * Ho * Wo;
        for (int o = 0; o < Ho * Wo; o++) dxp[ap[o]] += dyp[o];
    }
}

/* x[B,C,HW] -> y[B,C] (mean over HW) */
void ds_gap_forward(float *y, const float *x, int B, int C, int HW)
{
    for (size_t p = 0; p < (size_t)B * C; p++) {
        float acc = 0.0f;
        for (int i = 0; i < HW; i++) acc += x[p * HW + i];
        y[p] = acc / (float)HW;
    }
}

/* dx[B,C,HW] += dy[B,C] / HW */
void ds_gap_backward(float *dx, const float *dy, int B, int C, int HW)
{
    for (size_t p = 0; p < (size_t)B * C; p++) {
        float g = dy[p] / (float)HW;
        for (int i = 0; i < HW; i++) dx[p * HW + i] += g;
    }
}
