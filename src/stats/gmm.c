/* gmm.c - Gaussian mixtures fitted by EM (diagonal or full covariance), with
 * k-means++ or per-label initialisation. The full-covariance steps (solves,
 * GEMM/SYRK statistics, Cholesky factors) are in gmm_full.c, the fit's working
 * state in gmm_fit.h.
 *
 * Layout. Fitting runs in double on the samples shifted by their global mean
 * (a mixture is translation-equivariant; the shift keeps the one-pass second
 * moments sum r x^2 - N mu^2 away from cancellation) and sweeps x[n, d] in row
 * blocks of BLOCK samples, so the working memory is O(BLOCK d + k d), plus
 * O(k d^2) for FULL, whatever n is. One sweep does the E-step under the current
 * mixture (log-sum-exp responsibilities, the mean log-likelihood) and gathers
 * the sufficient statistics N_c = sum_i r_ic, S1_c = sum_i r_ic x_i and
 * S2_c = sum_i r_ic x_i^2 (DIAG) or sum_i r_ic x_i x_i^T (FULL) for the next
 * M-step, so an EM iteration is one pass over x:
 *   DIAG: q_ic = sum_j (x_ij - mu_cj)^2 / v_cj and S1_c, S2_c by two small
 *         kernels over tiles of TS samples x (TU x TL) lanes, with explicit
 *         partial sums in a fixed order (the build forbids reassociation, and
 *         the result is the same on any ISA). They beat the GEMM form
 *         [x, x^2] . [-2 mu / v, 1 / v] (which also cancels) by ~1.3x, as k
 *         is too small for GEMM's packing to pay;
 *   FULL: z_i = L_c^{-1} (x_i - mu_c) by a triangular solve (dtrsm) per block and
 *         component, q_ic = |z_i|^2; S1 += R^T X by GEMM and
 *         S2_c += (sqrt(r_c) x)^T (sqrt(r_c) x) by dsyrk, all through GSL's CBLAS.
 * Iteration t (1-based) is an M-step then a sweep, so trace[t - 1] is the mean
 * log-likelihood of the parameters after t M-steps, and ds_gmm.loglik that of
 * the returned parameters. max_iter = 0 returns the initial mixture.
 *
 * Variance floor. DIAG: v = max(v, floor), the constrained maximiser, so the
 * log-likelihood never decreases. FULL: floor is added to the diagonal before
 * the Cholesky factorisation (like scikit-learn's reg_covar); if that still
 * fails, 10x, 100x, ... up to 1e6 x floor, then DS_ENUM. The covariance stored
 * in var is the one factorised (with the addition).
 *
 * Empty components. A component whose responsibility mass N_c falls below
 * n * DBL_EPSILON is re-seeded deterministically: at the sample of lowest
 * log-likelihood in the last sweep (the second lowest for a second empty
 * component, ...), with the global per-dimension variance (floored) as its
 * diagonal covariance and the mass of one sample. The log-likelihood may drop
 * at that iteration, and convergence is not declared on it. (At initialisation
 * an empty k-means cluster keeps its centre instead.)
 *
 * Convergence: stop when the mean log-likelihood gains less than tol (a drop
 * counts as converged: it can only be rounding, or FULL's diagonal addition).
 *
 * k-means++: greedy D^2 seeding drawing from the caller's ds_rng (ds_rng_below
 * for the first centre, ds_rng_uniform for the candidates), then up to
 * KMEANS_ITERS Lloyd iterations (ties to the lower index; an empty cluster
 * keeps its centre), then per-cluster weights, means and (co)variances through
 * the same M-step. Distances are exact sums of squared differences (no
 * |x|^2 - 2 x.c + |c|^2 cancellation).
 */
#include "deepsigns/stats.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_errno.h>

#include "stats/gmm_fit.h"

/* ---- allocation ---- */

/* calloc of a * b * c elements of `size` bytes with overflow checks; NULL on failure. */
static void *calloc3(size_t a, size_t b, size_t c, size_t size)
{
    if (b && a > SIZE_MAX / b) return NULL;
    size_t ab = a * b;
    if (c && ab > SIZE_MAX / c) return NULL;
    size_t cnt = ab * c;
    return calloc(cnt ? cnt : 1, size);
}

void ds_gmm_free(ds_gmm *g)
{
    if (!g) return;
    free(g->weight);
    free(g->mean);
    free(g->var);
    free(g->chol);
    free(g->logdet);
    free(g);
}

