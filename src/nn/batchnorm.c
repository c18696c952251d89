/* batchnorm.c - batch normalisation over channels of x[B, C, HW]. */
#include <math.h>

#include "deepsigns/kernels.h"

void ds_bn_forward_train(float *y, float *xhat, float *invstd, const float *x,
                         const float *gamma, const float *beta, float *rmean, float *rvar,
                         int B, int C, int HW, float eps, float momentum)
{
    const double m = (double)B * HW;
    for (int c = 0; c < C; c++) {
        double sum = 0.0, sq = 0.0;
        for (int n = 0; n < B; n++) {
            const float *xc = x + ((size_t)n * C + c) * HW;
            for (int i = 0; i < HW; i++) sum += xc[i];
        }
        double mean = sum / m;
        for (int n = 0; n < B; n++) {
            const float *xc = x + ((size_t)n * C + c) * HW;
            for (int i = 0; i < HW; i++) {
                double d = xc[i] - mean;
                sq += d * d;
            }
        }
        double var = sq / m;
        float is = (float)(1.0 / sqrt(var + eps));
        invstd[c] = is;
        for (int n = 0; n < B; n++) {
            size_t o = ((size_t)n * C + c) * HW;
            for (int i = 0; i < HW; i++) {
                float h = (float)(x[o + i] - mean) * is;
                xhat[o + i] = h;
                y[o + i] = gamma[c] * h + beta[c];
            }
        }
        double unbiased = m > 1.0 ? sq / (m - 1.0) : var;
        rmean[c] = (float)((1.0 - momentum) * rmean[c] + momentum * mean);
        rvar[c] = (float)((1.0 - momentum) * rvar[c] + momentum * unbiased);
    }
}

void ds_bn_forward_eval(float *y, const float *x, const float *gamma, const float *beta,
                        const float *rmean, const float *rvar, int B, int C, int HW, float eps)
{
    for (int c = 0; c < C; c++) {
        float scale = gamma[c] / sqrtf(rvar[c] + eps);
        float shift = beta[c] - rmean[c] * scale;
        for (int n = 0; n < B; n++) {
            size_t o = ((size_t)n * C + c) * HW;
            for (int i = 0; i < HW; i++) y[o + i] = x[o + i] * scale + shift;
        }
    }
}

/* dx += gamma*invstd/m * (m*dy - sum(dy) - xhat*sum(dy*xhat)); dgamma += sum(dy*xhat); dbeta += sum(dy) */
void ds_bn_backward(float *dx, float *dgamma, float *dbeta, const float *dy, const float *xhat,
                    const float *invstd, const float *gamma, int B, int C, int HW)
{
    const double m = (double)B * HW;
    for (int c = 0; c < C; c++) {
        double sdy = 0.0, sdyx = 0.0;
        for (int n = 0; n < B; n++) {
            size_t o = ((size_t)n * C + c) * HW;
            for (int i = 0; i < HW; i++) {
                sdy += dy[o + i];
                sdyx += (double)dy[o + i] * xhat[o + i];
            }
        }
        dgamma[c] += (float)sdyx;
        dbeta[c] += (float)sdy;
        if (!dx) continue;
        float k = gamma[c] * invstd[c];
        float a = (float)(sdy / m), bb = (float)(sdyx / m);
        for (int n = 0; n < B; n++) {
            size_t o = ((size_t)n * C + c) * HW;
            for (int i = 0; i < HW; i++) dx[o + i] += k * (dy[o + i] - a - xhat[o + i] * bb);
        }
    }
}
