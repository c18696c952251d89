/* test_stats.c - the statistics module against independently computed values:
 * binomial tails against direct summation of the pmf in long double, the
 * black-box thresholds of METHOD.md section 3, Clopper-Pearson, Welch and
 * Student-t intervals against mpmath references, and Gaussian-mixture EM on
 * data drawn from known mixtures (monotone log-likelihood, recovered
 * parameters, label initialisation, degenerate input, bad options, and a
 * timed 10000 x 512 diagonal fit).
 *
 * Reference numbers marked "mpmath" were produced with mpmath 1.3 at 40
 * digits: Clopper-Pearson ends by bisection on the exact binomial tails
 * (sum_j C(n,j) p^j (1-p)^(n-j) = alpha/2), t tails as
 * I_{df/(df+t^2)}(df/2, 1/2) / 2 (mpmath.betainc), t quantiles by bisection
 * on that tail.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "deepsigns/rng.h"
#include "deepsigns/stats.h"

/* ---- binomial, by direct summation ---- */

static long double pmf_direct(int j, double p, int n)
{
    if (p == 0.0) return j == 0;
    if (p == 1.0) return j == n;
    return expl(lgammal(n + 1.0L) - lgammal(j + 1.0L) - lgammal(n - j + 1.0L) + j * logl(p) +
                (n - j) * log1pl(-(long double)p));
}

/* P(X <= i) and P(X >= i), each summed over its own tail (no 1 - x). */
static double cdf_direct(int i, double p, int n)
{
    long double s = 0.0L;
    for (int j = 0; j <= i && j <= n; j++) s += pmf_direct(j, p, n);
    return (double)s;
}

/* The threshold by direct summation; *tie is set when some P(X <= i) lies
 * within 1e-11 (relative) of alpha, where the answer rests on rounding. */
static int threshold_direct(int n, double p, double alpha, int *tie)
{
    *tie = 0;
    for (int i = 0; i <= n; i++) {
        double c = cdf_direct(i, p, n);
        if (fabs(c - alpha) <= 1e-11 * alpha) *tie = 1;
        if (c > alpha) return i;
    }
    return n + 1;
}

static void test_binom_cdf(void)
{
    static const struct {
        int n;
        double p;
    } cases[] = {{20, 0.9},     {10, 0.5}, {100, 0.3}, {7, 0.01},
                 {1000, 0.999}, {15, 0.0}, {15, 1.0},  {1, 0.25}};
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        int n = cases[t].n;
        double p = cases[t].p;
        for (int i = -1; i <= n + 1; i++) {
            char what[96];
            snprintf(what, sizeof what, "cdf(%d; %g, %d)", i, p, n);
            CHECK_CLOSE(ds_binom_cdf(i, p, n), cdf_direct(i, p, n), 1e-300, 1e-10, what);
        }
    }
    /* a deep tail keeps its relative accuracy */
    CHECK_CLOSE(ds_binom_cdf(0, 0.9, 20), 1e-20, 0, 1e-10, "cdf deep tail");
    CHECK(isnan(ds_binom_cdf(3, 1.5, 10)) && isnan(ds_binom_cdf(3, -0.1, 10)) &&
              isnan(ds_binom_cdf(3, NAN, 10)) && isnan(ds_binom_cdf(0, 0.5, -1)),
          "invalid p or n must give NAN");
}