static ds_gmm *gmm_alloc(int k, int d, ds_gmm_cov cov)
{
    ds_gmm *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    g->k = k;
    g->d = d;
    g->cov = cov;
    size_t per = cov == DS_GMM_FULL ? (size_t)d : 1; /* covariance entries per mean entry */
    g->weight = calloc3(k, 1, 1, sizeof(double));
    g->mean = calloc3(k, d, 1, sizeof(double));
    g->var = calloc3(k, d, per, sizeof(double));
    g->logdet = calloc3(k, 1, 1, sizeof(double));
    if (cov == DS_GMM_FULL) g->chol = calloc3(k, d, d, sizeof(double));
    if (!g->weight || !g->mean || !g->var || !g->logdet || (cov == DS_GMM_FULL && !g->chol)) {
        ds_gmm_free(g);
        return NULL;
    }
    return g;
}

static void fit_free(fit *f)
{
    free(f->shift);
    free(f->gvar);
    free(f->blk);
    free(f->resp);
    free(f->work);
    free(f->prec);
    free(f->ones);
    free(f->cst);
    free(f->nk);
    free(f->s1);
    free(f->s2);
    free(f->kassign);
    free(f->cent);
    free(f->worst);
    free(f->worst_ll);
}

static ds_status fit_alloc(fit *f, const float *x, size_t n, int d, const ds_gmm_opts *o,
                           ds_err *err)
{
    memset(f, 0, sizeof *f);
    f->x = x;
    f->n = n;
    f->d = d;
    f->k = o->k;
    f->cov = o->cov;
    f->floor = o->var_floor;
    int full = o->cov == DS_GMM_FULL, k = o->k;
    f->sw = full ? (size_t)d : 2 * (size_t)d;
    f->shift = calloc3(d, 1, 1, sizeof(double));
    f->gvar = calloc3(d, 1, 1, sizeof(double));
    f->blk = calloc3(BLOCK, d, 1, sizeof(double));
    f->resp = calloc3(BLOCK, k, 1, sizeof(double));
    f->work = full ? calloc3(BLOCK, d, 1, sizeof(double)) : NULL;
    f->prec = full ? NULL : calloc3(k, d, 1, sizeof(double));
    f->ones = calloc3(d, 1, 1, sizeof(double));
    f->cst = calloc3(k, 1, 1, sizeof(double));
    f->nk = calloc3(k, 1, 1, sizeof(double));
    f->s1 = calloc3(k, f->sw, 1, sizeof(double));
    f->s2 = full ? calloc3(k, d, d, sizeof(double)) : NULL;
    f->kassign = o->init == DS_GMM_INIT_KMEANSPP ? calloc3(n, 1, 1, sizeof(int)) : NULL;
    f->cent = calloc3(k, d, 1, sizeof(double));
    f->worst = calloc3(k, 1, 1, sizeof(size_t));
    f->worst_ll = calloc3(k, 1, 1, sizeof(double));
    if (!f->shift || !f->gvar || !f->blk || !f->resp || (full && !f->work) || (!full && !f->prec) ||
        !f->ones || !f->cst || !f->nk || !f->s1 || (full && !f->s2) ||
        (o->init == DS_GMM_INIT_KMEANSPP && !f->kassign) || !f->cent || !f->worst || !f->worst_ll)
        return ds_err_set(err, DS_ENOMEM, "GMM: out of memory for n = %zu, d = %d, k = %d", n, d,
                          k);
    for (int j = 0; j < d; j++) f->ones[j] = 1.0;
    return DS_OK;
}

/* ---- data access ---- */

/* shift[d] = the mean of x, gvar[d] = max(variance of x, floor); rejects
 * non-finite samples. */
static ds_status global_moments(fit *f, ds_err *err)
{
    size_t d = (size_t)f->d;
    for (size_t i = 0; i < f->n; i++)
        for (size_t j = 0; j < d; j++) {
            float v = f->x[i * d + j];
            if (!isfinite(v))
                return ds_err_set(err, DS_EINVAL, "GMM: sample %zu, feature %zu is not finite (%g)",
                                  i, j, (double)v);
            f->shift[j] += v;
        }
    for (size_t j = 0; j < d; j++) f->shift[j] /= (double)f->n;
    for (size_t i = 0; i < f->n; i++)
        for (size_t j = 0; j < d; j++) {
            double dv = (double)f->x[i * d + j] - f->shift[j];
            f->gvar[j] += dv * dv;
        }
    for (size_t j = 0; j < d; j++) f->gvar[j] = fmax(f->gvar[j] / (double)f->n, f->floor);
    return DS_OK;
}

