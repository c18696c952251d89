/* batchnorm.c - batch normalisation over channels of x[B, C, HW]; the statistics in
 * double, in fixed-order partial sums (deterministic). */
#include <math.h>

#include "deepsigns/kernels.h"
#include "nn/clones.h"
#include "nn/parallel.h"

/* Reductions over one channel row v[n] in 8 interleaved double partial sums, in a
 * fixed order: vectorisable without reassociation, so deterministic (a single
 * double accumulator makes every add wait for the previous one). Inlined into
 * each ISA's copy of their callers (clones.h). */
enum { LANES = 8 };

DS_INLINE_CLONED static double lanes_total(const double *acc)
{
    return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

/* acc[l] += v[i] for i = l mod 8 */
DS_INLINE_CLONED static void row_sum(double *acc, const float *v, int n)
{
    int i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int l = 0; l < LANES; l++) acc[l] += v[i + l];
    for (; i < n; i++) acc[i & (LANES - 1)] += v[i];
}

/* acc[l] += (v[i] - mean)^2 */
DS_INLINE_CLONED static void row_sqdev(double *acc, const float *v, int n, double mean)
{
    int i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int l = 0; l < LANES; l++) {
            double d = v[i + l] - mean;
            acc[l] += d * d;
        }
    for (; i < n; i++) {
        double d = v[i] - mean;
        acc[i & (LANES - 1)] += d * d;
    }
}

/* a[l] += dy[i];  b[l] += dy[i] * xh[i] */
DS_INLINE_CLONED static void row_sum_dot(double *a, double *b, const float *dy, const float *xh, int n)
{
    int i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int l = 0; l < LANES; l++) {
            a[l] += dy[i + l];
            b[l] += (double)dy[i + l] * xh[i + l];
        }
    for (; i < n; i++) {
        a[i & (LANES - 1)] += dy[i];
        b[i & (LANES - 1)] += (double)dy[i] * xh[i];
    }
}

/* Each pass takes its channels [c0, c1) of C; a channel is one thread's whole. */
DS_CLONES static void bn_forward_train_part(float *y, float *xhat, float *invstd, const float *x,
                                            const float *gamma, const float *beta, float *rmean,
                                            float *rvar, int B, int C, int HW, float eps,
                                            float momentum, int c0, int c1)
{
    const double m = (double)B * HW;
    for (int c = c0; c < c1; c++) {
        double acc[LANES] = {0}, acq[LANES] = {0};
        for (int n = 0; n < B; n++) row_sum(acc, x + ((size_t)n * C + c) * HW, HW);
        double mean = lanes_total(acc) / m;
        for (int n = 0; n < B; n++) row_sqdev(acq, x + ((size_t)n * C + c) * HW, HW, mean);
        double sq = lanes_total(acq);
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

void ds_bn_forward_train(float *y, float *xhat, float *invstd, const float *x, const float *gamma,
                         const float *beta, float *rmean, float *rvar, int B, int C, int HW,
                         float eps, float momentum)
{
    DS_PAR_RANGES((size_t)C, (size_t)B * HW * 5, 1, lo, hi,
                  bn_forward_train_part(y, xhat, invstd, x, gamma, beta, rmean, rvar, B, C, HW,
                                        eps, momentum, (int)lo, (int)hi));
}

DS_CLONES static void bn_forward_eval_part(float *y, const float *x, const float *gamma,
                                           const float *beta, const float *rmean, const float *rvar,
                                           int B, int C, int HW, float eps, int c0, int c1)
{
    for (int c = c0; c < c1; c++) {
        float scale = gamma[c] / sqrtf(rvar[c] + eps);
        float shift = beta[c] - rmean[c] * scale;
        for (int n = 0; n < B; n++) {
            size_t o = ((size_t)n * C + c) * HW;
            for (int i = 0; i < HW; i++) y[o + i] = x[o + i] * scale + shift;
        }
    }
}

void ds_bn_forward_eval(float *y, const float *x, const float *gamma, const float *beta,
                        const float *rmean, const float *rvar, int B, int C, int HW, float eps)
{
    DS_PAR_RANGES((size_t)C, (size_t)B * HW * 2, 1, lo, hi,
                  bn_forward_eval_part(y, x, gamma, beta, rmean, rvar, B, C, HW, eps, (int)lo,
                                       (int)hi));
}

/* dx += gamma*invstd/m * (m*dy - sum(dy) - xhat*sum(dy*xhat)); dgamma += sum(dy*xhat); dbeta += sum(dy) */
DS_CLONES static void bn_backward_part(float *dx, float *dgamma, float *dbeta, const float *dy,
                                       const float *xhat, const float *invstd, const float *gamma,
                                       int B, int C, int HW, int c0, int c1)
{
    const double m = (double)B * HW;
    for (int c = c0; c < c1; c++) {
        double ady[LANES] = {0}, adyx[LANES] = {0};
        for (int n = 0; n < B; n++) {
            size_t o = ((size_t)n * C + c) * HW;
            row_sum_dot(ady, adyx, dy + o, xhat + o, HW);
        }
        double sdy = lanes_total(ady), sdyx = lanes_total(adyx);
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

void ds_bn_backward(float *dx, float *dgamma, float *dbeta, const float *dy, const float *xhat,
                    const float *invstd, const float *gamma, int B, int C, int HW)
{
    DS_PAR_RANGES((size_t)C, (size_t)B * HW * 5, 1, lo, hi,
                  bn_backward_part(dx, dgamma, dbeta, dy, xhat, invstd, gamma, B, C, HW, (int)lo,
                                   (int)hi));
}