static void test_binom_threshold(void)
{
    /* METHOD.md section 3: m ~ Binomial(K, 1 - 1/C), C = 10 */
    CHECK(ds_binom_threshold(20, 0.9, 1e-4) == 12, "K=20 alpha=1e-4: theta %d, want 12",
          ds_binom_threshold(20, 0.9, 1e-4));
    CHECK(ds_binom_threshold(10, 0.9, 1e-5) == 4, "K=10 alpha=1e-5: theta %d, want 4",
          ds_binom_threshold(10, 0.9, 1e-5));
    CHECK(ds_binom_threshold(15, 0.9, 1e-5) == 7, "K=15 alpha=1e-5: theta %d, want 7",
          ds_binom_threshold(15, 0.9, 1e-5));
    CHECK(ds_binom_threshold(20, 0.9, 1e-5) == 11, "K=20 alpha=1e-5: theta %d, want 11",
          ds_binom_threshold(20, 0.9, 1e-5));
    /* the rule's false-positive rate: P(m < theta) = P(m <= theta-1) <= alpha < P(m <= theta) */
    CHECK_CLOSE(ds_binom_cdf(11, 0.9, 20), 5.985853174036018e-05, 0, 1e-12, "P(m<=11), K=20");
    CHECK_CLOSE(ds_binom_cdf(12, 0.9, 20), 4.156350188454759e-04, 0, 1e-12, "P(m<=12), K=20");

    static const int classes[] = {2, 3, 10, 100};
    static const double alphas[] = {1e-2, 1e-4, 1e-5, 1e-8, 0.5, 0.05};
    int bad = 0, ties = 0;
    for (int n = 0; n <= 60; n++)
        for (size_t c = 0; c < 4; c++)
            for (size_t a = 0; a < 6; a++) {
                double p = 1.0 - 1.0 / classes[c];
                int tie, want = threshold_direct(n, p, alphas[a], &tie);
                if (tie) { /* checked below against exact arithmetic */
                    ties++;
                    continue;
                }
                int th = ds_binom_threshold(n, p, alphas[a]);
                if (th != want && bad++ < 5)
                    fprintf(stderr, "threshold n=%d C=%d alpha=%g: %d, direct %d\n", n, classes[c],
                            alphas[a], th, want);
            }
    CHECK(bad == 0, "%d thresholds differ from direct summation", bad);
    CHECK(ties > 0 && ties < 40, "%d ties skipped", ties);
    /* Exact ties, where alpha equals P(X <= i) in rational arithmetic: '>' fails
     * there, so theta = i + 1. P(X <= 0) = (1/10)^K: K = 2, alpha = 0.01 and
     * K = 5, alpha = 1e-5 give theta = 1; Binomial(3, 1/2): P(X <= 1) = 1/2;
     * Binomial(9, 1/2): P(X <= 4) = 1/2. */
    CHECK(ds_binom_threshold(2, 0.9, 0.01) == 1, "tie K=2: %d", ds_binom_threshold(2, 0.9, 0.01));
    CHECK(ds_binom_threshold(5, 0.9, 1e-5) == 1, "tie K=5: %d", ds_binom_threshold(5, 0.9, 1e-5));
    CHECK(ds_binom_threshold(3, 0.5, 0.5) == 2, "tie Bin(3,.5): %d",
          ds_binom_threshold(3, 0.5, 0.5));
    CHECK(ds_binom_threshold(9, 0.5, 0.5) == 5, "tie Bin(9,.5): %d",
          ds_binom_threshold(9, 0.5, 0.5));
    CHECK(ds_binom_threshold(20, 0.9, 1.0) == 21, "alpha >= 1 claims every model (n + 1)");
    CHECK(ds_binom_threshold(20, 1.2, 1e-4) == -1 && ds_binom_threshold(20, 0.9, NAN) == -1 &&
              ds_binom_threshold(-1, 0.9, 1e-4) == -1,
          "invalid arguments give -1");
}

/* ---- Gaussian mixtures ---- */

enum { MIX_K = 3, MIX_D_MAX = 5 };

/* A known mixture: weights, means, and per-component lower Cholesky factors
 * [d, d] of the covariances (diagonal ones for the diag tests). */
typedef struct mixture {
    int d;
    double w[MIX_K];
    double mu[MIX_K][MIX_D_MAX];
    double L[MIX_K][MIX_D_MAX * MIX_D_MAX];
} mixture;

static const mixture MIX_DIAG = {
    .d = 5,
    .w = {0.5, 0.3, 0.2},
    .mu = {{0, 0, 0, 0, 0}, {6, -4, 3, 0, 5}, {-5, 5, -6, 4, -3}},
    .L = {{1.0, 0, 0, 0, 0, 0, 0.5, 0, 0, 0, 0, 0, 1.5, 0, 0, 0, 0, 0, 0.8, 0, 0, 0, 0, 0, 1.2},
          {0.7, 0, 0, 0, 0, 0, 1.3, 0, 0, 0, 0, 0, 0.6, 0, 0, 0, 0, 0, 1.0, 0, 0, 0, 0, 0, 0.9},
          {1.4, 0, 0, 0, 0, 0, 0.9, 0, 0, 0, 0, 0, 1.1, 0, 0, 0, 0, 0, 0.5, 0, 0, 0, 0, 0, 1.6}},
};