/* out[d] = sample i, shifted. */
static void load_row(const fit *f, size_t i, double *out)
{
    const float *xi = f->x + i * (size_t)f->d;
    for (int j = 0; j < f->d; j++) out[j] = (double)xi[j] - f->shift[j];
}

/* blk[b, d] = samples i0 .. i0+b-1, shifted. */
static void fill_block(fit *f, size_t i0, size_t b)
{
    int d = f->d;
    for (size_t i = 0; i < b; i++) {
        const float *xi = f->x + (i0 + i) * (size_t)d;
        double *row = f->blk + i * (size_t)d;
        for (int j = 0; j < d; j++) row[j] = (double)xi[j] - f->shift[j];
    }
}

/* out[i, c] (row stride ldo) = sum_j w_cj (x_ij - m_cj)^2 for the b samples of
 * blk and the rows m[nm, d]; w has row stride wst (0: one row for all). Tiles
 * of TS samples, each summing in TL lanes then across them, in a fixed order.
 * Rows of blk past b (up to a multiple of TS, within BLOCK) are computed on
 * stale data and dropped. */
static void wdist_block(const fit *f, size_t b, const double *m, int nm, const double *w,
                        size_t wst, double *out, size_t ldo)
{
    size_t d = (size_t)f->d, dv = d - d % (TU * TL);
    for (size_t i = 0; i < b; i += TS) {
        const double *x = f->blk + i * d;
        for (int c = 0; c < nm; c++) {
            const double *mc = m + (size_t)c * d, *wc = w + (size_t)c * wst;
            vec acc[TU][TS] = {{{0.0}}};
            for (size_t j = 0; j < dv; j += TU * TL)
                for (int u = 0; u < TU; u++) {
                    vec mu, p, v;
                    VLOAD(mu, mc + j + u * TL);
                    VLOAD(p, wc + j + u * TL);
                    for (int s = 0; s < TS; s++) {
                        VLOAD(v, x + s * d + j + u * TL);
                        v -= mu;
                        acc[u][s] += v * v * p;
                    }
                }
            double q[TS] = {0.0};
            for (int s = 0; s < TS; s++)
                for (int u = 0; u < TU; u++)
                    for (int l = 0; l < TL; l++) q[s] += acc[u][s][l];
            for (int s = 0; s < TS && i + s < b; s++) {
                for (size_t j = dv; j < d; j++) {
                    double v = x[s * d + j] - mc[j];
                    q[s] += v * v * wc[j];
                }
                out[(i + s) * ldo + c] = q[s];
            }
        }
    }
}

/* ---- one sweep: responsibilities and sufficient statistics ---- */

/* resp[b, k] = log w_c + log N(x_i | mu_c, Sigma_c) for the samples in blk.
 * Returns a GSL status. */
static int estep_block(fit *f, const ds_gmm *g, size_t b)
{
    int k = f->k, d = f->d;
    if (f->cov == DS_GMM_DIAG) {
        wdist_block(f, b, g->mean, k, f->prec, (size_t)d, f->resp, k);
        for (size_t i = 0; i < b * (size_t)k; i++) f->resp[i] = f->cst[i % k] - 0.5 * f->resp[i];
        return GSL_SUCCESS;
    }
    return gmm_full_estep(f, g, b);
}

/* Keep the k samples of lowest log-likelihood (ascending; earlier samples win ties). */
static void note_worst(fit *f, size_t i, double ll)
{
    int cap = f->k;
    if (f->nworst == cap && !(ll < f->worst_ll[cap - 1])) return;
    int p = f->nworst < cap ? f->nworst++ : cap - 1;
    for (; p > 0 && f->worst_ll[p - 1] > ll; p--) {
        f->worst_ll[p] = f->worst_ll[p - 1];
        f->worst[p] = f->worst[p - 1];
    }
    f->worst_ll[p] = ll;
    f->worst[p] = i;
}

/* Turn the log-densities in resp[b, k] into responsibilities (log-sum-exp per
 * row); returns the block's summed log-likelihood (NAN if a row has none). */
static double normalize_block(fit *f, size_t i0, size_t b)
{
    int k = f->k;
    double sum = 0.0;
    for (size_t i = 0; i < b; i++) {
        double *row = f->resp + i * k, m = row[0];
        for (int c = 1; c < k; c++) m = fmax(m, row[c]);
        if (!isfinite(m)) return NAN;
        double s = 0.0;
        for (int c = 0; c < k; c++) s += exp(row[c] - m);
        double ll = m + log(s);
        for (int c = 0; c < k; c++) row[c] = exp(row[c] - ll);
        sum += ll;
        note_worst(f, i0 + i, ll);
    }
    return sum;
}

