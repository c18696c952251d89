/* wb_loss.c - the white-box embedding loss and its analytic gradients. */
#include "wm/wb_loss.h"

#include <float.h>
#include <math.h>

static double dot(const float *a, const float *b, int n)
{
    double s = 0.0;
    for (int i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

static double dist2(const float *a, const float *b, int n)
{
    double s = 0.0;
    for (int i = 0; i < n; i++) {
        double d = (double)a[i] - b[i];
        s += d * d;
    }
    return s;
}

/* nearest[k] = argmin_{j != k} |c_k - c_j|^2 */
static void nearest_centres(const float *c, int C, int M, int *nearest)
{
    for (int k = 0; k < C; k++) {
        double best = DBL_MAX;
        nearest[k] = k == 0 ? 1 : 0;
        for (int j = 0; j < C; j++) {
            if (j == k) continue;
            double d = dist2(c + (size_t)k * M, c + (size_t)j * M, M);
            if (d < best) { best = d; nearest[k] = j; }
        }
    }
}

/* L_centre (batch mean): df_b += l1/B (f_b - c_y); dc_y -= l1/B (f_b - c_y) */
static double centre_term(const ds_wb_batch *in, float *df, float *dC)
{
    double loss = 0.0;
    const int M = in->M;
    const float w = in->lambda1 / in->B;
    for (int b = 0; b < in->B; b++) {
        const float *f = in->f + (size_t)b * M, *c = in->centres + (size_t)in->y[b] * M;
        for (int i = 0; i < M; i++) {
            float g = f[i] - c[i];
            loss += 0.5 * (double)g * g;
            if (df) df[(size_t)b * M + i] += w * g;
            if (dC) dC[(size_t)in->y[b] * M + i] -= w * g;
        }
    }
    return w * loss;
}

/* L_sep with d = c_y - c_n: dc_y += (c_n |d|^2 + 2(c_y.c_n - 1) d)/B,
 * dc_n += (c_y |d|^2 - 2(c_y.c_n - 1) d)/B */
static double sep_term(const ds_wb_batch *in, float *dC, const int *nearest)
{
    double loss = 0.0;
    const int M = in->M;
    const double scale = in->lambda1 / in->B;
    for (int b = 0; b < in->B; b++) {
        int y = in->y[b], n = nearest[y];
        const float *cy = in->centres + (size_t)y * M, *cn = in->centres + (size_t)n * M;
        double cc = dot(cy, cn, M) - 1.0, dd = dist2(cy, cn, M);
        loss += cc * dd;
        if (!dC) continue;
        for (int i = 0; i < M; i++) {
            double d = (double)cy[i] - cn[i];
            dC[(size_t)y * M + i] += (float)(scale * (cn[i] * dd + 2.0 * cc * d));
            dC[(size_t)n * M + i] += (float)(scale * (cy[i] * dd - 2.0 * cc * d));
        }
    }
    return scale * loss;
}

/* L_norm: dc_k += -2 sign(1 - |c_k|^2) c_k */
static double norm_term(const ds_wb_batch *in, float *dC)
{
    double loss = 0.0;
    const int M = in->M;
    for (int k = 0; k < in->C; k++) {
        const float *c = in->centres + (size_t)k * M;
        double r = 1.0 - dot(c, c, M);
        loss += fabs(r);
        double sg = (r > 0) - (r < 0);
        if (dC)
            for (int i = 0; i < M; i++) dC[(size_t)k * M + i] += (float)(in->lambda1 * -2.0 * sg * c[i]);
    }
    return in->lambda1 * loss;
}

/* BCE(b, sigmoid(z)) = log(1 + e^z) - b z, computed stably */
static double bce(double bit, double z)
{
    return (z > 0 ? z + log1p(exp(-z)) : log1p(exp(z))) - bit * z;
}

static double sigmoid(double z) { return 1.0 / (1.0 + exp(-z)); }

/* L_bits: dc_k += l1 sum_j (sigmoid(a_j.c_k) - b_kj) a_j, for target classes k */
static double bits_term(const ds_wb_batch *in, float *dC)
{
    double loss = 0.0;
    const int M = in->M;
    for (int t = 0; t < in->s; t++) {
        int k = in->targets[t];
        const float *c = in->centres + (size_t)k * M;
        for (int j = 0; j < in->N; j++) {
            const float *a = in->A + (size_t)j * M;
            double z = dot(a, c, M), bit = in->bits[(size_t)t * in->N + j];
            loss += bce(bit, z);
            double g = sigmoid(z) - bit;
            if (dC)
                for (int i = 0; i < M; i++) dC[(size_t)k * M + i] += (float)(in->lambda1 * g * a[i]);
        }
    }
    return in->lambda1 * loss;
}

/* L_mbits: with fbar_k the batch mean of class k's activations,
 * df_b += l2/n_k sum_j (sigmoid(a_j.fbar_k) - b_kj) a_j for every b with y_b = k. */
static double mbits_term(const ds_wb_batch *in, float *df, double *mu, double *g)
{
    double loss = 0.0;
    const int M = in->M;
    for (int t = 0; t < in->s; t++) {
        const int k = in->targets[t];
        int nk = 0;
        for (int i = 0; i < M; i++) mu[i] = g[i] = 0.0;
        for (int b = 0; b < in->B; b++) {
            if (in->y[b] != k) continue;
            nk++;
            for (int i = 0; i < M; i++) mu[i] += in->f[(size_t)b * M + i];
        }
        if (!nk) continue;
        for (int i = 0; i < M; i++) mu[i] /= nk;
        for (int j = 0; j < in->N; j++) {
            const float *a = in->A + (size_t)j * M;
            double z = 0.0, bit = in->bits[(size_t)t * in->N + j];
            for (int i = 0; i < M; i++) z += a[i] * mu[i];
            loss += bce(bit, z);
            double q = sigmoid(z) - bit;
            for (int i = 0; i < M; i++) g[i] += q * a[i];
        }
        if (!df) continue;
        for (int b = 0; b < in->B; b++) {
            if (in->y[b] != k) continue;
            for (int i = 0; i < M; i++) df[(size_t)b * M + i] += (float)(in->lambda2 * g[i] / nk);
        }
    }
    return in->lambda2 * loss;
}

double ds_wb_loss(const ds_wb_batch *in, float *df, float *dC, int *nearest, double *mu,
                  double *g)
{
    double loss = 0.0;
    if (in->terms & DS_WB_TERM_CENTRE) loss += centre_term(in, df, dC);
    if (in->terms & DS_WB_TERM_SEP) {
        nearest_centres(in->centres, in->C, in->M, nearest);
        loss += sep_term(in, dC, nearest);
    }
    if (in->terms & DS_WB_TERM_NORM) loss += norm_term(in, dC);
    if (in->terms & DS_WB_TERM_BITS) loss += bits_term(in, dC);
    if (in->terms & DS_WB_TERM_MBITS) loss += mbits_term(in, df, mu, g);
    return loss;
}
