/* binom.c - binomial tails, the black-box detection threshold and quantiles.
 *
 * The tails are GSL's (gsl_cdf_binomial_P/Q, through the incomplete beta
 * function), so small tails keep their relative accuracy: ds_binom_sf is never
 * computed as 1 - cdf. Thresholds and quantiles search the monotone CDF by
 * bisection over i in [0, n] (O(log n) CDF calls).
 *
 * Ties. GSL's tails carry a relative error of order 1e-15, so when the level
 * equals a CDF value in exact arithmetic (alpha = 1e-5 = P(X <= 0) for K = 5,
 * C = 10; q = 386/1024 = P(X <= 4) for Binomial(10, 1/2)) the raw comparison
 * would be decided by the last bits of the incomplete beta function. A CDF
 * within TIE_RTOL (relative) of the level counts as equal to it, which gives
 * the exact-arithmetic answer at such ties: the threshold's strict '>' fails
 * (theta = i + 1: the false-positive rate P(X <= i) = alpha is still <= alpha)
 * and the quantile's '>=' holds. The cost is that a CDF truly within 1e-12 of
 * the level, but not equal, is treated as equal.
 *
 * Invalid arguments (n < 0, p outside [0, 1] or NaN, NaN levels) give NAN for
 * the tails and -1 for the integer searches; nothing here reports through GSL's
 * error handler, which is switched off for the duration of each call.
 */
#include "deepsigns/stats.h"

#include <math.h>

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_errno.h>

static const double TIE_RTOL = 1e-12; /* see "Ties" above */

static int valid(int n, double p)
{
    return n >= 0 && p >= 0.0 && p <= 1.0;
}

/* P(X <= i) for valid (n, p); the caller has switched GSL's handler off. */
static double cdf_raw(int i, double p, int n)
{
    if (i < 0) return 0.0;
    if (i >= n) return 1.0;
    return gsl_cdf_binomial_P((unsigned)i, p, (unsigned)n);
}

double ds_binom_cdf(int i, double p, int n)
{
    if (!valid(n, p)) return NAN;
    gsl_error_handler_t *old = gsl_set_error_handler_off();
    double v = cdf_raw(i, p, n);
    gsl_set_error_handler(old);
    return v;
}

/* The smallest i in [0, n] with P(X <= i) > level, ties within TIE_RTOL
 * counting as equal (not above); the caller guarantees that i = n qualifies
 * (P(X <= n) = 1 > level). */
static int smallest_cdf_above(int n, double p, double level)
{
    gsl_error_handler_t *old = gsl_set_error_handler_off();
    double tie = TIE_RTOL * fabs(level);
    int lo = 0, hi = n;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        double c = cdf_raw(mid, p, n);
        if (c > level + tie)
            hi = mid;
        else
            lo = mid + 1;
    }
    gsl_set_error_handler(old);
    return lo;
}

/* theta = min { i : P(X <= i) > alpha }. With alpha >= 1 no i in [0, n]
 * qualifies and the result is n + 1 (m < theta always holds: every model is
 * claimed, the only rule with a false-positive rate <= alpha >= 1). */
int ds_binom_threshold(int n, double p, double alpha)
{
    if (!valid(n, p) || isnan(alpha)) return -1;
    if (alpha >= 1.0) return n + 1;
    return smallest_cdf_above(n, p, alpha);
}