/* kassign[i0 + i] = the nearest centre to each sample of blk (ties to the
 * lower index); *changed counts the samples whose assignment moved. */
static void nearest_block(fit *f, size_t i0, size_t b, size_t *changed)
{
    int k = f->k;
    wdist_block(f, b, f->cent, k, f->ones, 0, f->resp, k);
    for (size_t i = 0; i < b; i++) {
        int best = 0;
        for (int c = 1; c < k; c++)
            if (f->resp[i * k + c] < f->resp[i * k + best]) best = c;
        if (f->kassign[i0 + i] != best) (*changed)++;
        f->kassign[i0 + i] = best;
    }
}

/* resp[b, k] = one-hot rows of f->assign[i0 ..]. */
static void one_hot(fit *f, size_t i0, size_t b)
{
    int k = f->k;
    memset(f->resp, 0, b * (size_t)k * sizeof(double));
    for (size_t i = 0; i < b; i++) f->resp[i * k + f->assign[i0 + i]] = 1.0;
}

/* DIAG: S1_c += sum_i r_ic x_i and S2_c += sum_i r_ic x_i^2 over the block,
 * TS samples at a time (each S row is loaded once per tile; samples are added
 * in order), skipping tiles where r_ic is exactly 0. */
static void accumulate_diag(fit *f, size_t b)
{
    size_t d = (size_t)f->d, dv = d - d % TL;
    int k = f->k;
    for (size_t i = 0; i < b; i += TS) {
        const double *x = f->blk + i * d;
        for (int c = 0; c < k; c++) {
            double r[TS] = {0.0};
            int any = 0;
            for (int s = 0; s < TS && i + s < b; s++)
                any |= (r[s] = f->resp[(i + s) * k + c]) != 0.0;
            if (!any) continue;
            double *s1 = f->s1 + (size_t)c * f->sw, *s2 = s1 + d;
            for (size_t j = 0; j < dv; j += TL) {
                vec a1, a2, xv, rx;
                VLOAD(a1, s1 + j);
                VLOAD(a2, s2 + j);
                for (int s = 0; s < TS; s++) {
                    VLOAD(xv, x + s * d + j);
                    rx = r[s] * xv;
                    a1 += rx;
                    a2 += rx * xv;
                }
                VSTORE(s1 + j, a1);
                VSTORE(s2 + j, a2);
            }
            for (size_t j = dv; j < d; j++)
                for (int s = 0; s < TS; s++) {
                    double rx = r[s] * x[s * d + j];
                    s1[j] += rx;
                    s2[j] += rx * x[s * d + j];
                }
        }
    }
}

/* nk += column sums of resp; DIAG: S1, S2 by accumulate_diag. FULL:
 * gmm_full_accumulate (dgemm and dsyrk, gmm_full.c). Returns a GSL status. */
static int accumulate(fit *f, size_t b)
{
    int k = f->k;
    for (size_t i = 0; i < b; i++)
        for (int c = 0; c < k; c++) f->nk[c] += f->resp[i * k + c];
    if (f->cov == DS_GMM_DIAG) {
        accumulate_diag(f, b);
        return GSL_SUCCESS;
    }
    return gmm_full_accumulate(f, b);
}

/* One pass over x in blocks: responsibilities by `mode`, then the sufficient
 * statistics. SWEEP_EM also gives the mean log-likelihood under g and
 * refreshes the worst-sample list; SWEEP_NEAREST counts changed assignments
 * into *changed. */
static ds_status sweep(fit *f, const ds_gmm *g, sweep_mode mode, double *mean_ll, size_t *changed,
                       ds_err *err)
{
    int k = f->k, d = f->d;
    memset(f->nk, 0, (size_t)k * sizeof(double));
    memset(f->s1, 0, (size_t)k * f->sw * sizeof(double));
    if (f->s2) memset(f->s2, 0, (size_t)k * d * d * sizeof(double));
    if (mode == SWEEP_NEAREST) f->assign = f->kassign;
    f->nworst = 0;
    double ll = 0.0;
    size_t moved = 0;
    for (size_t i0 = 0; i0 < f->n; i0 += BLOCK) {
        size_t b = f->n - i0 < BLOCK ? f->n - i0 : BLOCK;
        fill_block(f, i0, b);
        int st = GSL_SUCCESS;
        if (mode == SWEEP_EM) {
            st = estep_block(f, g, b);
            if (!st) ll += normalize_block(f, i0, b);
        } else {
            if (mode == SWEEP_NEAREST) nearest_block(f, i0, b, &moved);
            one_hot(f, i0, b);
        }
        if (!st) st = accumulate(f, b);
        if (st) return ds_err_set(err, DS_ELIB, "GMM: GSL BLAS call failed: %s", gsl_strerror(st));
    }
    if (mean_ll) *mean_ll = ll / (double)f->n;
    if (changed) *changed = moved;
    return DS_OK;
}

