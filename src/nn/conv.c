/* conv.c - 2-D convolution by im2col + sgemm (one image at a time), with a
 * direct-loop reference. Weights W[F, C, K, K]; images NCHW. */
#include <cblas.h>
#include <string.h>

#include "backend.h"
#include "deepsigns/kernels.h"

int ds_conv_shape_init(ds_conv_shape *s)
{
    if (s->B < 1 || s->C < 1 || s->H < 1 || s->W < 1 || s->F < 1 || s->K < 1 || s->stride < 1 ||
        s->pad < 0)
        return -1;
    int hp = s->H + 2 * s->pad - s->K, wp = s->W + 2 * s->pad - s->K;
    if (hp < 0 || wp < 0) return -1;
    s->Ho = hp / s->stride + 1;
    s->Wo = wp / s->stride + 1;
    return 0;
}

size_t ds_conv_col_size(const ds_conv_shape *s)
{
    return (size_t)s->C * s->K * s->K * s->Ho * s->Wo;
}

/* col[C*K*K, Ho*Wo] <- x[C,H,W]; out-of-image taps are 0 */
void ds_im2col(float *col, const float *x, const ds_conv_shape *s)
{
    const int K = s->K, HoWo = s->Ho * s->Wo;
    for (int c = 0; c < s->C; c++)
        for (int ki = 0; ki < K; ki++)
            for (int kj = 0; kj < K; kj++) {
                float *row = col + ((size_t)(c * K + ki) * K + kj) * HoWo;
                const float *xc = x + (size_t)c * s->H * s->W;
                for (int oi = 0; oi < s->Ho; oi++) {
                    int ii = oi * s->stride - s->pad + ki;
                    float *r = row + oi * s->Wo;
                    if (ii < 0 || ii >= s->H) {
                        memset(r, 0, sizeof(float) * s->Wo);
                        continue;
                    }
                    const float *xr = xc + (size_t)ii * s->W;
                    if (s->stride == 1) {
                        int jj0 = kj - s->pad; /* jj = oj + jj0 */
                        int lo = jj0 < 0 ? -jj0 : 0;
                        int hi = s->W - jj0 < s->Wo ? s->W - jj0 : s->Wo;
                        if (hi < lo) hi = lo;
                        const float *xs = xr + jj0; /* rows are short: a plain loop beats memcpy */
                        for (int oj = 0; oj < lo; oj++) r[oj] = 0.0f;
                        for (int oj = lo; oj < hi; oj++) r[oj] = xs[oj];
                        for (int oj = hi; oj < s->Wo; oj++) r[oj] = 0.0f;
                    } else {
                        for (int oj = 0; oj < s->Wo; oj++) {
                            int jj = oj * s->stride - s->pad + kj;
                            r[oj] = (jj >= 0 && jj < s->W) ? xr[jj] : 0.0f;
                        }
                    }
                }
            }
}

/* dx[C,H,W] += col2im(col[C*K*K, Ho*Wo]) */
void ds_col2im_add(float *dx, const float *col, const ds_conv_shape *s)
{
    const int K = s->K, HoWo = s->Ho * s->Wo;
    for (int c = 0; c < s->C; c++)
        for (int ki = 0; ki < K; ki++)
            for (int kj = 0; kj < K; kj++) {
                const float *row = col + ((size_t)(c * K + ki) * K + kj) * HoWo;
                float *dxc = dx + (size_t)c * s->H * s->W;
                /* output columns oj whose tap jj = oj*stride - pad + kj lies inside [0, W) */
                int jj0 = kj - s->pad;
                int lo = jj0 < 0 ? (-jj0 + s->stride - 1) / s->stride : 0;
                int hi = (s->W - 1 - jj0) / s->stride + 1;
                if (s->W - 1 - jj0 < 0) hi = 0;
                if (hi > s->Wo) hi = s->Wo;
                for (int oi = 0; oi < s->Ho; oi++) {
                    int ii = oi * s->stride - s->pad + ki;
                    if (ii < 0 || ii >= s->H) continue;
                    float *dr = dxc + (size_t)ii * s->W + jj0;
                    const float *r = row + oi * s->Wo;
                    if (s->stride == 1)
                        for (int oj = lo; oj < hi; oj++) dr[oj] += r[oj];
                    else
                        for (int oj = lo; oj < hi; oj++) dr[oj * s->stride] += r[oj];
                }
            }
}

/* per image: y_n[F, Ho*Wo] = W[F, C*K*K] col_n[C*K*K, Ho*Wo] + b */
void ds_conv_forward(float *y, const float *x, const float *W, const float *b,
                     const ds_conv_shape *s, float *col)
{
    const int KK = s->C * s->K * s->K, P = s->Ho * s->Wo;
    const size_t xs = (size_t)s->C * s->H * s->W, ys = (size_t)s->F * P;
    for (int n = 0; n < s->B; n++) {
        float *yn = y + n * ys;
        for (int f = 0; f < s->F; f++) {
            float v = b ? b[f] : 0.0f;
            for (int p = 0; p < P; p++) yn[(size_t)f * P + p] = v;
        }
        const float *cn = col;
        if (s->K == 1 && s->stride == 1 && s->pad == 0)
            cn = x + n * xs; /* 1x1 conv: the image is its own im2col matrix */
        else
            ds_im2col(col, x + n * xs, s);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s->F, P, KK, 1.0f, W, KK, cn, P,
                    1.0f, yn, P);
    }
}

