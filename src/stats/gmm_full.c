/* gmm_full.c - the full-covariance steps of a Gaussian-mixture fit (gmm_fit.h):
 * z_i = L_c^{-1} (x_i - mu_c) by a triangular solve (dtrsm) per block and
 * component, q_ic = |z_i|^2; S1 += R^T X by GEMM and S2_c += (sqrt(r_c) x)^T
 * (sqrt(r_c) x) by dsyrk, all through GSL's CBLAS; the Cholesky factors with the
 * variance floor added to the diagonal (gmm.c's header comment). */
#include <math.h>

#include <gsl/gsl_blas.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_linalg.h>
#include <gsl/gsl_matrix.h>
#include <gsl/gsl_vector.h>

#include "stats/gmm_fit.h"

int gmm_full_estep(fit *f, const ds_gmm *g, size_t b)
{
    int k = f->k, d = f->d;
    for (int c = 0; c < k; c++) {
        const double *mu = g->mean + (size_t)c * d;
        for (size_t i = 0; i < b; i++)
            for (int j = 0; j < d; j++) f->work[i * d + j] = f->blk[i * d + j] - mu[j];
        gsl_matrix_const_view L = gsl_matrix_const_view_array(g->chol + (size_t)c * d * d, d, d);
        gsl_matrix_view Z = gsl_matrix_view_array(f->work, b, d);
        /* Z := Z L^{-T}: row i becomes (L^{-1} (x_i - mu_c))^T */
        int st = gsl_blas_dtrsm(CblasRight, CblasLower, CblasTrans, CblasNonUnit, 1.0, &L.matrix,
                                &Z.matrix);
        if (st) return st;
        for (size_t i = 0; i < b; i++) {
            double q = 0.0;
            for (int j = 0; j < d; j++) q += f->work[i * d + j] * f->work[i * d + j];
            f->resp[i * k + c] = f->cst[c] - 0.5 * q;
        }
    }
    return GSL_SUCCESS;
}

int gmm_full_accumulate(fit *f, size_t b)
{
    int k = f->k, d = f->d;
    gsl_matrix_const_view R = gsl_matrix_const_view_array(f->resp, b, k);
    gsl_matrix_const_view X = gsl_matrix_const_view_array(f->blk, b, d);
    gsl_matrix_view S1 = gsl_matrix_view_array(f->s1, k, d);
    int st = gsl_blas_dgemm(CblasTrans, CblasNoTrans, 1.0, &R.matrix, &X.matrix, 1.0, &S1.matrix);
    if (st) return st;
    for (int c = 0; c < k; c++) {
        size_t m = 0; /* rows of work: sqrt(r_ic) x_i for the samples with r_ic > 0 */
        for (size_t i = 0; i < b; i++) {
            double r = f->resp[i * k + c];
            if (!(r > 0.0)) continue;
            double sr = sqrt(r);
            for (int j = 0; j < d; j++) f->work[m * d + j] = sr * f->blk[i * d + j];
            m++;
        }
        if (m == 0) continue;
        gsl_matrix_const_view W = gsl_matrix_const_view_array(f->work, m, d);
        gsl_matrix_view S = gsl_matrix_view_array(f->s2 + (size_t)c * d * d, d, d);
        st = gsl_blas_dsyrk(CblasLower, CblasTrans, 1.0, &W.matrix, 1.0, &S.matrix);
        if (st) return st;
    }
    return GSL_SUCCESS;
}

void gmm_full_moments(const fit *f, ds_gmm *g, int c, double N)
{
    int d = f->d;
    double *mu = g->mean + (size_t)c * d, *V = g->var + (size_t)c * d * d;
    const double *s1 = f->s1 + (size_t)c * f->sw, *S = f->s2 + (size_t)c * d * d;
    for (int j = 0; j < d; j++) mu[j] = s1[j] / N;
    for (int j = 0; j < d; j++)
        for (int l = 0; l <= j; l++) {
            double v = S[(size_t)j * d + l] / N - mu[j] * mu[l];
            V[(size_t)j * d + l] = V[(size_t)l * d + j] = v;
        }
}

/* chol_c = the Cholesky factor of var_c + a I, for a = floor, 10 floor, ...;
 * var_c keeps the addition that worked, logdet_c = 2 sum_j log L_jj. */
ds_status gmm_full_factor(const fit *f, ds_gmm *g, int c, ds_err *err)
{
    int d = f->d;
    double *V = g->var + (size_t)c * d * d, *L = g->chol + (size_t)c * d * d, add = f->floor;
    for (int t = 0; t < CHOL_TRIES; t++, add *= 10.0) {
        memcpy(L, V, (size_t)d * d * sizeof(double));
        for (int j = 0; j < d; j++) L[(size_t)j * d + j] += add;
        gsl_matrix_view Lv = gsl_matrix_view_array(L, d, d);
        int st = gsl_linalg_cholesky_decomp1(&Lv.matrix);
        if (st == GSL_EDOM) continue; /* not positive definite: add more */
        if (st)
            return ds_err_set(err, DS_ELIB, "GMM: Cholesky of component %d failed: %s", c,
                              gsl_strerror(st));
        double ld = 0.0;
        for (int j = 0; j < d; j++) {
            V[(size_t)j * d + j] += add;
            for (int l = j + 1; l < d; l++) L[(size_t)j * d + l] = 0.0; /* keep L lower */
            ld += log(L[(size_t)j * d + j]);
        }
        g->logdet[c] = 2.0 * ld;
        return DS_OK;
    }
    return ds_err_set(err, DS_ENUM,
                      "GMM: covariance of component %d (d = %d) is not positive definite even "
                      "with %g added to its diagonal; the data may be degenerate (raise "
                      "var_floor, or use DS_GMM_DIAG)",
                      c, d, add / 10.0);
}

double gmm_full_quad(const ds_gmm *g, int c, const float *x, double *work)
{
    int d = g->d;
    const double *mu = g->mean + (size_t)c * d;
    for (int j = 0; j < d; j++) work[j] = (double)x[j] - mu[j];
    gsl_matrix_const_view L = gsl_matrix_const_view_array(g->chol + (size_t)c * d * d, d, d);
    gsl_vector_view z = gsl_vector_view_array(work, d);
    if (gsl_blas_dtrsv(CblasLower, CblasNoTrans, CblasNonUnit, &L.matrix, &z.vector)) return NAN;
    double q = 0.0;
    for (int j = 0; j < d; j++) q += work[j] * work[j];
    return q;
}
