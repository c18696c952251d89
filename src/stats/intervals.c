/* intervals.c - Clopper-Pearson intervals, Welch's t-test and Student-t
 * confidence intervals for a mean, on GSL's beta and t distributions.
 *
 * Means and variances are two-pass (mean first, then squared deviations) in
 * double. GSL's error handler is switched off for the duration of each call and
 * every quantile or tail it returns is checked for NaN.
 */
#include "deepsigns/stats.h"

#include <math.h>

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_errno.h>

/* Mean and unbiased variance of v[n], n >= 2 (var = 0 when n < 2). */
static void mean_var(const double *v, int n, double *mean, double *var)
{
    double s = 0.0;
    for (int i = 0; i < n; i++) s += v[i];
    double m = s / n, ss = 0.0;
    for (int i = 0; i < n; i++) ss += (v[i] - m) * (v[i] - m);
    *mean = m;
    *var = n > 1 ? ss / (n - 1) : 0.0;
}

static int all_finite(const double *v, int n)
{
    for (int i = 0; i < n; i++)
        if (!isfinite(v[i])) return 0;
    return 1;
}

/* lo = B^{-1}(alpha/2; k, n-k+1) (0 when k = 0), hi = B^{-1}(1 - alpha/2; k+1, n-k)
 * (1 when k = n): the exact interval, whose ends satisfy P(X >= k | lo) = alpha/2
 * and P(X <= k | hi) = alpha/2. Invalid arguments give NAN ends. */
void ds_clopper_pearson(int k, int n, double alpha, double *lo, double *hi)
{
    double l = NAN, h = NAN;
    if (n >= 1 && k >= 0 && k <= n && alpha > 0.0 && alpha < 1.0) {
        gsl_error_handler_t *old = gsl_set_error_handler_off();
        l = k == 0 ? 0.0 : gsl_cdf_beta_Pinv(alpha / 2, k, n - k + 1);
        h = k == n ? 1.0 : gsl_cdf_beta_Qinv(alpha / 2, k + 1, n - k);
        gsl_set_error_handler(old);
        if (!isfinite(l) || !isfinite(h)) l = h = NAN;
    }
    if (lo) *lo = l;
    if (hi) *hi = h;
}

ds_status ds_welch_ttest(const double *a, int na, const double *b, int nb, ds_ttest *out,
                         ds_err *err)
{
    if (!a || !b || !out) return ds_err_set(err, DS_EINVAL, "welch t-test: NULL argument");
    if (na < 2 || nb < 2)
        return ds_err_set(err, DS_EINVAL,
                          "welch t-test: needs at least 2 values per sample (got %d and %d)", na,
                          nb);
    if (!all_finite(a, na) || !all_finite(b, nb))
        return ds_err_set(err, DS_EINVAL, "welch t-test: a sample contains NaN or infinity");
    double ma, va, mb, vb;
    mean_var(a, na, &ma, &va);
    mean_var(b, nb, &mb, &vb);
    double sa = va / na, sb = vb / nb, se2 = sa + sb;
    ds_ttest r = {.mean_a = ma, .mean_b = mb};
    if (se2 == 0.0) {
        /* Both samples constant: no spread to scale by. Equal means are no
         * evidence of a difference (t = 0, p = 1), different ones are certain. */
        r.df = na + nb - 2;
        r.t = ma == mb ? 0.0 : copysign(INFINITY, ma - mb);
        r.p = ma == mb ? 1.0 : 0.0;
    } else {
        r.t = (ma - mb) / sqrt(se2);
        r.df = se2 * se2 / (sa * sa / (na - 1) + sb * sb / (nb - 1));
        gsl_error_handler_t *old = gsl_set_error_handler_off();
        double q = gsl_cdf_tdist_Q(fabs(r.t), r.df);
        gsl_set_error_handler(old);
        if (isnan(q))
            return ds_err_set(err, DS_ELIB, "welch t-test: GSL t tail failed (t = %g, df = %g)",
                              r.t, r.df);
        r.p = fmin(1.0, 2.0 * q);
    }
    *out = r;
    return DS_OK;
}

/* mean +- t_{1-alpha/2, n-1} s / sqrt(n). With n < 2 or alpha outside (0, 1)
 * the interval is undefined: lo = hi = NAN (mean is still v[0] for n = 1;
 * NAN for n < 1). Any output pointer may be NULL. */
void ds_mean_ci(const double *v, int n, double alpha, double *mean, double *lo, double *hi)
{
    double m = NAN, l = NAN, h = NAN;
    if (v && n >= 1) {
        double var;
        mean_var(v, n, &m, &var);
        if (n >= 2 && alpha > 0.0 && alpha < 1.0) {
            gsl_error_handler_t *old = gsl_set_error_handler_off();
            double tq = gsl_cdf_tdist_Qinv(alpha / 2, n - 1);
            gsl_set_error_handler(old);
            if (isfinite(tq)) {
                double half = tq * sqrt(var / n);
                l = m - half;
                h = m + half;
            }
        }
    }
    if (mean) *mean = m;
    if (lo) *lo = l;
    if (hi) *hi = h;
}