static const mixture MIX_FULL = {
    .d = 2,
    .w = {0.45, 0.35, 0.2},
    .mu = {{0, 0}, {8, 3}, {-6, 7}},
    .L = {{1.0, 0, 0.8, 0.6}, {2.0, 0, -1.0, 0.5}, {0.5, 0, 0.3, 1.5}},
};

/* x[n, d] drawn from m, labels[n] their components (may be NULL). */
static void draw_mixture(const mixture *m, size_t n, uint64_t seed, float *x, int *labels)
{
    ds_rng r;
    ds_rng_init(&r, seed, 1);
    int d = m->d;
    for (size_t i = 0; i < n; i++) {
        double u = ds_rng_uniform(&r), acc = 0.0;
        int c = MIX_K - 1;
        for (int t = 0; t < MIX_K - 1; t++)
            if (u < (acc += m->w[t])) {
                c = t;
                break;
            }
        double z[MIX_D_MAX];
        for (int j = 0; j < d; j++) z[j] = ds_rng_normal(&r);
        for (int j = 0; j < d; j++) {
            double v = m->mu[c][j];
            for (int l = 0; l <= j; l++) v += m->L[c][j * d + l] * z[l];
            x[i * d + j] = (float)v;
        }
        if (labels) labels[i] = c;
    }
}

/* The true covariance entry (j, l) of component c: (L L^T)_jl. */
static double true_cov(const mixture *m, int c, int j, int l)
{
    double s = 0.0;
    for (int t = 0; t < m->d; t++) s += m->L[c][j * m->d + t] * m->L[c][l * m->d + t];
    return s;
}

/* Trace never decreases (up to rounding) and ends at g->loglik. */
static void check_trace(const ds_gmm *g, const double *trace, const char *what)
{
    int drops = 0;
    for (int i = 1; i < g->iters; i++)
        if (trace[i] < trace[i - 1] - 1e-12 * (1.0 + fabs(trace[i - 1]))) {
            if (drops++ < 3)
                fprintf(stderr, "%s: loglik drops at iteration %d: %.15g -> %.15g\n", what, i + 1,
                        trace[i - 1], trace[i]);
        }
    CHECK(drops == 0, "%s: the EM log-likelihood decreased %d times", what, drops);
    CHECK(g->iters >= 1 && trace[g->iters - 1] == g->loglik, "%s: trace ends at loglik", what);
}

/* Match each true component to the nearest fitted mean; checks the matching is
 * a permutation, the means, weights and covariances. */
static void check_recovered(const ds_gmm *g, const mixture *m, double mean_tol, double cov_rtol,
                            const char *what)
{
    int d = m->d, used[MIX_K] = {0}, match[MIX_K];
    for (int t = 0; t < MIX_K; t++) {
        int best = 0;
        double bd = INFINITY;
        for (int c = 0; c < g->k; c++) {
            double s = 0.0;
            for (int j = 0; j < d; j++) s += pow(g->mean[c * d + j] - m->mu[t][j], 2);
            if (s < bd) bd = s, best = c;
        }
        match[t] = best;
        used[best]++;
    }
    CHECK(used[0] == 1 && used[1] == 1 && used[2] == 1, "%s: components not matched one to one",
          what);
    for (int t = 0; t < MIX_K; t++) {
        int c = match[t];
        CHECK_CLOSE(g->weight[c], m->w[t], 0.03, 0, what);
        for (int j = 0; j < d; j++) CHECK_CLOSE(g->mean[c * d + j], m->mu[t][j], mean_tol, 0, what);
        for (int j = 0; j < d; j++)
            for (int l = 0; l < d; l++) {
                double want = true_cov(m, t, j, l);
                double got = g->cov == DS_GMM_DIAG ? (j == l ? g->var[c * d + j] : 0.0)
                                                   : g->var[(c * d + j) * d + l];
                CHECK_CLOSE(got, want, cov_rtol * sqrt(true_cov(m, t, j, j) * true_cov(m, t, l, l)),
                            0, what);
            }
    }
}

