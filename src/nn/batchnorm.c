/* batchnorm.c - batch normalisation over channels of x[B, C, HW]; the statistics in
 * double, in fixed-order partial sums (deterministic). */
#include <math.h>
#include <stdint.h>
#include <string.h>

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

/* The gradient through a ReLU whose output was r: d where r > 0, else +0, as
 * ds_relu_backward. r is a ReLU's output, never NaN, so r > 0 is "its bits as an
 * integer are > 0": an integer mask, which GCC vectorises (the float compare it
 * does not if-convert). */
DS_INLINE_CLONED static float relu_grad(float d, float r)
{
    int32_t rb;
    uint32_t db;
    memcpy(&rb, &r, sizeof rb);
    memcpy(&db, &d, sizeof db);
    db &= rb > 0 ? 0xFFFFFFFFu : 0u;
    memcpy(&d, &db, sizeof d);
    return d;
}

/* a[l] += g[i];  b[l] += g[i] * xh[i], g = relu_grad(dy, ry) (ry: a fused ReLU's output) */
DS_INLINE_CLONED static void row_sum_dot_masked(double *a, double *b, const float *dy,
                                                const float *ry, const float *xh, int n)
{
    int i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int l = 0; l < LANES; l++) {
            const float g = relu_grad(dy[i + l], ry[i + l]);
            a[l] += g;
            b[l] += (double)g * xh[i + l];
        }
    for (; i < n; i++) {
        const float g = relu_grad(dy[i], ry[i]);
        a[i & (LANES - 1)] += g;
        b[i & (LANES - 1)] += (double)g * xh[i];
    }
}

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
                                            float momentum, int relu, int c0, int c1)
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
                float h = (float)(x[o + i] - mean) * is, v = gamma[c] * h + beta[c];
                xhat[o + i] = h;
                y[o + i] = relu && !(v > 0.0f) ? 0.0f : v;
            }
        }
        double unbiased = m > 1.0 ? sq / (m - 1.0) : var;
        rmean[c] = (float)((1.0 - momentum) * rmean[c] + momentum * mean);
        rvar[c] = (float)((1.0 - momentum) * rvar[c] + momentum * unbiased);
    }
}

void ds_bn_forward_train(float *y, float *xhat, float *invstd, const float *x, const float *gamma,
                         const float *beta, float *rmean, float *rvar, int B, int C, int HW,
                         float eps, float momentum, int relu)
{
    DS_PAR_RANGES((size_t)C, (size_t)B * HW * 5, 1, lo, hi,
                  bn_forward_train_part(y, xhat, invstd, x, gamma, beta, rmean, rvar, B, C, HW,
                                        eps, momentum, relu, (int)lo, (int)hi));
}

DS_CLONES static void bn_forward_eval_part(float *y, const float *x, const float *gamma,
                                           const float *beta, const float *rmean, const float *rvar,
                                           int B, int C, int HW, float eps, int relu, int c0,
                                           int c1)
{
    for (int c = c0; c < c1; c++) {
        float scale = gamma[c] / sqrtf(rvar[c] + eps);
        float shift = beta[c] - rmean[c] * scale;
        for (int n = 0; n < B; n++) {
            size_t o = ((size_t)n * C + c) * HW;
            if (relu)
                for (int i = 0; i < HW; i++) {
                    float v = x[o + i] * scale + shift;
                    y[o + i] = v > 0.0f ? v : 0.0f;
                }
            else
                for (int i = 0; i < HW; i++) y[o + i] = x[o + i] * scale + shift;
        }
    }
}

void ds_bn_forward_eval(float *y, const float *x, const float *gamma, const float *beta,
                        const float *rmean, const float *rvar, int B, int C, int HW, float eps,
                        int relu)
{
    DS_PAR_RANGES((size_t)C, (size_t)B * HW * 2, 1, lo, hi,
                  bn_forward_eval_part(y, x, gamma, beta, rmean, rvar, B, C, HW, eps, relu,
                                       (int)lo, (int)hi));
}

/* dx += gamma*invstd/m * (m*dy - sum(dy) - xhat*sum(dy*xhat)); dgamma += sum(dy*xhat); dbeta += sum(dy) */
DS_CLONES static void bn_backward_part(float *dx, float *dgamma, float *dbeta, const float *dy,
                                       const float *xhat, const float *invstd, const float *gamma,
                                       const float *ry, int B, int C, int HW, int c0, int c1)
{
    const double m = (double)B * HW;
    for (int c = c0; c < c1; c++) {
        double ady[LANES] = {0}, adyx[LANES] = {0};
        for (int n = 0; n < B; n++) {
            size_t o = ((size_t)n * C + c) * HW;
            if (ry)
                row_sum_dot_masked(ady, adyx, dy + o, ry + o, xhat + o, HW);
            else
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
            if (ry)
                for (int i = 0; i < HW; i++) {
                    dx[o + i] += k * (relu_grad(dy[o + i], ry[o + i]) - a - xhat[o + i] * bb);
                }
            else
                for (int i = 0; i < HW; i++) dx[o + i] += k * (dy[o + i] - a - xhat[o + i] * bb);
        }
    }
}

void ds_bn_backward(float *dx, float *dgamma, float *dbeta, const float *dy, const float *xhat,
                    const float *invstd, const float *gamma, const float *relu_y, int B, int C,
                    int HW)
{
    DS_PAR_RANGES((size_t)C, (size_t)B * HW * 5, 1, lo, hi,
                  bn_backward_part(dx, dgamma, dbeta, dy, xhat, invstd, gamma, relu_y, B, C, HW,
                                   (int)lo, (int)hi));
}