/* ---- M-step ---- */

/* Per-component constants of the E-step: cst, and for DIAG logdet and prec. */
static void prep(fit *f, ds_gmm *g)
{
    int d = f->d;
    for (int c = 0; c < f->k; c++) {
        if (f->cov == DS_GMM_DIAG) {
            const double *v = g->var + (size_t)c * d;
            double *p = f->prec + (size_t)c * d, ld = 0.0;
            for (int j = 0; j < d; j++) {
                p[j] = 1.0 / v[j];
                ld += log(v[j]);
            }
            g->logdet[c] = ld;
        }
        f->cst[c] = log(g->weight[c]) - 0.5 * (d * LOG_2PI + g->logdet[c]);
    }
}

/* Parameters of g from the statistics of the last sweep. Components with mass
 * below n * DBL_EPSILON are re-seeded (see the top of the file) at fallback[c]
 * if given, else at the worst samples of the last EM sweep; *reseeded counts
 * them. */
static ds_status mstep(fit *f, ds_gmm *g, const double *fallback, int *reseeded, ds_err *err)
{
    int k = f->k, d = f->d, empty = 0;
    size_t dd = f->cov == DS_GMM_FULL ? (size_t)d * d : (size_t)d;
    double total = 0.0;
    for (int c = 0; c < k; c++) {
        double *mu = g->mean + (size_t)c * d, *V = g->var + (size_t)c * dd, N = f->nk[c];
        const double *s1 = f->s1 + (size_t)c * f->sw;
        if (!(N >= (double)f->n * DBL_EPSILON)) {
            if (fallback) {
                memcpy(mu, fallback + (size_t)c * d, (size_t)d * sizeof(double));
            } else if (empty < f->nworst) {
                load_row(f, f->worst[empty], mu);
            } else {
                return ds_err_set(err, DS_ENUM,
                                  "GMM: component %d is empty and cannot be re-seeded", c);
            }
            empty++;
            N = f->nk[c] = 1.0;
            memset(V, 0, dd * sizeof(double));
            size_t step = f->cov == DS_GMM_FULL ? (size_t)d + 1 : 1; /* along the diagonal */
            for (int j = 0; j < d; j++) V[j * step] = f->gvar[j];
        } else if (f->cov == DS_GMM_DIAG) {
            for (int j = 0; j < d; j++) {
                mu[j] = s1[j] / N;
                V[j] = fmax(s1[d + j] / N - mu[j] * mu[j], f->floor);
            }
        } else {
            gmm_full_moments(f, g, c, N);
        }
        total += N;
    }
    for (int c = 0; c < k; c++) g->weight[c] = f->nk[c] / total;
    if (f->cov == DS_GMM_FULL)
        for (int c = 0; c < k; c++) {
            ds_status st = gmm_full_factor(f, g, c, err);
            if (st) return st;
        }
    prep(f, g);
    *reseeded = empty;
    return DS_OK;
}

/* ---- initialisation ---- */

/* dist[n, t] = |x_i - cand_u|^2 for t candidate centres cand[t, d] (shifted). */
static void cand_dist(fit *f, const double *cand, int t, double *dist)
{
    for (size_t i0 = 0; i0 < f->n; i0 += BLOCK) {
        size_t b = f->n - i0 < BLOCK ? f->n - i0 : BLOCK;
        fill_block(f, i0, b);
        wdist_block(f, b, cand, t, f->ones, 0, dist + i0 * t, t);
    }
}

/* A sample drawn with probability w[i] / tot (w >= 0, tot = sum w > 0); the
 * last sample of positive weight if rounding leaves the walk short. */
static size_t draw_weighted(ds_rng *rng, const double *w, size_t n, double tot)
{
    double u = ds_rng_uniform(rng) * tot, acc = 0.0;
    size_t last = 0;
    for (size_t i = 0; i < n; i++) {
        if (!(w[i] > 0.0)) continue;
        acc += w[i];
        last = i;
        if (acc > u) return i;
    }
    return last;
}

