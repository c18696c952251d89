/* gmm_fit.h - the working state of a Gaussian-mixture fit (gmm.c) and the
 * full-covariance steps of it (gmm_full.c: triangular solves, GEMM/SYRK
 * statistics, Cholesky factors through GSL's CBLAS), which only the `gmm`
 * command's DS_GMM_FULL uses. Internal to src/stats. */
#ifndef DEEPSIGNS_STATS_GMM_FIT_H
#define DEEPSIGNS_STATS_GMM_FIT_H

#include <stddef.h>
#include <string.h>

#include "deepsigns/stats.h"

enum {
    BLOCK = 256,       /* samples per sweep block */
    KMEANS_ITERS = 10, /* Lloyd sweeps after k-means++ seeding (at most) */
    CHOL_TRIES = 7,    /* floor, 10 floor, ..., 1e6 floor added to a covariance diagonal */
    STACK_D = 256,     /* single-sample FULL scratch on the stack up to this d */
    MAX_TRIALS = 16,   /* greedy k-means++ candidates per centre (at most) */
    TS = 4,            /* samples per tile in the distance / statistics kernels */
    TL = 4,            /* doubles per vec (one AVX register) */
    TU = 2,            /* vecs per step: TU * TL independent partial sums per sample */
};

_Static_assert(BLOCK % TS == 0, "blocks hold whole tiles");

/* TL doubles operated on element-wise (GCC/Clang vector extension): each lane
 * is plain IEEE double arithmetic, so results do not depend on the ISA the
 * compiler maps it to. Moved with memcpy (no alignment assumed) by macros, as
 * passing vectors to functions would tie the ABI to the ISA. */
typedef double vec __attribute__((vector_size(TL * sizeof(double))));
#define VLOAD(v, p) memcpy(&(v), (p), sizeof(vec))
#define VSTORE(p, v) memcpy((p), &(v), sizeof(vec))

static const double LOG_2PI = 1.83787706640934548356;

typedef enum sweep_mode {
    SWEEP_EM,      /* responsibilities from the E-step under the current mixture */
    SWEEP_HARD,    /* one-hot responsibilities from f->assign */
    SWEEP_NEAREST, /* assign each sample to the nearest k-means centre, then one-hot */
} sweep_mode;

/* Working state of one fit; parameters live in the ds_gmm (in shifted
 * coordinates until the end of ds_gmm_fit). */
typedef struct fit {
    const float *x; /* [n, d] the caller's samples */
    size_t n;
    int d, k;
    ds_gmm_cov cov;
    double floor;
    size_t sw;         /* row stride of s1: 2d for DIAG (S1 then S2), d for FULL */
    double *shift;     /* [d] global mean, subtracted from every sample */
    double *gvar;      /* [d] global variance, floored: covariance of a re-seeded component */
    double *blk;       /* [BLOCK, d] shifted samples of the current block */
    double *resp;      /* [BLOCK, k] log-densities or distances, then responsibilities */
    double *work;      /* FULL: [BLOCK, d] solve / weighted-sample scratch */
    double *prec;      /* DIAG: [k, d] precisions 1 / v */
    double *ones;      /* [d] unit weights (squared Euclidean distances) */
    double *cst;       /* [k] log w_c - (d log 2pi + logdet_c) / 2 */
    double *nk;        /* [k] responsibility mass N_c */
    double *s1;        /* [k, sw] sum_i r_ic x_i, then (DIAG) sum_i r_ic x_i^2 */
    double *s2;        /* FULL: [k, d, d] sum_i r_ic x_i x_i^T (lower triangle) */
    const int *assign; /* [n] hard assignments for SWEEP_HARD (labels or kassign) */
    int *kassign;      /* [n] k-means assignments */
    double *cent;      /* [k, d] k-means centres (shifted) */
    size_t *worst;     /* [k] samples of lowest log-likelihood in the last EM sweep, ascending */
    double *worst_ll;  /* [k] their log-likelihoods */
    int nworst;
} fit;

/* ---- the full-covariance steps (gmm_full.c); ints are GSL statuses ---- */

/* resp[b, k] = cst_c - q_ic / 2, q_ic = |L_c^{-1} (x_i - mu_c)|^2, for the samples in blk. */
int gmm_full_estep(fit *f, const ds_gmm *g, size_t b);
/* s1[k, d] += resp^T blk and s2_c += sum_i r_ic x_i x_i^T (lower triangle). */
int gmm_full_accumulate(fit *f, size_t b);
/* mu_c and Sigma_c (var, both triangles) from the statistics of mass N. */
void gmm_full_moments(const fit *f, ds_gmm *g, int c, double N);
/* chol_c = Cholesky factor of var_c + a I, a = floor, 10 floor, ... (var_c keeps
 * the a that worked), logdet_c = 2 sum_j log L_jj. */
ds_status gmm_full_factor(const fit *f, ds_gmm *g, int c, ds_err *err);
/* |L_c^{-1} (x - mu_c)|^2 for one sample x[d]; work[d] scratch. NAN if the solve fails. */
double gmm_full_quad(const ds_gmm *g, int c, const float *x, double *work);

#endif
