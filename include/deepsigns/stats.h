/* stats.h - the statistics DeepSigns' verdicts need, on GSL: Gaussian mixtures
 * fitted by EM and binomial tails and thresholds. (Intervals and summaries over
 * seeds are the analysis' job: analysis/stats.py, on scipy.stats.)
 *
 * Nothing here draws from a global generator: k-means++ takes a ds_rng.
 */
#ifndef DEEPSIGNS_STATS_H
#define DEEPSIGNS_STATS_H

#include <stddef.h>

#include "deepsigns/rng.h"
#include "deepsigns/status.h"

/* ---- Gaussian mixture ---- */

typedef enum ds_gmm_cov {
    DS_GMM_DIAG = 0,  /* diagonal covariance (default) */
    DS_GMM_FULL,      /* full covariance (Cholesky through GSL) */
} ds_gmm_cov;

typedef enum ds_gmm_init {
    DS_GMM_INIT_KMEANSPP = 0, /* k-means++ seeding, then a few Lloyd iterations */
    DS_GMM_INIT_LABELS,       /* one component per class: means/covariances of the labelled groups */
} ds_gmm_init;

typedef struct ds_gmm_opts {
    int k;                /* components */
    ds_gmm_cov cov;
    ds_gmm_init init;
    int max_iter;         /* EM iterations (default 200) */
    double tol;           /* stop when the mean log-likelihood gains less than tol (default 1e-6) */
    double var_floor;     /* lower bound on variances / added to the covariance diagonal (default 1e-6) */
} ds_gmm_opts;

typedef struct ds_gmm {
    int k, d;
    ds_gmm_cov cov;
    double *weight;       /* [k] mixing weights */
    double *mean;         /* [k, d] */
    double *var;          /* DIAG: [k, d] variances; FULL: [k, d, d] covariances */
    double *chol;         /* FULL: [k, d, d] lower Cholesky factors; DIAG: NULL */
    double *logdet;       /* [k] log-determinants of the covariances */
    double loglik;        /* mean log-likelihood per sample at the end of the fit */
    int iters;            /* EM iterations run */
    int converged;
} ds_gmm;

/* Defaults for k components (diag, k-means++, 200 iterations, tol 1e-6, floor 1e-6). */
ds_gmm_opts ds_gmm_defaults(int k);

/* Fit a mixture to x[n, d] (row-major floats). labels[n] in [0, k) is required
 * for DS_GMM_INIT_LABELS and ignored otherwise. If trace is non-NULL it receives
 * the mean log-likelihood after each iteration (room for max_iter values).
 * Returns NULL on failure (bad options, n < k, GSL failure) with a message. */
ds_gmm *ds_gmm_fit(const float *x, size_t n, int d, const int *labels, const ds_gmm_opts *opts,
                   ds_rng *rng, double *trace, ds_err *err);
void ds_gmm_free(ds_gmm *g);

/* log p(x) of one sample x[d] under the mixture (log-sum-exp over components). */
double ds_gmm_logpdf(const ds_gmm *g, const float *x);
/* Posterior responsibilities of one sample: resp[k]; returns log p(x). */
double ds_gmm_posterior(const ds_gmm *g, const float *x, double *resp);
/* Mean log-likelihood of x[n, d]. */
double ds_gmm_mean_loglik(const ds_gmm *g, const float *x, size_t n);

/* ---- binomial ---- */

/* P(X <= i) for X ~ Binomial(n, p) (gsl_cdf_binomial_P); 0 for i < 0. */
double ds_binom_cdf(int i, double p, int n);
/* The smallest i with P(X <= i) > alpha: the black-box detection threshold theta
 * (claim ownership iff mismatches < theta). */
int ds_binom_threshold(int n, double p, double alpha);

/* ---- assignment ---- */

/* An optimal assignment: rows of score[n, m] (row-major) to distinct columns,
 * maximising the sum of the chosen scores (the Hungarian method with
 * potentials, shortest augmenting paths: O(min(n,m)^2 max(n,m))). When n <= m
 * every row gets a column; otherwise m rows do and the rest get -1.
 * row_col[n] receives each row's column. DS_ENOMEM, or DS_EINVAL for a
 * non-finite score. */
ds_status ds_assign_max(const double *score, int n, int m, int *row_col, ds_err *err);

#endif