/* Greedy k-means++ seeding of f->cent: the first centre uniform, then for
 * each next one 2 + floor(3 ln k) candidates drawn by D^2 weighting, keeping
 * the one that lowers the potential sum_i D^2(x_i) most. scikit-learn draws
 * 2 + floor(ln k); on 10 classes in 512-d (centres N(0, I), noise sd 0.5),
 * where D^2 is nearly flat, that left two centres in one class in 5 of 20
 * seeds, and 2 + floor(3 ln k) in none, at no measurable cost (the passes over
 * x dominate). Then Lloyd sweeps; leaves in f the statistics of the final
 * assignment. */
static ds_status kmeans(fit *f, ds_rng *rng, ds_err *err)
{
    size_t n = f->n, d = (size_t)f->d;
    int trials = 2 + (int)(3.0 * log((double)f->k));
    if (trials > MAX_TRIALS) trials = MAX_TRIALS;
    double *mind = calloc3(n, 1, 1, sizeof(double));      /* [n] D^2 to the nearest centre */
    double *dist = calloc3(n, trials, 1, sizeof(double)); /* [n, trials] D^2 to candidates */
    double *cand = calloc3(trials, d, 1, sizeof(double)); /* [trials, d] */
    ds_status st = DS_OK;
    if (!mind || !dist || !cand)
        st = ds_err_set(err, DS_ENOMEM, "GMM: out of memory for k-means++ (n = %zu)", n);
    if (!st) {
        load_row(f, ds_rng_below(rng, (uint32_t)n), f->cent);
        cand_dist(f, f->cent, 1, mind);
    }
    for (int c = 1; c < f->k && !st; c++) {
        double tot = 0.0;
        for (size_t i = 0; i < n; i++) tot += mind[i];
        int spread = tot > 0.0 && isfinite(tot); /* else every sample sits on a centre */
        for (int u = 0; u < trials; u++)
            load_row(f, spread ? draw_weighted(rng, mind, n, tot) : ds_rng_below(rng, (uint32_t)n),
                     cand + u * d);
        cand_dist(f, cand, trials, dist);
        int best = 0;
        double best_pot = INFINITY;
        for (int u = 0; u < trials; u++) {
            double pot = 0.0;
            for (size_t i = 0; i < n; i++) pot += fmin(mind[i], dist[i * trials + u]);
            if (pot < best_pot) best_pot = pot, best = u;
        }
        memcpy(f->cent + (size_t)c * d, cand + best * d, d * sizeof(double));
        for (size_t i = 0; i < n; i++) mind[i] = fmin(mind[i], dist[i * trials + best]);
    }
    free(mind);
    free(dist);
    free(cand);
    if (st) return st;

    for (size_t i = 0; i < n; i++) f->kassign[i] = -1;
    for (int it = 1;; it++) {
        size_t changed = 0;
        if ((st = sweep(f, NULL, SWEEP_NEAREST, NULL, &changed, err))) return st;
        if (changed == 0 || it >= KMEANS_ITERS) return DS_OK;
        for (int c = 0; c < f->k; c++) {
            if (!(f->nk[c] > 0.0)) continue; /* an empty cluster keeps its centre */
            for (size_t j = 0; j < d; j++)
                f->cent[(size_t)c * d + j] = f->s1[(size_t)c * f->sw + j] / f->nk[c];
        }
    }
}

static ds_status initialise(fit *f, ds_gmm *g, const int *labels, ds_gmm_init how, ds_rng *rng,
                            ds_err *err)
{
    ds_status st;
    const double *fallback = NULL;
    if (how == DS_GMM_INIT_LABELS) {
        f->assign = labels;
        st = sweep(f, NULL, SWEEP_HARD, NULL, NULL, err);
    } else {
        st = kmeans(f, rng, err);
        fallback = f->cent;
    }
    int reseeded = 0;
    return st ? st : mstep(f, g, fallback, &reseeded, err);
}

/* ---- EM ---- */

static ds_status em(fit *f, ds_gmm *g, const ds_gmm_opts *o, double *trace, ds_err *err)
{
    double ll;
    ds_status st = sweep(f, g, SWEEP_EM, &ll, NULL, err);
    if (st) return st;
    if (!isfinite(ll))
        return ds_err_set(err, DS_ENUM, "GMM: mean log-likelihood of the initial mixture is %g",
                          ll);
    g->iters = 0;
    g->converged = 0;
    for (int it = 1; it <= o->max_iter; it++) {
        double prev = ll;
        int reseeded = 0;
        st = mstep(f, g, NULL, &reseeded, err);
        if (!st) st = sweep(f, g, SWEEP_EM, &ll, NULL, err);
        if (st) return ds_err_prefix(err, "EM iteration %d: ", it);
        if (!isfinite(ll))
            return ds_err_set(err, DS_ENUM, "GMM: mean log-likelihood is %g after EM iteration %d",
                              ll, it);
        if (trace) trace[it - 1] = ll;
        g->iters = it;
        if (!reseeded && ll - prev < o->tol) {
            g->converged = 1;
            break;
        }
    }
    g->loglik = ll;
    return DS_OK;
}

