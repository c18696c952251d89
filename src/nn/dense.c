/* dense.c - fully connected layer on ds_sgemm (gemm.c: oneDNN or OpenBLAS), with a naive reference. */
#include "deepsigns/kernels.h"

/* y[B,NO] = x[B,NI] W[NI,NO] + b[NO]: the GEMM writes y (beta = 0), one pass adds b */
void ds_dense_forward(float *y, const float *x, const float *W, const float *b, int B, int NI, int NO)
{
    ds_sgemm(0, 0, B, NO, NI, x, NI, W, NO, 0.0f, y, NO);
    if (b)
        for (int n = 0; n < B; n++) {
            float *yn = y + (size_t)n * NO;
            for (int o = 0; o < NO; o++) yn[o] += b[o];
        }
}

/* dx[B,NI] += dy[B,NO] W[NI,NO]^T;  dW[NI,NO] += x[B,NI]^T dy[B,NO];  db[NO] += colsum(dy) */
void ds_dense_backward(float *dx, float *dW, float *db, const float *dy, const float *x,
                       const float *W, int B, int NI, int NO)
{
    if (dx)
        ds_sgemm(0, 1, B, NI, NO, dy, NO, W, NO, 1.0f, dx, NI);
    ds_sgemm(1, 0, NI, NO, B, x, NI, dy, NO, 1.0f, dW, NO);
    if (db)
        for (int n = 0; n < B; n++)
            for (int o = 0; o < NO; o++) db[o] += dy[(size_t)n * NO + o];
}

void ds_dense_forward_naive(float *y, const float *x, const float *W, const float *b, int B, int NI, int NO)
{
    for (int n = 0; n < B; n++)
        for (int o = 0; o < NO; o++) {
            double acc = b ? b[o] : 0.0;
            for (int i = 0; i < NI; i++) acc += (double)x[(size_t)n * NI + i] * W[(size_t)i * NO + o];
            y[(size_t)n * NO + o] = (float)acc;
        }
}

void ds_dense_backward_naive(float *dx, float *dW, float *db, const float *dy, const float *x,
                             const float *W, int B, int NI, int NO)
{
    for (int n = 0; n < B; n++)
        for (int i = 0; i < NI; i++)
            for (int o = 0; o < NO; o++) {
                float g = dy[(size_t)n * NO + o];
                if (dx) dx[(size_t)n * NI + i] += g * W[(size_t)i * NO + o];
                dW[(size_t)i * NO + o] += x[(size_t)n * NI + i] * g;
            }
    if (db)
        for (int n = 0; n < B; n++)
            for (int o = 0; o < NO; o++) db[o] += dy[(size_t)n * NO + o];
}