/* Consistency of a fitted model's evaluation functions on x[n, d]. */
static void check_eval(const ds_gmm *g, const float *x, size_t n, const char *what)
{
    double ml = ds_gmm_mean_loglik(g, x, n);
    CHECK_CLOSE(ml, g->loglik, 1e-12, 1e-9, what);
    double resp[MIX_K], sum = 0.0;
    double lp = ds_gmm_posterior(g, x + 7 * g->d, resp);
    for (int c = 0; c < g->k; c++) sum += resp[c];
    CHECK_CLOSE(sum, 1.0, 1e-12, 0, what);
    CHECK_CLOSE(lp, ds_gmm_logpdf(g, x + 7 * g->d), 1e-12, 1e-12, what);
}

static void fit_known_mixture(const mixture *m, ds_gmm_cov cov, const char *what)
{
    enum { N = 4000 };
    static float x[N * MIX_D_MAX];
    draw_mixture(m, N, 11, x, NULL);
    ds_gmm_opts o = ds_gmm_defaults(MIX_K);
    o.cov = cov;
    o.tol = 1e-10;
    double trace[200];
    ds_rng r;
    ds_rng_init(&r, 5, 2);
    ds_err err = {0};
    ds_gmm *g = ds_gmm_fit(x, N, m->d, NULL, &o, &r, trace, &err);
    CHECK(g != NULL, "%s: fit failed: %s", what, err.msg);
    if (!g) return;
    CHECK(g->converged && g->iters >= 1, "%s: converged %d after %d iterations", what, g->converged,
          g->iters);
    check_trace(g, trace, what);
    check_recovered(g, m, 0.15, 0.15, what);
    check_eval(g, x, N, what);
    ds_gmm_free(g);
}

static void test_gmm_diag_recovers(void)
{
    fit_known_mixture(&MIX_DIAG, DS_GMM_DIAG, "diag 5-d");
}

static void test_gmm_full_recovers(void)
{
    fit_known_mixture(&MIX_FULL, DS_GMM_FULL, "full 2-d");
}

/* max_iter = 0 with LABELS init returns the class statistics themselves. */
static void test_gmm_labels_init(void)
{
    enum { N = 1500 };
    static float x[N * MIX_D_MAX];
    static int lab[N];
    const mixture *mixes[2] = {&MIX_DIAG, &MIX_FULL};
    for (int t = 0; t < 2; t++) {
        const mixture *m = mixes[t];
        int d = m->d;
        draw_mixture(m, N, 21, x, lab);
        double cnt[MIX_K] = {0}, mean[MIX_K][MIX_D_MAX] = {{0}}, cov[MIX_K][MIX_D_MAX][MIX_D_MAX];
        memset(cov, 0, sizeof cov);
        for (size_t i = 0; i < N; i++) {
            cnt[lab[i]]++;
            for (int j = 0; j < d; j++) mean[lab[i]][j] += x[i * d + j];
        }
        for (int c = 0; c < MIX_K; c++)
            for (int j = 0; j < d; j++) mean[c][j] /= cnt[c];
        for (size_t i = 0; i < N; i++)
            for (int j = 0; j < d; j++)
                for (int l = 0; l < d; l++)
                    cov[lab[i]][j][l] +=
                        (x[i * d + j] - mean[lab[i]][j]) * (x[i * d + l] - mean[lab[i]][l]);
        ds_gmm_opts o = ds_gmm_defaults(MIX_K);
        o.cov = t == 0 ? DS_GMM_DIAG : DS_GMM_FULL;
        o.init = DS_GMM_INIT_LABELS;
        o.max_iter = 0;
        ds_err err = {0};
        ds_gmm *g = ds_gmm_fit(x, N, d, lab, &o, NULL, NULL, &err);
        CHECK(g != NULL, "labels init fit failed: %s", err.msg);
        if (!g) continue;
        CHECK(g->iters == 0 && !g->converged, "max_iter = 0 runs no EM (iters %d)", g->iters);
        for (int c = 0; c < MIX_K; c++) {
            CHECK_CLOSE(g->weight[c], cnt[c] / N, 1e-15, 0, "class weight");
            for (int j = 0; j < d; j++)
                CHECK_CLOSE(g->mean[c * d + j], mean[c][j], 1e-12, 1e-12, "class mean");
            for (int j = 0; j < d; j++)
                for (int l = 0; l < d; l++) {
                    double want = cov[c][j][l] / cnt[c];
                    if (o.cov == DS_GMM_DIAG) {
                        if (j == l) CHECK_CLOSE(g->var[c * d + j], want, 1e-12, 1e-9, "class var");
                    } else {
                        want += j == l ? o.var_floor : 0.0; /* the floor on the diagonal */
                        CHECK_CLOSE(g->var[(c * d + j) * d + l], want, 1e-12, 1e-9, "class cov");
                    }
                }
        }
        CHECK_CLOSE(g->loglik, ds_gmm_mean_loglik(g, x, N), 1e-12, 1e-9, "init loglik");
        ds_gmm_free(g);

        /* and EM from there climbs */
        o.max_iter = 100;
        double trace[100];
        g = ds_gmm_fit(x, N, d, lab, &o, NULL, trace, &err);
        CHECK(g != NULL, "labels init + EM failed: %s", err.msg);
        if (g) check_trace(g, trace, "labels + EM");
        ds_gmm_free(g);
    }
}