ds_gmm_opts ds_gmm_defaults(int k)
{
    return (ds_gmm_opts){.k = k,
                         .cov = DS_GMM_DIAG,
                         .init = DS_GMM_INIT_KMEANSPP,
                         .max_iter = 200,
                         .tol = 1e-6,
                         .var_floor = 1e-6};
}

static ds_status check_args(const float *x, size_t n, int d, const int *labels,
                            const ds_gmm_opts *o, const ds_rng *rng, ds_err *err)
{
    if (!o) return ds_err_set(err, DS_EINVAL, "GMM: opts is NULL (start from ds_gmm_defaults(k))");
    if (!x) return ds_err_set(err, DS_EINVAL, "GMM: samples x are NULL");
    if (d <= 0) return ds_err_set(err, DS_EINVAL, "GMM: dimension d = %d; need d >= 1", d);
    if (o->k <= 0) return ds_err_set(err, DS_EINVAL, "GMM: k = %d components; need k >= 1", o->k);
    if (n < (size_t)o->k)
        return ds_err_set(err, DS_EINVAL, "GMM: %zu samples for k = %d components; need n >= k", n,
                          o->k);
    if (o->cov != DS_GMM_DIAG && o->cov != DS_GMM_FULL)
        return ds_err_set(err, DS_EINVAL, "GMM: unknown covariance type %d", (int)o->cov);
    if (o->max_iter < 0)
        return ds_err_set(err, DS_EINVAL, "GMM: max_iter = %d; need >= 0", o->max_iter);
    if (!(o->tol >= 0.0) || !isfinite(o->tol))
        return ds_err_set(err, DS_EINVAL, "GMM: tol = %g; need a finite value >= 0", o->tol);
    if (!(o->var_floor > 0.0) || !isfinite(o->var_floor))
        return ds_err_set(err, DS_EINVAL,
                          "GMM: var_floor = %g; need a finite value > 0 (it keeps variances "
                          "away from zero)",
                          o->var_floor);
    if (o->init == DS_GMM_INIT_KMEANSPP) {
        if (!rng) return ds_err_set(err, DS_EINVAL, "GMM: k-means++ initialisation needs a ds_rng");
        if (n > UINT32_MAX)
            return ds_err_set(err, DS_EINVAL, "GMM: %zu samples; k-means++ handles at most 2^32-1",
                              n);
        return DS_OK;
    }
    if (o->init != DS_GMM_INIT_LABELS)
        return ds_err_set(err, DS_EINVAL, "GMM: unknown initialisation %d", (int)o->init);
    if (!labels)
        return ds_err_set(err, DS_EINVAL, "GMM: DS_GMM_INIT_LABELS needs labels[n] (got NULL)");
    size_t *count = calloc3(o->k, 1, 1, sizeof(size_t));
    if (!count) return ds_err_set(err, DS_ENOMEM, "GMM: out of memory (k = %d)", o->k);
    ds_status st = DS_OK;
    for (size_t i = 0; i < n && !st; i++) {
        if (labels[i] < 0 || labels[i] >= o->k)
            st = ds_err_set(err, DS_EINVAL, "GMM: labels[%zu] = %d is outside [0, k = %d)", i,
                            labels[i], o->k);
        else
            count[labels[i]]++;
    }
    for (int c = 0; c < o->k && !st; c++)
        if (!count[c])
            st = ds_err_set(err, DS_EINVAL,
                            "GMM: label %d has no samples; DS_GMM_INIT_LABELS needs every label "
                            "in [0, k = %d) present",
                            c, o->k);
    free(count);
    return st;
}