/* per image: dW[F,KK] += dy_n[F,P] col_n^T;  dcol = W^T dy_n;  dx_n += col2im(dcol) */
void ds_conv_backward(float *dx, float *dW, float *db, const float *dy, const float *x,
                      const float *W, const ds_conv_shape *s, float *col)
{
    const int KK = s->C * s->K * s->K, P = s->Ho * s->Wo;
    const size_t xs = (size_t)s->C * s->H * s->W, ys = (size_t)s->F * P;
    const int direct = s->K == 1 && s->stride == 1 && s->pad == 0;
    for (int n = 0; n < s->B; n++) {
        const float *dyn = dy + n * ys;
        if (db)
            for (int f = 0; f < s->F; f++) db[f] += ds_sum(dyn + (size_t)f * P, P);
        const float *cn = col;
        if (direct)
            cn = x + n * xs;
        else
            ds_im2col(col, x + n * xs, s);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, s->F, KK, P, 1.0f, dyn, P, cn, P,
                    1.0f, dW, KK);
        if (!dx) continue;
        if (direct) {
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, KK, P, s->F, 1.0f, W, KK, dyn, P,
                        1.0f, dx + n * xs, P);
        } else {
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, KK, P, s->F, 1.0f, W, KK, dyn, P,
                        0.0f, col, P);
            ds_col2im_add(dx + n * xs, col, s);
        }
    }
}

void ds_conv_forward_naive(float *y, const float *x, const float *W, const float *b,
                           const ds_conv_shape *s)
{
    for (int n = 0; n < s->B; n++)
        for (int f = 0; f < s->F; f++)
            for (int oi = 0; oi < s->Ho; oi++)
                for (int oj = 0; oj < s->Wo; oj++) {
                    double acc = b ? b[f] : 0.0;
                    for (int c = 0; c < s->C; c++)
                        for (int ki = 0; ki < s->K; ki++)
                            for (int kj = 0; kj < s->K; kj++) {
                                int ii = oi * s->stride - s->pad + ki;
                                int jj = oj * s->stride - s->pad + kj;
                                if (ii < 0 || ii >= s->H || jj < 0 || jj >= s->W) continue;
                                acc += (double)x[(((size_t)n * s->C + c) * s->H + ii) * s->W + jj] *
                                       W[(((size_t)f * s->C + c) * s->K + ki) * s->K + kj];
                            }
                    y[(((size_t)n * s->F + f) * s->Ho + oi) * s->Wo + oj] = (float)acc;
                }
}

void ds_conv_backward_naive(float *dx, float *dW, float *db, const float *dy, const float *x,
                            const float *W, const ds_conv_shape *s)
{
    for (int n = 0; n < s->B; n++)
        for (int f = 0; f < s->F; f++)
            for (int oi = 0; oi < s->Ho; oi++)
                for (int oj = 0; oj < s->Wo; oj++) {
                    float g = dy[(((size_t)n * s->F + f) * s->Ho + oi) * s->Wo + oj];
                    if (db) db[f] += g;
                    for (int c = 0; c < s->C; c++)
                        for (int ki = 0; ki < s->K; ki++)
                            for (int kj = 0; kj < s->K; kj++) {
                                int ii = oi * s->stride - s->pad + ki;
                                int jj = oj * s->stride - s->pad + kj;
                                if (ii < 0 || ii >= s->H || jj < 0 || jj >= s->W) continue;
                                size_t xi = (((size_t)n * s->C + c) * s->H + ii) * s->W + jj;
                                size_t wi = (((size_t)f * s->C + c) * s->K + ki) * s->K + kj;
                                dW[wi] += x[xi] * g;
                                if (dx) dx[xi] += W[wi] * g;
                            }
                }
}

#ifndef DS_DNNL
/* The plan without oneDNN: im2col + OpenBLAS, scratch = one image's im2col matrix. */
#include <stdlib.h>

struct ds_conv_plan {
    ds_conv_shape s;
};

const char *ds_conv_backend(void) { return "openblas"; }

ds_conv_plan *ds_conv_plan_new(const ds_conv_shape *s, int bias)
{
    (void)bias;
    ds_conv_plan *p = malloc(sizeof *p);
    if (p) p->s = *s;
    return p;
}

void ds_conv_plan_free(ds_conv_plan *p) { free(p); }

size_t ds_conv_plan_scratch(const ds_conv_plan *p) { return ds_conv_col_size(&p->s); }

const ds_conv_shape *ds_conv_plan_shape(const ds_conv_plan *p) { return &p->s; }

void ds_conv_plan_forward(ds_conv_plan *p, float *y, const float *x, const float *W,
                          const float *b, float *scratch)
{
    ds_conv_forward(y, x, W, b, &p->s, scratch);
}

void ds_conv_plan_backward(ds_conv_plan *p, float *dx, float *dW, float *db, const float *dy,
                           const float *x, const float *W, float *scratch)
{
    ds_conv_backward(dx, dW, db, dy, x, W, &p->s, scratch);
}
#endif