/* All points identical (d = 3): the floor keeps every variance at var_floor,
 * so the mean log-likelihood is -(3/2)(log 2 pi + log floor). Points on a line
 * (rank-1 covariance) must fit with FULL too. */
static void test_gmm_degenerate(void)
{
    enum { N = 50 };
    float x[N * 3];
    int lab[N];
    for (int i = 0; i < N; i++) {
        x[i * 3] = 1.5f, x[i * 3 + 1] = -2.0f, x[i * 3 + 2] = 3.0f;
        lab[i] = i % 2;
    }
    for (int cov = 0; cov < 2; cov++)
        for (int init = 0; init < 2; init++) {
            ds_gmm_opts o = ds_gmm_defaults(2);
            o.cov = cov ? DS_GMM_FULL : DS_GMM_DIAG;
            o.init = init ? DS_GMM_INIT_LABELS : DS_GMM_INIT_KMEANSPP;
            ds_rng r;
            ds_rng_init(&r, 3, 3);
            ds_err err = {0};
            double trace[200];
            ds_gmm *g = ds_gmm_fit(x, N, 3, lab, &o, &r, trace, &err);
            CHECK(g != NULL, "identical points (cov %d, init %d): %s", cov, init, err.msg);
            if (!g) continue;
            double want = -1.5 * (log(2 * M_PI) + log(o.var_floor));
            CHECK(isfinite(g->loglik), "loglik %g", g->loglik);
            CHECK_CLOSE(g->loglik, want, 1e-9, 1e-9, "identical points loglik");
            CHECK(isfinite(ds_gmm_logpdf(g, x)), "logpdf of a training point");
            ds_gmm_free(g);
        }

    float line[200 * 3];
    ds_rng r;
    ds_rng_init(&r, 4, 4);
    for (int i = 0; i < 200; i++) {
        double t = ds_rng_normal(&r) + (i % 2 ? 5.0 : -5.0);
        line[i * 3] = (float)t, line[i * 3 + 1] = (float)(2 * t), line[i * 3 + 2] = (float)(-t);
    }
    ds_gmm_opts o = ds_gmm_defaults(2);
    o.cov = DS_GMM_FULL;
    ds_err err = {0};
    ds_gmm *g = ds_gmm_fit(line, 200, 3, NULL, &o, &r, NULL, &err);
    CHECK(g != NULL && isfinite(g->loglik), "points on a line (FULL): %s", g ? "" : err.msg);
    ds_gmm_free(g);
}

static void expect_einval(const float *x, size_t n, int d, const int *labels, const ds_gmm_opts *o,
                          ds_rng *r, const char *what)
{
    ds_err err;
    ds_err_clear(&err);
    ds_gmm *g = ds_gmm_fit(x, n, d, labels, o, r, NULL, &err);
    CHECK(g == NULL && err.code == DS_EINVAL && err.msg[0],
          "%s: want DS_EINVAL with a message, got %s", what,
          g ? "a model" : ds_status_name(err.code));
    if (!g) fprintf(stderr, "  (%s -> %s)\n", what, err.msg);
    ds_gmm_free(g);
}