ds_gmm *ds_gmm_fit(const float *x, size_t n, int d, const int *labels, const ds_gmm_opts *opts,
                   ds_rng *rng, double *trace, ds_err *err)
{
    if (check_args(x, n, d, labels, opts, rng, err)) return NULL;
    gsl_error_handler_t *old = gsl_set_error_handler_off();
    fit f;
    ds_gmm *g = NULL;
    ds_status st = fit_alloc(&f, x, n, d, opts, err);
    if (!st && !(g = gmm_alloc(opts->k, d, opts->cov)))
        st = ds_err_set(err, DS_ENOMEM, "GMM: out of memory for the mixture (k = %d, d = %d)",
                        opts->k, d);
    if (!st) st = global_moments(&f, err);
    if (!st) st = initialise(&f, g, labels, opts->init, rng, err);
    if (!st) st = em(&f, g, opts, trace, err);
    if (!st) /* back from shifted coordinates */
        for (int c = 0; c < opts->k; c++)
            for (int j = 0; j < d; j++) g->mean[(size_t)c * d + j] += f.shift[j];
    fit_free(&f);
    gsl_set_error_handler(old);
    if (st) {
        ds_gmm_free(g);
        return NULL;
    }
    return g;
}

/* ---- evaluating a fitted mixture ---- */

/* log w_c + log N(x | mu_c, Sigma_c) for one sample x[d]; work[d] is FULL's
 * scratch. NAN if the triangular solve fails. */
static double comp_logp(const ds_gmm *g, int c, const float *x, double *work)
{
    int d = g->d;
    const double *mu = g->mean + (size_t)c * d;
    double q = 0.0;
    if (g->cov == DS_GMM_DIAG) {
        const double *v = g->var + (size_t)c * d;
        for (int j = 0; j < d; j++) {
            double dv = (double)x[j] - mu[j];
            q += dv * dv / v[j];
        }
    } else {
        q = gmm_full_quad(g, c, x, work);
        if (isnan(q)) return NAN;
    }
    return log(g->weight[c]) - 0.5 * (d * LOG_2PI + g->logdet[c] + q);
}

/* Scratch of d doubles for comp_logp: `stack` when it fits (or DIAG), else heap. */
static double *scratch(const ds_gmm *g, double *stack)
{
    if (g->cov == DS_GMM_DIAG || g->d <= STACK_D) return stack;
    return calloc3(g->d, 1, 1, sizeof(double));
}

/* log p(x) by a streaming log-sum-exp over the components. */
static double logpdf_work(const ds_gmm *g, const float *x, double *work)
{
    double m = -INFINITY, s = 0.0;
    for (int c = 0; c < g->k; c++) {
        double v = comp_logp(g, c, x, work);
        if (isnan(v)) return NAN;
        if (v == -INFINITY) continue;
        if (v > m) {
            s = s * exp(m - v) + 1.0;
            m = v;
        } else {
            s += exp(v - m);
        }
    }
    return m == -INFINITY ? m : m + log(s);
}

double ds_gmm_logpdf(const ds_gmm *g, const float *x)
{
    if (!g || !x) return NAN;
    double stack[STACK_D], *work = scratch(g, stack);
    if (!work) return NAN;
    gsl_error_handler_t *old = gsl_set_error_handler_off();
    double v = logpdf_work(g, x, work);
    gsl_set_error_handler(old);
    if (work != stack) free(work);
    return v;
}

/* resp[k] = P(c | x); if no component gives x any density, resp = 1/k and the
 * result is -INFINITY. NAN (resp untouched past the failure) if a solve fails. */
double ds_gmm_posterior(const ds_gmm *g, const float *x, double *resp)
{
    if (!g || !x || !resp) return NAN;
    double stack[STACK_D], *work = scratch(g, stack);
    if (!work) return NAN;
    gsl_error_handler_t *old = gsl_set_error_handler_off();
    double m = -INFINITY, lse = NAN;
    int c = 0;
    for (; c < g->k; c++) {
        resp[c] = comp_logp(g, c, x, work);
        if (isnan(resp[c])) break;
        m = fmax(m, resp[c]);
    }
    if (c == g->k && m == -INFINITY) {
        for (c = 0; c < g->k; c++) resp[c] = 1.0 / g->k;
        lse = -INFINITY;
    } else if (c == g->k) {
        double s = 0.0;
        for (c = 0; c < g->k; c++) s += exp(resp[c] - m);
        lse = m + log(s);
        for (c = 0; c < g->k; c++) resp[c] = exp(resp[c] - lse);
    }
    gsl_set_error_handler(old);
    if (work != stack) free(work);
    return lse;
}

/* NAN for n = 0 or a failed solve. */
double ds_gmm_mean_loglik(const ds_gmm *g, const float *x, size_t n)
{
    if (!g || !x || n == 0) return NAN;
    double stack[STACK_D], *work = scratch(g, stack);
    if (!work) return NAN;
    gsl_error_handler_t *old = gsl_set_error_handler_off();
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += logpdf_work(g, x + i * (size_t)g->d, work);
    gsl_set_error_handler(old);
    if (work != stack) free(work);
    return s / (double)n;
}