static void test_gmm_bad_options(void)
{
    float x[10 * 2];
    int lab[10];
    for (int i = 0; i < 20; i++) x[i] = (float)i;
    for (int i = 0; i < 10; i++) lab[i] = i % 2;
    ds_rng r;
    ds_rng_init(&r, 1, 1);
    ds_gmm_opts o = ds_gmm_defaults(0);
    expect_einval(x, 10, 2, NULL, &o, &r, "k = 0");
    o = ds_gmm_defaults(3);
    expect_einval(x, 2, 2, NULL, &o, &r, "n < k");
    expect_einval(x, 10, 0, NULL, &o, &r, "d = 0");
    expect_einval(NULL, 10, 2, NULL, &o, &r, "x NULL");
    expect_einval(x, 10, 2, NULL, NULL, &r, "opts NULL");
    expect_einval(x, 10, 2, NULL, &o, NULL, "k-means++ without rng");
    o.init = DS_GMM_INIT_LABELS;
    expect_einval(x, 10, 2, NULL, &o, &r, "labels missing");
    expect_einval(x, 10, 2, lab, &o, &r, "label 2 has no samples");
    o.k = 2;
    lab[4] = 7;
    expect_einval(x, 10, 2, lab, &o, &r, "label out of range");
    lab[4] = 0;
    o = ds_gmm_defaults(2);
    o.var_floor = 0.0;
    expect_einval(x, 10, 2, NULL, &o, &r, "var_floor = 0");
    o = ds_gmm_defaults(2);
    o.max_iter = -1;
    expect_einval(x, 10, 2, NULL, &o, &r, "max_iter < 0");
    o = ds_gmm_defaults(2);
    o.tol = NAN;
    expect_einval(x, 10, 2, NULL, &o, &r, "tol NaN");
    o = ds_gmm_defaults(2);
    o.cov = (ds_gmm_cov)7;
    expect_einval(x, 10, 2, NULL, &o, &r, "unknown cov");
    o = ds_gmm_defaults(2);
    x[5] = NAN;
    expect_einval(x, 10, 2, NULL, &o, &r, "NaN sample");
    ds_gmm_free(NULL);
    CHECK(isnan(ds_gmm_logpdf(NULL, x)) && isnan(ds_gmm_mean_loglik(NULL, x, 1)), "NULL model");
}

/* The same seed gives the same mixture, bit for bit. */
static void test_gmm_deterministic(void)
{
    enum { N = 2000 };
    static float x[N * MIX_D_MAX];
    draw_mixture(&MIX_DIAG, N, 31, x, NULL);
    ds_gmm *g[2];
    for (int t = 0; t < 2; t++) {
        ds_rng r;
        ds_rng_init(&r, 77, 0);
        ds_gmm_opts o = ds_gmm_defaults(4);
        ds_err err = {0};
        g[t] = ds_gmm_fit(x, N, MIX_DIAG.d, NULL, &o, &r, NULL, &err);
        CHECK(g[t] != NULL, "fit: %s", err.msg);
    }
    if (g[0] && g[1])
        CHECK(g[0]->iters == g[1]->iters && g[0]->loglik == g[1]->loglik &&
                  !memcmp(g[0]->mean, g[1]->mean, sizeof(double) * 4 * MIX_DIAG.d) &&
                  !memcmp(g[0]->var, g[1]->var, sizeof(double) * 4 * MIX_DIAG.d),
              "two fits from the same stream differ");
    ds_gmm_free(g[0]);
    ds_gmm_free(g[1]);
}

/* Shapes off every tiling boundary (d = 13: vector lanes plus a tail; n = 1037:
 * several blocks and a partial tile): the fit's own log-likelihood (tiled
 * kernels, shifted coordinates) must match the per-sample evaluation. */
static void test_gmm_odd_shapes(void)
{
    enum { N = 1037, D = 13, K = 4 };
    static float x[N * D];
    ds_rng r;
    ds_rng_init(&r, 8, 8);
    for (size_t i = 0; i < N; i++)
        for (int j = 0; j < D; j++)
            x[i * D + j] = (float)(100.0 + 3.0 * (double)(i % K) * (j % 3) + ds_rng_normal(&r));
    for (int cov = 0; cov < 2; cov++) {
        ds_gmm_opts o = ds_gmm_defaults(K);
        o.cov = cov ? DS_GMM_FULL : DS_GMM_DIAG;
        o.tol = 0.0;
        o.max_iter = 8;
        double trace[8];
        ds_err err = {0};
        ds_gmm *g = ds_gmm_fit(x, N, D, NULL, &o, &r, trace, &err);
        CHECK(g != NULL, "fit: %s", err.msg);
        if (!g) continue;
        CHECK(g->iters == 8 && !g->converged, "tol = 0 runs max_iter (%d)", g->iters);
        check_trace(g, trace, cov ? "odd shapes full" : "odd shapes diag");
        CHECK_CLOSE(ds_gmm_mean_loglik(g, x, N), g->loglik, 0, 1e-11, "loglik vs evaluation");
        ds_gmm_free(g);
    }
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/* A fit of the size DeepSigns meets (n x 512 activations, 10 classes), timed
 * but not asserted: class centres ~ N(0, spread^2 I), noise N(0, 0.5^2 I).
 * With iters > 0, tol = 0 forces exactly that many EM iterations (the cost of
 * one iteration); else the defaults run to convergence. */
static void timed_fit(size_t n, int d, int k, ds_gmm_cov cov, double spread, int iters,
                      const char *what)
{
    float *x = malloc(n * (size_t)d * sizeof *x);
    double *centre = malloc((size_t)k * d * sizeof *centre), *trace = malloc(200 * sizeof *trace);
    CHECK(x && centre && trace, "out of memory");
    if (!x || !centre || !trace) goto done;
    ds_rng r;
    ds_rng_init(&r, 99, 0);
    for (int c = 0; c < k * d; c++) centre[c] = spread * ds_rng_normal(&r);
    for (size_t i = 0; i < n; i++) {
        int c = (int)(i % (size_t)k);
        for (int j = 0; j < d; j++)
            x[i * d + j] = (float)(centre[c * d + j] + 0.5 * ds_rng_normal(&r));
    }
    ds_gmm_opts o = ds_gmm_defaults(k);
    o.cov = cov;
    if (iters > 0) o.tol = 0.0, o.max_iter = iters;
    ds_err err = {0};
    double t0 = now_s();
    ds_gmm *g = ds_gmm_fit(x, n, d, NULL, &o, &r, trace, &err);
    double t1 = now_s();
    CHECK(g != NULL, "%s: %s", what, err.msg);
    if (g) {
        fprintf(stderr,
                "%s: n=%zu d=%d k=%d: %.3f s, %d EM iterations, converged %d, loglik %.6f\n", what,
                n, d, k, t1 - t0, g->iters, g->converged, g->loglik);
        double ws = 0.0;
        for (int c = 0; c < k; c++) ws += g->weight[c];
        CHECK(isfinite(g->loglik) && fabs(ws - 1.0) < 1e-12, "%s: loglik %g, weights sum %g", what,
              g->loglik, ws);
        CHECK(iters <= 0 || g->iters == iters, "%s: %d iterations, want %d", what, g->iters, iters);
        CHECK_CLOSE(ds_gmm_mean_loglik(g, x, n), g->loglik, 0, 1e-11, what);
        if (g->iters > 0) check_trace(g, trace, what);
        ds_gmm_free(g);
    }
done:
    free(x);
    free(centre);
    free(trace);
}

static void test_gmm_big_diag(void)
{
    timed_fit(10000, 512, 10, DS_GMM_DIAG, 1.0, 0, "diag fit, separated classes");
    timed_fit(10000, 512, 10, DS_GMM_DIAG, 0.15, 20, "diag fit, overlapping, 20 iterations");
}

static void test_gmm_full_d64(void)
{
    timed_fit(5000, 64, 10, DS_GMM_FULL, 1.0, 0, "full fit, separated classes");
    timed_fit(5000, 64, 10, DS_GMM_FULL, 0.3, 20, "full fit, overlapping, 20 iterations");
}

int main(void)
{
    RUN(test_binom_cdf);
    RUN(test_binom_threshold);
    RUN(test_gmm_diag_recovers);
    RUN(test_gmm_full_recovers);
    RUN(test_gmm_labels_init);
    RUN(test_gmm_degenerate);
    RUN(test_gmm_bad_options);
    RUN(test_gmm_deterministic);
    RUN(test_gmm_odd_shapes);
    RUN(test_gmm_big_diag);
    RUN(test_gmm_full_d64);
    TEST_MAIN_END();
}
